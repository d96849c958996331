#!/usr/bin/env bash
# Command-line behaviour of unmapstat, lazyfree-bench and jemalloc-bench
# that needs no VM
# and no loadable BPF (the host runs as root): every bad command line is
# rejected on stderr with exit 2 and a message naming the option and the
# reason; a missing capability (not a uid) is named, exit 1; the advice
# printed names the right directory; --help and --version work.
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
us="$top/build/bin/unmapstat"
lb="$top/build/bin/lazyfree-bench"
jb="$top/build/bin/jemalloc-bench"
jba="$top/build/host/jemalloc-bench-asan"
THP=/sys/kernel/mm/transparent_hugepage

expect() {	# expect <name> <exit> <regex> <cmd...>: the regex matches stdout+stderr
	local name="$1" want="$2" re="$3" out rc
	shift 3
	out="$("$@" 2>&1)"
	rc=$?
	if [ "$rc" = "$want" ] && grep -Eq -- "$re" <<<"$out"; then
		echo "ok - $name"
	else
		echo "# exit $rc (want $want), output: $(head -c 300 <<<"$out")"
		echo "not ok - $name"
	fi
}

# expect_err <name> <regex> <cmd...>: exit 2, nothing on stdout, the regex
# matching the first line of stderr (the one naming option and reason).
expect_err() {
	local name="$1" re="$2" out err rc
	shift 2
	"$@" >"$tmp/stdout" 2>"$tmp/stderr"
	rc=$?
	out="$(cat "$tmp/stdout")" err="$(cat "$tmp/stderr")"
	if [ "$rc" = 2 ] && [ -z "$out" ] && grep -Eq -- "$re" <<<"$(head -n 1 <<<"$err")"; then
		echo "ok - $name"
	else
		echo "# exit $rc (want 2), stdout: $(head -c 100 <<<"$out"), stderr: $(head -c 300 <<<"$err")"
		echo "not ok - $name"
	fi
}

for b in "$us" "$lb" "$jb" "$jba"; do
	[ -x "$b" ] || { echo "not ok - cli: $(basename "$b") not built (run make)"; exit 0; }
done
version="$(sed -n 's/^#define BU_VERSION "\(.*\)"/\1/p' "$top/include/bu_version.h")"
nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# --- both: help and version --------------------------------------------------------
for t in "unmapstat $us" "lazyfree_bench $lb" "jemalloc_bench $jb"; do
	n="${t%% *}" b="${t#* }"
	expect "${n}_help" 0 "^USAGE: $(basename "$b") " "$b" --help
	expect "${n}_help_has_examples" 0 "^EXAMPLES:" "$b" -h
	expect "${n}_version" 0 "^$(basename "$b") $version\$" "$b" --version
	expect "${n}_version_short" 0 "^$(basename "$b") $version\$" "$b" -V
	expect_err "${n}_unknown_long_option" "unknown option '--bogus'" "$b" --bogus
	expect_err "${n}_unknown_short_option" "unknown option '-x'" "$b" -x
done

# --- unmapstat: usage errors, exit 2 -------------------------------------------------
expect_err "unmapstat_bare_i_says_argument_missing" "-i/--interval needs an argument" "$us" -i
expect_err "unmapstat_bare_pin_dir_says_argument_missing" "--pin-dir needs an argument" \
	"$us" --pin --pin-dir
expect_err "unmapstat_bad_interval" "invalid interval 'abc' for -i/--interval" "$us" -i abc
expect_err "unmapstat_conflicting_modes" "--pin and --unpin exclude each other" "$us" --pin --unpin
expect_err "unmapstat_pin_rejects_interval" "-i/--interval has no meaning with --pin" \
	"$us" --pin -i 1
expect_err "unmapstat_unpin_rejects_json" "-j/--json has no meaning with --unpin" "$us" --unpin -j
expect_err "unmapstat_pin_dir_needs_a_pin_mode" "--pin-dir has no meaning in live mode" \
	"$us" --pin-dir "$tmp/pd"
expect_err "unmapstat_positional_interval_checked" "invalid interval '0' for the interval operand" \
	"$us" 0
expect_err "unmapstat_positional_count_checked" "invalid count '0' for the count operand" "$us" 1 0
expect_err "unmapstat_positional_at_most_two" "unexpected argument '3'" "$us" 1 2 3
expect_err "unmapstat_interval_given_twice" "interval is given twice" "$us" -i 2 3
expect_err "unmapstat_dump_rejects_interval_operand" "interval operand has no meaning with --dump" \
	"$us" --dump 5
expect_err "unmapstat_pid_must_exist" "invalid PID 4194305 for -p/--pid: no such process" \
	"$us" -p 4194305

# --- unmapstat: advice names the pin directory ---------------------------------------
# $tmp is not a BPF filesystem: mount one on the pin directory, never on $tmp.
expect "unmapstat_pin_advice_names_the_pin_dir" 1 \
	"not on a BPF filesystem.*mount -t bpf bpf $tmp/pd(;|\$)" "$us" --pin --pin-dir "$tmp/pd"
out="$("$us" --pin --pin-dir "$tmp/pd" 2>&1)"
if grep -Eq "mount -t bpf bpf $tmp(\$|[^/])" <<<"$out" || [ -e "$tmp/pd" ]; then
	echo "# $out"
	echo "not ok - unmapstat_pin_advice_never_mounts_over_a_parent"
else
	echo "ok - unmapstat_pin_advice_never_mounts_over_a_parent"
fi
expect "unmapstat_dump_advice_repeats_pin_dir" 1 \
	"no pinned counters.*run unmapstat --pin --pin-dir $tmp/none first" \
	"$us" --dump --pin-dir "$tmp/none"

# --- unmapstat: capabilities, not the uid ---------------------------------------------
expect "unmapstat_unprivileged_names_capabilities" 1 "missing CAP_BPF and CAP_PERFMON" \
	"${nobody[@]}" "$us" 1 1
expect "unmapstat_dump_unprivileged_names_cap_bpf" 1 "missing CAP_BPF: reading the pinned" \
	"${nobody[@]}" "$us" --dump
# Root without the capabilities (dropped from the bounding set before exec).
expect "unmapstat_root_without_cap_bpf" 1 "missing CAP_BPF:" \
	setpriv --bounding-set=-bpf,-sys_admin "$us" 1 1
expect "unmapstat_root_without_cap_perfmon" 1 "missing CAP_PERFMON:" \
	setpriv --bounding-set=-perfmon,-sys_admin "$us" 1 1

# --- lazyfree-bench: usage errors, exit 2 ---------------------------------------------
expect_err "lazyfree_bench_bare_size_says_argument_missing" "-s/--size needs an argument" "$lb" -s
expect_err "lazyfree_bench_size_overflow" "invalid size '17179869185G' for -s/--size: too large" \
	"$lb" -s 17179869185G
expect_err "lazyfree_bench_size_bad_suffix" "invalid size '12Q' for -s/--size: unexpected 'Q'" \
	"$lb" --size 12Q
expect_err "lazyfree_bench_size_no_t_suffix" "unknown suffix 'T': the suffixes are K, M and G" \
	"$lb" -s 1T
expect_err "lazyfree_bench_size_page_multiple" "not a multiple of the 4K page size" "$lb" -s 5000
expect_err "lazyfree_bench_size_folio_multiple" "'100K' for -s/--size: not a multiple of the 64K folio" \
	"$lb" -s 100K
expect_err "lazyfree_bench_size_zero" "invalid size '0' for -s/--size: must be more than 0" "$lb" -s 0
expect_err "lazyfree_bench_bad_mode" "invalid mode 'fast' for -m/--mode" "$lb" --mode fast
expect_err "lazyfree_bench_pte_mapped_needs_2m" "needs --folio 2M" "$lb" --pte-mapped --folio 64K
expect_err "lazyfree_bench_json_csv_exclusive" "-j/--json and --csv exclude each other" \
	"$lb" -j --csv
expect_err "lazyfree_bench_old_cpu_flag_explained" "unknown option '-c': the CPU is -C/--cpu" \
	"$lb" -c 0
expect_err "lazyfree_bench_old_format_flag_explained" "unknown option '-o': .*-j/--json or --csv" \
	"$lb" -o json
ncpu="$(getconf _NPROCESSORS_CONF)"
expect_err "lazyfree_bench_cpu_out_of_range" \
	"invalid CPU $ncpu for -C/--cpu: this machine has $ncpu CPUs? \(0-$((ncpu - 1))\)" \
	"$lb" -C "$ncpu"

# The -f hint offers the sizes this kernel has for anonymous memory: those
# with an "enabled" (x86's 8K is shmem-only), else x86's list.
sizes=""
for d in "$THP"/hugepages-*kB; do
	[ -e "$d/enabled" ] || continue
	kb="${d##*hugepages-}" kb="${kb%kB}"
	sizes="$sizes $kb"
done
[ -n "$sizes" ] || sizes="16 32 64 128 256 512 1024 2048"
list="4K \(small pages\)"
for kb in $(tr ' ' '\n' <<<"$sizes" | sort -n); do
	if [ $((kb % 1024)) = 0 ]; then list="$list, $((kb / 1024))M"; else list="$list, ${kb}K"; fi
done
expect_err "lazyfree_bench_folio_hint_lists_offered_sizes" \
	"invalid folio size '3K' for -f/--folio: not a power of two; this kernel offers $list\$" \
	"$lb" --folio 3K
expect_err "lazyfree_bench_folio_too_large" "'4M' for -f/--folio: larger than a 2M PMD" "$lb" -f 4M

# --- lazyfree-bench: capabilities and failures, exit 1 ---------------------------------
expect "lazyfree_bench_unprivileged_names_cap_sys_admin" 1 "missing CAP_SYS_ADMIN" \
	"${nobody[@]}" "$lb" -n 1
expect "lazyfree_bench_root_without_cap_sys_admin" 1 "missing CAP_SYS_ADMIN" \
	setpriv --bounding-set=-sys_admin "$lb" -n 1
# An mmap that fails says why (and the mTHP settings are put back).
expect "lazyfree_bench_mmap_failure_says_why" 1 "mmap of 1024 MiB: Cannot allocate memory" \
	bash -c 'ulimit -v 200000 && exec "$0" -f 4K -s 1G -n 1 -w 0' "$lb"
# --- jemalloc-bench: usage errors, exit 2 ---------------------------------------------
expect_err "jemalloc_bench_threads_zero" "invalid count '0' for -t/--threads: want 1..64" "$jb" -t 0
expect_err "jemalloc_bench_threads_too_many" "invalid count '65' for -t/--threads" "$jb" --threads 65
expect_err "jemalloc_bench_period_too_short" "invalid period '5' for -P/--period: want 10..3600000" \
	"$jb" -P 5
expect_err "jemalloc_bench_cycles_zero" "invalid count '0' for -c/--cycles" "$jb" -c 0
expect_err "jemalloc_bench_warmup_bad" "invalid count 'x' for -w/--warmup" "$jb" -w x
expect_err "jemalloc_bench_peak_too_small" "invalid size '1K' for -p/--peak: less than 64K" "$jb" -p 1K
expect_err "jemalloc_bench_peak_bad_suffix" "invalid size '12Q' for -p/--peak: unexpected 'Q'" \
	"$jb" --peak 12Q
expect_err "jemalloc_bench_high_bad" "invalid size 'lots' for -H/--high" "$jb" -H lots
expect_err "jemalloc_bench_high_too_small" "invalid size '1M' for -H/--high: less than 4096K" \
	"$jb" -H 1M
expect_err "jemalloc_bench_cap_above_high" "-L/--live-cap is above -H/--high" "$jb" -H 64M -L 100M
expect_err "jemalloc_bench_cgroup_relative" "invalid cgroup 'cg' for -G/--cgroup: want an absolute path" \
	"$jb" -G cg
expect_err "jemalloc_bench_folio_not_power_of_two" \
	"invalid folio size '3K' in '64K\+3K' for -f/--folios: not a power of two" "$jb" -f 64K+3K
expect_err "jemalloc_bench_folio_too_large" "invalid folio size '4M' in '4M' for -f/--folios: larger than a 2M PMD" \
	"$jb" --folios 4M
expect_err "jemalloc_bench_folio_list_empty" "invalid folio list ',' for -f/--folios" "$jb" -f ,
expect_err "jemalloc_bench_label_quote" "invalid label for -l/--label" "$jb" -l 'a"b'
expect_err "jemalloc_bench_no_operands" "unexpected argument 'now': jemalloc-bench takes no operands" \
	"$jb" now
expect_err "jemalloc_bench_bare_folios_says_argument_missing" "-f/--folios needs an argument" "$jb" -f

# --- jemalloc-bench: what it cannot do, exit 1, before changing anything ---------------
mkdir -p "$tmp/locked"
chmod 0700 "$tmp/locked"
expect "jemalloc_bench_unprivileged_cannot_make_the_memcg" 1 \
	"cannot create the memcg in $tmp/locked .*run as root, or -H none" \
	"${nobody[@]}" "$jb" -G "$tmp/locked/cg"
expect "jemalloc_bench_memcg_needs_cgroup2" 1 "$tmp is not a cgroup2 directory" \
	"$jb" -G "$tmp/cg" -P 10 -c 1 -w 0
[ ! -e "$tmp/cg" ] && echo "ok - jemalloc_bench_left_no_directory_behind" ||
	echo "not ok - jemalloc_bench_left_no_directory_behind"

# --- jemalloc-bench: a short run without a memcg --------------------------------------
# Debian's jemalloc, statically linked, purging with MADV_FREE as told (no
# background thread: the purges happen in the run's own threads).
out="$(MALLOC_CONF=dirty_decay_ms:1,muzzy_decay_ms:10000 "$jb" -H none -t 2 -P 200 -c 1 -w 1 \
	-p 4M -j -l smoke 2>"$tmp/stderr")"
rc=$?
if [ "$rc" = 0 ] && jq -e '.label == "smoke" and (.jemalloc.version | startswith("5.3."))
	and .jemalloc.muzzy_decay_ms == 10000 and .allocs > 0 and .checks.data_errors == 0
	and .jemalloc_stats.dirty_purged > 0 and .checks.lazyfree_ok and .memcg == null' \
	<<<"$out" >/dev/null; then
	echo "ok - jemalloc_bench_runs_with_debian_jemalloc_and_madv_free"
else
	echo "# exit $rc: $(head -c 300 <<<"$out") $(head -c 300 "$tmp/stderr")"
	echo "not ok - jemalloc_bench_runs_with_debian_jemalloc_and_madv_free"
fi
# The same workload on glibc's malloc under ASan and UBSan (and LeakSanitizer):
# no report; exit 0, or 3 if nothing on the machine used MADV_FREE meanwhile.
out="$(ASAN_OPTIONS=exitcode=90 UBSAN_OPTIONS=halt_on_error=1:exitcode=91 "$jba" -H none -t 3 \
	-P 100 -c 2 -w 1 -p 2M --max-object 1M -j 2>"$tmp/stderr")"
rc=$?
if { [ "$rc" = 0 ] || [ "$rc" = 3 ]; } && jq -e '.jemalloc == null and .allocs > 0 and
	.checks.data_errors == 0 and .latency_ns.alloc.n == .allocs' <<<"$out" >/dev/null &&
	! grep -Eq 'Sanitizer|runtime error' "$tmp/stderr"; then
	echo "ok - jemalloc_bench_workload_clean_under_asan_ubsan_lsan"
else
	echo "# exit $rc: $(head -c 600 "$tmp/stderr")"
	echo "not ok - jemalloc_bench_workload_clean_under_asan_ubsan_lsan"
fi
exit 0
