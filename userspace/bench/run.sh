#!/usr/bin/env bash
# make bench: batch_unmap off vs on, in one boot of the test VM (or on the
# running kernel with NATIVE=1).
#
# For each number of touch threads and each folio size (4K, 16K, 64K, 256K,
# 1M, 2M PTE-mapped, 2M PMD-mapped), alternating rounds with the module
# unloaded ("off"), loaded with its defaults ("on": flush=auto pmd=1) and
# loaded with the other flush policies (and pmd=0 for PMD-mapped 2M),
# lazyfree-bench times MADV_PAGEOUT of lazyfree memory while unmapstat
# counts deferred splits and TLB flushes; MADV_DONTNEED of the same memory
# is the zap baseline.  Writes OUT/results.{jsonl,json,csv}, table.txt and
# plot.png and prints the tables.
#
# Environment: QUICK=1 (shorter run), ROUNDS, ITER, REGION, SIZES, TOUCH (a
# list of numbers of threads keeping the mm active on other CPUs, e.g.
# TOUCH="0 1": remote flushes), POLICIES (extra flush policies, "" for
# none), OUT, NATIVE=1 (run on this machine's kernel, which must carry the
# hook patch; root), BENCH_CPU (NATIVE only: the CPU to run on, default 0).
# REPORT_ONLY=1 recomputes the reports from OUT/raw.log without a run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/../.." && pwd)"
. "$top/tests/harness/lib.sh"

if [ "${QUICK:-0}" = 1 ]; then
	: "${ROUNDS:=3}" "${ITER:=2}" "${REGION:=32M}"
else
	: "${ROUNDS:=5}" "${ITER:=3}" "${REGION:=64M}"
fi
: "${SIZES:=4K 16K 64K 256K 1M 2M-pte 2M}" "${TOUCH:=0}" "${POLICIES=range pages}"
: "${NATIVE:=0}" "${BENCH_CPU:=0}"
out="${OUT:-$top/build/bench}"
case "$ROUNDS$ITER$BENCH_CPU" in *[!0-9]*) die "ROUNDS, ITER and BENCH_CPU must be numbers" ;; esac
[ "$ROUNDS" -ge 1 ] && [ "$ITER" -ge 1 ] || die "ROUNDS and ITER must be at least 1"
[ -n "${TOUCH// }" ] || die "TOUCH must list at least one number of touch threads (0, or \"0 1\")"
for t in $TOUCH; do
	case "$t" in *[!0-9]*) die "TOUCH must list numbers, not '$t'" ;; esac
done
for s in $SIZES; do
	case "$s" in 4K|8K|16K|32K|64K|128K|256K|512K|1M|2M|2M-pte) ;;
	*) die "unknown size '$s' in SIZES (4K..1M, 2M, 2M-pte)" ;; esac
done
for p in $POLICIES; do
	case "$p" in range|pages) ;;
	*) die "unknown flush policy '$p' in POLICIES (range, pages; auto is 'on')" ;; esac
done
case "$NATIVE" in 0|1) ;; *) die "NATIVE must be 0 or 1, not '$NATIVE'" ;; esac

ensure_packages jq gnuplot-nox
mkdir -p "$out"

# NATIVE=1: check everything before touching the machine.
native_checks() {
	[ "$(id -u)" = 0 ] || die "NATIVE=1 loads modules and drives reclaim: run it as root"
	grep -qw try_to_unmap_hook_register /proc/kallsyms ||
		die "the running kernel $(uname -r) has no try_to_unmap_one() hook: install the patched kernel (make kernel-deb) and boot it"
	ko="$top/module/batch_unmap.ko"
	[ -f "$ko" ] || die "no $ko: make bench NATIVE=1 builds it against the running kernel"
	[ "$(modinfo -F vermagic "$ko" | cut -d' ' -f1)" = "$(uname -r)" ] ||
		die "$ko was not built for the running kernel $(uname -r)"
	[ -e /sys/kernel/mm/transparent_hugepage/hugepages-64kB ] ||
		die "the running kernel offers no mTHP sizes (not 6.8+ with THP?)"
	[ ! -e /sys/fs/bpf/unmapstat ] ||
		die "unmapstat is pinned already (/sys/fs/bpf/unmapstat): run unmapstat --unpin first"
	[ "$BENCH_CPU" -lt "$(nproc)" ] || die "BENCH_CPU=$BENCH_CPU, but this machine has $(nproc) CPUs"
	if [ -d /sys/module/batch_unmap ]; then
		warn "batch_unmap is loaded: the benchmark unloads it, and leaves it unloaded"
	fi
}

# The mTHP settings as "file value" lines, to put back after a native run.
thp_settings() {
	local f
	for f in /sys/kernel/mm/transparent_hugepage/enabled \
		/sys/kernel/mm/transparent_hugepage/hugepages-*/enabled; do
		[ -w "$f" ] && printf '%s %s\n' "$f" "$(sed 's/.*\[\(.*\)\].*/\1/' "$f")"
	done
	return 0
}

