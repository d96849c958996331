#!/usr/bin/env bash
# The Makefile's user-facing targets that need no VM: install/uninstall
# into a DESTDIR (tools; the module for a named kernel), the version in one
# place, vm-run's usage before any build, KDIR from the environment, and
# make help listing every target.  TAP lines.
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$top" || exit 1

pass() { echo "ok - $1"; }
fail() { echo "# $2"; echo "not ok - $1"; }
mk() { make --no-print-directory "$@" 2>&1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# --- version: one number everywhere -------------------------------------------
v="$(mk version)"
dv="$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' module/dkms.conf)"
if [[ "$v" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] && [ "$v" = "$dv" ] &&
	grep -q "^## $v" CHANGELOG.md && grep -q 'MODULE_VERSION(BU_VERSION)' module/main.c; then
	pass "version_agrees_everywhere ($v)"
else
	fail "version_agrees_everywhere" "make version '$v', dkms.conf '$dv', or no '## $v' in CHANGELOG.md"
fi
for t in unmapstat lazyfree-bench file-bench jemalloc-bench; do
	out="$(build/bin/$t --version 2>&1)"
	[ "$out" = "$t $v" ] && pass "${t}_version" || fail "${t}_version" "got '$out'"
done
grep -q 'GNU GENERAL PUBLIC LICENSE' LICENSE && grep -q 'Version 2, June 1991' LICENSE &&
	pass "license_is_gpl2" || fail "license_is_gpl2" "LICENSE is not the GPL-2.0 text"

# --- ARCH: x86_64 (default) or arm64, anything else refused before a build -----------
out="$(mk ARCH=sparc64 version)"
[ $? -ne 0 ] && grep -q "ARCH must be x86_64 or arm64, not 'sparc64'" <<<"$out" &&
	pass "bad_arch_is_refused" || fail "bad_arch_is_refused" "got: $out"
out="$(mk -B -n ARCH=arm64 userspace tests)"
if grep -q 'aarch64-linux-gnu-gcc' <<<"$out" && grep -q "$top/build/arm64/bin/unmapstat" <<<"$out" &&
	grep -q -- '-D__TARGET_ARCH_arm64' <<<"$out" && ! grep -q "$top/build/bin/" <<<"$out"; then
	pass "arch_arm64_cross_builds_into_build_arm64"
else
	fail "arch_arm64_cross_builds_into_build_arm64" "$(head -n 5 <<<"$out")"
fi

# --- the module's hot path fits one 4 KiB code page (main.c: bu_unmap()) ------------
ko=module/batch_unmap.ko
if [ -f "$ko" ]; then
	read -r addr size < <(nm -S "$ko" | awk '$4 == "bu_unmap" { print $1, $2 }')
	if [ -n "${addr:-}" ] && [ $((0x$addr / 4096)) = $(((0x$addr + 0x$size - 1) / 4096)) ]; then
		pass "module_hot_path_in_one_code_page (bu_unmap at 0x$addr, 0x$size bytes)"
	else
		fail "module_hot_path_in_one_code_page" "bu_unmap at 0x${addr:-?}, 0x${size:-?} bytes: crosses a 4 KiB page"
	fi
else
	echo "ok - module_hot_path_in_one_code_page # SKIP no $ko (the module is not built)"
fi

# --- bench-profile: bad settings refused before a build or a boot -------------------
prof_err() {	# prof_err <name> <expected message> <VAR=value...>
	local name="$1" want="$2" out
	shift 2
	out="$(env BU_VALIDATE_ONLY=1 "$@" userspace/bench/profile.sh 2>&1)"
	[ $? -ne 0 ] && grep -q -- "$want" <<<"$out" && pass "bench_profile_$name" ||
		fail "bench_profile_$name" "got: $(head -n 3 <<<"$out")"
}
prof_err rejects_bad_size "unknown size '3M' in SIZES" SIZES=3M
prof_err rejects_zero_rounds "ROUNDS and ITER must be at least 1" ROUNDS=0
prof_err rejects_bad_function "FUNCS must list kernel function names, not 'a;b'" "FUNCS=a;b"
prof_err rejects_bad_ref "REF must be 0 or 1, not '2'" REF=2
prof_err rejects_arm64 "runs the x86 guest only" ARCH=arm64
out="$(env BU_VALIDATE_ONLY=1 userspace/bench/profile.sh 2>&1)" &&
	out="$(env BU_VALIDATE_ONLY=1 REF=1 SIZES="4K 2M 2M-pte" FUNCS=try_to_unmap_one \
		userspace/bench/profile.sh 2>&1)" && pass "bench_profile_accepts_good_settings" ||
	fail "bench_profile_accepts_good_settings" "got: $out"

# --- install / uninstall into a DESTDIR ------------------------------------------
d="$tmp/root"
if mk install DESTDIR="$d" PREFIX=/usr >"$tmp/install.log" &&
	[ -x "$d/usr/bin/unmapstat" ] && [ -x "$d/usr/bin/lazyfree-bench" ] &&
	[ -x "$d/usr/bin/file-bench" ] && [ -x "$d/usr/bin/jemalloc-bench" ] &&
	grep -q 'module not installed' "$tmp/install.log" &&
	[ -z "$(find "$d" -name '*.ko')" ]; then
	pass "install_tools_into_destdir"
else
	fail "install_tools_into_destdir" "$(tail -n 3 "$tmp/install.log")"
fi
kdir="$(kernel/build.sh --dir 2>/dev/null)"
if [ -n "$kdir" ]; then
	kver="$(cat "$kdir/include/config/kernel.release")"
	ko="$d/lib/modules/$kver/updates/batch_unmap.ko"
	if mk install KDIR="$kdir" DESTDIR="$d" PREFIX=/usr >"$tmp/install2.log" && [ -f "$ko" ] &&
		[ "$(modinfo -F version "$ko")" = "$v" ] &&
		[ -z "$(find "$d/lib/modules" -name 'bu_test_delay.ko')" ]; then
		pass "install_module_for_kdir"
	else
		fail "install_module_for_kdir" "$(tail -n 5 "$tmp/install2.log")"
	fi
	if mk uninstall KDIR="$kdir" DESTDIR="$d" PREFIX=/usr >/dev/null && [ ! -e "$ko" ] &&
		[ -z "$(find "$d/usr/bin" -type f)" ]; then
		pass "uninstall_removes_everything"
	else
		fail "uninstall_removes_everything" "left: $(find "$d" -type f | head -n 3)"
	fi
	# The install built module/ alone: rebuild the tree's module for the VM.
	mk module >/dev/null || fail "module_rebuilt_after_install" "make module failed"
else
	echo "ok - install_module_for_kdir # SKIP the VM kernel is not built"
	echo "ok - uninstall_removes_everything # SKIP the VM kernel is not built"
fi

# --- usage before work; KDIR from the environment -----------------------------------
out="$(timeout 20 make --no-print-directory vm-run 2>&1)"
rc=$?
if [ "$rc" = 2 ] && grep -q "usage: make vm-run CMD=" <<<"$out" && ! grep -q 'kernel:' <<<"$out"; then
	pass "vm_run_without_cmd_says_usage_first"
else
	fail "vm_run_without_cmd_says_usage_first" "exit $rc: $(head -c 200 <<<"$out")"
fi
out="$(KDIR=/nonexistent make --no-print-directory version 2>&1)"
grep -q 'KDIR=/nonexistent from the environment is ignored' <<<"$out" &&
	pass "kdir_from_environment_is_reported" || fail "kdir_from_environment_is_reported" "$out"

# --- the BPF object is CO-RE: it must also build from the running kernel's
# types (what make userspace uses when no kernel is built), whatever its
# version (6.18 changed folio->flags to a struct).
if [ -r /sys/kernel/btf/vmlinux ] && command -v bpftool >/dev/null && command -v clang >/dev/null; then
	mkdir -p "$tmp/btf"
	if bpftool btf dump file /sys/kernel/btf/vmlinux format c >"$tmp/btf/vmlinux.h" 2>/dev/null &&
		clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -I"$tmp/btf" -Iinclude -Wall -Werror \
			-c userspace/unmapstat.bpf.c -o "$tmp/btf/u.o" 2>"$tmp/btf/err"; then
		pass "bpf_object_builds_against_running_kernel_btf ($(uname -r))"
	else
		fail "bpf_object_builds_against_running_kernel_btf" "$(head -n 3 "$tmp/btf/err")"
	fi
else
	echo "ok - bpf_object_builds_against_running_kernel_btf # SKIP no /sys/kernel/btf/vmlinux, bpftool or clang"
fi

# --- make help lists every target and variable ---------------------------------------
help="$(mk help)"
missing=""
for w in module userspace kernel kernel-deb check check-host check-vm check-debug check-ref \
	checkpatch bench bench-profile vm-run vm-shell install uninstall dkms-install version clean distclean \
	cache-clean QUICK TOUCH SIZES ROUNDS REGION POLICIES REPORT_ONLY KVER CMD FILES COMPARE \
	PREFIX DESTDIR VM_ACCEL NATIVE REF KDIR VM_TESTS_ONLY FILE_SIZE WORKLOAD SETTINGS JE_CONF \
	JE_HIGH JE_ARGS FUNCS ITER; do
	grep -qw -- "$w" <<<"$help" || missing="$missing $w"
done
[ -z "$missing" ] && pass "make_help_lists_targets_and_variables" ||
	fail "make_help_lists_targets_and_variables" "missing:$missing"
exit 0
