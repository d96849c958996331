# Aggregate the "R" lines of userspace/bench/guest.sh (slurped as an array)
# into one record per number of touch threads and folio size.
#
# Times come only from the "timed" phase (nothing attached to the kernel);
# flush counts only from the "counted" phase (unmapstat pinned), whose times
# serve for one thing: the probes' overhead.  Times in ms; ratios are taken
# per round (each round runs every mode back to back in the same boot).

def median: sort | if length == 0 then null
	elif length % 2 == 1 then .[(length / 2) | floor]
	else (.[length / 2 - 1] + .[length / 2]) / 2 end;
def r3: if . == null then null else (. * 1000 | round) / 1000 end;
def spread: if length == 0 then null
	else { median: (median | r3), min: (min | r3), max: (max | r3) } end;

# Counters are read before and after each run: the run's share is the
# difference, field by field.  unmapstat's JSON (schema 1) names every
# array element ({"order4": n}); raw logs of older runs have arrays: both
# subtract, and `add` sums either.
def sub2($a; $b): if $a == null or $b == null then null
	elif ($a | type) == "object" then reduce ($a | keys[]) as $k ({}; .[$k] = sub2($a[$k]; $b[$k]))
	elif ($a | type) == "array" then [range(0; $a | length) as $i | sub2($a[$i]; $b[$i])]
	else $a - $b end;

def folios_per_run: (.bench.iterations + .bench.warmup) * .bench.folios_expected;
def runs($p; $m): map(select(.phase == $p and .mode == $m));
def times($p; $m): [runs($p; $m)[] | .bench.ns[] / 1e6];
# Median over runs of a per-run number divided by the folios it reclaimed.
def per_folio(rs; f): [rs[] | (f) as $v | select($v != null) | $v / folios_per_run]
	| median | r3;

def counted($m): runs("counted"; $m) as $rs | if ($rs | length) == 0 then null else {
	runs: ($rs | length),
	median_ms: (times("counted"; $m) | median | r3),
	flushes_per_folio: (if any($rs[]; .unmapstat == null) then null else {
		per_pte: per_folio($rs; .unmapstat.reclaim.ptep_clear_flush),
		single_page: per_folio($rs; .unmapstat.reclaim.single),
		range: per_folio($rs; .unmapstat.reclaim.range),
		full: per_folio($rs; .unmapstat.reclaim.full),
		deferred: per_folio($rs; .unmapstat.reclaim.deferred)
	} end),
	split_partial_per_folio: (if any($rs[]; .unmapstat == null) then null
		else per_folio($rs; .unmapstat.split_partial | add) end),
	# arm64 (unmapstat schema 2; null where the kernel has no such point):
	# deferred flush requests, the TLBIs they cost (an estimate without
	# range TLBIs) and contpte blocks unfolded, in reclaim.
	tlb_per_folio: (if any($rs[]; .unmapstat == null) then null else {
		queued: per_folio($rs; .unmapstat.reclaim.queued),
		queued_pages: per_folio($rs; .unmapstat.reclaim.queued_pages),
		tlbi_est: per_folio($rs; .unmapstat.reclaim.queued_tlbi_est),
		contpte_unfolds: per_folio($rs; .unmapstat.reclaim.contpte_unfolds)
	} end)
} end;

def side($m): runs("timed"; $m) as $rs | if ($rs | length) == 0 then null else {
	median_ms: (times("timed"; $m) | median | r3),
	min_ms: (times("timed"; $m) | min | r3),
	max_ms: (times("timed"; $m) | max | r3),
	runs: ($rs | length),
	# Free counters, read around the timed runs.
	split_deferred_per_iter: ([$rs[] | .bench.split_deferred_per_iter] | median),
	pages_lazyfreed_per_folio: per_folio($rs; .vmstat.pglazyfreed),
	thp_split_pmd_per_folio: per_folio($rs; .vmstat.thp_split_pmd),
	module: (if any($rs[]; .mstats == null) then null else {
		batches_per_folio: per_folio($rs; .mstats.batches),
		discards_per_folio: per_folio($rs; .mstats.batches_discarded),
		pmd_batches_per_folio: per_folio($rs; .mstats.pmd_batches),
		flush_calls_per_folio: per_folio($rs; .mstats.flush_range_calls),
		deferred_flushes_per_folio: per_folio($rs; .mstats.flush_deferred)
	} end),
	counted: counted($m),
	folios_ok: all($rs[]; .bench.folios_found == .bench.folios_expected),
	reclaim_ok: all($rs[]; if .mode == "zap" then true
		else .bench.resident_after_max == 0 and .bench.zero_ok end)
} | .probe_overhead = (if .counted == null or .counted.median_ms == null then null
	else (.counted.median_ms / .median_ms | r3) end) end;

# $a/$b per round of the timed phase: both ran back to back in that round.
def ratios($all; $a; $b): [$all[] | select(.phase == "timed") | .round] | unique
	| [.[] as $r
		| ($all | map(select(.phase == "timed" and .round == $r))) as $rr
		| ($rr | map(select(.mode == $a))) as $x | ($rr | map(select(.mode == $b))) as $y
		| select(($x | length) > 0 and ($y | length) > 0)
		| $x[0].bench.median_ms / $y[0].bench.median_ms]
	| spread;

# Modes beyond off, on, ref and zap: other flush policies, pmd=0.
def extra_modes: [.[].mode] | unique - ["off", "on", "ref", "zap"];

map(.unmapstat = (if .u0 and .u1 then sub2(.u1.counters; .u0.counters) else null end)
	| .mstats = sub2(.s1; .s0)
	| .vmstat = sub2(.v1; .v0)
	| .touch = (.touch // .bench.touch_threads // 0)
	| .phase = (.phase // "timed"))
| group_by([.touch, .bench.folio_kb, (if .bench.pte_mapped then 0 else 1 end)])
| map(. as $all
	| {
		size: $all[0].size,
		touch: $all[0].touch,
		folio_kb: $all[0].bench.folio_kb,
		pte_mapped: $all[0].bench.pte_mapped,
		off: ($all | side("off")),
		on: ($all | side("on")),
		ref: ($all | side("ref")),
		zap: ($all | side("zap")),
		ratio_off_on: ratios($all; "off"; "on"),
		ratio_off_ref: ratios($all; "off"; "ref"),
		# Module time over backport time: below 1, the module is faster.
		ratio_on_ref: ratios($all; "on"; "ref"),
		ratio_on_zap: ratios($all; "on"; "zap"),
		policies: (reduce ($all | extra_modes)[] as $m ({};
			.[$m] = ($all | side($m)) + { ratio_off: ratios($all; "off"; $m) }))
	})
| sort_by(.touch, .folio_kb, (if .pte_mapped then 0 else 1 end))
