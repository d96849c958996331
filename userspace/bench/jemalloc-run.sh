#!/usr/bin/env bash
# make bench WORKLOAD=jemalloc: a workload nobody here wrote.  jemalloc
# (Debian's, linked statically into jemalloc-bench, configured only by
# MALLOC_CONF) purging lazily with MADV_FREE, under a memcg's memory.high,
# for each mTHP setting, module off vs on (and, with REF=1, the ref
# kernel's backport of upstream), in one boot of the test VM.
#
# userspace/bench/jemalloc-guest.sh runs in the VM: per setting one
# calibration run (memory.high max: where to put memory.high), then ROUNDS
# rounds of every setting and mode in alternating order, with nothing
# attached to the kernel, then PROBE_ROUNDS rounds with unmapstat pinned
# (deferred splits and reclaim's unmaps by folio order; no times).  Writes OUT/results.{jsonl,json,csv}, table.txt
# and plot.png and prints the table.
#
# Environment: QUICK=1 (shorter runs, 2 rounds), ROUNDS (3), SETTINGS (the
# mTHP settings: "4K 16K 64K 64K+2M"; 4K is small pages only, a+b enables
# both sizes), REF=1 (boot the ref kernel and add its backport), JE_CONF
# (MALLOC_CONF; default background_thread:true,dirty_decay_ms:500,
# muzzy_decay_ms:10000), JE_HIGH (memory.high for every setting, e.g. 192M;
# default: calibrated per setting), JE_ARGS (more jemalloc-bench options,
# e.g. "-t 4 -p 32M"), PROBE_ROUNDS (1; 0: no counted runs with unmapstat
# pinned), OUT (build/bench-jemalloc), REPORT_ONLY=1 (the reports again
# from OUT/raw.log, no run).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/../.." && pwd)"
. "$top/tests/harness/lib.sh"

if [ "${QUICK:-0}" = 1 ]; then
	: "${ROUNDS:=2}" "${JE_ARGS:=-c 2 -w 1}"
else
	: "${ROUNDS:=3}" "${JE_ARGS:=}"
fi
: "${REF:=0}" "${SETTINGS:=4K 16K 64K 64K+2M}" "${JE_HIGH:=}" "${PROBE_ROUNDS:=1}"
: "${JE_CONF:=background_thread:true,dirty_decay_ms:500,muzzy_decay_ms:10000}"
out="${OUT:-$top/build/bench-jemalloc}"
case "$ROUNDS" in ''|*[!0-9]*|0) die "ROUNDS must be a number of at least 1, not '$ROUNDS'" ;; esac
case "$PROBE_ROUNDS" in ''|*[!0-9]*) die "PROBE_ROUNDS must be a number (0: none), not '$PROBE_ROUNDS'" ;; esac
case "$REF" in 0|1) ;; *) die "REF must be 0 or 1, not '$REF'" ;; esac
[ "${NATIVE:-0}" = 1 ] && die "WORKLOAD=jemalloc runs in the test VM only (NATIVE=1 is for the lazyfree workload)"
[ -n "${SETTINGS// }" ] || die "SETTINGS must list at least one mTHP setting (e.g. \"4K 64K\")"
for s in $SETTINGS; do
	for kb in ${s//+/ }; do
		case "$kb" in 4K|16K|32K|64K|128K|256K|512K|1M|2M) ;;
		*) die "unknown folio size '$kb' in SETTINGS '$s' (4K, 16K..1M, 2M; a+b for both)" ;; esac
	done
done
case "$JE_CONF" in *[\"\\\'\ ]*) die "JE_CONF must not contain quotes, backslashes or spaces" ;; esac
case "$JE_CONF" in *muzzy_decay_ms:0,*|*muzzy_decay_ms:0) warn "JE_CONF has muzzy_decay_ms:0: jemalloc then purges with MADV_DONTNEED, not MADV_FREE (every run will say so)" ;; esac
case "$JE_CONF" in *muzzy_decay_ms*) ;; *) warn "JE_CONF does not set muzzy_decay_ms: jemalloc 5.3's default is 0 (no MADV_FREE)" ;; esac
case "$JE_HIGH" in ''|[1-9]*[MG]) ;; *) die "JE_HIGH must look like 192M (empty: calibrated), not '$JE_HIGH'" ;; esac
case "$JE_ARGS" in *[\"\\\']*) die "JE_ARGS must not contain quotes or backslashes" ;; esac
for a in $JE_ARGS; do
	case "$a" in -f*|--folios*|-H*|--high*|-j|--json|-l*|--label*)
		die "JE_ARGS must not set $a: the benchmark sets the folios, memory.high, the output and the label" ;;
	esac
