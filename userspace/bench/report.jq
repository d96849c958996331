# Aggregate the "R" lines of userspace/bench/guest.sh (slurped as an array)
# into one record per number of touch threads and folio size.  Times in ms; ratios are off/on per round
# (each round runs both, back to back, in the same boot).

def median: sort | if length == 0 then null
	elif length % 2 == 1 then .[(length / 2) | floor]
	else (.[length / 2 - 1] + .[length / 2]) / 2 end;
def r3: if . == null then null else (. * 1000 | round) / 1000 end;

# Counters are read before and after each run: the run's share is the
# difference, field by field.
def sub2($a; $b): if ($a | type) == "object" then reduce ($a | keys[]) as $k ({}; .[$k] = sub2($a[$k]; $b[$k]))
	elif ($a | type) == "array" then [range(0; $a | length) as $i | sub2($a[$i]; $b[$i])]
	else $a - $b end;

def runs($m): map(select(.mode == $m));
def times($m): [runs($m)[] | .bench.ns[] / 1e6];
def folios_per_run: (.bench.iterations + .bench.warmup) * .bench.folios_expected;
# Median over runs of a reclaim counter divided by the folios reclaimed.
def per_folio($m; f): [runs($m)[] | select(.unmapstat != null)
	| (.unmapstat.counters | f) / folios_per_run] | median | r3;

def side($m): if (runs($m) | length) == 0 then null else {
	median_ms: (times($m) | median | r3),
	min_ms: (times($m) | min | r3),
	max_ms: (times($m) | max | r3),
	runs: (runs($m) | length),
	split_deferred_per_iter: ([runs($m)[] | .bench.split_deferred_per_iter] | median),
	flushes_per_folio: {
		per_pte: per_folio($m; .reclaim.ptep_clear_flush),
		single_page: per_folio($m; .reclaim.single),
		range: per_folio($m; .reclaim.range),
		full: per_folio($m; .reclaim.full),
		deferred: per_folio($m; .reclaim.deferred)
	},
	folios_ok: all(runs($m)[]; .bench.folios_found == .bench.folios_expected),
	reclaim_ok: all(runs($m)[]; .bench.resident_after_max == 0 and .bench.zero_ok)
} end;

# off/<mode> per round: both ran back to back in the same round.
def ratios($all; $m): ([$all[] | .round] | unique) as $rounds
	| [$rounds[] as $r
		| ($all | map(select(.round == $r))) as $rr
		| ($rr | runs("off")) as $o | ($rr | runs($m)) as $n
		| select(($o | length) > 0 and ($n | length) > 0)
		| $o[0].bench.median_ms / $n[0].bench.median_ms];
def spread: { median: (median | r3), min: (min | r3), max: (max | r3) };

# Modes other than off, on and zap: module on with another flush policy
# (range, pages) or with pmd=0 (nopmd).
def extra_modes: [.[].mode] | unique - ["off", "on", "zap"];

map(.unmapstat = (if .u0 and .u1 then {counters: sub2(.u1.counters; .u0.counters)} else null end)
	| .touch = (.touch // .bench.touch_threads // 0))
| group_by([.touch, .bench.folio_kb, (if .bench.pte_mapped then 0 else 1 end)])
| map(. as $all
	| {
		size: $all[0].size,
		touch: $all[0].touch,
		folio_kb: $all[0].bench.folio_kb,
		pte_mapped: $all[0].bench.pte_mapped,
		off: ($all | side("off")),
		on: ($all | side("on")),
		zap: ($all | side("zap")),
		ratio_off_on: (ratios($all; "on") | spread),
		policies: (reduce ($all | extra_modes)[] as $m ({};
			.[$m] = ($all | side($m)) + { ratio_off: (ratios($all; $m) | spread) }))
	}
	| .on_vs_zap = (if .zap and .on then (.on.median_ms / .zap.median_ms | r3) else null end)
	| .off_vs_zap = (if .zap and .off then (.off.median_ms / .zap.median_ms | r3) else null end))
| sort_by(.touch, .folio_kb, (if .pte_mapped then 0 else 1 end))
