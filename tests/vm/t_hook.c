// SPDX-License-Identifier: GPL-2.0
/*
 * The try_to_unmap_one() hook is reached during MADV_PAGEOUT of lazyfree
 * mTHPs; with a module that declines everything (enabled=0) reclaim behaves
 * exactly as the stock kernel; the module unloads cleanly; and with no
 * module loaded the hook is never called.
 */
#include "vmtest.h"

#define NR_FOLIOS	64UL
#define FOLIO_KB	64UL

static bool stock_like(const char *what, struct lazyfree_run *r)
{
	bool ok = lazyfree_reclaimed(what, r);

	/* Stock 6.12: the first PTE unmapped makes each folio partial. */
	CHECK(&ok, r->split_deferred == (long long)NR_FOLIOS,
	      "%s: split_deferred moved by %lld, want %lu", what,
	      r->split_deferred, NR_FOLIOS);
	return ok;
}

/*
 * A kprobe event on the kernel's out-of-line hook caller counts its calls,
 * to show it never runs when no module is registered.
 */
#define KPROBE_EVENTS	"/sys/kernel/tracing/kprobe_events"
#define HOOKCALL_EN	"/sys/kernel/tracing/events/kprobes/bu_hookcall/enable"

static bool hookcall_probe(bool on)
{
	mm_write_file(HOOKCALL_EN, "0");
	mm_write_file(KPROBE_EVENTS, "-:bu_hookcall\n");
	if (!on)
		return true;
	return !mm_write_file(KPROBE_EVENTS, "p:bu_hookcall try_to_unmap_call_hook\n") &&
	       !mm_write_file(HOOKCALL_EN, "1");
}

static long long hookcall_hits(void)
{
	char line[256], name[64];
	long long hits = -1, h;
	FILE *f = fopen("/sys/kernel/tracing/kprobe_profile", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %lld", name, &h) == 2 &&
		    strstr(name, "bu_hookcall"))
			hits = h;
	fclose(f);
	return hits;
}

int main(void)
{
	struct lazyfree_run off = { .folio_kb = FOLIO_KB, .nr_folios = NR_FOLIOS };
	struct lazyfree_run on = off;
	long long calls, declined, batches, hits_off = -1, hits_on = -1;
	bool probed, ok;
	int err;

	if (!mthp_supported(FOLIO_KB)) {
		vt_skip("hook_reached_during_lazyfree_pageout", "no 64K mTHP support");
		return vt_exit();
	}
	if (module_loaded())
		module_unload();
	pin_cpu(0);

	/* Stock kernel, no module: the baseline, and no hook calls at all. */
	probed = hookcall_probe(true);
	lazyfree_reclaim(&off, 1);
	if (probed)
		hits_off = hookcall_hits();
	vt_result(stock_like("no module", &off), "stock_reclaim_without_module");

	/* The module loaded but declining every call. */
	err = module_load("enabled=0");
	if (!vt_result(err == 0, "module_loads_with_enabled_0 (%s)", strerror(-err)))
		return vt_exit();
	lazyfree_reclaim(&on, 2);
	if (probed)
		hits_on = hookcall_hits() - hits_off;
	hookcall_probe(false);
	calls = bu_stat("hook_calls");
	declined = bu_stat("decline_disabled");
	batches = bu_stat("batches");
	vt_diag("hook_calls=%lld decline_disabled=%lld batches=%lld", calls,
		declined, batches);
	ok = true;
	/* One call per PTE: the walk visits every page of every folio. */
	CHECK(&ok, calls >= (long long)(NR_FOLIOS * FOLIO_KB / 4),
	      "hook_calls %lld < %lu PTEs", calls, NR_FOLIOS * FOLIO_KB / 4);
	CHECK(&ok, declined == calls, "declined %lld != calls %lld", declined, calls);
	CHECK(&ok, batches == 0, "batches %lld with enabled=0", batches);
	vt_result(ok, "hook_reached_during_lazyfree_pageout");
	vt_result(stock_like("module declining", &on),
		  "stock_behaviour_while_declining");

	/* The probe must see the calls the module counted (positive control). */
	if (!probed)
		vt_result(false, "hook_not_called_without_module (no kprobe on try_to_unmap_call_hook)");
	else
		vt_result(hits_off == 0 && hits_on == calls,
			  "hook_not_called_without_module (%lld calls unloaded, %lld loaded, module counted %lld)",
			  hits_off, hits_on, calls);

	err = module_unload();
	vt_result(err == 0 && !module_loaded(), "module_unloads_cleanly (%s)",
		  strerror(-err));
	return vt_exit();
}
