#!/bin/sh
# unmapstat in the VM: with a known workload (N lazyfree 64K folios reclaimed
# by MADV_PAGEOUT, on one CPU and with the mm active on a second CPU), module
# off counts N partially-mapped deferred splits and the stock path's flushes;
# module on counts none and at most one reclaim flush per folio.  Either way
# reclaim unmaps N lazyfree order-4 folios.  A page-cache workload on XFS
# (file-bench) counts as file, with the module's file batches and referenced
# runs.  The counts agree with the mTHP split_deferred stat, with the
# module's own counters, and with `bpftool map dump` of the pinned map.
#
# The TLB counters differ by architecture (docs/unmapstat.md): x86 counts
# its flushes (flush_tlb_mm_range(), arch_tlbbatch_flush(), tlb:tlb_flush);
# arm64, whose TLB maintenance is inline, always defers reclaim's flushes
# and counts the requests that queue them (queued, queued_tlbi_est), the
# batch's completion (deferred) and contpte unfolds; what an architecture
# cannot count is null in JSON, with the reason under "unavailable".

N=64			# folios per run
PIN=/sys/fs/bpf/unmapstat
STATS=/sys/kernel/debug/batch_unmap/stats
failed=0

ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; failed=$((failed + 1)); }
check() {	# check <name> <shell condition...>
	name="$1"
	shift
	if eval "$@"; then ok "$name"; else nok "$name [$*]"; fi
}
stat() { awk -v k="$1" '$1 == k { print $2 }' "$STATS"; }

workload() {	# workload <touch-threads>: prints lazyfree-bench JSON
	# Started on CPU 0, so the mm never ran elsewhere unless asked to.
	taskset -c 0 lazyfree-bench -f 64K -s $((N * 64))K -n 1 -w 0 -C 0 -t "$1" -j
}

file_workload() {	# file_workload pageout|memcg: prints file-bench JSON
	file-bench -s 8M -d /mnt/xfs -r "$1" -n 1 -w 0 -C 0 -j
}

dump() { unmapstat --dump -j | jq -c .counters; }

# One measured run: pin counters, run the workload, dump, unpin.
measure() {	# measure <tag> <workload command...>: its output in /tmp/bench.<tag>
	tag="$1"
	shift
	unmapstat --unpin >/dev/null
	unmapstat --pin >/tmp/pin.$tag 2>&1 || { cat /tmp/pin.$tag; return 1; }
	"$@" >/tmp/bench.$tag || return 1
	dump >/tmp/dump.$tag || return 1
	bpftool -j map dump pinned $PIN/counters >/tmp/bpftool.$tag || return 1
	unmapstat --unpin >/dev/null
}

q() { jq -r "$2" "/tmp/$1"; }

arch="$(uname -m)"

. /vm/guest-lib.sh

unload batch_unmap

# --- errors before anything is pinned ----------------------------------------
unmapstat --unpin >/dev/null
out="$(unmapstat --dump 2>&1)"; rc=$?
check "dump_without_pin_fails_clearly" '[ $rc = 1 ] && echo "$out" | grep -q "run unmapstat --pin first"'
out="$(unmapstat -i 0 2>&1)"; rc=$?
check "bad_interval_rejected" '[ $rc = 2 ] && echo "$out" | grep -q "invalid interval"'