start=$SECONDS
if [ "${REPORT_ONLY:-0}" = 1 ]; then
	[ -s "$out/raw.log" ] || die "REPORT_ONLY=1 but there is no $out/raw.log"
	# From the run's E line; older logs lack some fields: keep the defaults.
	efield() { sed -n "s/^E .*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p" "$out/raw.log" | head -n 1; }
	v="$(efield region)"; REGION="${v:-$REGION}"
	v="$(efield rounds)"; ROUNDS="${v:-$ROUNDS}"
	v="$(efield iterations)"; ITER="${v:-$ITER}"
	v="$(efield native)"; NATIVE="${v:-$NATIVE}"
elif [ "$NATIVE" = 1 ]; then
	native_checks
	log "bench: NATIVE on $(uname -r), CPU $BENCH_CPU: sizes [$SIZES], $ROUNDS rounds x $ITER iterations of $REGION, touch threads [$TOUCH]"
	saved="$(thp_settings)"
	# shellcheck disable=SC2317  # called by the trap
	restore() {
		printf '%s\n' "$saved" | while read -r f v; do
			[ -n "$f" ] && echo "$v" >"$f" 2>/dev/null
		done
		return 0
	}
	trap restore EXIT
	rc=0
	SIZES="$SIZES" ROUNDS="$ROUNDS" ITER="$ITER" REGION="$REGION" TOUCH="$TOUCH" \
		POLICIES="$POLICIES" KO="$ko" BENCH_CPU="$BENCH_CPU" NATIVE=1 \
		GUEST_LIB="$top/tests/vm/guest-lib.sh" PATH="$top/build/bin:$PATH" \
		sh "$here/guest.sh" 2>&1 | tee "$out/raw.log" |
		{ grep --line-buffered '^#' || true; } || rc=$?
	[ "$rc" = 0 ] || die "the benchmark failed (exit $rc; see $out/raw.log)"
	grep -q '^BENCH_DONE' "$out/raw.log" || die "the benchmark did not finish (see $out/raw.log)"
else
	kdir="$("$top/kernel/build.sh")"
	log "bench: sizes [$SIZES], $ROUNDS rounds x $ITER iterations of $REGION, touch threads [$TOUCH]"
	log "bench: TCG times are emulated: only the off/on ratios carry over to hardware"
	rc=0
	VM_TIMEOUT="${VM_TIMEOUT:-5400}" "$top/tests/harness/run.sh" --kernel "$kdir" --out "$out/vm" \
		--project --file "$here/guest.sh:bench-guest.sh" \
		-- "SIZES='$SIZES' ROUNDS=$ROUNDS ITER=$ITER REGION=$REGION TOUCH='$TOUCH' POLICIES='$POLICIES' sh /vm/bench-guest.sh" |
		tee "$out/raw.log" | { grep --line-buffered '^#' || true; } || rc=$?
	[ "$rc" = 0 ] || die "the benchmark VM failed (exit $rc; see $out/raw.log and $out/vm/console.log)"
	grep -q '^BENCH_DONE' "$out/raw.log" || die "the benchmark did not finish (see $out/raw.log)"
fi

sed -n 's/^R //p' "$out/raw.log" >"$out/results.jsonl"
env_json="$(sed -n 's/^E //p' "$out/raw.log" | head -n 1)"
[ -s "$out/results.jsonl" ] || die "no results in $out/raw.log"
jq -s -f "$here/report.jq" "$out/results.jsonl" >"$out/summary.json"
jq -n --argjson env "${env_json:-null}" --slurpfile s "$out/summary.json" \
	--arg date "$(date -u +%FT%TZ)" --argjson secs "$((SECONDS - start))" \
	--argjson native "$([ "$NATIVE" = 1 ] && echo true || echo false)" \
	'{date: $date, seconds: $secs, environment: $env, native: $native,
	  note: (if $native then "native run: real times, one machine and one boot"
		 else "times are from a QEMU TCG guest: compare ratios, not absolute times" end),
	  sizes: $s[0]}' >"$out/results.json"

# CSV: one row per touch count, size and side (off, on, zap, policies).
jq -r '["size","touch","side","median_ms","min_ms","max_ms","ratio_off_side","ratio_min",
	"ratio_max","split_deferred_per_iter","per_pte_flushes_per_folio",
	"single_flushes_per_folio","range_flushes_per_folio","full_flushes_per_folio",
	"deferred_flushes_per_folio","vs_zap","folios_ok","reclaim_ok"],
	(.sizes[] as $s
	| ([["off", $s.off, null], ["on", $s.on, $s.ratio_off_on], ["zap", $s.zap, null]]
	   + [$s.policies | to_entries[] | [.key, .value, .value.ratio_off]])[]
	| select(.[1] != null) | .[0] as $side | .[2] as $r | .[1]
	| [$s.size, $s.touch, $side, .median_ms, .min_ms, .max_ms, $r.median, $r.min, $r.max,
	   .split_deferred_per_iter, .flushes_per_folio.per_pte, .flushes_per_folio.single_page,
	   .flushes_per_folio.range, .flushes_per_folio.full, .flushes_per_folio.deferred,
	   (if $s.zap == null then null else (.median_ms / $s.zap.median_ms * 1000 | round / 1000) end),
	   .folios_ok, .reclaim_ok]) | @csv' "$out/results.json" >"$out/results.csv"

