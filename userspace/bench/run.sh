#!/usr/bin/env bash
# make bench: batch_unmap off vs on, in one boot of the test VM.
#
# For each folio size (4K, 16K, 64K, 256K, 1M, 2M PTE-mapped), alternating
# rounds with the module unloaded and loaded, lazyfree-bench times
# MADV_PAGEOUT of lazyfree memory while unmapstat counts deferred splits and
# TLB flushes; MADV_DONTNEED of the same memory is the zap baseline.
# Writes build/bench/results.{jsonl,json,csv} and plot.png and prints a table.
#
# Environment: QUICK=1 (shorter run), ROUNDS, ITER, REGION, SIZES, TOUCH=N
# (threads keeping the mm active on other CPUs: remote flushes), OUT.
# REPORT_ONLY=1 recomputes the reports from OUT/raw.log without a VM run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/../.." && pwd)"
. "$top/tests/harness/lib.sh"

if [ "${QUICK:-0}" = 1 ]; then
	: "${ROUNDS:=3}" "${ITER:=2}" "${REGION:=32M}"
else
	: "${ROUNDS:=5}" "${ITER:=3}" "${REGION:=64M}"
fi
: "${SIZES:=4K 16K 64K 256K 1M 2M-pte}" "${TOUCH:=0}"
out="${OUT:-$top/build/bench}"
case "$ROUNDS$ITER$TOUCH" in *[!0-9]*) die "ROUNDS, ITER and TOUCH must be numbers" ;; esac
[ "$ROUNDS" -ge 1 ] && [ "$ITER" -ge 1 ] || die "ROUNDS and ITER must be at least 1"
for s in $SIZES; do
	case "$s" in 4K|8K|16K|32K|64K|128K|256K|512K|1M|2M|2M-pte) ;;
	*) die "unknown size '$s' in SIZES (4K..1M, 2M, 2M-pte)" ;; esac
done

ensure_packages jq gnuplot-nox
mkdir -p "$out"
kdir="$("$top/kernel/build.sh")"

start=$SECONDS
if [ "${REPORT_ONLY:-0}" = 1 ]; then
	[ -s "$out/raw.log" ] || die "REPORT_ONLY=1 but there is no $out/raw.log"
	REGION="$(sed -n 's/^E .*"region":"\([^"]*\)".*/\1/p' "$out/raw.log")"
	ROUNDS="$(sed -n 's/^E .*"rounds":\([0-9]*\).*/\1/p' "$out/raw.log")"
	ITER="$(sed -n 's/^E .*"iterations":\([0-9]*\).*/\1/p' "$out/raw.log")"
else
log "bench: sizes [$SIZES], $ROUNDS rounds x $ITER iterations of $REGION, touch threads $TOUCH"
log "bench: TCG times are emulated: only the off/on ratios carry over to hardware"
VM_TIMEOUT="${VM_TIMEOUT:-3600}" "$top/tests/harness/run.sh" --kernel "$kdir" --out "$out/vm" \
	--project --file "$here/guest.sh:bench-guest.sh" \
	-- "SIZES='$SIZES' ROUNDS=$ROUNDS ITER=$ITER REGION=$REGION TOUCH=$TOUCH sh /vm/bench-guest.sh" |
	tee "$out/raw.log" | grep --line-buffered '^#' || true
[ "${PIPESTATUS[0]}" = 0 ] || die "the benchmark VM failed (see $out/raw.log and $out/vm/console.log)"
fi

sed -n 's/^R //p' "$out/raw.log" >"$out/results.jsonl"
env_json="$(sed -n 's/^E //p' "$out/raw.log" | head -n 1)"
[ -s "$out/results.jsonl" ] || die "no results in $out/raw.log"
jq -s -f "$here/report.jq" "$out/results.jsonl" >"$out/summary.json"
jq -n --argjson env "${env_json:-null}" --slurpfile s "$out/summary.json" \
	--arg date "$(date -u +%FT%TZ)" --argjson secs "$((SECONDS - start))" \
	'{date: $date, seconds: $secs, environment: $env,
	  note: "times are from a QEMU TCG guest: compare ratios, not absolute times",
	  sizes: $s[0]}' >"$out/results.json"

# CSV: one row per size and side.
jq -r '["size","side","median_ms","min_ms","max_ms","ratio_off_on","ratio_min","ratio_max",
	"split_deferred_per_iter","per_pte_flushes_per_folio","range_flushes_per_folio",
	"deferred_flushes_per_folio","vs_zap","folios_ok","reclaim_ok"],
	(.sizes[] as $s | ("off", "on", "zap") as $side | $s[$side] // empty
	| [$s.size, $side, .median_ms, .min_ms, .max_ms, $s.ratio_off_on.median,
	   $s.ratio_off_on.min, $s.ratio_off_on.max, .split_deferred_per_iter,
	   .flushes_per_folio.per_pte, .flushes_per_folio.range, .flushes_per_folio.deferred,
	   (if $side == "zap" then 1 else (.median_ms / $s.zap.median_ms * 1000 | round / 1000) end),
	   .folios_ok, .reclaim_ok]) | @csv' "$out/results.json" >"$out/results.csv"

