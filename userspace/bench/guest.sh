#!/bin/sh
# Runs inside the test VM (started by userspace/bench/run.sh): for each folio
# size, alternating rounds with batch_unmap.ko unloaded and loaded, each run
# timed by lazyfree-bench and counted by unmapstat, then the MADV_DONTNEED
# (zap) baseline.  Prints "E {...}" (environment) and "R {...}" (one run)
# lines for the host to aggregate, and "# ..." progress lines.
#
# Settings (environment): SIZES, ROUNDS, ITER, REGION, TOUCH (threads on
# other CPUs keeping the mm active: remote TLB flushes).

SIZES="${SIZES:-4K 16K 64K 256K 1M 2M-pte}"
ROUNDS="${ROUNDS:-5}"
ITER="${ITER:-3}"
REGION="${REGION:-64M}"
TOUCH="${TOUCH:-0}"
CEIL=/sys/kernel/debug/x86/tlb_single_page_flush_ceiling

set -- $SIZES
total=$(( $# * (ROUNDS * 2 + 1) ))
n=0

echo "E {\"kernel\":\"$(uname -r)\",\"cpus\":$(grep -c ^processor /proc/cpuinfo),\"tlb_single_page_flush_ceiling\":$(cat $CEIL 2>/dev/null || echo null),\"region\":\"$REGION\",\"rounds\":$ROUNDS,\"iterations\":$ITER,\"touch_threads\":$TOUCH,\"sizes\":\"$SIZES\"}"

. /vm/guest-lib.sh

module() {	# module on|off
	if [ "$1" = on ]; then
		[ -d /sys/module/batch_unmap ] || insmod /vm/batch_unmap.ko || exit 1
	else
		unload batch_unmap || { echo "# cannot unload batch_unmap"; exit 1; }
	fi
	return 0
}

counters() {	# the pinned unmapstat counters as JSON, or null (and why, on stderr)
	unmapstat --dump -j 2>/tmp/dump.err || { sed 's/^/# /' /tmp/dump.err >&2; echo null; }
}

run() {	# run <size> <round> <mode: off|on|zap>
	size="$1"
	folio="${size%-pte}"
	extra=""
	[ "$folio" != "$size" ] && extra="--pte-mapped"
	n=$((n + 1))
	echo "# [$n/$total] $size round $2: $3"
	if [ "$3" = zap ]; then
		module off
		args="--mode dontneed"
	else
		module "$3"
		args="--mode pageout"
	fi
	u0="$(counters)"
	b="$(taskset -c 0 lazyfree-bench -f "$folio" $extra -s "$REGION" -n "$ITER" -w 1 -c 0 \
		-t "$TOUCH" $args -o json -l "$3")" || { echo "# lazyfree-bench failed"; exit 1; }
	u1="$(counters)"
	echo "R {\"size\":\"$size\",\"round\":$2,\"mode\":\"$3\",\"bench\":$b,\"u0\":$u0,\"u1\":$u1}"
}

# Attach once for the whole run and read deltas: attaching and detaching
# BPF trampolines on hot functions (flush_tlb_mm_range) while the other
# vCPU runs them oopsed the guest under TCG (int3 left from text patching).
unmapstat --unpin >/dev/null
unmapstat --pin >/dev/null 2>&1 || echo "# warning: unmapstat --pin failed: no flush counts"

for size in $SIZES; do
	r=1
	while [ $r -le "$ROUNDS" ]; do
		# Alternate the order so that drift does not favour one side.
		if [ $((r % 2)) = 1 ]; then
			run "$size" $r off
			run "$size" $r on
		else
			run "$size" $r on
			run "$size" $r off
		fi
		r=$((r + 1))
	done
	run "$size" 1 zap
done
module off
unmapstat --unpin >/dev/null
