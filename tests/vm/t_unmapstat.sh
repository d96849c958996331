#!/bin/sh
# unmapstat in the VM: with a known workload (N lazyfree 64K folios reclaimed
# by MADV_PAGEOUT, on one CPU and with the mm active on a second CPU), module
# off counts N partially-mapped deferred splits and the stock path's flushes;
# module on counts none and at most one reclaim flush per folio.  The counts
# agree with the mTHP split_deferred stat, with the module's own kprobe
# counters, and with `bpftool map dump` of the pinned map.

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
	taskset -c 0 lazyfree-bench -f 64K -s $((N * 64))K -n 1 -w 0 -c 0 -t "$1" -o json
}

dump() { unmapstat --dump -j | jq -c .counters; }

# One measured run: pin counters, run the workload, dump, unpin.
measure() {	# measure <tag> <touch-threads>
	unmapstat --unpin >/dev/null
	unmapstat --pin >/tmp/pin.$1 2>&1 || { cat /tmp/pin.$1; return 1; }
	workload "$2" >/tmp/bench.$1 || return 1
	dump >/tmp/dump.$1 || return 1
	bpftool -j map dump pinned $PIN/counters >/tmp/bpftool.$1 || return 1
	unmapstat --unpin >/dev/null
}

q() { jq -r "$2" "/tmp/$1"; }

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
	if ! measure off$cpus $t; then
		nok "unmapstat_measures_module_off_${cpus}cpu"
		continue
	fi
	echo "# module off, $cpus CPU(s): $(cat /tmp/dump.off$cpus)"
	sd="$(q bench.off$cpus .split_deferred[0])"
	check "off_${cpus}cpu_split_partial_is_one_per_folio" \
		'[ "$(q dump.off$cpus .split_partial[4])" = $N ] && [ "$sd" = $N ]'
	# Stock: every PTE cleared one by one, flushed per PTE or deferred.
	pte="$(q dump.off$cpus .reclaim.ptep_clear_flush)"
	single="$(q dump.off$cpus .reclaim.single)"
	deferred="$(q dump.off$cpus .reclaim.deferred)"
	echo "# ptep_clear_flush=$pte single=$single deferred=$deferred"
	if [ $cpus = 1 ]; then
		check "off_1cpu_flushes_per_pte" '[ "$pte" = $((N * 16)) ] && [ "$single" -ge $((N * 16)) ]'
	else
		check "off_2cpu_defers_flushes" '[ "$deferred" -ge 1 ] && [ "$pte" = 0 ]'
	fi
	check "off_${cpus}cpu_no_module_batches" '[ "$(q dump.off$cpus ".batches | add")" = 0 ]'
done

# --- module on -------------------------------------------------------------------
if ! insmod /vm/batch_unmap.ko kprobes=1; then
	nok "module_loads_with_kprobes"
