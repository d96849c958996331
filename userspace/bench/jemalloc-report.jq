# Aggregate the "J" lines of userspace/bench/jemalloc-guest.sh (jemalloc-bench
# runs, slurped as an array) into one record per mTHP setting, with one
# side per mode (off, on, ref).
#
# Only the "timed" runs count; the "calibrate" run of a setting (module
# off, memory.high max) says where memory.high was put; the "counted" runs
# (unmapstat pinned) give deferred splits and reclaim's unmaps by order,
# never times.  Per run, the
# counters are jemalloc-bench's before/after deltas over its measured
# cycles; a side's numbers are medians over its runs (one per round).
# Ratios are taken per round (each round runs every mode back to back in
# the same boot), as time per allocation: off/on = ops/s on over ops/s off
# (above 1: the module is faster).

def median: sort | if length == 0 then null
	elif length % 2 == 1 then .[(length / 2) | floor]
	else (.[length / 2 - 1] + .[length / 2]) / 2 end;
def r1: if . == null then null else (. * 10 | round) / 10 end;
def r3: if . == null then null else (. * 1000 | round) / 1000 end;
def spread: if length == 0 then null
	else { median: (median | r3), min: (min | r3), max: (max | r3) } end;
def mb: if . == null then null else . * 4096 / 1048576 end;	# pages to MiB
def bmb: if . == null then null else . / 1048576 end;		# bytes to MiB
def med(f): [.[] | f] | if any(. == null) then null else median end;
def sub2($a; $b): if $a == null or $b == null then null
	elif ($a | type) == "object" then reduce ($a | keys[]) as $k ({}; .[$k] = sub2($a[$k]; $b[$k]))
	elif ($a | type) == "array" then [range(0; $a | length) as $i | sub2($a[$i]; $b[$i])]
	else $a - $b end;
def kb: if endswith("M") then (rtrimstr("M") | tonumber * 1024)
	else (rtrimstr("K") | tonumber) end;

