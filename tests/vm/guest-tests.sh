#!/bin/sh
# Runs inside the test VM (busybox sh): every VM test program, the KUnit
# suite and a final kernel-log check.  Prints "ok - name" / "not ok - name"
# lines (tests/run.sh numbers them) and exits non-zero if any failed.
#
# usage: sh /vm/guest-tests.sh [test-name ...]   (default: all /vm/bin/t_*)

TEST_TIMEOUT="${TEST_TIMEOUT:-600}"
failed=0

result() {	# result <0|1> name...
	if [ "$1" = 0 ]; then
		shift
		echo "ok - $*"
	else
		shift
		echo "not ok - $*"
		failed=$((failed + 1))
	fi
}

run_prog() {	# run_prog path: one test program, its own ok/not ok lines
	name="$(basename "$1")"
	out="/tmp/$name.out"
	echo "# --- $name"
	timeout "$TEST_TIMEOUT" "$1" >"$out" 2>&1
	rc=$?
	cat "$out"
	nfail="$(grep -c '^not ok' "$out")"
	failed=$((failed + nfail))
	if [ "$rc" = 124 ] || [ "$rc" = 143 ]; then
		result 1 "$name did not finish within ${TEST_TIMEOUT}s"
	elif [ "$rc" != 0 ] && [ "$nfail" = 0 ]; then
		result 1 "$name exited with status $rc"
	elif ! grep -q '^ok\|^not ok' "$out"; then
		result 1 "$name reported no result"
	fi
}

. /vm/guest-lib.sh

kunit() {
	echo "# --- kunit"
	if [ ! -f /vm/batch_unmap_kunit.ko ]; then
		result 1 "kunit.batch_unmap (batch_unmap_kunit.ko missing)"
		return
	fi
	unload batch_unmap_kunit
	unload batch_unmap
	if ! insmod /vm/batch_unmap.ko; then
		result 1 "kunit.batch_unmap (cannot load batch_unmap.ko)"
		return
	fi
	insmod /vm/batch_unmap_kunit.ko
	res=/sys/kernel/debug/kunit/batch_unmap/results
	if [ ! -r "$res" ]; then
		result 1 "kunit.batch_unmap (no $res)"
	else
		# KTAP: "    ok 3 name" per case, "# SKIP" kept.
		sed -n 's/^ *\(not ok\|ok\) [0-9]* \(.*\)$/\1 - kunit.\2/p' "$res" |
			grep -v ' - kunit.batch_unmap$' >/tmp/kunit.out
		cat /tmp/kunit.out
		failed=$((failed + $(grep -c '^not ok' /tmp/kunit.out)))
		[ -s /tmp/kunit.out ] || result 1 "kunit.batch_unmap (no test cases ran)"
	fi
	unload batch_unmap_kunit
	unload batch_unmap
}

# The module DKMS built on the host (tests/host/dkms.sh) passes t_hook (the
# hook, declining) and t_lazyfree (batching, every mTHP size).
DKMS_KO=/vm/dkms-batch_unmap.ko
dkms_smoke() {
	for t in t_hook t_lazyfree; do
		echo "# --- dkms smoke: $t with $DKMS_KO"
		unload batch_unmap
		BU_KO="$DKMS_KO" timeout "$TEST_TIMEOUT" "/vm/bin/$t" >/tmp/dkms.out 2>&1
		rc=$?
		sed "s/^\(not ok\|ok\) - /\1 - dkms.$t./" /tmp/dkms.out
		nfail="$(grep -c '^not ok' /tmp/dkms.out)"
		failed=$((failed + nfail))
		[ "$rc" = 0 ] || [ "$nfail" != 0 ] || result 1 "dkms.$t exited with status $rc"
		grep -q '^ok - module_loads' /tmp/dkms.out ||
			result 1 "dkms.$t did not load $DKMS_KO"
	done
	unload batch_unmap
}

if [ $# -gt 0 ]; then
	for t in "$@"; do
		case "$t" in
		kunit) kunit ;;
		dkms) dkms_smoke ;;
		*) run_prog "/vm/bin/$t" ;;
		esac
	done
else
	kunit
	for t in /vm/bin/t_*; do
		[ -x "$t" ] && run_prog "$t"
	done
	[ -f "$DKMS_KO" ] && dkms_smoke
fi

# Whatever the tests said: the kernel must not have complained.
if dmesg | grep -Eq 'WARNING:|BUG:|Oops|Call Trace:|general protection'; then
	dmesg | grep -E -A20 'WARNING:|BUG:|Oops|general protection' | head -n 60 | sed 's/^/# /'
	result 1 "dmesg_has_no_warn_bug_oops"
else
	result 0 "dmesg_has_no_warn_bug_oops"
fi
[ "$failed" = 0 ]
