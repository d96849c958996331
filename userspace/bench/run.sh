#!/usr/bin/env bash
# make bench: stock vs batch_unmap (and, with REF=1, vs the ref kernel's
# in-kernel backport of upstream), in one boot of the test VM (or on the
# running kernel with NATIVE=1).
#
# userspace/bench/guest.sh runs two phases: "timed" runs with nothing
# attached to the kernel, interleaved in rounds (off, on, [ref], the extra
# flush policies, nopmd, zap), reading only counters that cost nothing
# (the module's, /proc/vmstat, mTHP stats); then "counted" runs with
# unmapstat pinned, for flushes per folio and the probes' own overhead.
# Writes OUT/results.{jsonl,json,csv}, table.txt and plot.png and prints
# the tables.
#
# Environment: QUICK=1 (shorter run), ROUNDS (timed rounds), PROBE_ROUNDS
# (counted rounds, 0: none), ITER, REGION, SIZES ("none": file rows only),
# FILE_SIZE (file-bench's file, 0: no file rows), FILE_DIR, TOUCH (a list of numbers
# of threads keeping the mm active on other CPUs, e.g. TOUCH="0 1": remote
# flushes), POLICIES (extra flush policies, "" for none), REF=1 (boot the
# ref kernel and add its backport), OUT, NATIVE=1 (run on this machine's
# kernel, which must carry the hook patch; root), BENCH_CPU (NATIVE only:
# the CPU to run on, default 0).  REPORT_ONLY=1 recomputes the reports from
# OUT/raw.log without a run.  COMPARE=<results.json of an earlier run>
# prints it next to this run's (same sizes and touch counts).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/../.." && pwd)"
. "$top/tests/harness/lib.sh"

# WORKLOAD=jemalloc: a jemalloc workload under memory.high (jemalloc-run.sh).
case "${WORKLOAD:-lazyfree}" in
lazyfree) ;;
jemalloc) exec "$here/jemalloc-run.sh" ;;
*) die "unknown WORKLOAD '$WORKLOAD': lazyfree (the default: lazyfree-bench and file-bench) or jemalloc" ;;
esac

if [ "${QUICK:-0}" = 1 ]; then
	: "${ROUNDS:=3}" "${ITER:=2}" "${REGION:=32M}" "${PROBE_ROUNDS:=1}"
else
	: "${ROUNDS:=5}" "${ITER:=3}" "${REGION:=64M}" "${PROBE_ROUNDS:=1}"
fi
: "${REF:=0}"
: "${SIZES:=4K 16K 64K 256K 1M 2M-pte 2M}" "${TOUCH:=0}"
# arm64 reclaim always defers its flushes: the policies (for flushes done
# at once) never apply there.
case "${ARCH:-x86_64}" in arm64|aarch64) : "${POLICIES=}" ;; *) : "${POLICIES=range pages}" ;; esac
: "${NATIVE:=0}" "${BENCH_CPU:=0}"
# ARCH=arm64 (make bench ARCH=arm64): the arm64 guest, results apart.
arm64=""
case "${ARCH:-x86_64}" in arm64|aarch64) arm64=1 ;; esac
[ -n "$arm64" ] && [ "${NATIVE:-0}" = 1 ] &&
	die "ARCH=arm64 runs the arm64 guest under QEMU; it does not combine with NATIVE=1"
out="${OUT:-$top/build${arm64:+/arm64}/bench}"
case "$ROUNDS$ITER$BENCH_CPU$PROBE_ROUNDS" in
*[!0-9]*) die "ROUNDS, PROBE_ROUNDS, ITER and BENCH_CPU must be numbers" ;;
esac
case "$REF" in 0|1) ;; *) die "REF must be 0 or 1, not '$REF'" ;; esac
[ "$REF" = 1 ] && [ "${NATIVE:-0}" = 1 ] &&
	die "REF=1 boots the ref kernel in the VM; it does not combine with NATIVE=1"
[ "$ROUNDS" -ge 1 ] && [ "$ITER" -ge 1 ] || die "ROUNDS and ITER must be at least 1"
[ -n "${TOUCH// }" ] || die "TOUCH must list at least one number of touch threads (0, or \"0 1\")"
for t in $TOUCH; do
	case "$t" in *[!0-9]*) die "TOUCH must list numbers, not '$t'" ;; esac