done

# A run's length in seconds: (warm-up + measured cycles) x period.
jb_secs() {
	local p=2000 c=3 w=2 prev=""
	for a in $JE_ARGS; do
		case "$prev" in
		-P|--period) p="$a" ;; -c|--cycles) c="$a" ;; -w|--warmup) w="$a" ;;
		esac
		case "$a" in --period=*) p="${a#*=}" ;; --cycles=*) c="${a#*=}" ;; --warmup=*) w="${a#*=}" ;; esac
		prev="$a"
	done
	case "$p$c$w" in *[!0-9]*) echo "?"; return ;; esac
	echo $(( (c + w) * p / 1000 ))
}

ensure_packages jq gnuplot-nox
mkdir -p "$out"
start=$SECONDS
if [ "${REPORT_ONLY:-0}" = 1 ]; then
	[ -s "$out/raw.log" ] || die "REPORT_ONLY=1 but there is no $out/raw.log"
else
	jb="$top/build/bin/jemalloc-bench"
	[ -x "$jb" ] || die "no $jb: run make first"
	[ "$REF" = 1 ] && export KERNEL_FLAVOR=ref
	[ "$REF" = 1 ] || [ "${KERNEL_FLAVOR:-}" != ref ] || REF=1
	kdir="$("$top/kernel/build.sh")"
	nm=2
	[ "$REF" = 1 ] && nm=3
	log "bench: WORKLOAD=jemalloc, mTHP [$SETTINGS] x [off on$([ "$REF" = 1 ] && echo " ref")], $ROUNDS rounds, MALLOC_CONF=$JE_CONF, jemalloc-bench ${JE_ARGS:-(defaults)}, memory.high ${JE_HIGH:-calibrated}"
	cal=1
	[ -n "$JE_HIGH" ] && cal=0
	log "bench: $(( $(wc -w <<<"$SETTINGS") * ((ROUNDS + PROBE_ROUNDS) * nm + cal) )) runs of $(jb_secs) s; TCG times are emulated: only ratios carry over to hardware"
	guest_script_run benchmark BENCH_DONE 3600 "$kdir" "$out" \
		"$here/jemalloc-guest.sh:jemalloc-guest.sh" \
		"ROUNDS=$ROUNDS PROBE_ROUNDS=$PROBE_ROUNDS SETTINGS='$SETTINGS' REF=$REF JE_CONF='$JE_CONF' JE_HIGH='$JE_HIGH' JE_ARGS='$JE_ARGS' sh /vm/jemalloc-guest.sh"
fi

sed -n 's/^J //p' "$out/raw.log" >"$out/results.jsonl"
[ -s "$out/results.jsonl" ] || die "no results in $out/raw.log"
env_json="$(sed -n 's/^E //p' "$out/raw.log" | head -n 1)"
jq -s -f "$here/jemalloc-report.jq" "$out/results.jsonl" >"$out/summary.json"
jq -n --argjson env "${env_json:-null}" --slurpfile s "$out/summary.json" \
	--arg date "$(date -u +%FT%TZ)" --argjson secs "$((SECONDS - start))" \
	'{schema: 1, workload: "jemalloc", date: $date, seconds: $secs, environment: $env,
	  note: "times are from a QEMU TCG guest: compare ratios, not absolute numbers",
	  method: "per mTHP setting: memory.high from a calibration run (module off, memory.high max) unless fixed; then rounds of every setting and mode in alternating order, nothing attached to the kernel; each run: warm-up cycles, then measured cycles, counters (memcg memory.stat/events, vmstat, mTHP stats, batch_unmap debugfs, jemalloc stats) read by jemalloc-bench around the measured cycles; values are medians over the rounds, ratios are taken per round",
	  config: $s[0].config, settings: $s[0].settings}' >"$out/results.json"

