#!/bin/sh
# Runs inside the test VM (started by userspace/bench/run.sh), or on the
# running kernel (make bench NATIVE=1): for each number of touch threads and
# each folio size, alternating rounds with batch_unmap.ko unloaded ("off"),
# loaded with its defaults ("on": flush=auto, pmd=1) and loaded with the
# other flush policies (and pmd=0 for PMD-mapped 2M), each run timed by
# lazyfree-bench and counted by unmapstat, then the MADV_DONTNEED (zap)
# baseline.  Prints "E {...}" (environment) and "R {...}" (one run) lines
# for the host to aggregate, and "# ..." progress lines.
#
# Settings (environment): SIZES, ROUNDS, ITER, REGION, TOUCH (a list of
# numbers of threads on other CPUs keeping the mm active: remote TLB
# flushes), POLICIES (extra flush policies), KO (the module to load),
# BENCH_CPU (the CPU the benchmark runs on).

SIZES="${SIZES:-4K 16K 64K 256K 1M 2M-pte 2M}"
ROUNDS="${ROUNDS:-5}"
ITER="${ITER:-3}"
REGION="${REGION:-64M}"
TOUCH="${TOUCH:-0}"
POLICIES="${POLICIES-range pages}"
KO="${KO:-/vm/batch_unmap.ko}"
BENCH_CPU="${BENCH_CPU:-0}"
CEIL=/sys/kernel/debug/x86/tlb_single_page_flush_ceiling
PARAMS=/sys/module/batch_unmap/parameters

# The modes of one round for a size: off and on, the extra policies (not
# for 4K: the module never sees small folios), pmd=0 for PMD-mapped 2M.
modes_for() {
	m="off on"
	[ "$1" != 4K ] && m="$m $POLICIES"
	[ "$1" = 2M ] && m="$m nopmd"
	echo "$m"
}

total=0
for size in $SIZES; do
	set -- $(modes_for "$size")
	total=$((total + ROUNDS * $# + 1))
done
set -- $TOUCH
total=$((total * $#))
n=0

echo "E {\"kernel\":\"$(uname -r)\",\"cpus\":$(grep -c ^processor /proc/cpuinfo),\"tlb_single_page_flush_ceiling\":$(cat $CEIL 2>/dev/null || echo null),\"region\":\"$REGION\",\"rounds\":$ROUNDS,\"iterations\":$ITER,\"touch_threads\":\"$TOUCH\",\"policies\":\"$POLICIES\",\"sizes\":\"$SIZES\",\"native\":${NATIVE:-0}}"

. "${GUEST_LIB:-/vm/guest-lib.sh}"

param() {	# param <name> <value>
	echo "$2" >"$PARAMS/$1" || { echo "# cannot set batch_unmap $1=$2"; exit 1; }
}

module() {	# module off|on|<flush policy>|nopmd
	if [ "$1" = off ]; then
		unload batch_unmap || { echo "# cannot unload batch_unmap"; exit 1; }
		return 0
	fi
	[ -d /sys/module/batch_unmap ] || insmod "$KO" || exit 1
	case "$1" in
	on) param flush auto; param pmd 1 ;;
	nopmd) param flush auto; param pmd 0 ;;
	*) param flush "$1"; param pmd 1 ;;
	esac
}

DUMP_ERR="${TMPDIR:-/tmp}/bench-dump.$$"

counters() {	# the pinned unmapstat counters as JSON, or null (and why, on stderr)
	unmapstat --dump -j 2>"$DUMP_ERR" || { sed 's/^/# /' "$DUMP_ERR" >&2; echo null; }
}

# However the run ends (also on an error), leave no module, pin or file
# behind: on a native run this is the user's machine.
cleanup() {
	unload batch_unmap
	unmapstat --unpin >/dev/null 2>&1
	rm -f "$DUMP_ERR"
}
trap cleanup EXIT

run() {	# run <size> <round> <mode: off|on|range|pages|nopmd|zap> <touch>
	size="$1"
	folio="${size%-pte}"
	extra=""
	[ "$folio" != "$size" ] && extra="--pte-mapped"
	n=$((n + 1))
	echo "# [$n/$total] $size touch $4 round $2: $3"
	if [ "$3" = zap ]; then
		module off
		args="--mode dontneed"
	else
		module "$3"
		args="--mode pageout"
	fi
	u0="$(counters)"
	b="$(taskset -c "$BENCH_CPU" lazyfree-bench -f "$folio" $extra -s "$REGION" -n "$ITER" \
		-w 1 -c "$BENCH_CPU" -t "$4" $args -o json -l "$3" 2>"$DUMP_ERR")" ||
		{ sed 's/^/# /' "$DUMP_ERR"; echo "# lazyfree-bench failed"; exit 1; }
	u1="$(counters)"
	echo "R {\"size\":\"$size\",\"touch\":$4,\"round\":$2,\"mode\":\"$3\",\"bench\":$b,\"u0\":$u0,\"u1\":$u1}"
}

# Attach once for the whole run and read deltas: attaching and detaching
# BPF trampolines on hot functions (flush_tlb_mm_range) while the other
# vCPU runs them oopsed the guest under TCG (int3 left from text patching).
unmapstat --unpin >/dev/null
unmapstat --pin >/dev/null 2>&1 || echo "# warning: unmapstat --pin failed: no flush counts"

for touch in $TOUCH; do
	for size in $SIZES; do
		modes="$(modes_for "$size")"
		r=1
		while [ $r -le "$ROUNDS" ]; do
			# Alternate the order so that drift favours no side.
			if [ $((r % 2)) = 1 ]; then
				order="$modes"
			else
				order=""
				for m in $modes; do order="$m $order"; done
			fi
			for m in $order; do
				run "$size" $r "$m" "$touch"
			done
			r=$((r + 1))
		done
		run "$size" 1 zap "$touch"
	done
done
echo "BENCH_DONE"

