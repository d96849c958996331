// SPDX-License-Identifier: GPL-2.0
/*
 * The flush policy (module param flush=auto|range|pages) for batches that
 * are flushed at once (the mm only on this CPU, so reclaim does not defer):
 * each policy issues exactly the flush_tlb_range() calls it promises, auto
 * follows the live x86 single-page flush ceiling (chunks just above it, one
 * flush far above it), and every policy still reclaims everything.  On
 * arm64, where reclaim always defers, each batch is one deferred range.
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
	/* The module's read-only parameter reports the live value. */
	CHECK(&ok, !bu_param_get("flush_ceiling", val, sizeof(val)) &&
	      strtoul(val, NULL, 10) == ceiling,
	      "flush_ceiling reads %s, want %lu", val, ceiling);
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

/*
 * arm64 (no x86 ceiling in debugfs): arch_tlbbatch_should_defer() is always
 * true there, so reclaim defers every flush and the policy never applies.
 * What must hold instead: each batch queues exactly one deferred flush for
 * its whole range (kernel patch 2: one set_tlb_ubc_flush_pending() call,
 * counted by the module's kprobe), whatever the policy; and flush_ceiling
 * reports the architecture's limit, read-only.
 */
static void run_deferred(const char *policy, unsigned long kb)
{
	struct lazyfree_run r = {
		.folio_kb = kb, .nr_folios = 8, .pte_mapped_2m = kb == 2048,
	};
	unsigned long nr = kb / 4;
	long long batches, queued, pages;
	char name[96];
	bool ok = true;

	snprintf(name, sizeof(name), "flush_%s_%luK%s_one_deferred_range_per_batch",
		 policy, kb, kb == 2048 ? "-pte" : "");
	if (!mthp_supported(kb)) {
		vt_skip(name, "this kernel offers no such mTHP size");
		return;
	}
	CHECK(&ok, bu_param_set("flush", policy) == 0, "flush=%s refused", policy);
	bu_stats_reset();
	lazyfree_reclaim(&r, 7);
	CHECK(&ok, lazyfree_reclaimed(name, &r), "reclaim");
	batches = bu_stat("flush_deferred");
	queued = bu_stat("kp_tlb_pending");
	pages = bu_stat("kp_tlb_pending_pages");
	CHECK(&ok, batches == r.nr_folios && bu_stat("flush_range") == 0,
	      "flush_deferred %lld flush_range %lld: want %u deferred",
	      batches, bu_stat("flush_range"), r.nr_folios);
	CHECK(&ok, queued == batches && pages == batches * (long long)nr,
	      "%lld deferred flushes queued for %lld pages, want %lld for %lld",
	      queued, pages, batches, batches * (long long)nr);
	vt_result(ok, "%s", name);
}

static void run_always_deferred(void)
{
	char val[32];
	unsigned long ceiling;

	if (bu_param_get("flush_ceiling", val, sizeof(val))) {
		vt_result(false, "flush_ceiling_readable (no flush_ceiling parameter)");
		return;
	}
	ceiling = strtoul(val, NULL, 10);
	vt_result(ceiling > 0, "flush_ceiling_readable (%lu pages)", ceiling);
	/* Read-only: a write is refused and changes nothing. */
	vt_result(bu_param_set("flush_ceiling", "4") != 0 &&
		  !bu_param_get("flush_ceiling", val, sizeof(val)) &&
		  strtoul(val, NULL, 10) == ceiling, "flush_ceiling_is_read_only");
	if (bu_param_set("kprobes", "1") ||
	    bu_param_get("kprobes", val, sizeof(val)) || val[0] != 'Y') {
		vt_result(false, "kprobes_arm (needed to count queued flushes)");
		return;
	}
	run_deferred("auto", 64);
	run_deferred("pages", 256);
	run_deferred("auto", 1024);
	run_deferred("auto", 2048);
	bu_param_set("kprobes", "0");
}

int main(void)
{
	struct lazyfree_run warm = { .folio_kb = 256, .nr_folios = 8 };
	char saved[32] = "33\n";

	if (!vt_start("flush", 256, NULL))
		return vt_exit();
	/*
	 * Until the other CPU, idle in lazy TLB mode with this mm, gets one
	 * flush IPI, this mm counts as active there and reclaim defers: one
	 * reclaim first, not counted.
	 */
	lazyfree_reclaim(&warm, 7);
	if (mm_read_file(CEILING, saved, sizeof(saved))) {
		run_always_deferred();
		bu_param_set("flush", "auto");
		return vt_exit();
	}
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
