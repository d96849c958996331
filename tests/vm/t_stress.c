// SPDX-License-Identifier: GPL-2.0
/*
 * Load/unload and enabled toggles while a reclaim storm runs on both vCPUs:
 * no failure (rmmod succeeds at the first try), no lost data in the
 * reclaiming processes, and afterwards the
 * module is gone and the anon/lazyfree memory counters are back to where
 * they started (nothing leaked by a batch cut short by an unload).
 */
#include "vmtest.h"

#define CYCLES		200
#define STORMERS	2

/* Reclaim lazyfree folios forever, checking each round; exit 1 on bad data. */
static void storm(int cpu, unsigned long kb)
{
	unsigned int seed = 20;

	pin_cpu(cpu);
	for (;;) {
		struct lazyfree_run r = { .folio_kb = kb, .nr_folios = 8 };
		char *p = mm_map_aligned(256 * KB, 64 * KB);

		/* Some re-dirtied memory too: it must keep its bytes. */
		if (p) {
			fill(p, 256 * KB, seed);
			madvise(p, 256 * KB, MADV_FREE);
			fill(p + 64 * KB, PAGE, seed + 1);
			madvise(p, 256 * KB, MADV_PAGEOUT);
			if (check_at(p + 64 * KB, PAGE, seed + 1, 0) >= 0)
				_exit(1);
			munmap(p, 256 * KB);
		}
		lazyfree_reclaim(&r, seed++);
		if (r.err || r.bad_offset >= 0 || r.resident_after)
			_exit(1);
	}
}

int main(void)
{
	pid_t kids[STORMERS];
	long long anon0, anon1;
	int i, st, err, fails = 0, unload_fails = 0, bad_kids = 0;
	char ref[32];
	bool ok = true;

	if (!mthp_supported(64)) {
		vt_skip("load_unload_toggle_under_reclaim_storm", "no 64K mTHP");
		return vt_exit();
	}
	if (module_loaded())
		module_unload();
	mthp_only(64);
	anon0 = meminfo("AnonPages:");
	for (i = 0; i < STORMERS; i++) {
		kids[i] = fork();
		if (kids[i] == 0)
			storm(i % 2, i % 2 ? 16 : 64);
	}
	pin_cpu(0);
	for (i = 0; i < CYCLES; i++) {
		if (module_load(i % 3 ? NULL : "enabled=0"))
			fails++;
		/* Toggle the batch path while reclaim runs through it. */
		if (bu_param_set("enabled", i % 2 ? "1" : "0"))
			fails++;
		if (bu_param_set("enabled", "1"))
			fails++;
		/* No retry: the hook holds no reference while reclaim runs. */
		err = module_unload();
		if (err) {
			if (!unload_fails++)
				vt_diag("cycle %d: rmmod: %s", i, strerror(-err));
		}
	}
	for (i = 0; i < STORMERS; i++) {
		kill(kids[i], SIGKILL);
		waitpid(kids[i], &st, 0);
		if (!WIFSIGNALED(st))
			bad_kids++;
	}
	CHECK(&ok, fails == 0, "%d load/toggle operations failed", fails);
	CHECK(&ok, unload_fails == 0, "rmmod failed at the first try %d times", unload_fails);
	CHECK(&ok, bad_kids == 0, "%d reclaiming processes found bad data", bad_kids);
	CHECK(&ok, !module_loaded(), "module still loaded");
	vt_result(ok, "load_unload_%d_cycles_with_toggles_under_reclaim_storm", CYCLES);

	/* Nothing pinned or leaked: a fresh load has no users. */
	ok = true;
	CHECK(&ok, module_load(NULL) == 0, "reload failed");
	CHECK(&ok, bu_param_get("enabled", ref, sizeof(ref)) == 0, "no params");
	CHECK(&ok, mm_read_file("/sys/module/" MODULE_NAME "/refcnt", ref, sizeof(ref)) == 0 &&
		   atoi(ref) == 0, "module refcnt %s after the storm", ref);
	CHECK(&ok, module_unload() == 0, "final unload failed");
	/* The stormers' memory is gone with them: AnonPages back to baseline. */
	anon1 = meminfo("AnonPages:");
	vt_diag("AnonPages: %lld kB before, %lld kB after", anon0, anon1);
	CHECK(&ok, anon1 <= anon0 + 1024, "AnonPages grew by %lld kB", anon1 - anon0);
	vt_result(ok, "no_leak_after_storm");
	mthp_only(0);
	return vt_exit();
}
