#!/usr/bin/env bash
# The test suite behind `make check`: host tests, then one VM boot running
# every VM test.  Prints TAP (one "ok N name" / "not ok N name" line per
# test) and ends with the line "N passed, N failed"; exits non-zero if any
# test failed.  Skipped tests ("# SKIP reason") are counted apart.
#
# usage: tests/run.sh [--host-only | --vm-only] [VM test names...]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(dirname "$here")"
. "$here/harness/lib.sh"

host=1 vm=1
arm64=""
case "${ARCH:-x86_64}" in arm64|aarch64) arm64=1 ;; esac
case "${1:-}" in
--host-only) vm=0; shift ;;
--vm-only) host=0; shift ;;
esac

host_tests() {
	local t
	for t in "$here"/host/*.sh; do
		[ -x "$t" ] || continue
		echo "# --- host: $(basename "$t")"
		if ! "$t"; then
			# A script that failed must have said so in a result line.
			echo "# $(basename "$t") exited non-zero"
			echo "not ok - $(basename "$t" .sh) exited non-zero"
		fi
	done
}

vm_tests() {
	local kdir out rc=0
	kdir="$("$top/kernel/build.sh")" || {
		echo "not ok - kernel_build (kernel/build.sh failed)"
		return 0
	}
	out="$top/build${arm64:+/arm64}/vm${KERNEL_FLAVOR:+-$KERNEL_FLAVOR}"
	rm -f "$out/out.log"	# a stale one must not vouch for this run
	[ "${BU_IMPL:-}" = ref ] &&
		echo "# BU_IMPL=ref: the batch path under test is the ref kernel's backport, not the module"
	echo "# --- vm: booting the ${arm64:+arm64 }test VM (console log in $out/console.log)"
	# The module tests/host/dkms.sh built in this run gets a smoke test too
	# (not a stale one from an earlier run: only with the host tests).
	local dkms=()
	[ "$host" = 1 ] && [ -f "$top/build/dkms/batch_unmap.ko" ] &&
		dkms=(--file "$top/build/dkms/batch_unmap.ko:dkms-batch_unmap.ko")
	"$here/harness/run.sh" --kernel "$kdir" --out "$out" --project "${dkms[@]}" \
		-- "BU_IMPL='${BU_IMPL:-}' sh /vm/guest-tests.sh $*" || rc=$?
	if [ -f "$out/kernel-problem" ]; then
		echo "not ok - vm_console_has_no_oops_warn_or_panic (see $out/console.log)"
	elif [ "$rc" = 124 ]; then
		echo "not ok - vm_finished_before_timeout"
	elif ! grep -q '^BATCH_UNMAP_VM_EXIT=' "$out/out.log" 2>/dev/null; then
		# The VM never ran the tests: that must not pass as "no failures".
		echo "not ok - vm_ran_the_tests (harness exit $rc)"
	else
		echo "ok - vm_console_has_no_oops_warn_or_panic"
	fi
}

{
	[ "$host" = 1 ] && host_tests
	[ "$vm" = 1 ] && vm_tests "$@"
	true
} 2>&1 | awk $(awk -W version 2>&1 | grep -q mawk && echo "-W interactive") '
	BEGIN { print "TAP version 13"; n = 0; pass = 0; fail = 0; skip = 0 }
	/^not ok - / { n++; fail++; sub(/^not ok - /, ""); print "not ok " n " " $0; fflush(); next }
	/^ok - / {
		n++; sub(/^ok - /, "")
		if ($0 ~ /# SKIP/) skip++; else pass++
		print "ok " n " " $0; fflush(); next
	}
	{ print ($0 ~ /^#/ ? $0 : "# " $0); fflush() }
	END {
		if (n == 0) { print "not ok 1 no test ran"; n = 1; fail = 1 }
		print "1.." n
		if (skip) print "# " skip " skipped (not counted as passed)"
		print pass " passed, " fail " failed"
		exit fail ? 1 : 0
	}'
