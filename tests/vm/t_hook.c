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
 * kprobe events count calls of the hook's static call targets: with no
 * module its default target, ttu_hook_decline(), must never run (the static
 * key keeps the walk from calling at all); with the module loaded its
 * bu_unmap() must run exactly as often as the module counts (the positive
 * control: the probes do see hook calls).
 */
#define KPROBE_EVENTS	"/sys/kernel/tracing/kprobe_events"

static bool hookcall_probe(const char *event, const char *where, bool on)
{
	char buf[128], en[128];

	snprintf(en, sizeof(en), "/sys/kernel/tracing/events/kprobes/%s/enable", event);
	mm_write_file(en, "0");
	snprintf(buf, sizeof(buf), "-:%s\n", event);
	mm_write_file(KPROBE_EVENTS, buf);
	if (!on)
		return true;
	snprintf(buf, sizeof(buf), "p:%s %s\n", event, where);
	return !mm_write_file(KPROBE_EVENTS, buf) && !mm_write_file(en, "1");
}

static long long hookcall_hits(const char *event)
{
	char line[256], name[64];
	long long hits = -1, h;
	FILE *f = fopen("/sys/kernel/tracing/kprobe_profile", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %lld", name, &h) == 2 && !strcmp(name, event))
			hits = h;
	fclose(f);
	return hits;
}

int main(void)
{
	struct lazyfree_run off = { .folio_kb = FOLIO_KB, .nr_folios = NR_FOLIOS };
	struct lazyfree_run on = off;
	long long calls, declined, batches, hits_off = -1, hits_on = -1;
	bool probed, probed_on = false, ok;
	int err;

	if (!mthp_supported(FOLIO_KB)) {
		vt_skip("hook_reached_during_lazyfree_pageout", "no 64K mTHP support");
		return vt_exit();
	}
	if (module_loaded())
		module_unload();
	pin_cpu(0);

	/* Stock kernel, no module: the baseline, and no hook calls at all. */
	probed = hookcall_probe("bu_default", "ttu_hook_decline", true);
	lazyfree_reclaim(&off, 1);
	if (probed)
		hits_off = hookcall_hits("bu_default");
	vt_result(stock_like("no module", &off), "stock_reclaim_without_module");

	/* The module loaded but declining every call. */
	err = module_load("enabled=0");
	if (!vt_result(err == 0, "module_loads_with_enabled_0 (%s)", strerror(-err)))
		return vt_exit();
	probed_on = hookcall_probe("bu_module", MODULE_NAME ":bu_unmap", true);
	lazyfree_reclaim(&on, 2);
	if (probed_on)
		hits_on = hookcall_hits("bu_module");
	hookcall_probe("bu_module", NULL, false);
	hookcall_probe("bu_default", NULL, false);
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

	/* The probes see hook calls (positive control), none without module. */
	if (!probed || !probed_on)
		vt_result(false, "hook_not_called_without_module (no kprobe on ttu_hook_decline or bu_unmap)");
	else
		vt_result(hits_off == 0 && hits_on == calls,
			  "hook_not_called_without_module (%lld calls unloaded, %lld loaded, module counted %lld)",
			  hits_off, hits_on, calls);

	err = module_unload();
	vt_result(err == 0 && !module_loaded(), "module_unloads_cleanly (%s)",
		  strerror(-err));
	return vt_exit();
}
