#!/bin/sh
# Runs inside the test VM (started by userspace/bench/jemalloc-run.sh, for
# make bench WORKLOAD=jemalloc): jemalloc-bench, a jemalloc workload under
# memory.high, for each mTHP setting with the module off (unloaded: stock),
# on (loaded, its defaults) and, with REF=1, ref (the ref kernel's
# in-kernel backport of upstream, module unloaded).  Prints "J {...}"
# lines (one per run), "E {...}" (environment) and "# ..." progress for
# the host to aggregate.
#
#  calibrate: per setting, one run with the module off and memory.high
#             "max" (no pressure): memory.high for that setting is then
#             halfway between what jemalloc holds that reclaim cannot take
#             (its resident set: live and dirty pages, the maximum sampled)
#             and the memcg's peak usage (plus the muzzy pages): reclaim has
#             lazyfree memory to take and never needs to take more.  JE_HIGH
#             fixes it instead (e.g. 192M) and skips these runs.
#  timed:     ROUNDS rounds; each runs every setting and every mode once,
#             the settings and the modes in alternating order (reversed
#             every other round).  Nothing is attached to the kernel: the
#             counters are the ones that cost nothing (memcg, vmstat, mTHP
#             stats, the module's debugfs), read by jemalloc-bench itself
#             before and after its measured cycles.
#  counted:   PROBE_ROUNDS rounds (default 1; 0: none) of the same runs with
#             unmapstat pinned (fentry/kprobes on the unmap, split and flush
#             paths), read before and after each run: deferred splits of
#             partially mapped folios and the others, by order, and the
#             lazyfree folios reclaim unmapped, by order.  Their times are
#             not reported: probes change what they measure.
#
# Settings (environment): ROUNDS, SETTINGS (mTHP sizes per setting, e.g.
# "4K 16K 64K 64K+2M"), REF (1: add the ref mode), JE_CONF (MALLOC_CONF),
# JE_HIGH (memory.high; empty: calibrate), JE_ARGS (more jemalloc-bench
# options), PROBE_ROUNDS, KO (the module).

ROUNDS="${ROUNDS:-3}"
SETTINGS="${SETTINGS:-4K 16K 64K 64K+2M}"
REF="${REF:-0}"
JE_CONF="${JE_CONF:-background_thread:true,dirty_decay_ms:500,muzzy_decay_ms:10000}"
JE_HIGH="${JE_HIGH:-}"
JE_ARGS="${JE_ARGS:-}"
PROBE_ROUNDS="${PROBE_ROUNDS:-1}"
KO="${KO:-/vm/batch_unmap.ko}"
CGROOT="${CGROOT:-/sys/fs/cgroup}"
CG="$CGROOT/jemalloc-bench"
REF_SWITCH=/sys/module/rmap/parameters/lazyfree_batch
ERR="${TMPDIR:-/tmp}/jemalloc-bench.err.$$"

# shellcheck source=tests/vm/guest-lib.sh
. "${GUEST_LIB:-/vm/guest-lib.sh}"

if [ "$REF" = 1 ] && [ ! -w "$REF_SWITCH" ]; then
	echo "# REF=1, but this kernel has no $REF_SWITCH: boot the ref kernel (KERNEL_FLAVOR=ref)"
	exit 1
fi
command -v jq >/dev/null || { echo "# no jq in the VM (tests/harness/run.sh --project adds it)"; exit 1; }
[ -f "$CGROOT/cgroup.controllers" ] ||
	{ echo "# no cgroup2 at $CGROOT"; exit 1; }
grep -qw memory "$CGROOT/cgroup.controllers" ||
	{ echo "# the kernel has no memory controller (CONFIG_MEMCG)"; exit 1; }

modes="off on"
[ "$REF" = 1 ] && modes="off on ref"
nset=$(echo "$SETTINGS" | wc -w)
nmodes=$(echo "$modes" | wc -w)
total=$(((ROUNDS + PROBE_ROUNDS) * nset * nmodes))
[ -z "$JE_HIGH" ] && total=$((total + nset))
n=0

echo "E {\"workload\":\"jemalloc\",\"kernel\":\"$(uname -r)\",\"cpus\":$(grep -c ^processor /proc/cpuinfo),\"mem_kb\":$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo),\"rounds\":$ROUNDS,\"probe_rounds\":$PROBE_ROUNDS,\"settings\":\"$SETTINGS\",\"modes\":\"$modes\",\"ref\":$REF,\"malloc_conf\":\"$JE_CONF\",\"args\":\"$JE_ARGS\",\"high\":\"${JE_HIGH:-calibrated}\",\"psi\":$([ -r /proc/pressure/memory ] && echo true || echo false),\"native\":${NATIVE:-0}}"

ref_switch() {	# ref_switch 0|1 (no-op on a kernel without the backport)
	[ -w "$REF_SWITCH" ] || return 0
	echo "$1" >"$REF_SWITCH" || { echo "# cannot set $REF_SWITCH"; exit 1; }
}