# --- module off ------------------------------------------------------------------
for cpus in 1 2; do
	t=$((cpus - 1))
	if ! measure off$cpus workload $t; then
		nok "unmapstat_measures_module_off_${cpus}cpu"
		continue
	fi
	echo "# module off, $cpus CPU(s): $(cat /tmp/dump.off$cpus)"
	sd="$(q bench.off$cpus .split_deferred[0])"
	check "off_${cpus}cpu_split_partial_is_one_per_folio" \
		'[ "$(q dump.off$cpus .split_partial.order4)" = $N ] && [ "$sd" = $N ]'
	# Stock: every PTE cleared one by one, flushed per PTE or deferred.
	pte="$(q dump.off$cpus .reclaim.ptep_clear_flush)"
	single="$(q dump.off$cpus .reclaim.single)"
	deferred="$(q dump.off$cpus .reclaim.deferred)"
	echo "# ptep_clear_flush=$pte single=$single deferred=$deferred"
	if [ "$arch" = aarch64 ]; then
		# arm64 defers reclaim's flushes whatever the CPUs: one request (one
		# TLBI) per PTE; clearing the first PTE of a 64K folio unfolds its
		# contpte block (16 PTEs), once per folio.
		queued="$(q dump.off$cpus .reclaim.queued)"
		tlbi="$(q dump.off$cpus .reclaim.queued_tlbi_est)"
		unfolds="$(q dump.off$cpus .reclaim.contpte_unfolds)"
		echo "# queued=$queued queued_tlbi_est=$tlbi contpte_unfolds=$unfolds"
		check "off_${cpus}cpu_queues_one_flush_per_pte" \
			'[ "$queued" = $((N * 16)) ] && [ "$(q dump.off$cpus .reclaim.queued_pages)" = $((N * 16)) ] && [ "$tlbi" = $((N * 16)) ] && [ "$deferred" -ge 1 ] && [ "$pte" = 0 ]'
		check "off_${cpus}cpu_unfolds_one_contpte_block_per_folio" '[ "$unfolds" = $N ]'
	elif [ $cpus = 1 ]; then
		check "off_1cpu_flushes_per_pte" '[ "$pte" = $((N * 16)) ] && [ "$single" -ge $((N * 16)) ]'
	else
		# Deferred while the touch thread's CPU still has the mm in its
		# mm_cpumask: if another task ran there meanwhile, the stock path
		# flushes the next PTE now (seen once: 1 of 1024), so not all.
		check "off_2cpu_defers_flushes" \
			'[ "$deferred" -ge 1 ] && [ "$pte" -lt $((N * 16 / 2)) ] && [ "$single" -ge "$pte" ]'
	fi
	check "off_${cpus}cpu_no_module_batches" \
		'[ "$(q dump.off$cpus ".batches | add")" = 0 ] && [ "$(q dump.off$cpus "[.batch_kinds[].batches, .referenced[].runs] | add")" = 0 ]'
	# One try_to_unmap_one() per folio (one VMA each), classified by the folio.
	check "off_${cpus}cpu_unmaps_lazyfree_order4_one_per_folio" \
		'[ "$(q dump.off$cpus .unmaps.lazyfree.order4)" = $N ]'
done

# --- module on -------------------------------------------------------------------
if ! insmod /vm/batch_unmap.ko kprobes=1; then
	nok "module_loads_with_kprobes"