# CSV: one row per setting and mode.
jq -r '["setting","mode","memory_high_mb","runs","ops_per_s","ops_min","ops_max",
	"ratio_off_side","ratio_min","ratio_max","alloc_p50_ns","alloc_p99_ns","alloc_p999_ns",
	"sys_ms","sys_us_per_kalloc","lazyfree_mb","madv_free_mb","reclaimed_mb","lazyfreed_mb",
	"scanned_mb","high_events","split_deferred","split","thp_underused_split_page",
	"module_batches","module_whole","module_partial","module_pages_mb","module_batched_share",
	"module_declines","module_decline_not_large","module_restored","muzzy_avg_mb",
	"dirty_avg_mb","checks_ok"],
	(.settings[] as $s | ("off", "on", "ref") as $m | $s[$m] | select(. != null)
	| [$s.setting, $m, $s.high_mb, .runs, .ops_per_s.median, .ops_per_s.min, .ops_per_s.max,
	   ($s["ratio_off_" + $m] // {}).median, ($s["ratio_off_" + $m] // {}).min,
	   ($s["ratio_off_" + $m] // {}).max, .alloc_ns.p50, .alloc_ns.p99, .alloc_ns.p999,
	   .sys_ms, .sys_us_per_kalloc, .lazyfree_mb, .madv_free_mb, .reclaimed_mb, .lazyfreed_mb,
	   .scanned_mb, .high_events, .split_deferred, .split, .thp_underused_split_page,
	   .module.batches, .module.whole, .module.partial, .module.pages_mb, .module.batched_share,
	   .module.declines, .module.decline_not_large, .module.restored, .muzzy_avg_mb,
	   .dirty_avg_mb, .checks_ok])
	| @csv' "$out/results.json" >"$out/results.csv"

jqdefs='def x: if . == null then "-" else "\(.median)x [\(.min)-\(.max)]" end;
def n: if . == null then "-" else tostring end;
def ops: if . == null then "-" else "\(.median) [\(.min)-\(.max)]" end;
def us: if . == null then "-" else (. / 100 | round / 10 | tostring) end;'
modes="off on"
[ "$(jq -r '.environment.ref // 0' "$out/results.json")" = 1 ] && modes="off on ref"

{
	echo
	jq -r '"batch_unmap benchmark, WORKLOAD=jemalloc: \(.environment.kernel // "?"), \(.environment.cpus // "?") CPUs (TCG), \((.environment.mem_kb // 0) / 1024 | round) MiB"' "$out/results.json"
	jq -r '.config as $c | "jemalloc \($c.jemalloc_version // "?") (Debian, static), MALLOC_CONF=\($c.malloc_conf // "unset");"
		+ " \($c.threads) threads, live peak \($c.peak_mb)M each, cycle \($c.period_ms) ms, \($c.warmup) warm-up + \($c.cycles) measured cycles per run"' "$out/results.json"
	echo "$(jq -r '.environment.rounds' "$out/results.json") rounds, every setting and mode once per round in alternating order, nothing attached to the"
	echo "kernel. ops/s: allocations per second, median [min-max] over the rounds; alloc latency: malloc plus"
	echo "the first touch of every page (where faults and memcg reclaim land), us, median over the rounds of"
	echo "each run's percentile; off/<mode>: time per allocation, off over <mode>, per round (above 1: faster)."
	printf '%-7s %-4s %6s %25s %7s %8s %9s %9s %22s\n' "mTHP" "mode" "high" "ops/s" "p50 us" \
		"p99 us" "p99.9 us" "sys s" "off/<mode>"
	jq -r --arg modes "$modes" "$jqdefs"' .settings[] as $s | ($modes | split(" "))[] as $m
		| $s[$m] | select(. != null)
		| [$s.setting, $m, "\($s.high_mb)M", (.ops_per_s | ops), (.alloc_ns.p50 | us),
		   (.alloc_ns.p99 | us), (.alloc_ns.p999 | us), (.sys_ms / 100 | round / 10 | tostring),
		   (if $m == "off" then "" else ($s["ratio_off_" + $m] | x) end)] | @tsv' \
		"$out/results.json" |
		while IFS=$'\t' read -r a b c d e f g h i; do
			printf '%-7s %-4s %6s %25s %7s %8s %9s %9s %22s\n' "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i"
		done
	if [ "$modes" = "off on ref" ]; then
		echo "on vs ref (ops/s of ref over on, per round; below 1: the module is faster):"
		jq -r "$jqdefs"' .settings[] | "  \(.setting): \(.ratio_on_ref | x)"' "$out/results.json"
	fi
	echo
	echo "Reclaim, per run (median over the rounds; MiB): lazyfree = pages jemalloc's MADV_FREE marked"
	echo "(memcg pglazyfree), reclaimed = memcg pgsteal, of it lazyfree pages freed (pglazyfreed); events ="
	echo "memory.high breaches; sys = kernel CPU per 1000 allocations (us); splits: deferred (partially"
	echo "mapped, mTHP split_deferred), done (mTHP split: MADV_FREE of half-covered folios, the deferred"
	echo "split shrinker), underused (thp_underused_split_page)."
	printf '%-7s %-4s %9s %10s %9s %7s %9s %22s\n' "mTHP" "mode" "lazyfree" "reclaimed" "lazyfreed" \
		"events" "sys/kalloc" "splits def/done/underused"
	jq -r --arg modes "$modes" "$jqdefs"' .settings[] as $s | ($modes | split(" "))[] as $m
		| $s[$m] | select(. != null)
		| [$s.setting, $m, (.lazyfree_mb | n), (.reclaimed_mb | n), (.lazyfreed_mb | n),
		   (.high_events | n), (.sys_us_per_kalloc | n),
		   "\(.split_deferred | n)/\(.split | n)/\(.thp_underused_split_page | n)"] | @tsv' \
		"$out/results.json" |
		while IFS=$'\t' read -r a b c d e f g h; do
			printf '%-7s %-4s %9s %10s %9s %7s %9s %22s\n' "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h"
		done
	echo
	echo "The module's counters (mode on; debugfs, read around the measured cycles): batches of"
	echo "whole/partial folios, the lazyfree pages they freed (MiB, and their share of pglazyfreed: how"
	echo "much of the lazyfree memory reclaim freed came as large folios), declines (of them small"
	echo "folios), batches restored (a PTE dirty again: jemalloc reused the memory)."
	printf '%-7s %9s %9s %11s %10s %10s %9s\n' "mTHP" "whole" "partial" "pages MiB" "share" \
		"declines" "restored"
	jq -r "$jqdefs"' .settings[] | . as $s | .on.module | select(. != null)
		| [$s.setting, (.whole | n), (.partial | n), (.pages_mb | n),
		   (if .batched_share == null then "-" else "\(.batched_share * 1000 | round / 10)%" end),
		   "\(.declines | n) (\(.decline_not_large | n))", (.restored | n)] | @tsv' \
		"$out/results.json" |
		while IFS=$'\t' read -r a b c d e f g; do
			printf '%-7s %9s %9s %11s %10s %10s %9s\n' "$a" "$b" "$c" "$d" "$e" "$f" "$g"
		done
	echo
	echo "jemalloc (median per run): MADV_FREE'd MiB (dirty pages purged lazily), muzzy and dirty MiB"
	echo "(average over the run, sampled), jemalloc's resident MiB (maximum); calibration: memcg peak."
	printf '%-7s %-4s %10s %9s %9s %10s %18s\n' "mTHP" "mode" "MADV_FREE" "muzzy" "dirty" "resident" \
		"calibration peak"
	jq -r --arg modes "$modes" "$jqdefs"' .settings[] as $s | ($modes | split(" "))[] as $m
		| $s[$m] | select(. != null)
		| [$s.setting, $m, (.madv_free_mb | n), (.muzzy_avg_mb | n), (.dirty_avg_mb | n),
		   (.resident_max_mb | n),
		   (if $m == "off" and $s.calibration != null then "\($s.calibration.memcg_max_mb)M" else "" end)]
		| @tsv' "$out/results.json" |
		while IFS=$'\t' read -r a b c d e f g; do
			printf '%-7s %-4s %10s %9s %9s %10s %18s\n' "$a" "$b" "$c" "$d" "$e" "$f" "$g"
		done
	# Loud: a run without MADV_FREE measured nothing this benchmark is about.
	jq -r '.settings[] | . as $s | ("off", "on", "ref") as $m | $s[$m] | select(. != null)
		| select(.lazyfree_ok | not)
		| "WARNING: \($s.setting) \($m): NO MADV_FREE in some run (memcg pglazyfree 0): jemalloc purged with MADV_DONTNEED; check JE_CONF"' \
		"$out/results.json"
	jq -r '.settings[] | . as $s | ("off", "on", "ref") as $m | $s[$m] | select(. != null)
		| select(.reclaim_ok | not)
		| "warning: \($s.setting) \($m): no reclaim in some run (memory.high never exceeded)"' \
		"$out/results.json"
	jq -r '.settings[] | . as $s | ("off", "on", "ref") as $m | $s[$m] | select(. != null)
		| select(.data_ok | not)
		| "WARNING: \($s.setting) \($m): an object read back changed after reclaim"' \
		"$out/results.json"
	if jq -e '[.settings[].counted[] | select(. != null)] | length > 0' "$out/results.json" >/dev/null; then
		echo
		echo "Counted runs (unmapstat pinned, separate runs, $(jq -r '.environment.probe_rounds' "$out/results.json") round(s); no times): deferred splits of"
		echo "partially mapped folios and the others (THP faults) by folio size, the lazyfree folios reclaim"
		echo "unmapped (try_to_unmap_one calls) by size, and reclaim's per-PTE clear-and-flush calls."
		jq -r --arg modes "$modes" '
			def sz: (4 * pow(2; .)) as $k | if $k >= 1024 then "\($k / 1024)M" else "\($k)K" end;
			def orders: if . == null then "-" else to_entries | map(select(.value > 0)
				| "\(.key | ltrimstr("order") | tonumber | sz):\(.value)") | join(" ")
				| if . == "" then "0" else . end end;
			.settings[] as $s | ($modes | split(" "))[] as $m | $s.counted[$m] | select(. != null)
			| "\($s.setting) \($m): split partial \(.split_partial | orders); other \(.split_other | orders);"
			  + " lazyfree unmaps \(.lazyfree_unmaps | orders); per-PTE flushes \(.ptep_clear_flush)"' \
			"$out/results.json"
	fi
	echo "PSI: $(jq -r 'if .environment.psi then "in results.json (pressure)" else "not in this kernel (CONFIG_PSI off): no stall times" end' "$out/results.json")."
	echo "TCG times are emulated: only the ratios carry over to real hardware."
} | tee "$out/table.txt"

# The plot: allocations per second, and p99 latency, per setting and mode.
jq -r '.settings[] | [.setting, .off.ops_per_s.median, .on.ops_per_s.median,
	(.ref.ops_per_s.median // 0), (.off.alloc_ns.p99 // 0) / 1000, (.on.alloc_ns.p99 // 0) / 1000,
	((.ref.alloc_ns.p99 // 0) / 1000)] | @tsv' "$out/results.json" >"$out/plot.dat"
refops="" refp99=""
if [ "$modes" = "off on ref" ]; then
	refops='"" using 4 title "upstream backport (ref kernel)",'
	refp99=', "" using 7 title "upstream backport (ref kernel)"'
fi
gnuplot <<EOF
set terminal pngcairo size 1100,720 noenhanced
set output "$out/plot.png"
set multiplot layout 2,1 title "jemalloc under memory.high (QEMU TCG, median over the rounds, no probes)"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key outside top center horizontal
set grid ytics
set format y "%.1s%c"
set lmargin 12
set yrange [0:*]
set ylabel "allocations per second"
plot "$out/plot.dat" using 2:xtic(1) title "stock (module off)", \
     "" using 3 title "batch_unmap (module on)", $refops \
     1/0 notitle
set ylabel "p99 alloc latency (us)"
set xlabel "mTHP setting"
set format y "%g"
unset key
plot "$out/plot.dat" using 5:xtic(1) title "stock (module off)", \
     "" using 6 title "batch_unmap (module on)"$refp99
unset multiplot
EOF
log "bench: wrote $out/results.json, results.csv, table.txt, plot.png in $((SECONDS - start)) s"
