#!/bin/sh
# Runs inside the test VM (started by userspace/bench/run.sh), or on the
# running kernel (make bench NATIVE=1).  Two phases, each printing "R {...}"
# lines (one per run) for the host to aggregate, "E {...}" (environment)
# and "# ..." progress lines:
#
#  timed:   nothing attached to the kernel (no BPF, no kprobes, no tracing).
#           For each number of touch threads and each folio size, ROUNDS
#           rounds, each running every mode once, in alternating order:
#           off (module unloaded: stock), on (module defaults: flush=auto,
#           pmd=1), ref (REF=1: the ref kernel's in-kernel backport of
#           upstream), the extra flush policies, nopmd (pmd=0, PMD-mapped
#           2M only) and zap (MADV_DONTNEED, the floor).  lazyfree-bench
#           times each run; the counters that cost nothing are read around
#           it: the module's own (debugfs), /proc/vmstat, the mTHP
#           split_deferred stat (lazyfree-bench records it).
#  counted: unmapstat pinned once (kprobes/fentry on the flush and split
#           paths), then PROBE_ROUNDS runs of every mode but zap, for the
#           flushes per folio; their times, against the timed ones, give the
#           probes' own overhead.  Never mixed with the timed runs.
#
#  file:    (timed, then counted with the counted phase) file-bench on
#           FILE_DIR (XFS in the VM): a clean FILE_SIZE file mapped and
#           reclaimed by MADV_PAGEOUT and by memory.reclaim, in the modes
#           off, on (file=1 referenced=1), unmap (file=1 referenced=0) and,
#           for memory.reclaim (the only one with a referenced walk), ref1
#           (file=0 referenced=1).  "F {...}" lines.
#
# Settings (environment): SIZES, ROUNDS, PROBE_ROUNDS, ITER, REGION, TOUCH,
# POLICIES, REF (1: add the ref mode), KO (the module), BENCH_CPU,
# FILE_SIZE (0: no file rows), FILE_DIR, FILE_RECLAIM.

SIZES="${SIZES-4K 16K 64K 256K 1M 2M-pte 2M}"
ROUNDS="${ROUNDS:-5}"
PROBE_ROUNDS="${PROBE_ROUNDS:-1}"
ITER="${ITER:-3}"
REGION="${REGION:-64M}"
TOUCH="${TOUCH:-0}"
POLICIES="${POLICIES-range pages}"
REF="${REF:-0}"
KO="${KO:-/vm/batch_unmap.ko}"
BENCH_CPU="${BENCH_CPU:-0}"
FILE_SIZE="${FILE_SIZE:-128M}"
FILE_DIR="${FILE_DIR:-/mnt/xfs}"
FILE_RECLAIM="${FILE_RECLAIM:-pageout memcg}"
CEIL=/sys/kernel/debug/x86/tlb_single_page_flush_ceiling
PARAMS=/sys/module/batch_unmap/parameters
STATS=/sys/kernel/debug/batch_unmap/stats
REF_SWITCH=/sys/module/rmap/parameters/lazyfree_batch

. "${GUEST_LIB:-/vm/guest-lib.sh}"

if [ "$REF" = 1 ] && [ ! -w "$REF_SWITCH" ]; then
	echo "# REF=1, but this kernel has no $REF_SWITCH: boot the ref kernel (KERNEL_FLAVOR=ref)"
	exit 1
fi

# The modes of one round for a size: off, on and ref, the extra policies
# (not for 4K: the module never sees small folios), pmd=0 for PMD-mapped
# 2M, and zap.
modes_for() {
	m="off on"
	[ "$REF" = 1 ] && m="$m ref"
	[ "$1" != 4K ] && m="$m $POLICIES"
	[ "$1" = 2M ] && m="$m nopmd"
	echo "$m zap"
}

total=0
for size in $SIZES; do
	nm=$(echo $(modes_for "$size") | wc -w)
	total=$((total + ROUNDS * nm + PROBE_ROUNDS * (nm - 1)))
done
total=$((total * $(echo $TOUCH | wc -w)))
file_modes() {	# file_modes pageout|memcg
	if [ "$1" = memcg ]; then echo "off on unmap ref1"; else echo "off on unmap"; fi
}
if [ "$FILE_SIZE" != 0 ] && [ ! -w "$FILE_DIR" ]; then
	echo "# no writable $FILE_DIR: no file rows (FILE_DIR=<dir on XFS> for a native run)"
	FILE_SIZE=0