else
	for cpus in 1 2; do
		t=$((cpus - 1))
		echo 0 >$STATS
		if ! measure on$cpus workload $t; then
			nok "unmapstat_measures_module_on_${cpus}cpu"
			continue
		fi
		echo "# module on, $cpus CPU(s): $(cat /tmp/dump.on$cpus)"
		check "on_${cpus}cpu_no_deferred_split" \
			'[ "$(q dump.on$cpus ".split_partial | add")" = 0 ] && [ "$(q bench.on$cpus .split_deferred[0])" = 0 ]'
		check "on_${cpus}cpu_one_batch_per_folio" \
			'[ "$(q dump.on$cpus .batches.discard)" = $N ] && [ "$(q dump.on$cpus .batch_pages)" = $((N * 16)) ]'
		flushes="$(q dump.on$cpus '.reclaim | .single + .range + .full + .deferred')"
		echo "# reclaim flushes with the module: $flushes for $N folios"
		check "on_${cpus}cpu_at_most_one_flush_per_folio" \
			'[ "$flushes" -le $N ] && [ "$(q dump.on$cpus .reclaim.ptep_clear_flush)" = 0 ]'
		# The module's own counters saw the same as unmapstat.
		check "on_${cpus}cpu_agrees_with_module_counters" \
			'[ "$(stat kp_deferred_split_partial)" = 0 ] && [ "$(stat batches)" = "$(q dump.on$cpus .batches.discard)" ]'
		# By kind: the module's lazyfree batches, reclaim's lazyfree unmaps.
		check "on_${cpus}cpu_batch_kinds_agree_with_module_counters" \
			'[ "$(q dump.on$cpus .batch_kinds.lazyfree.batches)" = "$(stat batches)" ] && [ "$(q dump.on$cpus .batch_kinds.lazyfree.pages)" = $((N * 16)) ] && [ "$(q dump.on$cpus .batch_kinds.file.batches)" = 0 ]'
		check "on_${cpus}cpu_unmaps_lazyfree_order4_one_per_folio" \
			'[ "$(q dump.on$cpus .unmaps.lazyfree.order4)" = $N ]'
		# MADV_PAGEOUT skips the referenced check: none here, none in the module.
		check "on_${cpus}cpu_referenced_attached_agrees_with_module" \
			'grep -q "batch_unmap:referenced *tracepoint" /tmp/pin.on$cpus && [ "$(q dump.on$cpus "[.referenced[].runs] | add")" = "$(stat ref_batches)" ]'
		if [ "$arch" = aarch64 ]; then
			# Deferred whatever the CPUs; one request per batch where the
			# kernel queues a range, else per page; a TLBI per page either
			# way (fewer than MAX_DVM_OPS); no unfold: whole blocks cleared.
			queued="$(q dump.on$cpus .reclaim.queued)"
			echo "# queued=$queued for $N folios"
			check "on_${cpus}cpu_deferred_flushes" \
				'[ "$(stat flush_deferred)" = $N ] && [ "$(q dump.on$cpus .batch_flush.deferred)" = $N ]'
			check "on_${cpus}cpu_queues_the_batch_pages_without_unfolding" \
				'{ [ "$queued" = $N ] || [ "$queued" = $((N * 16)) ]; } && [ "$(q dump.on$cpus .reclaim.queued_pages)" = $((N * 16)) ] && [ "$(q dump.on$cpus .reclaim.queued_tlbi_est)" = $((N * 16)) ] && [ "$(q dump.on$cpus .reclaim.contpte_unfolds)" = 0 ]'
		elif [ $cpus = 1 ]; then
			check "on_1cpu_range_flush_per_batch" \
				'[ "$(q dump.on1 .reclaim.range)" = "$(stat flush_range)" ] && [ "$(stat flush_range)" = $N ]'
		else
			# As for off_2cpu_defers_flushes: a batch may be flushed
			# now if another task ran on the other CPU meanwhile; the
			# module and unmapstat must agree on every batch anyway.
			check "on_2cpu_deferred_flushes" \
				'[ "$(stat flush_deferred)" -gt $((N / 2)) ] && [ "$(q dump.on2 .batch_flush.deferred)" = "$(stat flush_deferred)" ] && [ $(($(stat flush_deferred) + $(stat flush_range))) = $N ] && [ "$(q dump.on2 .batch_flush.range)" = "$(stat flush_range)" ]'
		fi
	done

	# Page cache on XFS (large folios).  MADV_PAGEOUT: the unmap alone, in
	# file batches; memcg reclaim: through the LRU, whose referenced check
	# the module batches too.
	if [ -w /mnt/xfs ]; then
		for how in pageout memcg; do
			echo 0 >$STATS
			if ! measure file$how file_workload $how; then
				nok "unmapstat_measures_file_$how"
				continue
			fi
			echo "# file, $how: $(cat /tmp/dump.file$how)"
			check "file_${how}_batch_kinds_agree_with_module_counters" \
				'[ "$(q dump.file$how .batch_kinds.file.batches)" = "$(stat file_batches)" ] && [ "$(q dump.file$how .batch_kinds.file.pages)" = "$(stat file_ptes)" ] && [ "$(q dump.file$how .batches.unmap)" = "$(stat file_batches)" ] && [ "$(q dump.file$how .batch_kinds.lazyfree.batches)" = 0 ]'
			check "file_${how}_referenced_agrees_with_module_counters" \
				'[ "$(q dump.file$how .referenced.file.runs)" = "$(stat ref_file_batches)" ] && [ "$(q dump.file$how "[.referenced[].runs] | add")" = "$(stat ref_batches)" ] && [ "$(q dump.file$how "[.referenced[].young] | add")" = "$(stat ref_young)" ] && [ "$(q dump.file$how "[.referenced[].pages] | add")" = "$(stat ref_ptes)" ]'
			# File, not anon, and only at orders the mapping had.
			check "file_${how}_unmaps_are_file_folios" \
				'[ "$(q dump.file$how "[.unmaps.anon[], .unmaps.lazyfree[]] | add")" = 0 ] && jq -e --slurpfile b /tmp/bench.file$how ".unmaps.file | to_entries | all(.value == 0 or \$b[0].iterations[0].folio_pages[.key] > 0)" /tmp/dump.file$how >/dev/null'
		done
		# MADV_PAGEOUT unmaps every folio of the mapping: large ones, batched.
		check "file_pageout_unmaps_and_batches_large_file_folios" \
			'[ "$(q dump.filepageout "[.unmaps.file | to_entries[] | select(.key != \"order0\") | .value] | add")" -gt 0 ] && [ "$(q dump.filepageout .batch_kinds.file.batches)" -gt 0 ]'
		# The LRU's referenced check visits the mapped, young folios first.
		check "file_memcg_referenced_runs_on_file_folios" \
			'[ "$(q dump.filememcg .referenced.file.runs)" -gt 0 ]'
	else
		echo "ok - unmapstat_file_workload # SKIP /mnt/xfs is not mounted (--no-disk)"
	fi

	# The stock path again, this time seen by the module's kprobes too
	# (enabled=0: the module declines everything, see t_hook).
	echo 0 >/sys/module/batch_unmap/parameters/enabled
	echo 0 >$STATS
	if measure declining workload 0; then
		echo "# module declining: $(cat /tmp/dump.declining)"
		check "stock_split_counts_agree_kprobes_unmapstat_sysfs" \
			'[ "$(stat kp_deferred_split_partial)" = $N ] && [ "$(q dump.declining .split_partial.order4)" = $N ] && [ "$(q bench.declining .split_deferred[0])" = $N ]'
		if [ "$arch" = aarch64 ]; then
			check "stock_queues_per_pte_and_unfolds_while_declining" \
				'[ "$(q dump.declining .reclaim.queued)" = $((N * 16)) ] && [ "$(q dump.declining .reclaim.contpte_unfolds)" = $N ]'
			# The module's kprobes there (a module that has them) count
			# system-wide: at least what unmapstat saw in reclaim.
			if [ -n "$(stat kp_tlb_pending)" ]; then
				check "stock_queue_and_unfolds_seen_by_both" \
					'[ "$(stat kp_tlb_pending)" -ge "$(q dump.declining .reclaim.queued)" ] && [ "$(stat kp_contpte_unfold)" -ge "$(q dump.declining .reclaim.contpte_unfolds)" ]'
			fi
		else
			# System-wide kprobe counts include every other ptep_clear_flush.
			check "stock_per_pte_flushes_seen_by_both" \
				'[ "$(stat kp_ptep_clear_flush)" -ge "$(q dump.declining .reclaim.ptep_clear_flush)" ] && [ "$(q dump.declining .reclaim.ptep_clear_flush)" = $((N * 16)) ]'
		fi
		# Declined: no batch, but reclaim unmaps the same folios.
		check "declining_unmaps_counted_without_batches" \
			'[ "$(q dump.declining .unmaps.lazyfree.order4)" = $N ] && [ "$(q dump.declining "[.batch_kinds[].batches] | add")" = 0 ]'
	else
		nok "unmapstat_measures_module_declining"
	fi
	unload batch_unmap
