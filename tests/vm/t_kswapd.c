// SPDX-License-Identifier: GPL-2.0
/*
 * Reclaim by kswapd, not by the test: with the watermarks raised
 * (vm.watermark_scale_factor), lazyfree 64K mTHPs (one in eight re-dirtied
 * after MADV_FREE) fill most of free memory; kswapd wakes and reclaims them
 * through the module's batch path.  Every re-dirtied page keeps its bytes,
 * the others read old data or zero, and nothing outside a memcg is needed.
 */
#include "vmtest.h"

#define FOLIO		(64 * KB)
#define CHUNK		(32 * MB)
#define WSF		"/proc/sys/vm/watermark_scale_factor"

/* Re-dirtied: one page in the middle of every 8th folio. */
static bool redirtied(size_t pg)
{
	return pg % (8 * FOLIO / PAGE) == FOLIO / PAGE / 2;
}

int main(void)
{
	long long free_kb, margin_kb, steal0, direct0, lazy0, batches0, dirty0;
	long long steal, direct, lazy, batches;
	char saved[32] = "10\n";
	size_t len, off, pg;
	bool ok = true;
	char *p;
	int i;

	if (!vt_start("kswapd", 64, NULL))
		return vt_exit();
	if (mm_read_file(WSF, saved, sizeof(saved)) || mm_write_file(WSF, "1000")) {
		vt_result(false, "kswapd_reclaims_lazyfree (cannot set %s)", WSF);
		return vt_exit();
	}
	/*
	 * Leave 3% of memory free: below the low watermark, which the raised
	 * scale factor puts 10% of the zone above min, but above min itself.
	 */
	free_kb = meminfo("MemFree:");
	margin_kb = meminfo("MemTotal:") * 3 / 100;
	len = free_kb > margin_kb + 64 * 1024 ?
	      (size_t)(free_kb - margin_kb) * KB / CHUNK * CHUNK : 0;
	p = len ? mm_map_aligned(len, PMD_SIZE_) : NULL;
	CHECK(&ok, p != NULL, "cannot map %zu bytes (MemFree %lld kB)", len, free_kb);
	if (!p)
		goto out;

	steal0 = vmstat("pgsteal_kswapd");
	direct0 = vmstat("pgsteal_direct");
	lazy0 = vmstat("pglazyfreed");
	batches0 = bu_stat("batches_discarded");
	dirty0 = bu_stat("restored_dirty");
	for (off = 0; off < len; off += CHUNK) {
		fill_at(p + off, CHUNK, 1, off);
		CHECK(&ok, madvise(p + off, CHUNK, MADV_FREE) == 0, "MADV_FREE: %s",
		      strerror(errno));
		for (pg = off / PAGE; pg < (off + CHUNK) / PAGE; pg++)
			if (redirtied(pg))
				fill(p + pg * PAGE, PAGE, 2);
	}
	/*
	 * kswapd runs on its own: wait for the state (it reclaimed through
	 * the batch path), not for a time; the bound only catches a kswapd
	 * that never woke.
	 */
	for (i = 0; i < 1200 && (vmstat("pgsteal_kswapd") == steal0 ||
				 bu_stat("batches_discarded") == batches0); i++)
		usleep(100000);

	steal = vmstat("pgsteal_kswapd") - steal0;
	direct = vmstat("pgsteal_direct") - direct0;
	lazy = vmstat("pglazyfreed") - lazy0;
	batches = bu_stat("batches_discarded") - batches0;
	vt_diag("%zu MiB lazyfree: pgsteal_kswapd +%lld, pgsteal_direct +%lld, pglazyfreed +%lld, "
		"batches_discarded +%lld, restored_dirty +%lld", len / MB, steal, direct, lazy,
		batches, bu_stat("restored_dirty") - dirty0);
	CHECK(&ok, steal > 0, "kswapd reclaimed nothing");
	CHECK(&ok, lazy > 0 && batches > 0, "no lazyfree folio was discarded by a batch");
	for (pg = 0; pg < len / PAGE && ok; pg++) {
		const char *page = p + pg * PAGE;

		if (redirtied(pg))
			CHECK(&ok, check_pattern(page, PAGE, 2) < 0,
			      "re-dirtied page %zu lost its data", pg);
		else
			CHECK(&ok, page_old_or_zero(page, 1, pg * PAGE),
			      "page %zu is neither old data nor zero", pg);
	}
	munmap(p, len);
out:
	mm_write_file(WSF, saved);
	vt_result(ok, "kswapd_reclaims_lazyfree_through_batches_nothing_lost");
	return vt_exit();
}
