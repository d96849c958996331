// SPDX-License-Identifier: GPL-2.0
/*
 * Data is never lost: pages written after MADV_FREE keep every byte through
 * MADV_PAGEOUT, also while a thread on the other vCPU keeps writing during
 * reclaim.  Pages not written after MADV_FREE may read back as zero (the
 * kernel may discard them) but never as anything else than their old data.
 * Run for every mTHP size, module loaded.
 */
#include <pthread.h>

#include "vmtest.h"

static const unsigned long sizes_kb[] = { 16, 64, 256, 1024 };

#define REGION		(4 * MB)

/* Write-after-free: every 3rd folio gets one page rewritten. */
static bool redirty_survives(unsigned long kb)
{
	size_t fsz = kb * KB, len = REGION, off;
	char *p = mm_map_aligned(len, PMD_SIZE_);
	bool ok = true;
	long long rd0 = bu_stat("restored_dirty");

	if (!p)
		return false;
	fill(p, len, 5);
	CHECK(&ok, madvise(p, len, MADV_FREE) == 0, "MADV_FREE: %s", strerror(errno));
	for (off = 0; off < len; off += 3 * fsz)
		fill(p + off + fsz / 2, PAGE, 6);
	CHECK(&ok, madvise(p, len, MADV_PAGEOUT) == 0, "MADV_PAGEOUT: %s", strerror(errno));
	for (off = 0; off < len; off += PAGE) {
		bool written = (off % (3 * fsz)) == fsz / 2;

		if (written) {
			long bad = check_pattern(p + off, PAGE, 6);

			CHECK(&ok, bad < 0, "written page at +%zu lost byte %ld", off, bad);
		} else {
			CHECK(&ok, page_old_or_zero(p + off, 5, off),
			      "unwritten page at +%zu is neither old data nor zero", off);
		}
		if (!ok)
			break;
	}
	/* Re-dirtied folios are restored, never discarded. */
	CHECK(&ok, !bu_counted() || bu_stat("restored_dirty") > rd0, "no restored_dirty counted");
	munmap(p, len);
	return ok;
}

/*
 * A writer thread on vCPU 1 stores increasing sequence numbers into the
 * first word of random pages; the main thread on vCPU 0 reclaims.  In each
 * round the writer is paused for MADV_FREE (so every earlier value becomes
 * discardable) and runs during MADV_PAGEOUT.  After the round, a page written
 * during it must hold its last value; any other page its value from before
 * the round, or zero if reclaim discarded it.
 */
struct writer {
	char *p;
	size_t pages;
	uint64_t *last;		/* last value written per page */
	unsigned int *epoch;	/* round of the last write per page */
	unsigned int round;
	volatile int pause, paused, stop;
	unsigned long writes;
};

static void *writer_fn(void *arg)
{
	struct writer *w = arg;
	uint64_t seq = 1, x = 88172645463325252ULL;

	pin_cpu(1);
	while (!w->stop) {
		size_t pg;

		if (w->pause) {
			__atomic_store_n(&w->paused, 1, __ATOMIC_SEQ_CST);
			while (w->pause && !w->stop)
				;
			__atomic_store_n(&w->paused, 0, __ATOMIC_SEQ_CST);
			continue;
		}
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		pg = x % w->pages;
		*(volatile uint64_t *)(w->p + pg * PAGE) = seq;
		w->last[pg] = seq++;
		w->epoch[pg] = w->round;
		__atomic_fetch_add(&w->writes, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

static void writer_pause(struct writer *w, int on)
{
	__atomic_store_n(&w->pause, on, __ATOMIC_SEQ_CST);
	while (on && !__atomic_load_n(&w->paused, __ATOMIC_SEQ_CST))
		;
}

static bool concurrent_writes_survive(unsigned long kb)
{
	struct writer w = { .pages = REGION / PAGE };
	uint64_t *before = calloc(w.pages, sizeof(*before));
	unsigned long during = 0, w0;
	size_t pg;
	pthread_t th;
	bool ok = true;

	w.p = mm_map_aligned(REGION, PMD_SIZE_);
	w.last = calloc(w.pages, sizeof(*w.last));
	w.epoch = calloc(w.pages, sizeof(*w.epoch));
	if (!w.p || !w.last || !w.epoch || !before)
		return false;
	fill(w.p, REGION, 7);
	w.pause = 1;
	if (pthread_create(&th, NULL, writer_fn, &w))
		return false;
	writer_pause(&w, 1);
	for (w.round = 1; w.round <= 8 && ok; w.round++) {
		/* Paused: snapshot, then make everything lazyfree again. */
		for (pg = 0; pg < w.pages; pg++)
			before[pg] = *(uint64_t *)(w.p + pg * PAGE);
		CHECK(&ok, madvise(w.p, REGION, MADV_FREE) == 0, "MADV_FREE: %s",
		      strerror(errno));
		writer_pause(&w, 0);
		/* Let the writer get going, then reclaim under its feet. */
		w0 = __atomic_load_n(&w.writes, __ATOMIC_SEQ_CST);
		while (__atomic_load_n(&w.writes, __ATOMIC_SEQ_CST) < w0 + 64)
			;
		madvise(w.p, REGION, MADV_PAGEOUT);
		during += __atomic_load_n(&w.writes, __ATOMIC_SEQ_CST) - w0;
		writer_pause(&w, 1);

		for (pg = 0; pg < w.pages && ok; pg++) {
			uint64_t got = *(uint64_t *)(w.p + pg * PAGE);

			if (w.epoch[pg] == w.round)
				CHECK(&ok, got == w.last[pg], "round %u page %zu holds %"
				      PRIu64 ", last write was %" PRIu64, w.round, pg,
				      got, w.last[pg]);
			else
				CHECK(&ok, got == before[pg] || got == 0,
				      "round %u page %zu holds %" PRIu64 ", was %" PRIu64,
				      w.round, pg, got, before[pg]);
		}
	}
	w.stop = 1;
	pthread_join(th, NULL);
	vt_diag("%lu KiB: %lu writes during 8 reclaim rounds", kb, during);
	CHECK(&ok, during >= 8 * 64, "the writer did not run during reclaim");
	munmap(w.p, REGION);
	free(w.last);
	free(w.epoch);
	free(before);
	return ok;
}

int main(void)
{
	unsigned int i;
	int err;

	if (module_loaded())
		module_unload();
	err = module_load(NULL);
	if (!vt_result(err == 0, "module_loads (%s)", strerror(-err)))
		return vt_exit();
	pin_cpu(0);
	for (i = 0; i < sizeof(sizes_kb) / sizeof(sizes_kb[0]); i++) {
		unsigned long kb = sizes_kb[i];

		if (!mthp_supported(kb) || mthp_only(kb)) {
			vt_skip("redirtied_pages_survive_pageout", "mTHP size unavailable");
			continue;
		}
		vt_result(redirty_survives(kb), "redirtied_pages_survive_pageout_%luK", kb);
		vt_result(concurrent_writes_survive(kb),
			  "concurrent_writes_survive_reclaim_%luK", kb);
	}
	mthp_only(0);
	module_unload();
	return vt_exit();
}