done
[ "$SIZES" = none ] && SIZES=""
if [ "${QUICK:-0}" = 1 ]; then : "${FILE_SIZE:=64M}"; else : "${FILE_SIZE:=128M}"; fi
: "${FILE_DIR:=/mnt/xfs}"
case "$FILE_SIZE" in 0|[1-9]*[MG]) ;; *) die "FILE_SIZE must look like 128M or 1G (0: no file rows), not '$FILE_SIZE'" ;; esac
[ -n "$SIZES" ] || [ "$FILE_SIZE" != 0 ] || die "SIZES=none and FILE_SIZE=0: nothing to run"
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
# COMPARE: checked before the run, so a typo costs nothing.
if [ -n "${COMPARE:-}" ]; then
	[ -r "$COMPARE" ] || die "COMPARE=$COMPARE: no such file (give an earlier run's results.json)"
	cmp_schema="$(jq -r '.schema // empty' "$COMPARE" 2>/dev/null)" ||
		die "COMPARE=$COMPARE is not JSON"
	[ "$cmp_schema" = 2 ] || die "COMPARE=$COMPARE: not a make bench results.json of schema 2" \
		"(found schema '${cmp_schema:-none}'; older files cannot be compared)"
	COMPARE="$(readlink -f "$COMPARE")"
fi
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
	v="$(efield probe_rounds)"; PROBE_ROUNDS="${v:-$PROBE_ROUNDS}"
	v="$(efield ref)"; REF="${v:-$REF}"
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
		FILE_SIZE="$FILE_SIZE" FILE_DIR="$FILE_DIR" \
		POLICIES="$POLICIES" KO="$ko" BENCH_CPU="$BENCH_CPU" NATIVE=1 \
		PROBE_ROUNDS="$PROBE_ROUNDS" REF=0 \
		GUEST_LIB="$top/tests/vm/guest-lib.sh" PATH="$top/build/bin:$PATH" \
		sh "$here/guest.sh" 2>&1 | tee "$out/raw.log" |
		{ grep --line-buffered '^#' || true; } || rc=$?
	[ "$rc" = 0 ] || die "the benchmark failed (exit $rc; see $out/raw.log)"
	grep -q '^BENCH_DONE' "$out/raw.log" || die "the benchmark did not finish (see $out/raw.log)"
else
	# REF=1: the ref kernel (Makefile: KERNEL_FLAVOR=ref, module built for it).
	[ "$REF" = 1 ] && export KERNEL_FLAVOR=ref
	[ "$REF" = 1 ] || [ "${KERNEL_FLAVOR:-}" != ref ] || REF=1
	kdir="$("$top/kernel/build.sh")"
	log "bench: sizes [$SIZES], $ROUNDS timed rounds + $PROBE_ROUNDS counted x $ITER iterations of $REGION, touch threads [$TOUCH]$([ "$REF" = 1 ] && echo ", with the ref backport")"
	log "bench: TCG times are emulated: only ratios carry over to hardware"
	guest_script_run benchmark BENCH_DONE 5400 "$kdir" "$out" "$here/guest.sh:bench-guest.sh" \
		"SIZES='$SIZES' FILE_SIZE=$FILE_SIZE FILE_DIR='$FILE_DIR' ROUNDS=$ROUNDS PROBE_ROUNDS=$PROBE_ROUNDS ITER=$ITER REGION=$REGION TOUCH='$TOUCH' POLICIES='$POLICIES' REF=$REF sh /vm/bench-guest.sh"
fi

sed -n 's/^R //p' "$out/raw.log" >"$out/results.jsonl"
env_json="$(sed -n 's/^E //p' "$out/raw.log" | head -n 1)"
[ -s "$out/results.jsonl" ] || grep -q '^F ' "$out/raw.log" || die "no results in $out/raw.log"
jq -s -f "$here/report.jq" "$out/results.jsonl" >"$out/summary.json"
# File folios (file-bench on XFS): "F" lines, absent from older logs.
sed -n 's/^F //p' "$out/raw.log" >"$out/file.jsonl"
if [ -s "$out/file.jsonl" ]; then
	jq -s -f "$here/file-report.jq" "$out/file.jsonl" >"$out/file-summary.json"
