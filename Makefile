# batch_unmap: top-level entry points.  `make help` lists them.
#
# The patched kernel is built once and cached outside the clone (see
# kernel/build.sh); everything else builds into build/ and module/.

SHELL := /bin/bash
TOP := $(CURDIR)

# ARCH=arm64: everything cross-built for the arm64 guest (kernel, module,
# tools, VM tests) into build/arm64/; x86_64 (the default) builds natively.
ARCH ?= x86_64
ifneq ($(filter x86 x86_64,$(ARCH)),)
override ARCH := x86_64
BUILD := $(TOP)/build
CC := gcc
KARCH := x86
else ifneq ($(filter arm64 aarch64,$(ARCH)),)
override ARCH := arm64
BUILD := $(TOP)/build/arm64
CROSS_COMPILE := aarch64-linux-gnu-
CC := $(CROSS_COMPILE)gcc
KARCH := arm64
# Debian's arm64 libbpf, libelf and zlib (static) and bpftool/jq for the
# guest, unpacked from their .debs into the kernel cache
# (tests/harness/arm64-sysroot.sh).
SYSROOT := $(shell tests/harness/arm64-sysroot.sh --dir)
else
$(error ARCH must be x86_64 or arm64, not '$(ARCH)')
endif
export ARCH
KMAKE_ARCH := ARCH=$(KARCH) $(if $(CROSS_COMPILE),CROSS_COMPILE=$(CROSS_COMPILE))
# Where the static libraries of the tools come from: the host's for x86_64,
# the unpacked arm64 packages for arm64.
ifeq ($(ARCH),arm64)
SYSROOT_DEP := $(SYSROOT)/.complete
LIB_FLAGS := -I$(SYSROOT)/usr/include -L$(SYSROOT)/usr/lib/aarch64-linux-gnu
else
SYSROOT_DEP :=
LIB_FLAGS :=
endif
V ?= 0
ifeq ($(V),1)
Q :=
else
Q := @
MAKEFLAGS += --no-print-directory
endif

# The kernel build directory: computed once per make run, building the
# kernel first if the cache has no build for the current inputs.  KDIR=<dir>
# builds against another tree instead; NATIVE=1 means the running kernel's.
KDIR_FILE := $(BUILD)/.kdir
# Only from the command line: a KDIR left in the environment must not
# silently replace the VM kernel (and says so).
ifeq ($(origin KDIR),environment)
$(warning KDIR=$(KDIR) from the environment is ignored: give it on the command line (make KDIR=...))
endif
ifneq ($(origin KDIR),command line)
KDIR :=
ifeq ($(NATIVE),1)
KDIR := /lib/modules/$(shell uname -r)/build
endif
endif
export NATIVE
# REF=1 (make bench REF=1): the ref kernel, our patches plus kernel/ref/
# (upstream's batching backported in-kernel, off at boot), and the module
# built for it.
ifeq ($(REF),1)
export KERNEL_FLAVOR := ref
endif
HOSTCC := gcc
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror
VM_CFLAGS := $(CFLAGS) $(WARN) -D_GNU_SOURCE -static -pthread -I$(TOP)/include -I$(TOP)/tests/vm

