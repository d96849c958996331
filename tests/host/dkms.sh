#!/usr/bin/env bash
# The DKMS package (module/dkms.conf, as `make dkms-install` stages it) in
# private DKMS trees under build/dkms, so that the host is not changed:
#  - it builds against the VM kernel's build tree; the module it makes is
#    left in build/dkms/batch_unmap.ko for the VM smoke test (dkms_smoke);
#  - against Debian's stock linux-headers-6.12 (no hook patch) DKMS skips
#    the build (exit 77: an autoinstall for a stock kernel must not fail),
#    and a plain kbuild of the same sources fails with the error that names
#    the hook, and nothing else.
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$top/tests/harness/lib.sh"

out="$top/build/dkms"
kdir="$(cat "$top/build/.kdir" 2>/dev/null)"
ver="$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$top/module/dkms.conf")"
hook_error="batch_unmap needs the try_to_unmap_one() hook patch"

mkdir -p "$out"
rm -f "$out/batch_unmap.ko"
if [ -z "$kdir" ] || [ ! -f "$kdir/include/config/kernel.release" ]; then
	echo "not ok - dkms_builds_against_vm_kernel (no kernel build tree: run make first)"
	exit 0
fi
if ! ensure_packages dkms 2>"$out.err"; then
	sed 's/^/# /' "$out.err"
	echo "not ok - dkms_builds_against_vm_kernel (dkms is not installed)"
	exit 0
fi
make -s -C "$top" dkms-tree || { echo "not ok - dkms_tree_staged"; exit 0; }

# dkms_build <tree> <kernel release> <kernel source dir>: private trees.
dkms_build() {
	local t="$out/$1"
	rm -rf "$t" && mkdir -p "$t/dkms" "$t/install"
	dkms --dkmstree "$t/dkms" --sourcetree "$out/src" --installtree "$t/install" \
		add -m batch_unmap -v "$ver" >"$t/dkms.log" 2>&1 &&
	dkms --dkmstree "$t/dkms" --sourcetree "$out/src" --installtree "$t/install" \
		build -m batch_unmap -v "$ver" -k "$2" --kernelsourcedir "$3" >>"$t/dkms.log" 2>&1
}

kver="$(cat "$kdir/include/config/kernel.release")"
ko="$out/vm/dkms/batch_unmap/$ver/$kver/x86_64/module/batch_unmap.ko"
if dkms_build vm "$kver" "$kdir" && [ -f "$ko" ]; then
	vermagic="$(modinfo -F vermagic "$ko" | cut -d' ' -f1)"
	if [ "$vermagic" = "$kver" ]; then
		cp "$ko" "$out/batch_unmap.ko"
		echo "ok - dkms_builds_against_vm_kernel ($kver)"
	else
		echo "not ok - dkms_builds_against_vm_kernel (vermagic '$vermagic', want '$kver')"
	fi
else
	sed 's/^/# /' "$out/vm/dkms.log" | tail -n 15
	find "$out/vm/dkms" -name make.log -exec tail -n 15 {} + 2>/dev/null | sed 's/^/# /'
	echo "not ok - dkms_builds_against_vm_kernel (see $out/vm/dkms.log)"
fi

# Debian's own 6.12 headers, unpacked in the cache (kernel/stock-headers.sh).
if ! read -r stock_ver stock_dir < <("$top/kernel/stock-headers.sh" 2>"$out/stock.err"); then
	sed 's/^/# /' "$out/stock.err"
	echo "not ok - dkms_skips_stock_kernel (cannot fetch Debian's linux-headers-6.12)"
else
	dkms_build stock "$stock_ver-amd64" "$stock_dir"
	rc=$?
	if [ "$rc" = 77 ] && grep -q 'BUILD_EXCLUSIVE' "$out/stock/dkms.log"; then
		echo "ok - dkms_skips_stock_kernel ($stock_ver: excluded, exit 77)"
	else
		sed 's/^/# /' "$out/stock/dkms.log" | tail -n 10
		echo "not ok - dkms_skips_stock_kernel (dkms exit $rc, want 77)"
	fi
	# The same sources built by hand: one clear error, the hook's.
	plain="$out/stock/plain"
	rm -rf "$plain" && cp -r "$out/src/batch_unmap-$ver" "$plain"
	if make -C "$stock_dir" M="$plain" modules >"$out/stock/make.log" 2>&1; then
		echo "not ok - build_on_stock_kernel_names_the_hook (it built without the hook)"
	else
		# Each source file stops at the hook's #error: no other error at all.
		others="$(grep 'error:' "$out/stock/make.log" | grep -vc "$hook_error")"
		if grep -q "$hook_error" "$out/stock/make.log" && [ "$others" = 0 ]; then
			echo "ok - build_on_stock_kernel_names_the_hook ($stock_ver: only the hook's error)"
		else
			tail -n 10 "$out/stock/make.log" | sed 's/^/# /'
			echo "not ok - build_on_stock_kernel_names_the_hook ($others other errors)"
		fi
	fi
fi