else
	echo null >"$out/file-summary.json"
fi
jq -n --argjson env "${env_json:-null}" --slurpfile s "$out/summary.json" \
	--slurpfile f "$out/file-summary.json" \
	--arg date "$(date -u +%FT%TZ)" --argjson secs "$((SECONDS - start))" \
	--argjson native "$([ "$NATIVE" = 1 ] && echo true || echo false)" \
	'{schema: 2, date: $date, seconds: $secs, environment: $env, native: $native,
	  note: (if $native then "native run: real times, one machine and one boot"
		 else "times are from a QEMU TCG guest: compare ratios, not absolute times" end),
	  method: "times: timed phase, nothing attached to the kernel; flushes per folio and probe_overhead: counted phase, unmapstat pinned; split_deferred, pages_lazyfreed, module.*: free counters read around the timed runs",
	  sizes: $s[0], file: $f[0]}' >"$out/results.json"

# CSV: one row per touch count, size and side (timed times; counted flushes).
jq -r '["size","touch","side","median_ms","min_ms","max_ms","ratio_off_side","ratio_min",
	"ratio_max","side_vs_ref","split_deferred_per_iter","module_batches_per_folio",
	"per_pte_flushes_per_folio","single_flushes_per_folio","range_flushes_per_folio",
	"full_flushes_per_folio","deferred_flushes_per_folio","probe_overhead","folios_ok",
	"reclaim_ok"],
	(.sizes[] as $s
	| ([["off", $s.off, null, null], ["on", $s.on, $s.ratio_off_on, $s.ratio_on_ref],
	    ["ref", $s.ref, $s.ratio_off_ref, null], ["zap", $s.zap, null, null]]
	   + [$s.policies | to_entries[] | [.key, .value, .value.ratio_off, null]])[]
	| select(.[1] != null) | .[0] as $side | .[2] as $r | .[3] as $vr | .[1]
	| [$s.size, $s.touch, $side, .median_ms, .min_ms, .max_ms, $r.median, $r.min, $r.max,
	   $vr.median, .split_deferred_per_iter, .module.batches_per_folio,
	   .counted.flushes_per_folio.per_pte, .counted.flushes_per_folio.single_page,
	   .counted.flushes_per_folio.range, .counted.flushes_per_folio.full,
	   .counted.flushes_per_folio.deferred, .probe_overhead, .folios_ok, .reclaim_ok])
	| @csv' "$out/results.json" >"$out/results.csv"

