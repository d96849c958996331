# batch_unmap: top-level entry points.  `make help` lists them.
#
# The patched kernel is built once and cached outside the clone (see
# kernel/build.sh); everything else builds into build/ and module/.

SHELL := /bin/bash
TOP := $(CURDIR)
BUILD := $(TOP)/build
V ?= 0
ifeq ($(V),1)
Q :=
else
Q := @
MAKEFLAGS += --no-print-directory
endif

# The kernel build directory: computed once per make run, building the
# kernel first if the cache has no build for the current inputs.
KDIR_FILE := $(BUILD)/.kdir
CC := gcc
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror
VM_CFLAGS := $(CFLAGS) $(WARN) -static -pthread -I$(TOP)/include -I$(TOP)/tests/vm

VM_TESTS := $(patsubst tests/vm/%.c,$(BUILD)/vm/tests/%,$(wildcard tests/vm/t_*.c))
HOST_TESTS := $(wildcard tests/host/*.sh)

.PHONY: all kernel module tests check check-host check-vm vm-run vm-shell \
	checkpatch clean distclean help

all: module tests

help:
	@echo "make            build the module and the VM tests (and the kernel if needed)"
	@echo "make check      host tests + VM tests; TAP, last line 'N passed, N failed'"
	@echo "make vm-run CMD='...' [FILES='a b']  run a command in the test VM"
	@echo "make vm-shell   interactive shell in the test VM, module in /vm"
	@echo "make kernel     build (or reuse) the patched kernel; prints its directory"
	@echo "make checkpatch checkpatch.pl --strict on module/ and kernel/patches/"
	@echo "make clean      remove build outputs (the kernel cache stays)"
	@echo "variables: V=1 verbose, VM_CPUS, VM_MEM, VM_TIMEOUT, BATCH_UNMAP_CACHE"

$(KDIR_FILE): kernel/build.sh kernel/guest.config $(wildcard kernel/patches/*.patch) FORCE
	$(Q)mkdir -p $(BUILD)
	$(Q)kernel/build.sh >$@.tmp && mv $@.tmp $@

kernel: $(KDIR_FILE)
	@cat $(KDIR_FILE)

module: $(KDIR_FILE)
	@echo "  MODULE  module/batch_unmap.ko"
	$(Q)$(MAKE) -C "$$(cat $(KDIR_FILE))" M=$(TOP) W=1 $(if $(filter 1,$(V)),V=1) modules \
		$(if $(filter 1,$(V)),,>$(BUILD)/module.log 2>&1) || \
		{ cat $(BUILD)/module.log 2>/dev/null; exit 1; }
	$(Q)! grep -E 'warning:' $(BUILD)/module.log 2>/dev/null || \
		{ echo "error: the module build has warnings (see above)"; exit 1; }

tests: $(VM_TESTS)

$(BUILD)/vm/tests/%: tests/vm/%.c tests/vm/vmtest.h include/batch_unmap.h
	@echo "  CC      $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(VM_CFLAGS) -o $@ $<

check: all
	$(Q)tests/run.sh

check-host:
	$(Q)tests/run.sh --host-only

check-vm: all
	$(Q)tests/run.sh --vm-only

VM_FILES = --file module/batch_unmap.ko:batch_unmap.ko \
	$(if $(wildcard module/batch_unmap_kunit.ko),--file module/batch_unmap_kunit.ko:batch_unmap_kunit.ko) \
	$(foreach t,$(VM_TESTS),--file $(t)) \
	$(foreach f,$(FILES),--file $(f))

vm-run: all
	$(Q)[ -n "$(CMD)" ] || { echo "usage: make vm-run CMD='command' [FILES='a.out x.sh']"; exit 2; }
	$(Q)tests/harness/run.sh --kernel "$$(cat $(KDIR_FILE))" $(VM_FILES) -- '$(subst ','\'',$(CMD))'

vm-shell: all
	$(Q)tests/harness/run.sh --kernel "$$(cat $(KDIR_FILE))" $(VM_FILES) --shell

checkpatch: $(KDIR_FILE)
	$(Q)tests/host/checkpatch.sh

clean:
	$(Q)if [ -f $(KDIR_FILE) ] && [ -d "$$(cat $(KDIR_FILE))" ]; then \
		$(MAKE) -C "$$(cat $(KDIR_FILE))" M=$(TOP) clean >/dev/null; fi
	$(Q)rm -rf $(BUILD)

FORCE:
