#!/usr/bin/env bash
# Command-line behaviour of unmapstat and lazyfree-bench that needs no VM:
# bad flags are rejected with a message and exit 2, a non-root user gets a
# clear error and exit 1, --help works.
set -uo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
us="$top/build/bin/unmapstat"
lb="$top/build/bin/lazyfree-bench"

expect() {	# expect <name> <exit> <regex> <cmd...>
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

for b in "$us" "$lb"; do
	[ -x "$b" ] || { echo "not ok - cli: $(basename "$b") not built (run make)"; exit 0; }
done
nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)

expect "unmapstat_help" 0 "USAGE: unmapstat" "$us" --help
expect "unmapstat_bad_interval" 2 "invalid interval" "$us" -i abc
expect "unmapstat_conflicting_modes" 2 "exclude each other" "$us" --pin --unpin
expect "unmapstat_needs_root" 1 "must run as root" "${nobody[@]}" "$us" --dump
expect "lazyfree_bench_help" 0 "usage: lazyfree-bench" "$lb" --help
expect "lazyfree_bench_bad_folio" 2 "invalid --folio" "$lb" --folio 3K
expect "lazyfree_bench_bad_size" 2 "invalid --size" "$lb" --size 12Q
expect "lazyfree_bench_bad_mode" 2 "invalid --mode" "$lb" --mode fast
expect "lazyfree_bench_pte_mapped_needs_2m" 2 "needs --folio 2M" "$lb" --pte-mapped --folio 64K
expect "lazyfree_bench_needs_root" 1 "must run as root" "${nobody[@]}" "$lb" -n 1
exit 0
