#!/usr/bin/env bash
# make bench-profile: where the time of a lazyfree reclaim goes, per call,
# stock vs module (and, with REF=1, vs the ref kernel's backport), in one
# boot of the test VM.  userspace/bench/profile-guest.sh traces each of
# FUNCS alone with function_graph at depth 1 while lazyfree-bench runs:
# these runs have the tracer attached, so their times are not make bench's;
# the tracer's cost is one entry and one exit event per call in every mode,
# so per-call differences between the modes are what the unmap path costs.
#
# Environment: SIZES (default "16K 64K 2M-pte"), FUNCS (default
# "try_to_unmap reclaim_pages": the rmap walk that unmaps one folio, and
# reclaim of the list MADV_PAGEOUT isolated, unmap, flush and free
# included), ROUNDS (5), ITER (4), REGION (64M), REF=1 (the ref kernel),
# OUT (build/bench-profile).  Writes OUT/raw.log and OUT/profile.txt;
# REPORT_ONLY=1 makes profile.txt again from OUT/raw.log without a run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/../.." && pwd)"
. "$top/tests/harness/lib.sh"

: "${SIZES:=16K 64K 2M-pte}" "${FUNCS:=try_to_unmap reclaim_pages}"
: "${ROUNDS:=5}" "${ITER:=4}" "${REGION:=64M}" "${REF:=0}"
out="${OUT:-$top/build/bench-profile}"
case "${ARCH:-x86_64}" in x86|x86_64) ;;
*) die "make bench-profile runs the x86 guest only (ARCH=${ARCH})" ;; esac
[ "${NATIVE:-0}" = 0 ] || die "make bench-profile runs in the test VM; it does not take NATIVE=1"
case "$ROUNDS$ITER" in *[!0-9]*) die "ROUNDS and ITER must be numbers" ;; esac
[ "$ROUNDS" -ge 1 ] && [ "$ITER" -ge 1 ] || die "ROUNDS and ITER must be at least 1"
case "$REF" in 0|1) ;; *) die "REF must be 0 or 1, not '$REF'" ;; esac
case "$REGION" in [1-9]*[MG]) ;; *) die "REGION must look like 64M or 1G, not '$REGION'" ;; esac
for s in $SIZES; do
	case "$s" in 4K|8K|16K|32K|64K|128K|256K|512K|1M|2M|2M-pte) ;;
	*) die "unknown size '$s' in SIZES (4K..1M, 2M, 2M-pte)" ;; esac
done
[ -n "${SIZES// }" ] || die "SIZES is empty"
for f in $FUNCS; do
	case "$f" in *[!a-z0-9_]*) die "FUNCS must list kernel function names, not '$f'" ;; esac
done
[ -n "${FUNCS// }" ] || die "FUNCS is empty"
# (tests/host/make.sh: the checks above, without a build or a boot)
[ "${BU_VALIDATE_ONLY:-0}" = 1 ] && exit 0
mkdir -p "$out"

if [ "${REPORT_ONLY:-0}" = 1 ]; then
	[ -s "$out/raw.log" ] || die "REPORT_ONLY=1 but there is no $out/raw.log"
	grep -q '^P .* ref ' "$out/raw.log" && REF=1
	# The run's own settings, for the header.
	read -r ROUNDS ITER REGION < <(sed -n 's/^C //p' "$out/raw.log" | head -n 1) ||
		die "$out/raw.log has no settings line: not a make bench-profile log"
else
	[ "$REF" = 1 ] && export KERNEL_FLAVOR=ref
	kdir="$("$top/kernel/build.sh")"
	log "bench-profile: [$FUNCS] x [$SIZES], $ROUNDS rounds x $ITER iterations of $REGION$([ "$REF" = 1 ] && echo ", with the ref backport"); function_graph attached"
	guest_script_run profile PROFILE_DONE 3600 "$kdir" "$out" "$here/profile-guest.sh:profile-guest.sh" \
		"SIZES='$SIZES' FUNCS='$FUNCS' ROUNDS=$ROUNDS ITER=$ITER REGION=$REGION REF=$REF sh /vm/profile-guest.sh"
fi

# Per function and size: each mode's median per-call time (the median of
# its rounds' medians), and per round on/off and on/ref, median [min-max].
{
	echo
	echo "batch_unmap profile: one call of each function, us (function_graph, depth 1, attached:"
	echo "not make bench's times); $ROUNDS rounds x $ITER iterations of MADV_PAGEOUT of $REGION"
	echo "lazyfree memory, modes in alternating order; median of the rounds' per-call medians."
	sed -n 's/^P //p' "$out/raw.log" | awk -v ref="$REF" '
		function med(list,   n, i, j, t, a) {
			n = split(list, a, " ")
			if (n == 0) return "-"
			for (i = 2; i <= n; i++)
				for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
					t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
				}
			return sprintf("%.3f", n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2)
		}
		function lo(list,   n, i, m, a) { n = split(list, a, " "); m = a[1]
			for (i = 2; i <= n; i++) if (a[i] + 0 < m + 0) m = a[i]; return m }
		function hi(list,   n, i, m, a) { n = split(list, a, " "); m = a[1]
			for (i = 2; i <= n; i++) if (a[i] + 0 > m + 0) m = a[i]; return m }
		function ratio(k, a, b,   r, i, s) {
			s = ""
			for (r = 1; r <= rounds[k]; r++)
				if ((k SUBSEP r SUBSEP a) in v && (k SUBSEP r SUBSEP b) in v && v[k, r, b] > 0)
					s = s " " v[k, r, a] / v[k, r, b]
			if (s == "") return "-"
			return sprintf("%.3f [%.3f-%.3f]", med(s), lo(s), hi(s))
		}
		{
			k = $1 SUBSEP $2
			if (!(k in seen)) { seen[k] = 1; keys[++nk] = k }
			if ($6 == "-") next
			v[k, $3, $4] = $6; all[k, $4] = all[k, $4] " " $6
			if ($3 > rounds[k]) rounds[k] = $3
		}
		END {
			if (ref == 1)
				printf "%-28s %-7s %10s %10s %10s %21s %21s\n", "function", "folio",
					"off", "on", "ref", "on/off", "on/ref"
			else
				printf "%-28s %-7s %10s %10s %21s\n", "function", "folio", "off", "on", "on/off"
			for (i = 1; i <= nk; i++) {
				k = keys[i]; split(k, p, SUBSEP)
				if (ref == 1)
					printf "%-28s %-7s %10s %10s %10s %21s %21s\n", p[1], p[2],
						med(all[k, "off"]), med(all[k, "on"]), med(all[k, "ref"]),
						ratio(k, "on", "off"), ratio(k, "on", "ref")
				else
					printf "%-28s %-7s %10s %10s %21s\n", p[1], p[2],
						med(all[k, "off"]), med(all[k, "on"]), ratio(k, "on", "off")
			}
		}'
	echo "on/off, on/ref: per round, median [min-max] (below 1: the module takes less time a call)"
} | tee "$out/profile.txt"
log "bench-profile: $out/profile.txt, raw lines in $out/raw.log"
