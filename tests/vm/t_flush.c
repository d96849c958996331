// SPDX-License-Identifier: GPL-2.0
/*
 * The flush policy (module param flush=auto|range|pages) for batches that
 * are flushed at once (the mm only on this CPU, so reclaim does not defer):
 * each policy issues exactly the flush_tlb_range() calls it promises, auto
 * follows the live x86 single-page flush ceiling (chunks just above it, one
 * flush far above it), and every policy still reclaims everything.
 */
#include "vmtest.h"

#define CEILING	"/sys/kernel/debug/x86/tlb_single_page_flush_ceiling"

/* Calls per batch of @nr PTEs, computed independently of the module. */
static unsigned long expected_calls(const char *policy, unsigned long nr,
				    unsigned long ceiling)
{
	if (!strcmp(policy, "pages"))
		return nr;
	/* auto: chunks from just above the ceiling up to 4x it. */
	if (!strcmp(policy, "range") || !ceiling || nr <= ceiling || nr > 4 * ceiling)
		return 1;
	return (nr + ceiling - 1) / ceiling;
}

static void run(const char *policy, unsigned long kb, unsigned long ceiling)
{
	struct lazyfree_run r = { .folio_kb = kb, .nr_folios = 8 };
	unsigned long nr = kb / 4, want;
	long long batches, calls;
	char name[96], val[32];
	bool ok = true;

	snprintf(name, sizeof(name), "flush_%s_%luK_ceiling_%lu", policy, kb, ceiling);
	if (!mthp_supported(kb)) {
		vt_skip(name, "this kernel offers no such mTHP size");
		return;
	}
	snprintf(val, sizeof(val), "%lu", ceiling);
	CHECK(&ok, mm_write_file(CEILING, val) == 0, "cannot set the ceiling");
	CHECK(&ok, bu_param_set("flush", policy) == 0, "flush=%s refused", policy);
	bu_stats_reset();
	lazyfree_reclaim(&r, 7);
	CHECK(&ok, lazyfree_reclaimed(name, &r), "reclaim");
	batches = bu_stat("flush_range");
	calls = bu_stat("flush_range_calls");
	want = expected_calls(policy, nr, ceiling);
	/* Deferred flushes would make the count vacuous: require none. */
	CHECK(&ok, batches == r.nr_folios && bu_stat("flush_deferred") == 0,
	      "flush_range %lld flush_deferred %lld: want %u flushed at once",
	      batches, bu_stat("flush_deferred"), r.nr_folios);
	CHECK(&ok, calls == batches * (long long)want,
	      "%lld flush_tlb_range() calls for %lld batches of %lu, want %lu each",
	      calls, batches, nr, want);
	vt_result(ok, "%s", name);
}

int main(void)
{
	struct lazyfree_run warm = { .folio_kb = 256, .nr_folios = 8 };
	char saved[32] = "33\n";

	if (!vt_start("flush", 256, NULL))
		return vt_exit();
	if (mm_read_file(CEILING, saved, sizeof(saved))) {
		vt_skip("flush_policies", "no x86 tlb_single_page_flush_ceiling in debugfs");
		return vt_exit();
	}
	/*
	 * Until the other CPU, idle in lazy TLB mode with this mm, gets one
	 * flush IPI, this mm counts as active there and reclaim defers: one
	 * reclaim first, not counted.
	 */
	lazyfree_reclaim(&warm, 7);
	run("auto", 256, 33);	/* 64 PTEs: 2 x 32, never a full flush */
	run("range", 256, 33);	/* 1 range, above the ceiling: a full flush */
	run("pages", 256, 33);	/* 64, like the stock path */
	run("auto", 1024, 33);	/* 256 PTEs, more than 4x the ceiling: one flush */
	run("auto", 64, 33);	/* 16 PTEs: one range */
	run("auto", 64, 4);	/* the live ceiling: 4 x 4 */
	run("auto", 64, 0);	/* every range is a full flush: just one */
	mm_write_file(CEILING, saved);
	bu_param_set("flush", "auto");
	return vt_exit();
}