# jq helpers: a side's reclaim TLB flush calls per folio ("-" without
# counts), a time with its spread, a ratio with its spread.
jqdefs='def fl: if . == null or .counted == null or .counted.flushes_per_folio == null then "-"
	else .counted.flushes_per_folio | [.single_page, .range, .full, .deferred] | map(. // 0)
	| add * 100 | round / 100 | tostring end;
def t: if . == null then "-" else "\(.median_ms) [\(.min_ms)-\(.max_ms)]" end;
def x: if . == null then "-" else "\(.median)x [\(.min)-\(.max)]" end;
def sp: if . == null or . < 0 then "n/a" else tostring end;
def po: if . == null or .probe_overhead == null then "-" else "\(.probe_overhead)x" end;'

{
	echo
	echo "batch_unmap benchmark: MADV_PAGEOUT of $REGION lazyfree memory"
	jq -r '"kernel \(.environment.kernel) \(.environment.arch // ""), \(.environment.cpus) CPUs\(if .native then "" else " (TCG)" end)\(if .environment.tlb_single_page_flush_ceiling then ", tlb_single_page_flush_ceiling \(.environment.tlb_single_page_flush_ceiling)" else "" end)"' "$out/results.json"
	echo "Times: $ROUNDS rounds x $ITER iterations, every mode once per round in alternating order, nothing"
	echo "attached to the kernel (no BPF, kprobes or tracing); ms, median [min-max] over all iterations."
	if [ "$REF" = 1 ]; then
		printf '%-7s %5s %21s %21s %21s %9s %19s %19s %7s\n' "folio" "touch" \
			"off (stock)" "on (module)" "ref (backport)" "zap" "off/on" "on/ref" "on/zap"
		jq -r "$jqdefs"' .sizes[] | [.size, .touch, (.off | t), (.on | t), (.ref | t),
			(.zap.median_ms // "-"), (.ratio_off_on | x), (.ratio_on_ref | x),
			(.ratio_on_zap.median // "-")] | @tsv' "$out/results.json" |
			while IFS=$'\t' read -r a b c d e f g h i; do
				printf '%-7s %5s %21s %21s %21s %9s %19s %19s %7s\n' \
					"$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i"
			done
		echo "on/ref: module time over backport time, per round (below 1: the module is faster)"
	else
		printf '%-7s %5s %21s %21s %9s %19s %7s\n' "folio" "touch" \
			"off (stock)" "on (module)" "zap" "off/on" "on/zap"
		jq -r "$jqdefs"' .sizes[] | [.size, .touch, (.off | t), (.on | t),
			(.zap.median_ms // "-"), (.ratio_off_on | x), (.ratio_on_zap.median // "-")]
			| @tsv' "$out/results.json" |
			while IFS=$'\t' read -r a b c d e f g; do
				printf '%-7s %5s %21s %21s %9s %19s %7s\n' "$a" "$b" "$c" "$d" "$e" "$f" "$g"
			done
	fi
	echo "off/on, on/zap: per round, median [min-max]; zap = MADV_DONTNEED of the same memory (the floor)"
	echo
	echo "Per folio: splits = split_deferred per MADV_PAGEOUT (mTHP stats), batches (module counters),"
	echo "both read around the timed runs; flushes = reclaim TLB flush calls (unmapstat: single + range"
	echo "+ full + deferred) and probes = time with unmapstat pinned over time without, from"
	echo "$PROBE_ROUNDS separate counted round(s)."
	printf '%-7s %5s %17s %8s %20s %22s\n' "folio" "touch" "splits off/on/ref" "batches" \
		"flushes off/on/ref" "probes off/on/ref"
	jq -r "$jqdefs"' .sizes[] | [.size, .touch,
		([.off, .on, .ref] | map(if . == null then "-" else (.split_deferred_per_iter | sp) end) | join("/")),
		(.on.module.batches_per_folio // "-"),
		([.off, .on, .ref] | map(fl) | join("/")),
		([.off, .on, .ref] | map(po) | join("/"))] | @tsv' "$out/results.json" |
		while IFS=$'\t' read -r a b c d e f; do
			printf '%-7s %5s %17s %8s %20s %22s\n' "$a" "$b" "$c" "$d" "$e" "$f"
		done
	# arm64: what carries over from an emulator, per folio (counted phase).
	if jq -e '[.sizes[] | (.off, .on) | .counted.tlb_per_folio.tlbi_est // empty] | length > 0' \
		"$out/results.json" >/dev/null; then
		echo
		echo "arm64, per folio in reclaim (counted phase, unmapstat pinned), off/on: deferred flush"
		echo "requests (set_tlb_ubc_flush_pending), the TLBIs they issue (estimate: one per page, one"
		echo "per range of MAX_DVM_OPS pages or more), contpte blocks unfolded (__contpte_try_unfold)"
		printf '%-7s %5s %18s %18s %18s\n' "folio" "touch" "requests off/on" "TLBIs off/on" "unfolds off/on"
		jq -r '.sizes[] | [.size, .touch,
			([.off, .on] | map(.counted.tlb_per_folio.queued // "-" | tostring) | join("/")),
			([.off, .on] | map(.counted.tlb_per_folio.tlbi_est // "-" | tostring) | join("/")),
			([.off, .on] | map(.counted.tlb_per_folio.contpte_unfolds // "-" | tostring) | join("/"))]
			| @tsv' "$out/results.json" |
			while IFS=$'\t' read -r a b c d e; do
				printf '%-7s %5s %18s %18s %18s\n' "$a" "$b" "$c" "$d" "$e"
			done
		echo "These counts carry over to arm64 hardware; the times above do not."
	fi
	if jq -e '[.sizes[].policies | keys[]] | length > 0' "$out/results.json" >/dev/null; then
		echo
		echo "Flush policies (pmd=0 for 2M PMD-mapped): off/<side> median ratio (timed), flush calls per folio (counted)"
		printf '%-7s %5s %16s %16s %16s %16s\n' "folio" "touch" "auto (on)" "range" "pages" "nopmd"
		jq -r "$jqdefs"' .sizes[] | select(.policies | length > 0) | . as $s
			| [.size, .touch, "\(.ratio_off_on.median)x \(.on | fl)"]
			+ [("range", "pages", "nopmd") as $p | $s.policies[$p]
			   | if . == null then "-" else "\(.ratio_off.median)x \(fl)" end]
			| @tsv' "$out/results.json" |
			while IFS=$'\t' read -r a b c d e f; do
				printf '%-7s %5s %16s %16s %16s %16s\n' "$a" "$b" "$c" "$d" "$e" "$f"
			done
		[ -n "$arm64" ] ||
			echo "x86 flushes a range of more than tlb_single_page_flush_ceiling pages as a full TLB flush"
	fi
	if jq -e '.file != null' "$out/results.json" >/dev/null; then
		echo
		jq -r '"File folios: file-bench, a clean \(.environment.file_size // "?") file on \(.environment.file_fs // "?") (\(.environment.file_dir // "?")), mapped, every page touched,"' "$out/results.json"
		echo "then reclaimed by MADV_PAGEOUT (the unmap path only) or memory.reclaim (the LRU: the referenced"
		echo "walk, then the unmap). Modes: off = stock; on = file=1 referenced=1; unmap = file=1 referenced=0;"
		echo "ref1 = file=0 referenced=1 (memory.reclaim only). Times as above (timed phase, no probes)."
		printf '%-8s %19s %19s %19s %19s %16s %16s %16s\n' "reclaim" "off (stock)" "on" \
			"unmap" "ref1" "off/on" "off/unmap" "off/ref1"
		jq -r "$jqdefs"' .file[] | [.reclaim, (.off | t), (.on | t), (.unmap | t), (.ref1 | t),
			(.ratio_off_on | x), (.ratio_off_unmap | x), (.ratio_off_ref1 | x)] | @tsv' \
			"$out/results.json" |
			while IFS=$'\t' read -r a b c d e f g h; do
				printf '%-8s %19s %19s %19s %19s %16s %16s %16s\n' "$a" "$b" "$c" "$d" "$e" \
					"$f" "$g" "$h"
			done
		echo "Folios mapped before reclaim (pages by folio order, median of the timed runs), and per folio:"
		echo "file/ref batches (module counters, timed), flushes (unmapstat: single+range+full+deferred,"
		echo "counted phase) off/on/unmap/ref1, pages left mapped after reclaim (share)."
		jq -r "$jqdefs"' .file[] | "\(.reclaim): " + (.folio_pages // {} | to_entries
			| map(select(.value > 0) | "\(.key) \(.value)") | join(", "))
			+ "; batches file \(.on.module.file_batches_per_folio // "-") ref \(.on.module.ref_batches_per_folio // "-")"
			+ "; flushes " + ([.off, .on, .unmap, .ref1] | map(if . == null then "-" else fl end) | join("/"))
			+ "; left mapped " + ([.off, .on, .unmap, .ref1] | map(if . == null then "-" else "\(.left_mapped)" end) | join("/"))' \
			"$out/results.json"
		jq -r '.file[] | select([.off, .on, .unmap, .ref1] | map(select(. != null) | .data_ok) | all | not)
			| "warning: file \(.reclaim): data differed after reclaim"' "$out/results.json"
	fi
	jq -r '.sizes[] | select([.off, .on, .ref, .policies[]] | map(select(. != null) | .folios_ok) | all | not)
		| "warning: \(.size) touch \(.touch): not every folio had the requested size"' "$out/results.json"
	jq -r '.sizes[] | select([.off, .on, .ref, .policies[]] | map(select(. != null) | .reclaim_ok) | all | not)
		| "warning: \(.size) touch \(.touch): reclaim left memory resident or non-zero"' "$out/results.json"
	if [ "$NATIVE" = 1 ]; then
		echo "Native run: real times, but one machine and one boot: repeat before concluding."
	else
		echo "TCG times are emulated: only the ratios carry over to real hardware."
	fi
} | tee "$out/table.txt"

# The plot: reclaim time per folio size (/tN: N touch threads).
jq -r '.sizes[] | ["\(.size)\(if .touch > 0 then "/t\(.touch)" else "" end)",
	.off.median_ms, .on.median_ms, (.ref.median_ms // 0), (.zap.median_ms // 0)] | @tsv' \
	"$out/results.json" >"$out/plot.dat"
# The file rows as clusters of their own (no backport or zap there).
jq -r '(.file // [])[] | ["file/\(.reclaim)", .off.median_ms, .on.median_ms, 0, 0] | @tsv' \
	"$out/results.json" >>"$out/plot.dat"
where="QEMU TCG"
[ "$NATIVE" = 1 ] && where="native, $(jq -r .environment.kernel "$out/results.json")"
refplot=""
[ "$REF" = 1 ] && refplot='"" using 4 title "upstream backport (ref kernel)",'
gnuplot <<EOF
set terminal pngcairo size 1000,540 noenhanced
set output "$out/plot.png"
set title "Reclaim of $REGION lazyfree memory and of a $FILE_SIZE file ($where, median, no probes)"
set ylabel "reclaim time (ms)"
set xlabel "folio size (/tN: N threads active on other CPUs)"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set key top right
set grid ytics
set yrange [0:*]
plot "$out/plot.dat" using 2:xtic(1) title "stock (module off)", \
     "" using 3 title "batch_unmap (module on)", $refplot \
     "" using 5 title "MADV_DONTNEED (zap)"
EOF
# COMPARE: the earlier run next to this one, row by row.
if [ -n "${COMPARE:-}" ]; then
	{
		echo
		echo "Compared with $COMPARE ($(jq -r '.date' "$COMPARE"), kernel $(jq -r '.environment.kernel' "$COMPARE")):"
		echo "median ms, old -> new (change); rows in only one of the runs are marked."
		printf '%-7s %5s %26s %26s %26s %19s\n' "folio" "touch" "off (stock)" "on (module)" \
			"ref (backport)" "off/on"
		jq -r --slurpfile old "$COMPARE" '
			def key: "\(.size)/\(.touch)";
			def ms($o; $n): if $o == null and $n == null then "-"
				elif $o == null then "new \($n)" elif $n == null then "\($o) gone"
				else "\($o) -> \($n) (\((($n - $o) / $o * 1000 | round) / 10)%)" end;
			($old[0].sizes | map({key: key, value: .}) | from_entries) as $o
			| (.sizes | map({key: key, value: .}) | from_entries) as $n
			| ((.sizes + $old[0].sizes | map(key))
			   | reduce .[] as $x ([]; if index([$x]) then . else . + [$x] end))[] as $k
			| $o[$k] as $a | $n[$k] as $b
			| [($a // $b).size, ($a // $b).touch,
			   ms($a.off.median_ms; $b.off.median_ms), ms($a.on.median_ms; $b.on.median_ms),
			   ms($a.ref.median_ms; $b.ref.median_ms),
			   "\($a.ratio_off_on.median // "-")x -> \($b.ratio_off_on.median // "-")x"]
			| @tsv' "$out/results.json" |
			while IFS=$'\t' read -r a b c d e f; do
				printf '%-7s %5s %26s %26s %26s %19s\n' "$a" "$b" "$c" "$d" "$e" "$f"
			done
		jq -e --slurpfile old "$COMPARE" '.environment.kernel == $old[0].environment.kernel
			and .native == $old[0].native' "$out/results.json" >/dev/null ||
			echo "note: the runs differ in kernel or machine: compare ratios, not times"
	} | tee "$out/compare.txt"
fi

log "bench: wrote $out/results.json, results.csv, table.txt, plot.png in $((SECONDS - start)) s"
