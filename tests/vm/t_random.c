// SPDX-License-Identifier: GPL-2.0
/*
 * Seeded randomized tester: random sequences of mmap + fill, MADV_FREE,
 * writes (also from a second thread on the other vCPU while this one
 * reclaims), mremap (also to PMD-straddling addresses), mprotect, partial
 * munmap, fork with and without MADV_DONTFORK, mlock, MADV_PAGEOUT and
 * memcg reclaim, over several mTHP sizes, checked after every step against
 * a model of what each page must read: its last written data, or (after
 * MADV_FREE and without a write since) that data or zero.  The same seed
 * runs with the module unloaded and loaded.
 *
 * usage: t_random [SEED [STEPS]]   (a failure prints the command to rerun it)
 */
#include <pthread.h>

#include "vmtest.h"

#define MAX_REGIONS	4
#define MAX_PAGES	512		/* 2 MiB per region at most */
#define LOG		16

enum pstate { P_EXACT, P_OLD_OR_ZERO };

struct region {
	char *p;
	size_t pages;
	uint32_t tag[MAX_PAGES];	/* 0: the page reads as zeros */
	uint8_t state[MAX_PAGES];
};

static struct region reg[MAX_REGIONS];
static uint64_t rng;
static uint32_t next_tag = 1;
static char oplog[LOG][96];
static unsigned int nlog;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static unsigned int pick(unsigned int n)
{
	return n ? rnd() % n : 0;
}

static void logop(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(oplog[nlog++ % LOG], sizeof(oplog[0]), fmt, ap);
	va_end(ap);
}

/* Page content for a tag: every 8-byte word differs. */
static void write_page(char *pg, uint32_t tag)
{
	uint64_t *w = (uint64_t *)pg;
	size_t i;

	for (i = 0; i < PAGE / 8; i++)
		w[i] = (uint64_t)tag * 0x9E3779B97F4A7C15ULL ^ i;
}

static bool page_is(const char *pg, uint32_t tag)
{
	const uint64_t *w = (const uint64_t *)pg;
	size_t i;

	for (i = 0; i < PAGE / 8; i++)
		if (w[i] != (tag ? ((uint64_t)tag * 0x9E3779B97F4A7C15ULL ^ i) : 0))
			return false;
	return true;
}

static void set_page(struct region *r, size_t i, uint32_t tag)
{
	write_page(r->p + i * PAGE, tag);
	r->tag[i] = tag;
	r->state[i] = P_EXACT;
}

/* Check every page against the model; tighten it where it read zero. */
static bool verify(unsigned int step)
{
	unsigned int k;
	size_t i;

	for (k = 0; k < MAX_REGIONS; k++) {
		struct region *r = &reg[k];

		for (i = 0; r->p && i < r->pages; i++) {
			const char *pg = r->p + i * PAGE;

			if (page_is(pg, r->tag[i]))
				continue;
			if (r->state[i] == P_OLD_OR_ZERO && page_is(pg, 0)) {
				/* Discarded: it maps zeros from now on. */
				r->tag[i] = 0;
				r->state[i] = P_EXACT;
				continue;
			}
			vt_diag("step %u: region %u page %zu: want tag %u%s", step, k, i,
				r->tag[i], r->state[i] == P_OLD_OR_ZERO ? " or zero" : "");
			return false;
		}
	}
	return true;
}

static void op_new(struct region *r)
{
	static const unsigned long kbs[] = { 4, 16, 32, 64, 128, 256, 512, 1024, 2048 };
	unsigned long kb = kbs[pick(sizeof(kbs) / sizeof(kbs[0]))];
	size_t len = (size_t)(1 + pick(MAX_PAGES / 16)) * 16 * PAGE, i;

	if (kb > 4 && !mthp_supported(kb))
		kb = 4;
	/*
	 * Half of the 2M regions are one whole THP, PMD-mapped until a partial
	 * operation or the reclaim of a swap-backed THP (no swap: split) splits it.
	 */
	if (kb == 2048 && pick(2))
		len = MAX_PAGES * PAGE;
	mthp_only(kb > 4 ? kb : 0);
	r->p = mm_map_aligned(len, PMD_SIZE_);
	if (!r->p)
		return;
	r->pages = len / PAGE;
	for (i = 0; i < r->pages; i++)
		set_page(r, i, next_tag++);
	logop("new %p %zu pages %luK", (void *)r->p, r->pages, kb);
}

/*
 * A random sub-range: mostly in 64K units (whole mTHPs, which the kernel
 * keeps large), sometimes any pages (which make it split them).
 */
static void range(struct region *r, size_t *a, size_t *n)
{
	size_t unit = pick(4) && r->pages >= 16 ? 16 : 1;

	*a = pick(r->pages / unit) * unit;
	*n = (1 + pick((r->pages - *a) / unit)) * unit;
	if (*a + *n > r->pages)
		*n = r->pages - *a;
}