fi

# --- bpftool sees the same named fields -------------------------------------------
# Sum bpftool's per-CPU "formatted" values field by field and compare.
jqsum='def add2($a; $b): if ($a | type) == "object" then reduce ($a | keys[]) as $k ({}; .[$k] = add2($a[$k]; $b[$k]))
	elif ($a | type) == "array" then [range(0; $a | length) as $i | add2($a[$i]; $b[$i])]
	else $a + $b end;
	.[0].formatted.values | reduce .[1:][].value as $v (.[0].value; add2(.; $v))'
# unmapstat's JSON names what the struct keeps in arrays (docs/unmapstat.md)
# and shows reclaim_ext's fields in reclaim: name and merge bpftool's the
# same way.  What this kernel cannot count (null in unmapstat's JSON, 0 in
# the map) is left out of both.
jqnamed='def named($n): . as $a | reduce range(0; $n | length) as $i ({}; .[$n[$i]] = $a[$i]);
	def orders: [range(0; 10) | "order\(.)"];
	def reasons: ["task_switch", "remote_shootdown", "local_shootdown",
		"local_mm_shootdown", "remote_send_ipi", "reason5"];
	.split_partial |= named(orders) | .split_other |= named(orders)
	| .reclaim.tlb_events |= named(reasons) | .reclaim.tlb_pages |= named(reasons)
	| .batches |= named(["discard", "restore_dirty", "restore_refs", "unmap"])
	| .batch_flush |= named(["deferred", "range", "none"])
	| .unmaps |= (map(named(orders)) | named(["anon", "lazyfree", "file", "shmem"]))
	| .batch_kinds |= named(["lazyfree", "file"]) | .referenced |= named(["lazyfree", "file"])
	| .reclaim += .reclaim_ext | del(.reclaim_ext)'
if [ -s /tmp/bpftool.off1 ]; then
	# "other" keeps counting between the two reads (the shell, jq, bpftool
	# fault and flush too); everything else is quiescent after the workload.
	jq -cS --slurpfile d /tmp/dump.off1 "$jqsum | del(.other, .other_ext) | $jqnamed
		| delpaths([\$d[0] | paths(. == null)])" /tmp/bpftool.off1 >/tmp/bpftool.sum 2>/tmp/jq.err
	jq -cS "del(.other) | delpaths([paths(. == null)])" /tmp/dump.off1 >/tmp/dump.sorted
	check "bpftool_dump_matches_unmapstat_dump" 'cmp -s /tmp/bpftool.sum /tmp/dump.sorted'
	[ $failed = 0 ] || { echo "# bpftool: $(cat /tmp/bpftool.sum /tmp/jq.err)"; echo "# unmapstat: $(cat /tmp/dump.sorted)"; }
	check "bpftool_shows_named_fields" 'jq -e ".[0].formatted.values[0].value.reclaim.ptep_clear_flush != null" /tmp/bpftool.off1 >/dev/null'