VM_TESTS := $(patsubst tests/vm/%.c,$(BUILD)/vm/tests/%,$(wildcard tests/vm/t_*.c))
HOST_TESTS := $(wildcard tests/host/*.sh)

.PHONY: vm-guard all kernel module userspace host-tests tests check check-debug check-ref bench bench-profile check-host check-vm vm-run vm-shell \
	checkpatch clean distclean cache-clean help dkms-tree dkms-install dkms-remove kernel-deb \
	install uninstall version

# make vm-run without CMD: say so before building anything.
ifneq ($(filter vm-run,$(MAKECMDGOALS)),)
ifeq ($(strip $(CMD)),)
$(error usage: make vm-run CMD='command' [FILES='a.out x.sh'] (make vm-shell for a shell))
endif
endif

ifeq ($(ARCH),arm64)
# The host tests do not depend on the guest's architecture: make check runs them.
all: module userspace tests
else
all: module userspace tests host-tests
endif

help:
	@echo "Build"
	@echo "  make              the module, the userspace tools and the VM tests (builds the"
	@echo "                    test VM's kernel first if the cache has none: ~6 min, ~3 GB)"
	@echo "  make module       batch_unmap.ko only (KDIR=<build dir> or NATIVE=1: for that kernel)"
	@echo "  make userspace    build/bin/: unmapstat, lazyfree-bench, file-bench, jemalloc-bench"
	@echo "  make kernel       build (or reuse) the patched VM kernel; prints its directory"
	@echo "  make kernel-deb   Debian packages of the patched kernel (CONFIG=running|debian|<file>,"
	@echo "                    default: running if /boot/config-\$$(uname -r) exists); takes long"
	@echo "Test (TAP; the last line is 'N passed, N failed')"
	@echo "  make check        host tests + VM tests (~5 min with the kernel cached)"
	@echo "  make check-host   host tests only (CLI, checkpatch, unit, DKMS, packaging)"
	@echo "  make check-vm     VM tests only (VM_TESTS_ONLY='t_file t_data' picks some)"
	@echo "  make check-debug  the suite on the debug kernel (DEBUG_VM, PAGE_TABLE_CHECK, lockdep)"
	@echo "  make check-ref    the data tests on the ref kernel with its upstream backport on"
	@echo "  make checkpatch   checkpatch.pl --strict on module/ and kernel/patches/"
	@echo "Benchmark (docs/benchmark.md; results in build/bench/: table.txt, results.json/csv, plot.png)"
	@echo "  make bench        module off vs on in one VM boot, timed without probes (~6 min;"
	@echo "                    QUICK=1: ~3 min; REF=1: also the ref kernel's backport, ~7 min)"
	@echo "  make bench WORKLOAD=jemalloc  jemalloc (Debian's, static) purging with MADV_FREE under"
	@echo "                    memory.high, mTHP 4K/16K/64K/64K+2M x off/on[/ref] in one boot; results in"
	@echo "                    build/bench-jemalloc/ (~9 min; REF=1 ~12 min; QUICK=1 ~5 min; VM_TIMEOUT"
	@echo "                    1 h); WORKLOAD=lazyfree is the default"
	@echo "  make bench-profile  per-call time of try_to_unmap() and reclaim_pages(), off vs on[/ref],"
	@echo "                    function_graph attached (not bench's times): where the time goes; in"
	@echo "                    build/bench-profile/ (~4 min; REF=1 ~6 min; SIZES, FUNCS, ROUNDS, ITER)"
	@echo "Run"
	@echo "  make vm-run CMD='...' [FILES='a b']  run a command in the test VM (XFS at /mnt/xfs)"
	@echo "  make vm-shell     interactive shell in the test VM, module in /vm"
	@echo "Install"
	@echo "  make install      tools to \$$(DESTDIR)\$$(PREFIX)/bin; with KDIR= or NATIVE=1 also the"
	@echo "                    module (kbuild modules_install, then depmod)"
	@echo "  make uninstall    remove what make install put there"
	@echo "  make dkms-install / dkms-remove  the module with DKMS for the running kernel (KVER=...)"
	@echo "  make version      print the version"
	@echo "Clean"
	@echo "  make clean        build outputs in the clone (the kernel cache stays)"
	@echo "  make distclean    clean, and every generated file in the clone, even without a kernel"
	@echo "  make cache-clean  remove the kernel cache (\$$BATCH_UNMAP_CACHE, else ~/.cache/batch_unmap)"
	@echo "arm64 (docs/arm64.md): ARCH=arm64 with make, check, bench, vm-run, vm-shell: a cross-built"
	@echo "                    arm64 guest (qemu-system-aarch64 -M virt -cpu max, TCG), module, tools and"
	@echo "                    tests in build/arm64/; make check ARCH=arm64 runs the VM suite only"
	@echo "Variables"
	@echo "  ARCH=x86_64|arm64 (default x86_64);"
	@echo "  V=1 verbose; KDIR=<kernel build dir>; NATIVE=1 (the running kernel); REF=1; KVER;"
	@echo "  PREFIX (/usr/local), DESTDIR; CMD, FILES (vm-run, vm-shell); VM_TESTS_ONLY;"
	@echo "  VM_CPUS, VM_MEM, VM_TIMEOUT, VM_ACCEL=auto|kvm|tcg, VM_TCG_THREAD=multi|single,"
	@echo "  VM_XFS_SIZE, VM_EXT4_SIZE, VM_ARGS (more run.sh options, e.g. --numa); BATCH_UNMAP_CACHE"
	@echo "  (kernel cache directory), JOBS (kernel build -j)"
	@echo "  bench: QUICK=1, ROUNDS (timed, 5), PROBE_ROUNDS (with unmapstat, 1), ITER, REGION,"
	@echo "         SIZES, TOUCH, POLICIES, OUT, REPORT_ONLY=1, COMPARE=<old results.json>,"
	@echo "         NATIVE=1, BENCH_CPU; FILE_SIZE (file rows: 128M, 0 = none), FILE_DIR (/mnt/xfs)"
	@echo "  bench WORKLOAD=jemalloc: QUICK=1, REF=1, ROUNDS (3), PROBE_ROUNDS (1), SETTINGS (mTHP:"
	@echo "         '4K 16K 64K 64K+2M'), JE_CONF (MALLOC_CONF), JE_HIGH (memory.high; default:"
	@echo "         calibrated per setting), JE_ARGS (jemalloc-bench options), OUT, REPORT_ONLY=1"

# Rewritten only when the kernel directory changes, so that what depends on
# it (vmlinux.h, the module) is not rebuilt for nothing.
$(KDIR_FILE): FORCE
	$(Q)mkdir -p $(BUILD)
	$(Q)if [ -n "$(KDIR)" ]; then \
		if [ -f "$(KDIR)/Makefile" ]; then echo "$(KDIR)"; else \
			echo "error: KDIR=$(KDIR) is not a kernel build tree (for the running" \
				"kernel: apt-get install linux-headers-$$(uname -r))" >&2; false; fi; \
	else kernel/build.sh; fi >$@.tmp || { rm -f $@.tmp; exit 1; }
	$(Q)if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

# Userspace build dependencies (Debian packages), checked once per build dir.
USERSPACE_PKGS := clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev gcc make jq gnuplot-nox
ifeq ($(ARCH),arm64)
USERSPACE_PKGS += gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-system-arm

$(SYSROOT)/.complete: tests/harness/arm64-sysroot.sh | $(BUILD)/.deps-userspace
	$(Q)tests/harness/arm64-sysroot.sh >/dev/null
endif
$(BUILD)/.deps-userspace: tests/harness/ensure-packages.sh
	$(Q)mkdir -p $(BUILD)
	$(Q)tests/harness/ensure-packages.sh $(USERSPACE_PKGS)
	$(Q)touch $@

# --- unmapstat: vmlinux.h -> .bpf.o -> .skel.h -> binary ---------------------
US_OUT := $(BUILD)/unmapstat
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(KARCH) -I$(US_OUT) -I$(TOP)/include
# cli.c: the command-line conventions both tools share.
CLI_SRCS := userspace/cli.c
CLI_HDRS := userspace/cli.h include/bu_version.h
US_SRCS := userspace/unmapstat.c userspace/unmapstat_fmt.c $(CLI_SRCS)
US_HDRS := userspace/unmapstat_fmt.h include/unmapstat.h include/batch_unmap.h $(CLI_HDRS)

# The types come from the VM kernel when it is built (or from KDIR's
# vmlinux); without either, from the running kernel's BTF rather than
# building a kernel just for its types: unmapstat is CO-RE, so its BPF
# object relocates to whichever kernel it runs on.
BTF_FILE := $(BUILD)/.btf-source
$(BTF_FILE): FORCE
	$(Q)mkdir -p $(BUILD)
	$(Q)if [ -n "$(KDIR)" ]; then k="$(KDIR)"; else k="$$(kernel/build.sh --dir 2>/dev/null)"; fi; \
	if [ -n "$$k" ] && [ -f "$$k/vmlinux" ]; then echo "$$k/vmlinux"; \
	elif [ "$(ARCH)" = x86_64 ] && [ -r /sys/kernel/btf/vmlinux ]; then echo /sys/kernel/btf/vmlinux; \
	else kd="$$(kernel/build.sh)" && echo "$$kd/vmlinux"; fi >$@.tmp || { rm -f $@.tmp; exit 1; }
	$(Q)if cmp -s $@.tmp $@; then rm $@.tmp; else mv $@.tmp $@; fi

$(US_OUT)/vmlinux.h: $(BTF_FILE) | $(BUILD)/.deps-userspace
	@echo "  BTF     $@ (from $$(cat $(BTF_FILE)))"
	$(Q)mkdir -p $(US_OUT)
	$(Q)bpftool btf dump file "$$(cat $(BTF_FILE))" format c >$@.tmp && mv $@.tmp $@

$(US_OUT)/unmapstat.bpf.o: userspace/unmapstat.bpf.c include/unmapstat.h include/batch_unmap.h \
		$(US_OUT)/vmlinux.h
	@echo "  BPF     $@"
	$(Q)clang $(BPF_CFLAGS) -Wall -Werror -c $< -o $@

$(US_OUT)/unmapstat.skel.h: $(US_OUT)/unmapstat.bpf.o
	@echo "  GEN     $@"
	$(Q)bpftool gen skeleton $< name unmapstat_bpf >$@.tmp && mv $@.tmp $@

# Static, so that the binary runs in the VM's busybox initramfs as is.
$(BUILD)/bin/unmapstat: $(US_SRCS) $(US_HDRS) $(US_OUT)/unmapstat.skel.h $(SYSROOT_DEP)
	@echo "  CC      $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(WARN) -static -I$(US_OUT) -I$(TOP)/include -I$(TOP)/userspace \
		$(LIB_FLAGS) -o $@ $(US_SRCS) -lbpf -lelf -lz

$(BUILD)/bin/lazyfree-bench: userspace/lazyfree-bench.c userspace/mmutil.c userspace/mmutil.h \
		$(CLI_SRCS) $(CLI_HDRS) | $(SYSROOT_DEP)
	@echo "  CC      $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE -static -pthread -I$(TOP)/include \
		-I$(TOP)/userspace -o $@ userspace/lazyfree-bench.c userspace/mmutil.c $(CLI_SRCS)

$(BUILD)/bin/file-bench: userspace/file-bench.c userspace/mmutil.c userspace/mmutil.h \
		$(CLI_SRCS) $(CLI_HDRS) | $(SYSROOT_DEP)
	@echo "  CC      $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE -static -I$(TOP)/include \
		-I$(TOP)/userspace -o $@ userspace/file-bench.c userspace/mmutil.c $(CLI_SRCS)

# jemalloc-bench: Debian's jemalloc (libjemalloc-dev's libjemalloc.a, which
# replaces malloc: no je_ prefix), linked in statically as it ships; checked
# apart from the other packages so that an existing build dir gets it too.
$(BUILD)/.deps-jemalloc: tests/harness/ensure-packages.sh
	$(Q)mkdir -p $(BUILD)
	$(Q)tests/harness/ensure-packages.sh libjemalloc-dev
	$(Q)touch $@

JB_SRCS := userspace/jemalloc-bench.c userspace/mmutil.c $(CLI_SRCS)
$(BUILD)/bin/jemalloc-bench: $(JB_SRCS) userspace/mmutil.h $(CLI_HDRS) $(SYSROOT_DEP) | $(BUILD)/.deps-jemalloc
	@echo "  CC      $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE -static -pthread -I$(TOP)/include \
		-I$(TOP)/userspace $(LIB_FLAGS) -o $@ $(JB_SRCS) -Wl,-u,mallctl -ljemalloc -lm

userspace: $(BUILD)/bin/unmapstat $(BUILD)/bin/lazyfree-bench $(BUILD)/bin/file-bench \
	$(BUILD)/bin/jemalloc-bench

# Host unit tests of unmapstat's parsing and formatting (no BPF needed).
$(BUILD)/host/test_unmapstat_fmt: tests/host/test_unmapstat_fmt.c userspace/unmapstat_fmt.c \
		$(CLI_SRCS) $(US_HDRS)
	@echo "  CC      $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(HOSTCC) $(CFLAGS) $(WARN) -fsanitize=address,undefined -I$(TOP)/include -I$(TOP)/userspace \
		-o $@ $< userspace/unmapstat_fmt.c $(CLI_SRCS)

# jemalloc-bench's workload with glibc's malloc under ASan and UBSan (its
# jemalloc parts are optional): tests/host/cli.sh runs it briefly.
$(BUILD)/host/jemalloc-bench-asan: $(JB_SRCS) userspace/mmutil.h $(CLI_HDRS)
	@echo "  CC      $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(HOSTCC) $(CFLAGS) $(WARN) -D_GNU_SOURCE -pthread -fsanitize=address,undefined \
		-I$(TOP)/include -I$(TOP)/userspace -o $@ $(JB_SRCS) -lm

host-tests: $(BUILD)/host/test_unmapstat_fmt $(BUILD)/host/jemalloc-bench-asan \
	$(BUILD)/bin/jemalloc-bench

kernel: $(KDIR_FILE)
	@cat $(KDIR_FILE)

module: $(KDIR_FILE)
	@echo "  MODULE  module/batch_unmap.ko"
	$(Q)# Objects built against another kernel tree must not be reused.
	$(Q)# (One stamp for both architectures: module/ is shared.)
	$(Q)if ! cmp -s $(KDIR_FILE) $(TOP)/build/.kdir-module; then \
		$(MAKE) -C "$$(cat $(KDIR_FILE))" $(KMAKE_ARCH) M=$(TOP) clean >/dev/null; \
		cp $(KDIR_FILE) $(TOP)/build/.kdir-module; fi
	$(Q)$(MAKE) -C "$$(cat $(KDIR_FILE))" $(KMAKE_ARCH) M=$(TOP) W=1 $(if $(filter 1,$(V)),V=1) modules \
		$(if $(filter 1,$(V)),,>$(BUILD)/module.log 2>&1) || \
		{ cat $(BUILD)/module.log 2>/dev/null; exit 1; }
	$(Q)! grep -E 'warning:' $(BUILD)/module.log 2>/dev/null || \
		{ echo "error: the module build has warnings (see above)"; exit 1; }

tests: $(VM_TESTS)

$(BUILD)/vm/tests/%: tests/vm/%.c tests/vm/vmtest.h include/batch_unmap.h userspace/mmutil.c userspace/mmutil.h \
		| $(SYSROOT_DEP)
	@echo "  CC      $@"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(VM_CFLAGS) -I$(TOP)/userspace -o $@ $< userspace/mmutil.c

# The VM boots the cached VM kernel: a module built for another tree
# (KDIR=, NATIVE=1) would not load there.
vm-guard:
	$(Q)[ -z "$(KDIR)" ] || { echo "error: $(MAKECMDGOALS) runs the test VM, whose kernel is" \
		"kernel/build.sh's: drop KDIR=/NATIVE=1 (NATIVE=1 is for make bench)" >&2; exit 1; }

# ARCH=arm64: the VM suite on the arm64 guest; the host tests, which do not
# depend on the guest's architecture, are make check's (x86_64).
check: vm-guard all
	$(Q)tests/run.sh $(if $(filter arm64,$(ARCH)),--vm-only)

# The same suite on the debug kernel (DEBUG_VM, PAGE_TABLE_CHECK_ENFORCED,
# PROVE_LOCKING): kernel/debug.config on top of guest.config, cached apart.
check-debug:
	$(Q)KERNEL_FLAVOR=debug VM_TIMEOUT=$${VM_TIMEOUT:-3000} $(MAKE) check

# The ref kernel's backport of upstream, switched on, under the tests that
# check data (and t_ref: it batches; t_hmm: CVE-2026-63950's scenario).
REF_TESTS := t_ref t_data t_hazards t_random t_pressure t_hmm
check-ref:
	$(Q)KERNEL_FLAVOR=ref BU_IMPL=ref $(MAKE) check-vm VM_TESTS_ONLY="$(REF_TESTS)"

check-host: host-tests
	$(Q)tests/run.sh --host-only

check-vm: vm-guard all
	$(Q)tests/run.sh --vm-only $(VM_TESTS_ONLY)

VM_FILES = --project $(foreach f,$(FILES),--file $(f))

vm-run: vm-guard all
	$(Q)tests/harness/run.sh --kernel "$$(cat $(KDIR_FILE))" $(VM_ARGS) $(VM_FILES) -- '$(subst ','\'',$(CMD))'

vm-shell: vm-guard all
	$(Q)tests/harness/run.sh --kernel "$$(cat $(KDIR_FILE))" $(VM_ARGS) $(VM_FILES) --shell

# The benchmark: module off vs on in one VM boot (QUICK=1 for a short run).
bench: all
	$(Q)[ -z "$(KDIR)" ] || [ "$(NATIVE)" = 1 ] || { echo "error: make bench runs in the" \
		"test VM: drop KDIR= (or use NATIVE=1 for the running kernel)" >&2; exit 1; }
	$(Q)userspace/bench/run.sh

# Per-call times of the unmap path with function_graph (docs/benchmark.md).
bench-profile: all
	$(Q)[ -z "$(KDIR)" ] && [ "$(NATIVE)" != 1 ] || { echo "error: make bench-profile runs" \
		"in the test VM: drop KDIR= and NATIVE=1" >&2; exit 1; }
	$(Q)userspace/bench/profile.sh

# --- DKMS: the module's sources with module/dkms.conf at their root --------
BU_VERSION := $(shell sed -n 's/^\#define BU_VERSION "\(.*\)"/\1/p' include/bu_version.h)
DKMS_SRC := $(BUILD)/dkms/src/batch_unmap-$(BU_VERSION)
DKMS_FILES := Kbuild $(filter-out %.mod.c,$(wildcard module/*.c)) $(wildcard module/*.h) \
	module/Kbuild $(wildcard include/*.h)

dkms-tree:
	$(Q)rm -rf $(DKMS_SRC) && mkdir -p $(DKMS_SRC)
	$(Q)set -o pipefail; tar -cf - $(DKMS_FILES) | tar -xf - -C $(DKMS_SRC)
	$(Q)cp module/dkms.conf $(DKMS_SRC)/dkms.conf

dkms-install:
	$(Q)[ "$$(id -u)" = 0 ] || { echo "error: make dkms-install installs into /usr/src and" \
		"/lib/modules: run it as root" >&2; exit 1; }
	$(Q)tests/harness/ensure-packages.sh dkms
	$(Q)$(MAKE) dkms-tree
	$(Q)set -e; kver="$${KVER:-$$(uname -r)}"; kd="/lib/modules/$$kver/build"; \
	[ -f "$$kd/Makefile" ] || { echo "error: no kernel build tree $$kd: install" \
		"linux-headers-$$kver (make kernel-deb builds it for the patched kernel)" >&2; exit 1; }; \
	[ -e "$$kd/include/linux/rmap_hook.h" ] || { echo "error: kernel $$kver has no" \
		"try_to_unmap_one() hook (no include/linux/rmap_hook.h in $$kd): boot a kernel" \
		"built with kernel/patches (make kernel-deb)" >&2; exit 1; }; \
	echo "dkms-install: trial build for $$kver in a private tree first"; \
	t=$(BUILD)/dkms/trial; rm -rf "$$t" && mkdir -p "$$t/dkms" "$$t/install"; \
	d="dkms --dkmstree $$t/dkms --sourcetree $(BUILD)/dkms/src --installtree $$t/install"; \
	$$d add -m batch_unmap -v $(BU_VERSION) >/dev/null; \
	if ! $$d build -m batch_unmap -v $(BU_VERSION) -k "$$kver" >"$$t/build.out" 2>&1; then \
		cat "$$t/build.out"; find "$$t" -name make.log -exec grep -h 'error' {} + | head -n 5; \
		echo "error: batch_unmap does not build for $$kver; nothing was installed" >&2; \
		exit 1; \
	fi; \
	dkms remove batch_unmap/$(BU_VERSION) --all >/dev/null 2>&1 || true; \
	rm -rf /usr/src/batch_unmap-$(BU_VERSION) && cp -r $(DKMS_SRC) /usr/src/; \
	dkms add batch_unmap/$(BU_VERSION); \
	dkms build batch_unmap/$(BU_VERSION) -k "$$kver"; \
	dkms install batch_unmap/$(BU_VERSION) -k "$$kver"
	$(Q)echo "installed: modprobe batch_unmap (dkms status batch_unmap shows it)"

dkms-remove:
	$(Q)[ "$$(id -u)" = 0 ] || { echo "error: make dkms-remove needs root" >&2; exit 1; }
	$(Q)dkms remove batch_unmap/$(BU_VERSION) --all || true
	$(Q)rm -rf /usr/src/batch_unmap-$(BU_VERSION)

# Debian packages (linux-image, linux-headers) of the patched kernel.
kernel-deb:
	$(Q)kernel/deb.sh $(if $(CONFIG),--config $(CONFIG))

checkpatch: $(KDIR_FILE)
	$(Q)tests/host/checkpatch.sh

clean:
	$(Q)if [ -f $(KDIR_FILE) ] && [ -d "$$(cat $(KDIR_FILE))" ]; then \
		$(MAKE) -C "$$(cat $(KDIR_FILE))" $(KMAKE_ARCH) M=$(TOP) clean >/dev/null; fi
	$(Q)rm -rf $(BUILD)

# Everything kbuild generates in the clone, without needing a kernel tree.
distclean: clean
	$(Q)find module tests/vm/kmod . -maxdepth 1 \( -name '*.o' -o -name '*.ko' -o -name '*.mod' \
		-o -name '*.mod.c' -o -name '.*.cmd' -o -name 'modules.order' \
		-o -name 'Module.symvers' -o -name '.*.d' \) -delete
	$(Q)rm -rf .tmp_versions module/.tmp_versions

CACHE_DIR := $(or $(BATCH_UNMAP_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/batch_unmap)
cache-clean:
	$(Q)if [ -d "$(CACHE_DIR)" ]; then \
		echo "removing $(CACHE_DIR) ($$(du -sh "$(CACHE_DIR)" | cut -f1)): the next build of" \
			"each kernel flavor takes ~6 min"; rm -rf "$(CACHE_DIR)"; \
	else echo "no kernel cache at $(CACHE_DIR)"; fi

version:
	@echo $(BU_VERSION)

# --- install: the tools, and the module for a kernel the user names ---------
PREFIX ?= /usr/local
BINDIR := $(DESTDIR)$(PREFIX)/bin
TOOLS := unmapstat lazyfree-bench file-bench jemalloc-bench
# The module is installed only for a kernel named by KDIR= or NATIVE=1: the
# default build is for the test VM's kernel, which no machine runs.
# kbuild on module/ alone: the test helper modules of the top Kbuild stay out.
install: userspace
	$(Q)install -d $(BINDIR)
	$(Q)for t in $(TOOLS); do install -m 0755 $(BUILD)/bin/$$t $(BINDIR)/$$t && \
		echo "  INSTALL $(BINDIR)/$$t"; done
ifneq ($(KDIR),)
	$(Q)[ -f "$(KDIR)/Makefile" ] || { echo "error: KDIR=$(KDIR) is not a kernel build tree" >&2; exit 1; }
	$(Q)$(MAKE) -C "$(KDIR)" M=$(TOP)/module modules >$(BUILD)/install.log 2>&1 || \
		{ cat $(BUILD)/install.log; exit 1; }
	$(Q)$(MAKE) -C "$(KDIR)" M=$(TOP)/module INSTALL_MOD_DIR=updates \
		$(if $(DESTDIR),INSTALL_MOD_PATH=$(DESTDIR)) modules_install >>$(BUILD)/install.log 2>&1 || \
		{ cat $(BUILD)/install.log; exit 1; }
	$(Q)kver="$$(cat "$(KDIR)/include/config/kernel.release")"; \
	echo "  INSTALL $(DESTDIR)/lib/modules/$$kver/updates/batch_unmap.ko"; \
	[ -n "$(DESTDIR)" ] || depmod "$$kver"
else
	@echo "  (module not installed: it is built for the test VM's kernel; make install NATIVE=1" \
		"or KDIR=<build dir> installs it for that kernel, make dkms-install with DKMS)"
endif

uninstall:
	$(Q)for t in $(TOOLS); do rm -f $(BINDIR)/$$t && echo "  REMOVE  $(BINDIR)/$$t"; done
ifneq ($(KDIR),)
	$(Q)kver="$$(cat "$(KDIR)/include/config/kernel.release")"; \
	rm -f "$(DESTDIR)/lib/modules/$$kver/updates/batch_unmap.ko" && \
	echo "  REMOVE  $(DESTDIR)/lib/modules/$$kver/updates/batch_unmap.ko"; \
	[ -n "$(DESTDIR)" ] || depmod "$$kver"
endif

FORCE:
