// SPDX-License-Identifier: GPL-2.0
/*
 * Control and observability: parameters reject bad values and keep the old
 * one; the stats file resets; the kprobes counters see the stock path's
 * deferred splits with enabled=0 and none with enabled=1; the module loads
 * and unloads in a loop while another process reclaims lazyfree memory.
 */
#include "vmtest.h"

#define NR_FOLIOS	32

static bool param_rejected(const char *name, const char *bad)
{
	char before[64], after[64];
	int err;

	bu_param_get(name, before, sizeof(before));
	err = bu_param_set(name, bad);
	bu_param_get(name, after, sizeof(after));
	if (err != -EINVAL || strcmp(before, after))
		vt_diag("%s=%s: write returned %d, value %s -> %s", name, bad,
			err, before, after);
	return err == -EINVAL && !strcmp(before, after);
}

static void test_params(void)
{
	static const char *const bad_order[] = { "0", "10", "-1", "abc", "\n", "1x" };
	static const char *const bad_bool[] = { "2", "maybe", "\n" };
	static const char *const bad_flush[] = { "\n", "Auto", "page", "range1", "1" };
	char val[64];
	unsigned int i;
	bool ok = true;
	int err;

	for (i = 0; i < sizeof(bad_order) / sizeof(bad_order[0]); i++)
		CHECK(&ok, param_rejected("min_order", bad_order[i]),
		      "min_order accepted '%s'", bad_order[i]);
	for (i = 0; i < sizeof(bad_bool) / sizeof(bad_bool[0]); i++) {
		CHECK(&ok, param_rejected("enabled", bad_bool[i]),
		      "enabled accepted '%s'", bad_bool[i]);
		CHECK(&ok, param_rejected("kprobes", bad_bool[i]),
		      "kprobes accepted '%s'", bad_bool[i]);
		CHECK(&ok, param_rejected("pmd", bad_bool[i]),
		      "pmd accepted '%s'", bad_bool[i]);
	}
	for (i = 0; i < sizeof(bad_flush) / sizeof(bad_flush[0]); i++)
		CHECK(&ok, param_rejected("flush", bad_flush[i]),
		      "flush accepted '%s'", bad_flush[i]);
	vt_result(ok, "params_reject_bad_values_and_keep_old");

	ok = true;
	CHECK(&ok, bu_param_set("min_order", "4") == 0, "min_order=4 refused");
	bu_param_get("min_order", val, sizeof(val));
	CHECK(&ok, atoi(val) == 4, "min_order reads %s", val);
	CHECK(&ok, bu_param_set("min_order", "1") == 0, "min_order=1 refused");
	CHECK(&ok, bu_param_set("enabled", "0") == 0, "enabled=0 refused");
	CHECK(&ok, bu_param_set("enabled", "1") == 0, "enabled=1 refused");
	bu_param_get("flush", val, sizeof(val));
	CHECK(&ok, !strcmp(val, "auto\n"), "flush defaults to %s", val);
	for (i = 0; i < 3; i++) {
		static const char *const good[] = { "pages\n", "range", "auto" };

		CHECK(&ok, bu_param_set("flush", good[i]) == 0, "flush=%s refused", good[i]);
		bu_param_get("flush", val, sizeof(val));
		CHECK(&ok, !strncmp(val, good[i], 4), "flush=%s reads %s", good[i], val);
	}
	CHECK(&ok, bu_param_set("pmd", "0") == 0 && bu_param_set("pmd", "1") == 0,
	      "pmd=0/1 refused");
	vt_result(ok, "params_accept_good_values");

	ok = true;
	CHECK(&ok, mm_write_file(STATS_PATH, "1") == -EINVAL, "stats accepted '1'");
	CHECK(&ok, bu_stats_reset() == 0, "stats refused '0'");
	CHECK(&ok, bu_stat("hook_calls") == 0 || bu_stat("hook_calls") < 64,
	      "hook_calls %lld after reset", bu_stat("hook_calls"));
	vt_result(ok, "stats_reset_with_0_only");

	/* Bad load-time parameters: the load fails, nothing stays loaded. */
	module_unload();
	err = module_load("min_order=0");
	vt_result(err == -EINVAL && !module_loaded(),
		  "load_with_bad_min_order_fails (%s)", strerror(-err));
	err = module_load("enabled=7");
	vt_result(err == -EINVAL && !module_loaded(),
		  "load_with_bad_enabled_fails (%s)", strerror(-err));
	err = module_load("flush=fast");
	vt_result(err == -EINVAL && !module_loaded(),
		  "load_with_bad_flush_fails (%s)", strerror(-err));
}

static void test_kprobes(void)
{
	struct lazyfree_run r = { .folio_kb = 64, .nr_folios = NR_FOLIOS };
	long long split_off, split_on, t2u;
	bool ok = true;
	int err;

	err = module_load("kprobes=1 enabled=0");
	if (!vt_result(err == 0, "module_loads_with_kprobes (%s)", strerror(-err)))
		return;
	/* Stock path (the module declines): one partial split per folio. */
	bu_stats_reset();
	lazyfree_reclaim(&r, 9);
	split_off = bu_stat("kp_deferred_split_partial");
	t2u = bu_stat("kp_try_to_unmap_one");
	vt_diag("enabled=0: kp_try_to_unmap_one=%lld kp_ptep_clear_flush=%lld "
		"kp_flush_tlb_single_page=%lld kp_tlbbatch_flush=%lld split_partial=%lld",
		t2u, bu_stat("kp_ptep_clear_flush"), bu_stat("kp_flush_tlb_single_page"),
		bu_stat("kp_tlbbatch_flush"), split_off);
	CHECK(&ok, split_off == NR_FOLIOS, "kp_deferred_split_partial %lld, want %d",
	      split_off, NR_FOLIOS);
	CHECK(&ok, split_off == r.split_deferred,
	      "kprobe count %lld != sysfs split_deferred +%lld", split_off,
	      r.split_deferred);
	CHECK(&ok, t2u >= NR_FOLIOS, "kp_try_to_unmap_one %lld", t2u);
	vt_result(ok, "kprobes_count_stock_deferred_splits");

	/* Batched: no deferred split, no per-PTE clear+flush. */
	ok = true;
	bu_param_set("enabled", "1");
	bu_stats_reset();
	lazyfree_reclaim(&r, 10);
	split_on = bu_stat("kp_deferred_split_partial");
	vt_diag("enabled=1: kp_ptep_clear_flush=%lld flush_range=%lld flush_deferred=%lld "
		"batches=%lld split_partial=%lld", bu_stat("kp_ptep_clear_flush"),
		bu_stat("flush_range"), bu_stat("flush_deferred"), bu_stat("batches"),
		split_on);
	CHECK(&ok, split_on == 0 && r.split_deferred == 0,
	      "deferred splits with the module: kprobe %lld sysfs %lld", split_on,
	      r.split_deferred);
	CHECK(&ok, bu_stat("kp_ptep_clear_flush") == 0, "per-PTE flushes: %lld",
	      bu_stat("kp_ptep_clear_flush"));
	/* batches is derived from the flush_* counters: check it against the rest. */
	CHECK(&ok, bu_stat("batches") == NR_FOLIOS, "batches %lld", bu_stat("batches"));
	CHECK(&ok, bu_stat("batches_discarded") == NR_FOLIOS &&
		   bu_stat("batches_whole_folio") == NR_FOLIOS,
	      "batches_discarded %lld, batches_whole_folio %lld, want %d",
	      bu_stat("batches_discarded"), bu_stat("batches_whole_folio"), NR_FOLIOS);
	CHECK(&ok, bu_stat("ptes_batched") == (long long)(r.nr_folios * r.folio_kb / 4) &&
		   bu_stat("pages_discarded") == bu_stat("ptes_batched"),
	      "ptes_batched %lld, pages_discarded %lld, want %lld", bu_stat("ptes_batched"),
	      bu_stat("pages_discarded"), (long long)(r.nr_folios * r.folio_kb / 4));
	vt_result(ok, "kprobes_see_no_deferred_split_when_batched");

	/* kprobes can be switched off and on at run time. */
	ok = true;
	CHECK(&ok, bu_param_set("kprobes", "0") == 0, "kprobes=0 refused");
	CHECK(&ok, bu_param_set("kprobes", "1") == 0, "kprobes=1 refused");
	CHECK(&ok, bu_param_set("kprobes", "0") == 0, "kprobes=0 refused");
	vt_result(ok, "kprobes_toggle_at_run_time");
	module_unload();
}

/* A child reclaims lazyfree folios and checks them while we load/unload. */
static void test_load_unload_under_reclaim(void)
{
	int loops = 30, i, st = 0, fails = 0;
	pid_t child;

	child = fork();
	if (child == 0) {
		pin_cpu(1);
		for (;;) {
			struct lazyfree_run r = { .folio_kb = 64, .nr_folios = 16 };

			lazyfree_reclaim(&r, 11);
			if (r.err || r.bad_offset >= 0 || r.resident_after)
				_exit(1);
		}
	}
	pin_cpu(0);
	for (i = 0; i < loops; i++) {
		if (module_load(NULL))
			fails++;
		usleep(20000);
		if (module_unload())
			fails++;
	}
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	vt_result(fails == 0 && WIFSIGNALED(st),
		  "load_unload_%d_times_under_reclaim (failures %d, child %s)",
		  loops, fails, WIFSIGNALED(st) ? "ok" : "found bad data");
	pin_cpu(0);
}

int main(void)
{
	if (!vt_start("control", 64, NULL))
		return vt_exit();
	test_params();
	test_kprobes();
	test_load_unload_under_reclaim();
	mthp_only(0);
	return vt_exit();
}