# The table.
{
	echo
	echo "batch_unmap benchmark: MADV_PAGEOUT of $REGION lazyfree memory, $ROUNDS rounds x $ITER iterations"
	jq -r '"kernel \(.environment.kernel), \(.environment.cpus) vCPUs (TCG), tlb_single_page_flush_ceiling \(.environment.tlb_single_page_flush_ceiling), touch threads \(.environment.touch_threads)"' "$out/results.json"
	printf '%-8s %23s %23s %19s %9s %9s %13s %15s %10s\n' "folio" "off ms med [min-max]" \
		"on ms med [min-max]" "off/on [spread]" "zap ms" "on/zap" "splits off/on" \
		"flush/folio off" "on"
	jq -r '.sizes[] | [.size,
		"\(.off.median_ms) [\(.off.min_ms)-\(.off.max_ms)]",
		"\(.on.median_ms) [\(.on.min_ms)-\(.on.max_ms)]",
		"\(.ratio_off_on.median)x [\(.ratio_off_on.min)-\(.ratio_off_on.max)]",
		(.zap.median_ms // "-"), (.on_vs_zap // "-"),
		([.off.split_deferred_per_iter, .on.split_deferred_per_iter]
		 | map(if . == null or . < 0 then "n/a" else tostring end) | join("/")),
		"\(.off.flushes_per_folio | (.single_page // 0) + (.range // 0) + (.full // 0) + (.deferred // 0) | . * 100 | round / 100)",
		"\(.on.flushes_per_folio | (.single_page // 0) + (.range // 0) + (.full // 0) + (.deferred // 0) | . * 100 | round / 100)"]
		| @tsv' "$out/results.json" |
		while IFS=$'\t' read -r a b c d e f g h i; do
			printf '%-8s %23s %23s %19s %9s %9s %13s %15s %10s\n' "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i"
		done
	echo "splits = split_deferred per MADV_PAGEOUT; flush/folio = reclaim TLB flushes per folio (unmapstat)"
	jq -r '.sizes[] | select(.off.folios_ok == false or .on.folios_ok == false) |
		"warning: \(.size): not every folio had the requested size"' "$out/results.json"
	jq -r '.sizes[] | select(.off.reclaim_ok == false or .on.reclaim_ok == false) |
		"warning: \(.size): reclaim left memory resident or non-zero"' "$out/results.json"
	echo "TCG times are emulated: only the ratios carry over to real hardware."
} | tee "$out/table.txt"

# The plot: reclaim time vs folio size for off, on and zap.
jq -r '.sizes[] | [.size, .off.median_ms, .on.median_ms, (.zap.median_ms // 0)] | @tsv' \
	"$out/results.json" >"$out/plot.dat"
gnuplot <<EOF
set terminal pngcairo size 900,540 noenhanced
set output "$out/plot.png"
set title "MADV_PAGEOUT of $REGION lazyfree memory (QEMU TCG, median)"
set ylabel "reclaim time (ms)"
set xlabel "folio size"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top right
set grid ytics
plot "$out/plot.dat" using 2:xtic(1) title "stock (module off)", \
     "" using 3 title "batch_unmap (module on)", \
     "" using 4 title "MADV_DONTNEED (zap)"
EOF
log "bench: wrote $out/results.json, results.csv, table.txt, plot.png in $((SECONDS - start)) s"
