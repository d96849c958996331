# Aggregate the "F" lines of userspace/bench/guest.sh (file-bench runs,
# slurped as an array) into one record per reclaim path (pageout, memcg).
# Times only from the "timed" phase; flushes only from the "counted" one
# (unmapstat pinned).  Ratios per round, as for the lazyfree rows.

def median: sort | if length == 0 then null
	elif length % 2 == 1 then .[(length / 2) | floor]
	else (.[length / 2 - 1] + .[length / 2]) / 2 end;
def r3: if . == null then null else (. * 1000 | round) / 1000 end;
def spread: if length == 0 then null
	else { median: (median | r3), min: (min | r3), max: (max | r3) } end;
def sub2($a; $b): if $a == null or $b == null then null
	elif ($a | type) == "object" then reduce ($a | keys[]) as $k ({}; .[$k] = sub2($a[$k]; $b[$k]))
	elif ($a | type) == "array" then [range(0; $a | length) as $i | sub2($a[$i]; $b[$i])]
	else $a - $b end;

# Folios mapped before reclaim in one iteration, from the pages by order.
def folios: .folio_pages | to_entries
	| map(.value / pow(2; .key | ltrimstr("order") | tonumber)) | add;
# Folios over the measured and warm-up iterations of a run (the counters
# read around the run cover both; the warm-up is like the first one).
def run_folios: (.bench.iterations | map(folios) | add) * (1 + 1 / (.bench.iterations | length));
def runs($p; $m): map(select(.phase == $p and .mode == $m));
def times($p; $m): [runs($p; $m)[] | .bench.iterations[].ms];
def per_folio(rs; f): [rs[] | (f) as $v | select($v != null) | $v / run_folios] | median | r3;

def side($m): runs("timed"; $m) as $rs | if ($rs | length) == 0 then null else {
	median_ms: (times("timed"; $m) | median | r3),
	min_ms: (times("timed"; $m) | min | r3),
	max_ms: (times("timed"; $m) | max | r3),
	runs: ($rs | length),
	# Of the pages mapped before reclaim, the share still mapped after.
	left_mapped: ([$rs[] | .bench.iterations[] | .mapped_after / .mapped_before] | median | r3),
	data_ok: all($rs[]; all(.bench.iterations[]; .data_ok)),
	module: (if any($rs[]; .mstats == null) then null else {
		file_batches_per_folio: per_folio($rs; .mstats.file_batches),
		ref_batches_per_folio: per_folio($rs; .mstats.ref_batches),
		decline_per_folio: per_folio($rs; .mstats | to_entries
			| map(select(.key | startswith("decline_")) | .value) | add)
	} end),
	pgsteal_per_folio: per_folio($rs; (.vmstat.pgsteal_direct // 0) + (.vmstat.pgsteal_kswapd // 0)),
	counted: (runs("counted"; $m) as $cs | if ($cs | length) == 0 then null else {
		median_ms: (times("counted"; $m) | median | r3),
		flushes_per_folio: (if any($cs[]; .unmapstat == null) then null else {
			per_pte: per_folio($cs; .unmapstat.reclaim.ptep_clear_flush),
			single_page: per_folio($cs; .unmapstat.reclaim.single),
			range: per_folio($cs; .unmapstat.reclaim.range),
			full: per_folio($cs; .unmapstat.reclaim.full),
			deferred: per_folio($cs; .unmapstat.reclaim.deferred)
		} end)
	} end)
} end;

def ratios($all; $a; $b): [$all[] | select(.phase == "timed") | .round] | unique
	| [.[] as $r
		| ($all | map(select(.phase == "timed" and .round == $r))) as $rr
		| ($rr | map(select(.mode == $a))) as $x | ($rr | map(select(.mode == $b))) as $y
		| select(($x | length) > 0 and ($y | length) > 0)
		| $x[0].bench.median_ms / $y[0].bench.median_ms]
	| spread;

map(.unmapstat = (if .u0 and .u1 then sub2(.u1.counters; .u0.counters) else null end)
	| .mstats = sub2(.s1; .s0)
	| .vmstat = sub2(.v1; .v0))
| group_by(.reclaim)
| map(. as $all | {
	reclaim: $all[0].reclaim,
	size: $all[0].bench.size,
	# Pages mapped by folio order, over the timed runs' first iterations.
	folio_pages: ([$all[] | select(.phase == "timed") | .bench.iterations[0].folio_pages]
		| if length == 0 then null else
		  (.[0] | keys) as $k | reduce $k[] as $o ({}; .[$o] = ([$all[] | select(.phase == "timed")
		  | .bench.iterations[0].folio_pages[$o]] | median)) end),
	off: ($all | side("off")),
	on: ($all | side("on")),
	unmap: ($all | side("unmap")),
	ref1: ($all | side("ref1")),
	ratio_off_on: ratios($all; "off"; "on"),
	ratio_off_unmap: ratios($all; "off"; "unmap"),
	ratio_off_ref1: ratios($all; "off"; "ref1")
})
| sort_by(.reclaim) | reverse