# The numbers of one run.
def metrics: .bench as $b
| (if .u0 and .u1 then sub2(.u1.counters; .u0.counters) else null end) as $u | {
	round, mode, setting, rc,
	high: $b.config.memory_high,
	ops: $b.ops_per_s,
	allocs: $b.allocs,
	p50: $b.latency_ns.alloc.p50, p99: $b.latency_ns.alloc.p99,
	p999: $b.latency_ns.alloc.p999,
	malloc_p99: $b.latency_ns.malloc.p99, free_p99: $b.latency_ns.free.p99,
	sys_ms: $b.rusage.sys_ms, user_ms: $b.rusage.user_ms, minflt: $b.rusage.minflt,
	sys_us_per_kalloc: (if ($b.allocs // 0) > 0 then $b.rusage.sys_ms * 1e6 / $b.allocs
		else null end),
	lazyfree_mb: ($b.memcg.stat.pglazyfree | mb),
	reclaimed_mb: ($b.memcg.stat.pgsteal | mb),
	lazyfreed_mb: ($b.memcg.stat.pglazyfreed | mb),
	scanned_mb: ($b.memcg.stat.pgscan | mb),
	high_events: $b.memcg.events.high,
	pressure_some_ms: (if $b.memcg.pressure == null then null
		else $b.memcg.pressure.some_us / 1000 end),
	split_deferred: ([$b.mthp[] | .split_deferred // 0] | add),
	split: ([$b.mthp[] | .split // 0] | add),
	split_failed: ([$b.mthp[] | .split_failed // 0] | add),
	split_deferred_by_size: ($b.mthp | map_values(.split_deferred)
		| with_entries(select(.value != null and .value > 0))),
	split_by_size: ($b.mthp | map_values(.split)
		| with_entries(select(.value != null and .value > 0))),
	thp_underused_split_page: $b.vmstat.thp_underused_split_page,
	thp_deferred_split_page: $b.vmstat.thp_deferred_split_page,
	allocstall: $b.vmstat.allocstall,
	pgsteal_kswapd: $b.vmstat.pgsteal_kswapd,
	madv_free_mb: ($b.jemalloc_stats.dirty_purged | mb),
	dontneed_mb: ($b.jemalloc_stats.muzzy_purged | mb),
	muzzy_avg_mb: ($b.memory.muzzy.avg | bmb),
	dirty_avg_mb: ($b.memory.dirty.avg | bmb),
	resident_max_mb: ($b.memory.resident.max | bmb),
	memcg_max_mb: ($b.memory.memcg_current.max | bmb),
	module: (if $b.batch_unmap == null then null else $b.batch_unmap as $u | {
		batches: $u.batches,
		whole: $u.batches_whole_folio,
		partial: $u.batches_partial,
		pmd: $u.pmd_batches,
		pages_mb: ($u.pages_discarded | mb),
		# Of the lazyfree pages reclaim freed, the share the module's batches freed.
		batched_share: (if ($b.memcg.stat.pglazyfreed // 0) > 0
			then $u.pages_discarded / $b.memcg.stat.pglazyfreed else null end),
		declines: ([$u | to_entries[] | select(.key | startswith("decline_")) | .value] | add),
		decline_not_large: $u.decline_not_large,
		restored: (($u.restored_dirty // 0) + ($u.restored_refs // 0))
	} end),
	unmapstat: (if $u == null then null else {
		split_partial: $u.split_partial,
		split_other: $u.split_other,
		lazyfree_unmaps: $u.unmaps.lazyfree,
		anon_unmaps: $u.unmaps.anon,
		ptep_clear_flush: $u.reclaim.ptep_clear_flush,
		flushes: ([$u.reclaim | .single, .range, .full, .deferred] | add),
		batches: $u.batches
	} end),
	lazyfree_ok: $b.checks.lazyfree_ok,
	reclaim_ok: $b.checks.reclaim_ok,
	data_ok: ($b.checks.data_errors == 0 and $b.checks.alloc_failures == 0)
};

def side($rs): if ($rs | length) == 0 then null else {
	runs: ($rs | length),
	ops_per_s: ([$rs[].ops] | spread | map_values(round)),
	alloc_ns: { p50: ($rs | med(.p50)), p99: ($rs | med(.p99)), p999: ($rs | med(.p999)) },
	malloc_p99_ns: ($rs | med(.malloc_p99)),
	free_p99_ns: ($rs | med(.free_p99)),
	sys_ms: ($rs | med(.sys_ms) | r1),
	user_ms: ($rs | med(.user_ms) | r1),
	sys_us_per_kalloc: ($rs | med(.sys_us_per_kalloc) | r1),
	minflt: ($rs | med(.minflt)),
	lazyfree_mb: ($rs | med(.lazyfree_mb) | r1),
	reclaimed_mb: ($rs | med(.reclaimed_mb) | r1),
	lazyfreed_mb: ($rs | med(.lazyfreed_mb) | r1),
	scanned_mb: ($rs | med(.scanned_mb) | r1),
	high_events: ($rs | med(.high_events)),
	pressure_some_ms: ($rs | med(.pressure_some_ms) | r1),
	split_deferred: ($rs | med(.split_deferred)),
	split: ($rs | med(.split)),
	split_failed: ($rs | med(.split_failed)),
	split_deferred_by_size: ([$rs[].split_deferred_by_size | keys[]] | unique
		| map(. as $k | { key: $k, value: ($rs | med(.split_deferred_by_size[$k] // 0)) })
		| from_entries),
	split_by_size: ([$rs[].split_by_size | keys[]] | unique
		| map(. as $k | { key: $k, value: ($rs | med(.split_by_size[$k] // 0)) })
		| from_entries),
	thp_underused_split_page: ($rs | med(.thp_underused_split_page)),
	thp_deferred_split_page: ($rs | med(.thp_deferred_split_page)),
	allocstall: ($rs | med(.allocstall)),
	pgsteal_kswapd: ($rs | med(.pgsteal_kswapd)),
	madv_free_mb: ($rs | med(.madv_free_mb) | r1),
	dontneed_mb: ($rs | med(.dontneed_mb) | r1),
	muzzy_avg_mb: ($rs | med(.muzzy_avg_mb) | r1),
	dirty_avg_mb: ($rs | med(.dirty_avg_mb) | r1),
	resident_max_mb: ($rs | med(.resident_max_mb) | r1),
	module: (if any($rs[]; .module == null) then null else {
		batches: ($rs | med(.module.batches)),
		whole: ($rs | med(.module.whole)),
		partial: ($rs | med(.module.partial)),
		pmd: ($rs | med(.module.pmd)),
		pages_mb: ($rs | med(.module.pages_mb) | r1),
		batched_share: ($rs | med(.module.batched_share) | r3),
		declines: ($rs | med(.module.declines)),
		decline_not_large: ($rs | med(.module.decline_not_large)),
		restored: ($rs | med(.module.restored))
	} end),
	lazyfree_ok: all($rs[]; .lazyfree_ok),
	reclaim_ok: all($rs[]; .reclaim_ok),
	data_ok: all($rs[]; .data_ok),
	checks_ok: all($rs[]; .lazyfree_ok and .reclaim_ok and .data_ok)
} end;

# The counted runs of a mode: each count's median over the runs.
def objmed($rs; f): [$rs[] | f | select(. != null)] as $o
	| if ($o | length) == 0 then null
	  else reduce ($o[0] | keys[]) as $k ({}; .[$k] = ([$o[][$k]] | median)) end;
def counted($rs): if ($rs | length) == 0 or any($rs[]; .unmapstat == null) then null else {
	runs: ($rs | length),
	split_partial: objmed($rs; .unmapstat.split_partial),
	split_other: objmed($rs; .unmapstat.split_other),
	lazyfree_unmaps: objmed($rs; .unmapstat.lazyfree_unmaps),
	anon_unmaps: objmed($rs; .unmapstat.anon_unmaps),
	ptep_clear_flush: ($rs | med(.unmapstat.ptep_clear_flush)),
	flushes: ($rs | med(.unmapstat.flushes)),
	batches: objmed($rs; .unmapstat.batches)
} end;

# Per round, f of mode $b over f of mode $a (both ran in that round).
def ratio($rs; $a; $b; f): [$rs[].round] | unique
	| [.[] as $r
		| ($rs | map(select(.round == $r and .mode == $a))) as $x
		| ($rs | map(select(.round == $r and .mode == $b))) as $y
		| select(($x | length) > 0 and ($y | length) > 0)
		| ($x[0] | f) as $u | ($y[0] | f) as $v
		| select($u != null and $v != null and $u > 0)
		| $v / $u]
	| spread;

([.[] | select((.phase // "timed") == "timed")] | .[0].bench) as $b0
| [.[] | metrics + { phase: (.phase // "timed") }] as $all
| [$all[] | select(.phase == "timed")] as $timed
| [$all[] | select(.phase == "calibrate")] as $cal
| [$all[] | select(.phase == "counted")] as $cnt
| {
	config: (if $b0 == null then null else {
		jemalloc_version: $b0.jemalloc.version,
		malloc_conf: $b0.config.malloc_conf,
		threads: $b0.config.threads,
		peak_mb: ($b0.config.peak_per_thread / 1048576),
		period_ms: $b0.config.period_ms,
		cycles: $b0.config.cycles,
		warmup: $b0.config.warmup,
		max_object_mb: ($b0.config.max_object / 1048576),
		live_cap_mb: ($b0.config.live_cap / 1048576),
		jemalloc: $b0.jemalloc
	} end),
	settings: ($timed | group_by(.setting)
	| map(. as $rs | $rs[0].setting as $set
		| ([$cal[] | select(.setting == $set)] | .[0]) as $c
		| ([.[] | select(.high != null)] | .[0].high) as $h
		| {
			setting: $set,
			high_mb: (if ($h | type) == "number" then $h / 1048576 | round else $h end),
			calibration: (if $c == null then null else {
				memcg_max_mb: ($c.memcg_max_mb | r1),
				resident_max_mb: ($c.resident_max_mb | r1),
				lazyfree_mb: ($c.lazyfree_mb | r1),
				ok: $c.lazyfree_ok
			} end),
			off: side([$rs[] | select(.mode == "off")]),
			on: side([$rs[] | select(.mode == "on")]),
			ref: side([$rs[] | select(.mode == "ref")]),
			counted: ([$cnt[] | select(.setting == $set)] as $cs | {
				off: counted([$cs[] | select(.mode == "off")]),
				on: counted([$cs[] | select(.mode == "on")]),
				ref: counted([$cs[] | select(.mode == "ref")])
			}),
			# Time per allocation, off over the mode (ops/s of the mode over off's).
			ratio_off_on: ratio($rs; "off"; "on"; .ops),
			ratio_off_ref: ratio($rs; "off"; "ref"; .ops),
			# The module's time per allocation over the backport's: below 1, faster.
			ratio_on_ref: ratio($rs; "on"; "ref"; .ops),
			# p99 latency, off over the mode (above 1: the mode's is lower).
			p99_off_on: ratio($rs; "on"; "off"; .p99),
			p99_off_ref: ratio($rs; "ref"; "off"; .p99),
			# Kernel CPU per allocation, off over the mode.
			sys_off_on: ratio($rs; "on"; "off"; .sys_us_per_kalloc),
			sys_off_ref: ratio($rs; "ref"; "off"; .sys_us_per_kalloc)
		})
	| sort_by(.setting | split("+") | map(kb)))
}