fi
if [ "$FILE_SIZE" != 0 ]; then
	for r in $FILE_RECLAIM; do
		nm=$(echo $(file_modes "$r") | wc -w)
		total=$((total + ROUNDS * nm + PROBE_ROUNDS * nm))
	done
	# Readahead builds the large folios: let it reach 2M.
	dev="$(awk -v d="$FILE_DIR" '$2 == d { print $1 }' /proc/mounts | sed 's,^/dev/,,')"
	[ -n "$dev" ] && [ -w "/sys/block/$dev/queue/read_ahead_kb" ] &&
		echo 2048 >"/sys/block/$dev/queue/read_ahead_kb"
fi
n=0

echo "E {\"kernel\":\"$(uname -r)\",\"arch\":\"$(uname -m)\",\"cpus\":$(grep -c ^processor /proc/cpuinfo),\"tlb_single_page_flush_ceiling\":$(cat $CEIL 2>/dev/null || echo null),\"region\":\"$REGION\",\"rounds\":$ROUNDS,\"probe_rounds\":$PROBE_ROUNDS,\"iterations\":$ITER,\"touch_threads\":\"$TOUCH\",\"policies\":\"$POLICIES\",\"sizes\":\"$SIZES\",\"ref\":$REF,\"native\":${NATIVE:-0},\"file_size\":\"$FILE_SIZE\",\"file_dir\":\"$FILE_DIR\",\"file_fs\":\"$(awk -v d="$FILE_DIR" '$2 == d { print $3 }' /proc/mounts)\"}"

param() {	# param <name> <value>
	echo "$2" >"$PARAMS/$1" || { echo "# cannot set batch_unmap $1=$2"; exit 1; }
}

ref_switch() {	# ref_switch 0|1 (no-op on a kernel without the backport)
	[ -w "$REF_SWITCH" ] || return 0
	echo "$1" >"$REF_SWITCH" || { echo "# cannot set $REF_SWITCH"; exit 1; }
}

module() {	# module off|on|ref|<flush policy>|nopmd|zap
	case "$1" in
	off|zap|ref)
		unload batch_unmap || { echo "# cannot unload batch_unmap"; exit 1; }
		if [ "$1" = ref ]; then ref_switch 1; else ref_switch 0; fi
		return 0 ;;
	esac
	ref_switch 0
	[ -d /sys/module/batch_unmap ] || insmod "$KO" || exit 1
	case "$1" in
	on) param flush auto; param pmd 1 ;;
	nopmd) param flush auto; param pmd 0 ;;
	*) param flush "$1"; param pmd 1 ;;
	esac
}

DUMP_ERR="${TMPDIR:-/tmp}/bench-dump.$$"

# Counters that cost nothing, as JSON objects (read outside the timed part).
mstats() {	# the module's debugfs counters, or null when it is not loaded
	[ -r "$STATS" ] || { echo null; return; }
	awk 'BEGIN { printf "{" } { printf "%s\"%s\":%s", (n++ ? "," : ""), $1, $2 }
		END { printf "}\n" }' "$STATS"
}

vmstats() {
	awk 'BEGIN { printf "{" }
		/^(pglazyfree|pglazyfreed|thp_split_pmd|thp_deferred_split_page|pgsteal_direct|pgsteal_kswapd) / {
			printf "%s\"%s\":%s", n++ ? "," : "", $1, $2 }
		END { printf "}\n" }' /proc/vmstat
}

counters() {	# the pinned unmapstat counters as JSON, or null (and why, on stderr)
	unmapstat --dump -j 2>"$DUMP_ERR" || { sed 's/^/# /' "$DUMP_ERR" >&2; echo null; }
}

# However the run ends (also on an error), leave no module, pin, switch or
# file behind: on a native run this is the user's machine.
cleanup() {
	unload batch_unmap
	ref_switch 0
	unmapstat --unpin >/dev/null 2>&1
	rm -f "$DUMP_ERR"
}
trap cleanup EXIT

# A benchmark's exit status: 3 means the run finished but a check failed
# (folio size, memory left resident, data): its JSON says which and the
# report flags it; anything else but 0 ends the benchmark.
bench_status() {	# bench_status <tool> <exit status>
	[ "$2" = 0 ] && return 0
	sed 's/^/# /' "$DUMP_ERR"
	[ "$2" = 3 ] && return 0
	echo "# $1 failed (exit $2)"
	exit 1
}

# The modes of round <r> in order: reversed every other round, so that
# drift favours no side.
round_order() {	# round_order <r> <modes...>
	r_="$1"
	shift
	if [ $((r_ % 2)) = 1 ]; then
		echo "$*"
	else
		o_=""
		for m_ in "$@"; do o_="$m_ $o_"; done
		echo "$o_"
	fi
}