static void op_free(struct region *r)
{
	size_t a, n, i;

	if (pick(2)) {
		a = 0;
		n = r->pages;
	} else {
		range(r, &a, &n);
	}
	if (madvise(r->p + a * PAGE, n * PAGE, MADV_FREE))
		return;
	for (i = a; i < a + n; i++)
		r->state[i] = P_OLD_OR_ZERO;
	logop("free %zu+%zu", a, n);
	/* Often reclaim right away: whole clean folios, also PMD-mapped. */
	if (pick(2)) {
		madvise(r->p + a * PAGE, n * PAGE, MADV_PAGEOUT);
		logop("pageout %zu+%zu", a, n);
	}
}

static void op_write(struct region *r)
{
	unsigned int k, n = 1 + pick(8);

	for (k = 0; k < n; k++)
		set_page(r, pick(r->pages), next_tag++);
	logop("write %u pages", n);
}

/* The writer thread, on the other vCPU: writes what op_race() hands it. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *pg[8];
	uint32_t tag[8];
	unsigned int n, gen, done;
	bool quit;
} wk = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void *writer_thread(void *arg)
{
	unsigned int k;

	(void)arg;
	pin_cpu(1);
	pthread_mutex_lock(&wk.lock);
	for (;;) {
		while (wk.done == wk.gen && !wk.quit)
			pthread_cond_wait(&wk.cond, &wk.lock);
		if (wk.quit)
			break;
		pthread_mutex_unlock(&wk.lock);
		for (k = 0; k < wk.n; k++)
			write_page(wk.pg[k], wk.tag[k]);
		pthread_mutex_lock(&wk.lock);
		wk.done = wk.gen;
		pthread_cond_broadcast(&wk.cond);
	}
	pthread_mutex_unlock(&wk.lock);
	return NULL;
}

/*
 * Writes from the other vCPU racing with reclaim on this one: whatever the
 * interleaving, every page written must read its new data afterwards.
 */
static void op_race(struct region *r)
{
	unsigned int k, n = 1 + pick(8);
	bool memcg = pick(2);

	pthread_mutex_lock(&wk.lock);
	for (k = 0; k < n; k++) {
		size_t i = pick(r->pages);

		wk.pg[k] = r->p + i * PAGE;
		wk.tag[k] = next_tag;
		r->tag[i] = next_tag++;
		r->state[i] = P_EXACT;
	}
	wk.n = n;
	wk.gen++;
	pthread_cond_broadcast(&wk.cond);
	pthread_mutex_unlock(&wk.lock);
	if (memcg)
		memcg_reclaim_quiet();
	else
		madvise(r->p, r->pages * PAGE, MADV_PAGEOUT);
	pthread_mutex_lock(&wk.lock);
	while (wk.done != wk.gen)
		pthread_cond_wait(&wk.cond, &wk.lock);
	pthread_mutex_unlock(&wk.lock);
	logop("race: %u writes on CPU 1 during %s", n, memcg ? "memcg reclaim" : "pageout");
}

static void op_mremap(struct region *r)
{
	size_t len = r->pages * PAGE;
	char *dst = mm_map_aligned(len + 2 * PMD_SIZE_, PMD_SIZE_), *to;
	size_t shift = (size_t)pick(PMD_SIZE_ / (16 * PAGE)) * 16 * PAGE;

	if (!dst)
		return;
	/* Often across a PMD boundary: shift a multiple of 64K into a table. */
	to = mremap(r->p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
		    dst + PMD_SIZE_ - shift);
	if (to == MAP_FAILED) {
		munmap(dst, len + 2 * PMD_SIZE_);
		return;
	}
	if (to > dst)
		munmap(dst, to - dst);
	munmap(to + len, dst + len + 2 * PMD_SIZE_ - (to + len));
	logop("mremap %p -> %p", (void *)r->p, (void *)to);
	r->p = to;
}

static void op_mprotect(struct region *r)
{
	size_t a, n;

	range(r, &a, &n);
	mprotect(r->p + a * PAGE, n * PAGE, PROT_READ);
	if (pick(2))
		madvise(r->p, r->pages * PAGE, MADV_PAGEOUT);
	mprotect(r->p + a * PAGE, n * PAGE, PROT_READ | PROT_WRITE);
	logop("mprotect %zu+%zu ro and back", a, n);
}

static void op_unmap_tail(struct region *r)
{
	size_t keep = 1 + pick(r->pages - 1);

	if (r->pages < 2)
		return;
	munmap(r->p + keep * PAGE, (r->pages - keep) * PAGE);
	logop("munmap tail %zu of %zu", r->pages - keep, r->pages);
	r->pages = keep;
}