module() {	# module off|on|ref
	case "$1" in
	off|ref)
		unload batch_unmap || { echo "# cannot unload batch_unmap"; exit 1; }
		if [ "$1" = ref ]; then ref_switch 1; else ref_switch 0; fi ;;
	on)
		ref_switch 0
		[ -d /sys/module/batch_unmap ] || insmod "$KO" || { echo "# insmod $KO failed"; exit 1; } ;;
	esac
}

# The pinned unmapstat counters as JSON, or null (and why, as a comment).
counters() {
	unmapstat --dump -j 2>"$ERR" || { sed 's/^/# /' "$ERR" >&2; echo null; }
}

# However the run ends, leave no module, switch, pin or memcg behind.
cleanup() {
	unload batch_unmap
	ref_switch 0
	unmapstat --unpin >/dev/null 2>&1
	rmdir "$CG" 2>/dev/null
	rm -f "$ERR"
}
trap cleanup EXIT

# run <phase> <round> <setting> <mode> <memory.high>: one jemalloc-bench run.
run() {
	n=$((n + 1))
	echo "# [$n/$total] $1: round $2, mTHP $3, $4, memory.high $5"
	module "$4"
	# The same start for every run: free memory compacted (mTHP allocations).
	[ -w /proc/sys/vm/compact_memory ] && echo 1 >/proc/sys/vm/compact_memory
	u0=null u1=null
	[ "$1" = counted ] && u0="$(counters)"
	rc=0
	# shellcheck disable=SC2086  # JE_ARGS: options, split on purpose
	b="$(MALLOC_CONF="$JE_CONF" jemalloc-bench -f "$3" -H "$5" $JE_ARGS -j -l "$4" 2>"$ERR")" || rc=$?
	# 3: it ran, but a check failed (no MADV_FREE, no reclaim, data): its
	# JSON says which, the report flags it.
	if [ "$rc" = 3 ] && [ -n "$b" ]; then
		sed 's/^/# /' "$ERR"
	elif [ "$rc" != 0 ] || [ -z "$b" ]; then
		sed 's/^/# /' "$ERR"; echo "# jemalloc-bench failed (exit $rc)"; exit 1
	fi
	[ "$1" = counted ] && u1="$(counters)"
	echo "J {\"phase\":\"$1\",\"round\":$2,\"setting\":\"$3\",\"mode\":\"$4\",\"rc\":$rc,\"high\":\"$5\",\"bench\":$b,\"u0\":$u0,\"u1\":$u1}"
	last="$b"
}

# memory.high per setting: "high_<setting>" (+ cannot be in a name).
setvar() { eval "high_$(echo "$1" | tr '+' '_')=\$2"; }
getvar() { eval "echo \$high_$(echo "$1" | tr '+' '_')"; }

for s in $SETTINGS; do
	if [ -n "$JE_HIGH" ]; then
		setvar "$s" "$JE_HIGH"
		continue
	fi
	run calibrate 0 "$s" off max
	# Halfway between jemalloc's resident set and the memcg's peak, in MiB.
	h="$(echo "$last" | jq -r '[.memory.resident.max, .memory.memcg_current.max]
		| if any(. == null) then "" else ((.[0] + .[1]) / 2 / 1048576 | floor) end')"
	lo="$(echo "$last" | jq -r '(.memory.resident.max // 0) / 1048576 | floor')"
	hi="$(echo "$last" | jq -r '(.memory.memcg_current.max // 0) / 1048576 | floor')"
	[ -n "$h" ] || { echo "# calibration of $s gave no memory samples"; exit 1; }
	echo "# mTHP $s: jemalloc resident up to ${lo}M, memcg up to ${hi}M: memory.high ${h}M"
	[ $((hi - lo)) -ge 16 ] ||
		echo "# warning: mTHP $s: less than 16M of the peak is lazyfree: little for reclaim to take"
	setvar "$s" "${h}M"
done

rounds() {	# rounds timed|counted <number of rounds>
	r=1
	while [ $r -le "$2" ]; do
		# Alternate the orders so that drift favours no setting and no mode.
		if [ $((r % 2)) = 1 ]; then
			sorder="$SETTINGS" morder="$modes"
		else
			sorder="" morder=""
			for s in $SETTINGS; do sorder="$s $sorder"; done
			for m in $modes; do morder="$m $morder"; done
		fi
		for s in $sorder; do
			for m in $morder; do
				run "$1" "$r" "$s" "$m" "$(getvar "$s")"
			done
		done
		r=$((r + 1))
	done
}

unmapstat --unpin >/dev/null 2>&1
# Timed first, before anything was ever attached to the kernel.
rounds timed "$ROUNDS"
# Then counted: pinned once, with the module unloaded (pinned while it is
# loaded, unmapstat would attach to its tracepoint and hold it).
if [ "$PROBE_ROUNDS" -gt 0 ]; then
	module off
	if unmapstat --pin >/dev/null 2>"$ERR"; then
		rounds counted "$PROBE_ROUNDS"
	else
		sed 's/^/# /' "$ERR"
		echo "# warning: unmapstat --pin failed: no split or unmap counts by order"
	fi
fi
echo "BENCH_DONE"