else
	nok "bpftool_dump_matches_unmapstat_dump (no bpftool output)"
fi

# --- pinning twice, live mode, JSON -------------------------------------------------
unmapstat --pin >/tmp/pin.twice
out="$(unmapstat --pin 2>&1)"; rc=$?
check "pin_twice_is_handled" '[ $rc = 0 ] && echo "$out" | grep -q "already pinned" && [ -e $PIN/counters ]'
# What the architecture cannot count: named with its reason, never a 0.
if [ "$arch" = aarch64 ]; then
	check "pin_and_dump_report_na_with_reasons" \
		'grep -q "^  single, range, range_pages, full: no flush_tlb_mm_range()" /tmp/pin.twice && grep -Eq "^  set_tlb_ubc_flush_pending +(fentry|kprobe)$" /tmp/pin.twice && unmapstat --dump | grep -q "^  1-page, range, range-pages, full: n/a (no flush_tlb_mm_range()"'
else
	check "pin_and_dump_report_na_with_reasons" \
		'grep -q "^  contpte_unfolds: no contpte on x86" /tmp/pin.twice && unmapstat --dump | grep -q "^TLB queue (contpte-unfolds): n/a (no contpte on x86)"'
fi
unmapstat --unpin >/dev/null
check "unpin_removes_everything" '[ ! -e $PIN ]'
# bcc's positional interval and count: 1 s, twice.
unmapstat 1 2 -j >/tmp/live.json 2>/tmp/live.err
check "live_json_intervals_and_summary" '[ "$(jq -s length /tmp/live.json)" = 3 ] && jq -s -e ".[2].attach | length > 0" /tmp/live.json >/dev/null'
check "live_json_has_schema_and_named_keys" \
	'jq -s -e "all(.[]; .schema == 2 and (.counters.batches | type) == \"object\" and .counters.split_partial.order4 != null and .counters.unmaps.shmem.order9 != null and .counters.batch_kinds.file.pages != null and .counters.referenced.lazyfree.young != null)" /tmp/live.json >/dev/null'
check "missing_module_tracepoints_are_reported" \
	'jq -s -e "[.[2].attach[] | select(.what | startswith(\"batch_unmap:\")) | .how] == [null, null]" /tmp/live.json >/dev/null'
# Without -p, try_to_unmap_one() only counts: its entry, no return probe.
check "live_try_to_unmap_one_entry_only" \
	'jq -s -e ".[2].attach[] | select(.what == \"try_to_unmap_one\") | .how == \"fentry\" or .how == \"kprobe\"" /tmp/live.json >/dev/null'
# The attach points this architecture has, and null (with a reason) for
# the counters it cannot provide, in every object.
if [ "$arch" = aarch64 ]; then
	check "live_arm64_attach_points" \
		'jq -s -e "[.[2].attach[] | select(.how != null) | .what] as \$a | ([\"set_tlb_ubc_flush_pending\", \"try_to_unmap_flush\", \"try_to_unmap_flush_dirty\", \"ptep_clear_flush\", \"__contpte_try_unfold\"] - \$a) == [] and ([.[2].attach[].what] - [\"flush_tlb_mm_range\", \"arch_tlbbatch_flush\", \"tlb:tlb_flush\"] | length) == (.[2].attach | length)" /tmp/live.json >/dev/null'
	check "live_json_arm64_na_counters_are_null_with_reasons" \
		'jq -s -e "all(.[]; .counters.reclaim.single == null and .counters.other.tlb_events == null and (.unavailable.single | type) == \"string\" and (.unavailable.tlb_pages | type) == \"string\" and .counters.reclaim.queued_tlbi_est != null and .counters.other.contpte_unfolds != null and .counters.reclaim.deferred != null and (.unavailable | has(\"queued\") | not))" /tmp/live.json >/dev/null'
else
	check "live_json_x86_na_counters_are_null_with_reasons" \
		'jq -s -e "all(.[]; .counters.reclaim.single != null and .counters.other.tlb_events != null and .counters.reclaim.contpte_unfolds == null and .unavailable.contpte_unfolds == \"no contpte on x86\" and .counters.reclaim.queued == null and (.unavailable.queued_tlbi_est | type) == \"string\" and (.unavailable | has(\"single\") | not))" /tmp/live.json >/dev/null'
fi

[ $failed = 0 ]