static void op_fork(struct region *r)
{
	size_t a, n;
	bool dontfork = pick(2);
	pid_t pid;
	int st;

	range(r, &a, &n);
	if (dontfork)
		madvise(r->p + a * PAGE, n * PAGE, MADV_DONTFORK);
	pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, &st, 0);
	if (dontfork)
		madvise(r->p + a * PAGE, n * PAGE, MADV_DOFORK);
	logop("fork%s %zu+%zu", dontfork ? " dontfork" : "", a, n);
}

static void op_mlock(struct region *r)
{
	size_t a, n;

	range(r, &a, &n);
	mlock(r->p + a * PAGE, n * PAGE);
	madvise(r->p, r->pages * PAGE, MADV_PAGEOUT);
	munlock(r->p + a * PAGE, n * PAGE);
	logop("mlock %zu+%zu", a, n);
}

static bool run(uint64_t seed, unsigned int steps, const char *mode)
{
	unsigned int s, k;

	memset(reg, 0, sizeof(reg));
	rng = seed * 2654435761ULL + 1;
	nlog = 0;
	for (s = 0; s < steps; s++) {
		struct region *r = &reg[pick(MAX_REGIONS)];
		unsigned int op = pick(13);

		if (!r->p) {
			op_new(r);
		} else if (op == 0 || op == 1) {
			op_free(r);
		} else if (op == 2) {
			op_write(r);
		} else if (op == 3 || op == 4) {
			madvise(r->p, r->pages * PAGE, MADV_PAGEOUT);
			logop("pageout");
		} else if (op == 5) {
			memcg_reclaim_quiet();
			logop("memcg reclaim");
		} else if (op == 6) {
			op_mremap(r);
		} else if (op == 7) {
			op_mprotect(r);
		} else if (op == 8) {
			op_unmap_tail(r);
		} else if (op == 9) {
			op_fork(r);
		} else if (op == 10) {
			op_mlock(r);
		} else if (op == 11) {
			op_race(r);
		} else {
			munmap(r->p, r->pages * PAGE);
			r->p = NULL;
			logop("munmap region");
		}
		if (!verify(s)) {
			vt_diag("%s: seed %llu failed at step %u; last operations:", mode,
				(unsigned long long)seed, s);
			for (k = nlog > LOG ? nlog - LOG : 0; k < nlog; k++)
				vt_diag("  %s", oplog[k % LOG]);
			vt_diag("reproduce: make vm-run CMD='t_random %llu %u'",
				(unsigned long long)seed, steps);
			return false;
		}
	}
	for (k = 0; k < MAX_REGIONS; k++)
		if (reg[k].p)
			munmap(reg[k].p, reg[k].pages * PAGE);
	return true;
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : (uint64_t)time(NULL);
	unsigned int steps = argc > 2 ? strtoul(argv[2], NULL, 0) : 400;
	long long batches;
	pthread_t writer;
	int err;

	if (!seed || !steps) {
		fprintf(stderr, "usage: t_random [SEED [STEPS]] (both positive)\n");
		return 2;
	}
	vt_diag("seed %llu, %u steps per mode", (unsigned long long)seed, steps);
	if (memcg_enter())
		vt_diag("no test memcg: memcg reclaim steps do nothing");
	pin_cpu(0);
	if (pthread_create(&writer, NULL, writer_thread, NULL)) {
		vt_result(false, "random_ops_writer_thread_starts");
		return vt_exit();
	}
	if (module_loaded())
		module_unload();
	vt_result(run(seed, steps, "module off"), "random_ops_keep_data_module_off (seed %llu)",
		  (unsigned long long)seed);
	err = module_load(NULL);
	if (!vt_result(err == 0, "module_loads (%s)", strerror(-err)))
		return vt_exit();
	vt_result(run(seed, steps, "module on"), "random_ops_keep_data_module_on (seed %llu)",
		  (unsigned long long)seed);
	batches = bu_stat("batches");
	if (bu_counted())
		vt_diag("module on: %lld batches (%lld at PMD level), %lld partial, %lld restored (dirty), %lld restored (refs)",
			batches, bu_stat("pmd_batches"), bu_stat("batches_partial"),
			bu_stat("restored_dirty"), bu_stat("restored_refs"));
	if (bu_counted())
		vt_result(batches > 0, "random_ops_exercise_the_batch_path (%lld batches)",
			  batches);
	else
		vt_skip("random_ops_exercise_the_batch_path",
			"the in-kernel backport has no batch counters (t_ref checks it batches)");
	module_unload();
	mthp_only(0);
	pthread_mutex_lock(&wk.lock);
	wk.quit = true;
	pthread_cond_broadcast(&wk.cond);
	pthread_mutex_unlock(&wk.lock);
	pthread_join(writer, NULL);
	return vt_exit();
}
