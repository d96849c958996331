// SPDX-License-Identifier: GPL-2.0
/*
 * The try_to_unmap_one() hook is reached during MADV_PAGEOUT of lazyfree
 * mTHPs; with a module that declines everything (enabled=0) reclaim behaves
 * exactly as the stock kernel; the module unloads cleanly; and with no
 * module loaded the hook is never called.
 */
#include "vmtest.h"

#define NR_FOLIOS	64
#define FOLIO_KB	64

static bool stock_like(const char *what, struct lazyfree_run *r)
{
	bool ok = true;

	CHECK(&ok, r->err == 0, "%s: syscall failed: %s", what, strerror(r->err));
	CHECK(&ok, r->folios_found == NR_FOLIOS, "%s: %ld of %d folios are %d KiB",
	      what, r->folios_found, NR_FOLIOS, FOLIO_KB);
	CHECK(&ok, r->resident_after == 0, "%s: %ld pages still resident", what,
	      r->resident_after);
	CHECK(&ok, r->bad_offset < 0, "%s: non-zero byte at offset %ld", what,
	      r->bad_offset);
	CHECK(&ok, r->lazyfreed == NR_FOLIOS * FOLIO_KB / 4,
	      "%s: pglazyfreed moved by %lld, want %lu", what, r->lazyfreed,
	      NR_FOLIOS * FOLIO_KB / 4);
	/* Stock 6.12: the first PTE unmapped makes each folio partial. */
	CHECK(&ok, r->split_deferred == NR_FOLIOS,
	      "%s: split_deferred moved by %lld, want %d", what,
	      r->split_deferred, NR_FOLIOS);
	return ok;
}

/*
 * Hits of a kprobe event on the hook's caller, to show it never runs when no
 * module is registered.  Returns -1 if the event cannot be set up.
 */
static long long hook_hits(const char *sym, bool setup)
{
	const char *ev = "/sys/kernel/tracing/kprobe_events";
	char buf[256], line[256];
	long long hits = -1;
	FILE *f;

	if (setup) {
		snprintf(buf, sizeof(buf), "p:bu_hookcall %s\n", sym);
		write_file(ev, "-:bu_hookcall\n");
		if (write_file(ev, buf))
			return -1;
		if (write_file("/sys/kernel/tracing/events/kprobes/bu_hookcall/enable", "1"))
			return -1;
		return 0;
	}
	f = fopen("/sys/kernel/tracing/kprobe_profile", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char name[64];
		long long h;

		if (sscanf(line, "%63s %lld", name, &h) == 2 &&
		    strstr(name, "bu_hookcall"))
			hits = h;
	}
	fclose(f);
	write_file("/sys/kernel/tracing/events/kprobes/bu_hookcall/enable", "0");
	write_file(ev, "-:bu_hookcall\n");
	return hits;
}

int main(void)
{
	struct lazyfree_run off = { .folio_kb = FOLIO_KB, .nr_folios = NR_FOLIOS };
	struct lazyfree_run on = off;
	long long calls, declined, batches, hits;
	int err;
	bool ok;

	if (!mthp_supported(FOLIO_KB)) {
		vt_skip("hook_reached_during_lazyfree_pageout", "no 64K mTHP support");
		return vt_exit();
	}
	if (module_loaded())
		module_unload();
	pin_cpu(0);

	/* Stock kernel, no module: the baseline, and no hook calls at all. */
	hits = hook_hits("try_to_unmap_call_hook", true);
	lazyfree_reclaim(&off, 1);
	if (hits == 0)
		hits = hook_hits(NULL, false);
	vt_result(stock_like("no module", &off), "stock_reclaim_without_module");
	if (hits < 0)
		vt_skip("hook_not_called_without_module",
			"cannot put a kprobe on try_to_unmap_call_hook (inlined?)");
	else
		vt_result(hits == 0, "hook_not_called_without_module (%lld calls)", hits);

	/* The module loaded but declining every call. */
	err = module_load("enabled=0");
	if (!vt_result(err == 0, "module_loads_with_enabled_0 (%s)", strerror(-err)))
		return vt_exit();
	lazyfree_reclaim(&on, 2);
	calls = bu_stat("hook_calls");
	declined = bu_stat("decline_disabled");
	batches = bu_stat("batches");
	vt_diag("hook_calls=%lld decline_disabled=%lld batches=%lld", calls,
		declined, batches);
	ok = true;
	/* One call per PTE: the walk visits every page of every folio. */
	CHECK(&ok, calls >= NR_FOLIOS * FOLIO_KB / 4, "hook_calls %lld < %lu PTEs",
	      calls, NR_FOLIOS * FOLIO_KB / 4);
	CHECK(&ok, declined == calls, "declined %lld != calls %lld", declined, calls);
	CHECK(&ok, batches == 0, "batches %lld with enabled=0", batches);
	vt_result(ok, "hook_reached_during_lazyfree_pageout");
	vt_result(stock_like("module declining", &on),
		  "stock_behaviour_while_declining");

	err = module_unload();
	vt_result(err == 0 && !module_loaded(), "module_unloads_cleanly (%s)",
		  strerror(-err));
	return vt_exit();
}
