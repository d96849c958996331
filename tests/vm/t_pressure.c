// SPDX-License-Identifier: GPL-2.0
/*
 * Reclaim driven by memory pressure, not MADV_PAGEOUT: a memcg with a small
 * memory.max, a process that keeps mapping lazyfree 64K mTHPs (and
 * re-dirtying some) far beyond it, so that direct reclaim in the memcg hits
 * the module's batch path.  Nothing may be lost: re-dirtied pages keep their
 * bytes, the others read old data or zero; no OOM kill.
 */
#include "vmtest.h"

#define CHUNK		(4 * MB)
#define CHUNKS		16		/* 64 MiB in all */
#define LIMIT		"24M"
#define FOLIO		(64 * KB)

int main(void)
{
	char *chunks[CHUNKS] = { 0 };
	long long disc0, dirty0;
	size_t off;
	bool ok = true;
	int i;

	if (!vt_start("memcg_pressure_reclaims_lazyfree_without_loss", 64, NULL))
		return vt_exit();
	if (memcg_enter() || mm_write_file(TEST_CG "/memory.max", LIMIT)) {
		vt_result(false, "memcg_pressure_reclaims_lazyfree_without_loss (no memcg)");
		return vt_exit();
	}
	disc0 = bu_stat("batches_discarded");
	dirty0 = bu_stat("restored_dirty");

	for (i = 0; i < CHUNKS; i++) {
		chunks[i] = mm_map_aligned(CHUNK, PMD_SIZE_);
		if (!chunks[i]) {
			CHECK(&ok, false, "mmap chunk %d", i);
			break;
		}
		fill_at(chunks[i], CHUNK, 1, (size_t)i * CHUNK);
		madvise(chunks[i], CHUNK, MADV_FREE);
		/* Re-dirty one page in every 8th folio: that data must stay. */
		for (off = 0; off < CHUNK; off += 8 * FOLIO)
			fill_at(chunks[i] + off + PAGE, PAGE, 2, 0);
	}
	for (i = 0; i < CHUNKS && ok; i++) {
		for (off = 0; off < CHUNK && ok; off += PAGE) {
			char *pg = chunks[i] + off;

			if (off % (8 * FOLIO) == PAGE)
				CHECK(&ok, check_at(pg, PAGE, 2, 0) < 0,
				      "chunk %d +%zu: re-dirtied page lost data", i, off);
			else
				CHECK(&ok, page_old_or_zero(pg, 1, (size_t)i * CHUNK + off),
				      "chunk %d +%zu: neither old data nor zero", i, off);
		}
	}
	if (bu_counted())
		vt_diag("memory.max %s: batches_discarded +%lld, restored_dirty +%lld", LIMIT,
			bu_stat("batches_discarded") - disc0,
			bu_stat("restored_dirty") - dirty0);
	CHECK(&ok, !bu_counted() || bu_stat("batches_discarded") > disc0,
	      "pressure reclaim never went through the batch path");
	vt_result(ok, "memcg_pressure_reclaims_lazyfree_without_loss");
	for (i = 0; i < CHUNKS; i++)
		if (chunks[i])
			munmap(chunks[i], CHUNK);
	mm_write_file(TEST_CG "/memory.max", "max");
	mthp_only(0);
	module_unload();
	return vt_exit();
}
