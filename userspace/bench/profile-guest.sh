#!/bin/sh
# make bench-profile, in the guest: how long one call of each of $FUNCS
# takes with the module unloaded (off), loaded (on) and, on the ref kernel,
# with the backport switched on (ref), measured by ftrace's function_graph
# tracer at depth 1 (only the listed functions are patched: one entry and
# one exit event per call, the same cost for every mode).
#
# For each function, folio size and round, every mode runs lazyfree-bench
# once (ITER iterations of MADV_PAGEOUT of REGION, on BENCH_CPU) in
# alternating order, and prints one line per run:
#   P <func> <size> <round> <mode> <calls> <median us> <mean us>
# after a line "C <rounds> <iterations> <region>" with the settings
# ("-" for the times of a function this mode never called).
set -u
. /vm/guest-lib.sh

KO=/vm/batch_unmap.ko
SW=/sys/module/rmap/parameters/lazyfree_batch
T=/sys/kernel/tracing
cpu="${BENCH_CPU:-1}"

fail() { echo "# error: $*"; exit 1; }

[ -d "$T/events" ] || mount -t tracefs nodev "$T" 2>/dev/null
[ -w "$T/current_tracer" ] || fail "no tracefs at $T"
grep -qw function_graph "$T/available_tracers" ||
	fail "this kernel has no function_graph tracer (CONFIG_FUNCTION_GRAPH_TRACER)"
modes="off on"
if [ "${REF:-0}" = 1 ]; then
	[ -w "$SW" ] || fail "REF=1, but this kernel has no $SW (not the ref kernel)"
	modes="off on ref"
fi
[ "$cpu" -lt "$(nproc)" ] || fail "BENCH_CPU=$cpu, but the guest has $(nproc) CPUs"

mode() {	# mode off|on|ref
	[ -w "$SW" ] && echo 0 >"$SW"
	unload batch_unmap || fail "cannot unload batch_unmap"
	case "$1" in
	on) insmod "$KO" || fail "cannot load $KO" ;;
	ref) echo 1 >"$SW" ;;
	esac
}

cleanup() {
	echo 0 >"$T/tracing_on" 2>/dev/null
	echo nop >"$T/current_tracer" 2>/dev/null
	echo >"$T/set_ftrace_filter" 2>/dev/null
	echo >"$T/set_graph_function" 2>/dev/null
	[ -w "$SW" ] && echo 0 >"$SW"
	unload batch_unmap 2>/dev/null
}
trap cleanup EXIT

echo 16384 >"$T/buffer_size_kb" || fail "cannot size the trace buffer (16 MiB per CPU)"
echo 1 >"$T/max_graph_depth" || fail "cannot set max_graph_depth"
echo "C $ROUNDS $ITER $REGION"
for f in $FUNCS; do
	grep -qx "$f" "$T/available_filter_functions" ||
		fail "cannot trace $f (not in available_filter_functions)"
	echo "$f" >"$T/set_ftrace_filter" || fail "cannot filter on $f"
	echo "$f" >"$T/set_graph_function" || fail "cannot graph $f"
	for size in $SIZES; do
		folio="${size%-pte}" extra=""
		[ "$folio" != "$size" ] && extra="--pte-mapped"
		r=1
		while [ "$r" -le "$ROUNDS" ]; do
			order="$modes"
			[ $((r % 2)) = 0 ] && order="$(echo "$modes" | tr ' ' '\n' | sed -n '1!G;h;$p' | tr '\n' ' ')"
			for m in $order; do
				mode "$m"
				echo 0 >"$T/tracing_on"
				echo function_graph >"$T/current_tracer"
				echo >"$T/trace"
				echo 1 >"$T/tracing_on"
				taskset -c "$cpu" lazyfree-bench -f "$folio" $extra -s "$REGION" \
					-n "$ITER" -w 1 -C "$cpu" -l "$m" >/dev/null 2>/tmp/lb.err ||
					{ sed 's/^/# /' /tmp/lb.err; fail "lazyfree-bench failed"; }
				echo 0 >"$T/tracing_on"
				lost="$(sed -n 's/^overrun: //p' "$T/per_cpu/cpu$cpu/stats")"
				[ "${lost:-0}" = 0 ] ||
					fail "the trace buffer overran ($lost events lost): lower ITER or REGION"
				# "  1)   2.203 us    |  try_to_unmap();": the durations
				sed -n 's/^ *[0-9]*) *[!#*@+$]* *\([0-9.]*\) us *|.*/\1/p' \
					"$T/per_cpu/cpu$cpu/trace" | sort -n |
					awk -v f="$f" -v s="$size" -v r="$r" -v m="$m" '
						{ a[NR] = $1; t += $1 }
						END {
							# Not called in this mode (e.g. a backport-only function).
							if (NR == 0) { printf "P %s %s %d %s 0 - -\n", f, s, r, m; exit }
							printf "P %s %s %d %s %d %.3f %.3f\n", f, s, r, m, NR,
								a[int((NR + 1) / 2)], t / NR
						}'
				echo nop >"$T/current_tracer"
			done
			r=$((r + 1))
		done
	done
done
echo PROFILE_DONE
