// SPDX-License-Identifier: GPL-2.0
/*
 * Clean lazyfree memory is reclaimed by MADV_PAGEOUT, for every mTHP size
 * from 16K to 1M and for 2M THPs PTE-mapped after a PMD split, with the
 * module unloaded (stock: one deferred split per folio) and loaded (batched:
 * none), and the module's stats and tracepoint account for every folio.
 */
#include "vmtest.h"

struct size_case {
	unsigned long kb;
	bool pte_mapped_2m;
	const char *name;
};

static const struct size_case sizes[] = {
	{ 16, false, "16K" }, { 32, false, "32K" }, { 64, false, "64K" },
	{ 128, false, "128K" }, { 256, false, "256K" }, { 512, false, "512K" },
	{ 1024, false, "1M" }, { 2048, true, "2M-pte-mapped" },
};

#define REGION	(4 * MB)
#define TRACE	"/sys/kernel/tracing"

static unsigned int nr_for(const struct size_case *c)
{
	unsigned int nr = REGION / (c->kb * KB);

	return nr < 4 ? 4 : nr;
}

static long trace_batches(bool start)
{
	char line[512];
	long n = 0;
	FILE *f;

	if (start) {
		mm_write_file(TRACE "/tracing_on", "0");
		mm_write_file(TRACE "/trace", "");
		if (mm_write_file(TRACE "/events/batch_unmap/batch/enable", "1"))
			return -1;
		mm_write_file(TRACE "/tracing_on", "1");
		return 0;
	}
	mm_write_file(TRACE "/tracing_on", "0");
	mm_write_file(TRACE "/events/batch_unmap/batch/enable", "0");
	f = fopen(TRACE "/trace", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, " batch: ") && strstr(line, "outcome=discard");
	fclose(f);
	mm_write_file(TRACE "/trace", "");
	return n;
}

static void run_size(const struct size_case *c)
{
	struct lazyfree_run off = {
		.folio_kb = c->kb, .nr_folios = nr_for(c),
		.pte_mapped_2m = c->pte_mapped_2m,
	};
	struct lazyfree_run on = off;
	char name[96];
	long long batches, whole, pages;
	long traced;
	bool ok;
	int err;

	if (!mthp_supported(c->kb)) {
		snprintf(name, sizeof(name), "lazyfree_pageout_%s", c->name);
		vt_skip(name, "this kernel offers no such mTHP size");
		return;
	}

	if (module_loaded())
		module_unload();
	lazyfree_reclaim(&off, 3);
	snprintf(name, sizeof(name), "lazyfree_pageout_%s_module_off", c->name);
	ok = lazyfree_reclaimed(name, &off);
	/* Stock 6.12: each folio is partially mapped after its first PTE. */
	CHECK(&ok, off.split_deferred == off.nr_folios,
	      "split_deferred +%lld, want %u (one per folio)", off.split_deferred,
	      off.nr_folios);
	vt_result(ok, "%s (split_deferred +%lld)", name, off.split_deferred);

	err = module_load(NULL);
	if (!vt_result(err == 0, "module_loads (%s)", strerror(-err)))
		return;
	bu_stats_reset();
	traced = trace_batches(true);
	lazyfree_reclaim(&on, 4);
	if (traced == 0)
		traced = trace_batches(false);
	batches = bu_stat("batches_discarded");
	whole = bu_stat("batches_whole_folio");
	pages = bu_stat("pages_discarded");
	snprintf(name, sizeof(name), "lazyfree_pageout_%s_module_on", c->name);
	ok = lazyfree_reclaimed(name, &on);
	CHECK(&ok, on.split_deferred == 0, "split_deferred +%lld, want 0",
	      on.split_deferred);
	/* Aligned folios: exactly one whole-folio batch per folio. */
	CHECK(&ok, batches == on.nr_folios && whole == on.nr_folios,
	      "batches %lld whole %lld, want %u", batches, whole, on.nr_folios);
	CHECK(&ok, pages == (long long)(on.nr_folios * c->kb / 4),
	      "pages_discarded %lld, want %lu", pages, on.nr_folios * c->kb / 4);
	CHECK(&ok, bu_stat("restored_dirty") == 0 && bu_stat("restored_refs") == 0,
	      "unexpected restores");
	vt_result(ok, "%s (split_deferred +%lld, %lld batches)", name,
		  on.split_deferred, batches);
	if (traced < 0)
		vt_skip("tracepoint_batch_per_folio", "tracefs event unavailable");
	else
		vt_result(traced == batches, "tracepoint_batch_counts_%s (%ld events, %lld batches)",
			  c->name, traced, batches);
	module_unload();
}

int main(void)
{
	unsigned int i;

	pin_cpu(0);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		run_size(&sizes[i]);
	mthp_only(0);
	return vt_exit();
}