run() {	# run <phase> <size> <round> <mode> <touch>
	phase="$1" size="$2" mode="$4"
	folio="${size%-pte}"
	extra=""
	[ "$folio" != "$size" ] && extra="--pte-mapped"
	n=$((n + 1))
	echo "# [$n/$total] $phase: $size touch $5 round $3: $mode"
	module "$mode"
	args="--mode pageout"
	[ "$mode" = zap ] && args="--mode dontneed"
	s0="$(mstats)" v0="$(vmstats)" u0=null
	[ "$phase" = counted ] && u0="$(counters)"
	rc=0
	b="$(taskset -c "$BENCH_CPU" lazyfree-bench -f "$folio" $extra -s "$REGION" -n "$ITER" \
		-w 1 -C "$BENCH_CPU" -t "$5" $args -j -l "$mode" 2>"$DUMP_ERR")" || rc=$?
	bench_status lazyfree-bench "$rc"
	u1=null
	[ "$phase" = counted ] && u1="$(counters)"
	s1="$(mstats)" v1="$(vmstats)"
	echo "R {\"phase\":\"$phase\",\"size\":\"$size\",\"touch\":$5,\"round\":$3,\"mode\":\"$mode\",\"bench\":$b,\"s0\":$s0,\"s1\":$s1,\"v0\":$v0,\"v1\":$v1,\"u0\":$u0,\"u1\":$u1}"
}

# file=/referenced= for a file mode; the module stays loaded in between.
file_module() {	# file_module off|on|unmap|ref1
	if [ "$1" = off ]; then
		module off
		return
	fi
	module on
	case "$1" in
	on) param file 1; param referenced 1 ;;
	unmap) param file 1; param referenced 0 ;;
	ref1) param file 0; param referenced 1 ;;
	esac
}

run_file() {	# run_file <phase> <pageout|memcg> <round> <mode>
	n=$((n + 1))
	echo "# [$n/$total] $1: file $FILE_SIZE $2 round $3: $4"
	file_module "$4"
	s0="$(mstats)" v0="$(vmstats)" u0=null
	[ "$1" = counted ] && u0="$(counters)"
	rc=0
	b="$(file-bench -s "$FILE_SIZE" -d "$FILE_DIR" -r "$2" -n "$ITER" -w 1 \
		-C "$BENCH_CPU" -j -l "$4" 2>"$DUMP_ERR")" || rc=$?
	bench_status file-bench "$rc"
	u1=null
	[ "$1" = counted ] && u1="$(counters)"
	s1="$(mstats)" v1="$(vmstats)"
	echo "F {\"phase\":\"$1\",\"reclaim\":\"$2\",\"round\":$3,\"mode\":\"$4\",\"bench\":$b,\"s0\":$s0,\"s1\":$s1,\"v0\":$v0,\"v1\":$v1,\"u0\":$u0,\"u1\":$u1}"
}

file_phase() {	# file_phase timed|counted <rounds>
	[ "$FILE_SIZE" != 0 ] || return 0
	for rec in $FILE_RECLAIM; do
		modes="$(file_modes "$rec")"
		r=1
		while [ $r -le "$2" ]; do
			for m in $(round_order $r $modes); do
				run_file "$1" "$rec" $r "$m"
			done
			r=$((r + 1))
		done
	done
	# Back to the defaults for whatever runs next.
	[ -d /sys/module/batch_unmap ] && { param file 1; param referenced 1; }
	return 0
}

phase() {	# phase timed|counted <rounds>
	for touch in $TOUCH; do
		for size in $SIZES; do
			modes="$(modes_for "$size")"
			[ "$1" = counted ] && modes="$(echo "$modes" | sed 's/ zap$//')"
			r=1
			while [ $r -le "$2" ]; do
				for m in $(round_order $r $modes); do
					run "$1" "$size" $r "$m" "$touch"
				done
				r=$((r + 1))
			done
		done
	done
}

unmapstat --unpin >/dev/null 2>&1

# Timed first, before anything was ever attached to the kernel.
phase timed "$ROUNDS"
file_phase timed "$ROUNDS"

# Then counted: attach once for the whole phase and read deltas (attaching
# and detaching BPF trampolines on hot functions while the other vCPU runs
# them oopsed the guest under multi-threaded TCG).
if [ "$PROBE_ROUNDS" -gt 0 ]; then
	# Pinned while the module is loaded, unmapstat would attach to the
	# module's tracepoint, which holds the module: it could not unload.
	module off
	if unmapstat --pin >/dev/null 2>"$DUMP_ERR"; then
		phase counted "$PROBE_ROUNDS"
		file_phase counted "$PROBE_ROUNDS"
	else
		sed 's/^/# /' "$DUMP_ERR"
		echo "# warning: unmapstat --pin failed: no flush counts, no probe overhead"
	fi
fi
echo "BENCH_DONE"