# jq helper: a side's reclaim TLB flush calls per folio, "-" without counts.
fl='def fl: if . == null or .flushes_per_folio.single_page == null then "-"
	else .flushes_per_folio | [.single_page, .range, .full, .deferred] | map(. // 0)
	| add * 100 | round / 100 | tostring end;'

{
	echo
	echo "batch_unmap benchmark: MADV_PAGEOUT of $REGION lazyfree memory, $ROUNDS rounds x $ITER iterations"
	jq -r '"kernel \(.environment.kernel), \(.environment.cpus) CPUs\(if .native then "" else " (TCG)" end), tlb_single_page_flush_ceiling \(.environment.tlb_single_page_flush_ceiling)"' "$out/results.json"
	printf '%-7s %5s %23s %23s %19s %9s %7s %13s %9s %6s\n' "folio" "touch" \
		"off ms med [min-max]" "on ms med [min-max]" "off/on [spread]" "zap ms" \
		"on/zap" "splits off/on" "flush off" "on"
	jq -r "$fl"' .sizes[] | [.size, .touch,
		"\(.off.median_ms) [\(.off.min_ms)-\(.off.max_ms)]",
		"\(.on.median_ms) [\(.on.min_ms)-\(.on.max_ms)]",
		"\(.ratio_off_on.median)x [\(.ratio_off_on.min)-\(.ratio_off_on.max)]",
		(.zap.median_ms // "-"), (.on_vs_zap // "-"),
		([.off.split_deferred_per_iter, .on.split_deferred_per_iter]
		 | map(if . == null or . < 0 then "n/a" else tostring end) | join("/")),
		(.off | fl), (.on | fl)] | @tsv' "$out/results.json" |
		while IFS=$'\t' read -r a b c d e f g h i j; do
			printf '%-7s %5s %23s %23s %19s %9s %7s %13s %9s %6s\n' \
				"$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i" "$j"
		done
	echo "on = module defaults (flush=auto pmd=1); splits = split_deferred per MADV_PAGEOUT;"
	echo "flush = reclaim TLB flush calls per folio (unmapstat: single + range + full + deferred)"
	if jq -e '[.sizes[].policies | keys[]] | length > 0' "$out/results.json" >/dev/null; then
		echo
		echo "Flush policies (pmd=0 for 2M PMD-mapped): off/<side> median ratio, flush calls per folio"
		printf '%-7s %5s %16s %16s %16s %16s\n' "folio" "touch" "auto (on)" "range" "pages" "nopmd"
		jq -r "$fl"' .sizes[] | select(.policies | length > 0) | . as $s
			| [.size, .touch, "\(.ratio_off_on.median)x \(.on | fl)"]
			+ [("range", "pages", "nopmd") as $p | $s.policies[$p]
			   | if . == null then "-" else "\(.ratio_off.median)x \(fl)" end]
			| @tsv' "$out/results.json" |
			while IFS=$'\t' read -r a b c d e f; do
				printf '%-7s %5s %16s %16s %16s %16s\n' "$a" "$b" "$c" "$d" "$e" "$f"
			done
		echo "x86 flushes a range of more than tlb_single_page_flush_ceiling pages as a full TLB flush"
	fi
	jq -r '.sizes[] | select([.off, .on, .policies[]] | map(select(. != null) | .folios_ok) | all | not)
		| "warning: \(.size) touch \(.touch): not every folio had the requested size"' "$out/results.json"
	jq -r '.sizes[] | select([.off, .on, .policies[]] | map(select(. != null) | .reclaim_ok) | all | not)
		| "warning: \(.size) touch \(.touch): reclaim left memory resident or non-zero"' "$out/results.json"
	if [ "$NATIVE" = 1 ]; then
		echo "Native run: real times, but one machine and one boot: repeat before concluding."
	else
		echo "TCG times are emulated: only the ratios carry over to real hardware."
	fi
} | tee "$out/table.txt"

# The plot: reclaim time per folio size (/tN: N touch threads), off, on, zap.
jq -r '.sizes[] | ["\(.size)\(if .touch > 0 then "/t\(.touch)" else "" end)",
	.off.median_ms, .on.median_ms, (.zap.median_ms // 0)] | @tsv' \
	"$out/results.json" >"$out/plot.dat"
where="QEMU TCG"
[ "$NATIVE" = 1 ] && where="native, $(jq -r .environment.kernel "$out/results.json")"
gnuplot <<EOF
set terminal pngcairo size 1000,540 noenhanced
set output "$out/plot.png"
set title "MADV_PAGEOUT of $REGION lazyfree memory ($where, median)"
set ylabel "reclaim time (ms)"
set xlabel "folio size (/tN: N threads active on other CPUs)"
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
