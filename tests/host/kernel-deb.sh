#!/usr/bin/env bash
# make kernel-deb's recipe up to configuration (the package build itself
# takes an hour or more on 2 cores): the patches apply to linux-source-6.12,
# Debian's config resolves with everything batch_unmap needs, and the
# kernel release names the patched kernel.  Bad input fails cleanly.
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$top/build/kernel-deb-test"
deb="$top/kernel/deb.sh"
mkdir -p "$top/build"

if OUT="$out" "$deb" --config /nonexistent/config >"$out.log" 2>&1; then
	echo "not ok - kernel_deb_rejects_missing_config (it went on)"
elif grep -q "cannot read the config file '/nonexistent/config'" "$out.log" &&
	[ ! -d "$out/linux-source-6.12" ]; then
	echo "ok - kernel_deb_rejects_missing_config"
else
	sed 's/^/# /' "$out.log"
	echo "not ok - kernel_deb_rejects_missing_config (unclear error, or it unpacked)"
fi

if ! src="$(OUT="$out" "$deb" --configure-only --config debian 2>"$out.log")"; then
	tail -n 15 "$out.log" | sed 's/^/# /'
	echo "not ok - kernel_deb_configures_with_debian_config"
else
	ok=1
	release="$(make -s -C "$src" kernelrelease 2>/dev/null)"
	case "$release" in
	6.12.*-batch-unmap) ;;
	*) echo "# kernel release '$release' does not end in -batch-unmap"; ok=0 ;;
	esac
	for o in TRANSPARENT_HUGEPAGE MODULES KPROBES DEBUG_INFO_BTF BPF_SYSCALL; do
		grep -qx "CONFIG_$o=y" "$src/.config" || { echo "# CONFIG_$o is not y"; ok=0; }
	done
	grep -q '^CONFIG_SYSTEM_TRUSTED_KEYS=""' "$src/.config" ||
		{ echo "# Debian's trusted keys are still configured"; ok=0; }
	grep -q 'EXPORT_SYMBOL_NS_GPL(try_to_unmap_hook_register' "$src/mm/rmap.c" ||
		{ echo "# mm/rmap.c is not patched"; ok=0; }
	if [ "$ok" = 1 ]; then
		echo "ok - kernel_deb_configures_with_debian_config ($release)"
	else
		echo "not ok - kernel_deb_configures_with_debian_config"
	fi
fi
# The unpacked tree is 1.5 GB: only the log stays.
rm -rf "$out"