else
	for cpus in 1 2; do
		t=$((cpus - 1))
		echo 0 >$STATS
		if ! measure on$cpus $t; then
			nok "unmapstat_measures_module_on_${cpus}cpu"
			continue
		fi
		echo "# module on, $cpus CPU(s): $(cat /tmp/dump.on$cpus)"
		check "on_${cpus}cpu_no_deferred_split" \
			'[ "$(q dump.on$cpus ".split_partial | add")" = 0 ] && [ "$(q bench.on$cpus .split_deferred[0])" = 0 ]'
		check "on_${cpus}cpu_one_batch_per_folio" \
			'[ "$(q dump.on$cpus .batches[0])" = $N ] && [ "$(q dump.on$cpus .batch_pages)" = $((N * 16)) ]'
		flushes="$(q dump.on$cpus '.reclaim | .single + .range + .full + .deferred')"
		echo "# reclaim flushes with the module: $flushes for $N folios"
		check "on_${cpus}cpu_at_most_one_flush_per_folio" \
			'[ "$flushes" -le $N ] && [ "$(q dump.on$cpus .reclaim.ptep_clear_flush)" = 0 ]'
		# The module's own counters saw the same as unmapstat.
		check "on_${cpus}cpu_agrees_with_module_counters" \
			'[ "$(stat kp_deferred_split_partial)" = 0 ] && [ "$(stat batches)" = "$(q dump.on$cpus .batches[0])" ]'
		if [ $cpus = 1 ]; then
			check "on_1cpu_range_flush_per_batch" \
				'[ "$(q dump.on1 .reclaim.range)" = "$(stat flush_range)" ] && [ "$(stat flush_range)" = $N ]'
		else
			check "on_2cpu_deferred_flushes" \
				'[ "$(stat flush_deferred)" = $N ] && [ "$(q dump.on2 .batch_flush[0])" = $N ]'
		fi
	done

	# The stock path again, this time seen by the module's kprobes too
	# (enabled=0: the module declines everything, see t_hook).
	echo 0 >/sys/module/batch_unmap/parameters/enabled
	echo 0 >$STATS
	if measure declining 0; then
		echo "# module declining: $(cat /tmp/dump.declining)"
		check "stock_split_counts_agree_kprobes_unmapstat_sysfs" \
			'[ "$(stat kp_deferred_split_partial)" = $N ] && [ "$(q dump.declining .split_partial[4])" = $N ] && [ "$(q bench.declining .split_deferred[0])" = $N ]'
		# System-wide kprobe counts include every other ptep_clear_flush.
		check "stock_per_pte_flushes_seen_by_both" \
			'[ "$(stat kp_ptep_clear_flush)" -ge "$(q dump.declining .reclaim.ptep_clear_flush)" ] && [ "$(q dump.declining .reclaim.ptep_clear_flush)" = $((N * 16)) ]'
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
if [ -s /tmp/bpftool.off1 ]; then
	# "other" keeps counting between the two reads (the shell, jq, bpftool
	# fault and flush too); everything else is quiescent after the workload.
	jq -cS "$jqsum | del(.other)" /tmp/bpftool.off1 >/tmp/bpftool.sum 2>/tmp/jq.err
	jq -cS "del(.other)" /tmp/dump.off1 >/tmp/dump.sorted
	check "bpftool_dump_matches_unmapstat_dump" 'cmp -s /tmp/bpftool.sum /tmp/dump.sorted'
	[ $failed = 0 ] || { echo "# bpftool: $(cat /tmp/bpftool.sum /tmp/jq.err)"; echo "# unmapstat: $(cat /tmp/dump.sorted)"; }
	check "bpftool_shows_named_fields" 'jq -e ".[0].formatted.values[0].value.reclaim.ptep_clear_flush != null" /tmp/bpftool.off1 >/dev/null'
else
	nok "bpftool_dump_matches_unmapstat_dump (no bpftool output)"
fi

# --- pinning twice, live mode, JSON -------------------------------------------------
unmapstat --pin >/dev/null
out="$(unmapstat --pin 2>&1)"; rc=$?
check "pin_twice_is_handled" '[ $rc = 0 ] && echo "$out" | grep -q "already pinned" && [ -e $PIN/counters ]'
unmapstat --unpin >/dev/null
check "unpin_removes_everything" '[ ! -e $PIN ]'
unmapstat -i 1 -c 2 -j >/tmp/live.json 2>/tmp/live.err
check "live_json_intervals_and_summary" '[ "$(jq -s length /tmp/live.json)" = 3 ] && jq -e ".[2].attach | length > 0" -s /tmp/live.json >/dev/null 2>&1 || jq -s -e ".[2].attach | length > 0" /tmp/live.json >/dev/null'
check "missing_module_tracepoint_is_reported" \
	'jq -s -e ".[2].attach[] | select(.what == \"batch_unmap:batch\") | .how == null" /tmp/live.json >/dev/null'

[ $failed = 0 ]
