// SPDX-License-Identifier: GPL-2.0
/*
 * PMD-mapped lazyfree 2M THPs: the module discards a clean one whole at the
 * PMD level (no split, no deferred split), and otherwise leaves the PMD
 * intact: re-dirtied (kept, swap-backed), pinned (kept), mlocked (never
 * reclaimed), shared after fork (each mapping discarded on its own).  The
 * rest of the hazard matrix of t_hazards, for THPs: partial munmap,
 * mprotect of half, fork with MADV_DONTFORK on half (each splits that PMD:
 * the other THPs still go at PMD level) and userfaultfd-wp (declined).
 * Every page is checked: written pages keep their bytes, others read the
 * old data or zero.  With pmd=0 the stock split runs and the PTE path
 * batches.
 */
#include <sys/uio.h>

#include "vmtest.h"

#define NR	4
#define LEN	(NR * PMD_SIZE_)

/* NR PMD-mapped THPs filled with seed 1 and MADV_FREEd, or NULL. */
static char *lazyfree_thps(const char *what)
{
	char *p = mm_map_aligned(LEN, PMD_SIZE_);
	long found;

	if (!p) {
		vt_diag("%s: mmap: %s", what, strerror(errno));
		return NULL;
	}
	fill(p, LEN, 1);
	found = mm_count_folios(p, LEN, 2048);
	if (found != NR || madvise(p, LEN, MADV_FREE)) {
		vt_diag("%s: %ld of %d 2M THPs, MADV_FREE: %s", what, found, NR,
			strerror(errno));
		munmap(p, LEN);
		return NULL;
	}
	return p;
}

struct counts {
	long long pmd, discards, dirty, refs, split_pmd, deferred, lazyfreed;
};

static void counts_read(struct counts *c)
{
	c->pmd = bu_stat("pmd_batches");
	c->discards = bu_stat("batches_discarded");
	c->dirty = bu_stat("restored_dirty");
	c->refs = bu_stat("restored_refs");
	c->split_pmd = vmstat("thp_split_pmd");
	c->deferred = vmstat("thp_deferred_split_page");
	c->lazyfreed = vmstat("pglazyfreed");
}

static void counts_delta(struct counts *c)
{
	struct counts now;

	counts_read(&now);
	c->pmd = now.pmd - c->pmd;
	c->discards = now.discards - c->discards;
	c->dirty = now.dirty - c->dirty;
	c->refs = now.refs - c->refs;
	c->split_pmd = now.split_pmd - c->split_pmd;
	c->deferred = now.deferred - c->deferred;
	c->lazyfreed = now.lazyfreed - c->lazyfreed;
}

/* MADV_PAGEOUT of the NR clean THPs at @p, counted in @c: nothing stays. */
static bool pageout_all(char *p, struct counts *c)
{
	bool ok = true;

	counts_read(c);
	CHECK(&ok, madvise(p, LEN, MADV_PAGEOUT) == 0, "MADV_PAGEOUT: %s",
	      strerror(errno));
	counts_delta(c);
	CHECK(&ok, mm_resident_pages(p, LEN) == 0, "%ld pages resident",
	      mm_resident_pages(p, LEN));
	CHECK(&ok, check_zero(p, LEN) < 0, "non-zero byte at %ld", check_zero(p, LEN));
	return ok;
}

/* Clean THPs: one PMD discard each, no split, everything reads zero. */
static void test_clean(void)
{
	char *p = lazyfree_thps("clean");
	struct counts c;
	bool ok = p;

	if (p) {
		CHECK(&ok, pageout_all(p, &c), "clean THPs not all reclaimed");
		CHECK(&ok, c.pmd == NR && c.discards == NR,
		      "pmd_batches +%lld, batches_discarded +%lld, want %d", c.pmd,
		      c.discards, NR);
		CHECK(&ok, c.split_pmd == 0, "thp_split_pmd +%lld, want 0", c.split_pmd);
		CHECK(&ok, c.deferred == 0, "thp_deferred_split_page +%lld", c.deferred);
		CHECK(&ok, c.lazyfreed == (long long)(LEN / PAGE),
		      "pglazyfreed +%lld, want %lu", c.lazyfreed, LEN / PAGE);
		munmap(p, LEN);
	}
	vt_result(ok, "pmd_clean_thp_discarded_without_split");
}

/* pmd=0: the stock path splits the PMD, the PTE path batches the rest. */
static void test_pmd_off(void)
{
	char *p;
	struct counts c;
	long long ptes0 = bu_stat("ptes_batched");
	bool ok = bu_param_set("pmd", "0") == 0;

	p = lazyfree_thps("pmd=0");
	ok = ok && p;
	if (p) {
		CHECK(&ok, pageout_all(p, &c), "pmd=0: THPs not all reclaimed");
		CHECK(&ok, c.pmd == 0, "pmd_batches +%lld with pmd=0", c.pmd);
		CHECK(&ok, c.split_pmd == NR, "thp_split_pmd +%lld, want %d",
		      c.split_pmd, NR);
		CHECK(&ok, bu_stat("ptes_batched") - ptes0 == (long long)(LEN / PAGE),
		      "ptes_batched +%lld, want %lu", bu_stat("ptes_batched") - ptes0,
		      LEN / PAGE);
		munmap(p, LEN);
	}
	CHECK(&ok, bu_param_set("pmd", "1") == 0, "cannot set pmd=1 back");
	vt_result(ok, "pmd_off_splits_then_batches_ptes");
}

/* One page re-dirtied per THP: each PMD is kept whole, the folio swap-backed. */
static void test_redirtied(void)
{
	unsigned char written[LEN / PAGE] = { 0 };
	char *p = lazyfree_thps("redirtied");
	struct counts c;
	size_t pg;
	bool ok = p;

	if (p) {
		/* A different page in each THP, the last one at its end. */
		for (pg = 0; pg < NR; pg++) {
			size_t at = pg * (PMD_SIZE_ / PAGE) + (pg * 97) % (PMD_SIZE_ / PAGE);

			if (pg == NR - 1)
				at = LEN / PAGE - 1;
			fill(p + at * PAGE, PAGE, 2);
			written[at] = 1;
		}
		counts_read(&c);
		CHECK(&ok, madvise(p, LEN, MADV_PAGEOUT) == 0, "MADV_PAGEOUT: %s",
		      strerror(errno));
		counts_delta(&c);
		CHECK(&ok, c.dirty == NR, "restored_dirty +%lld, want %d", c.dirty, NR);
		CHECK(&ok, c.discards == 0, "batches_discarded +%lld", c.discards);
		CHECK(&ok, c.split_pmd == 0, "thp_split_pmd +%lld: PMD not kept",
		      c.split_pmd);
		CHECK(&ok, mm_count_folios(p, LEN, 2048) == NR, "THPs not kept whole");
		CHECK(&ok, mm_resident_pages(p, LEN) == (long)(LEN / PAGE),
		      "%ld pages resident", mm_resident_pages(p, LEN));
		CHECK(&ok, verify_pages("redirtied", p, LEN, 0, written, 1), "data");
		/* Swap-backed now: the rest of each THP keeps its old data. */
		CHECK(&ok, check_at(p + PAGE, PAGE, 1, PAGE) < 0,
		      "unwritten page lost old data");
		munmap(p, LEN);
	}
	vt_result(ok, "pmd_redirtied_thp_kept_whole");
}

/* A pipe holds references to one THP's pages: that PMD stays. */
static void test_pinned(void)
{
	char *p = lazyfree_thps("pinned");
	struct iovec iov = { .iov_base = p, .iov_len = 64 * KB };
	char *buf = malloc(64 * KB);
	struct counts c;
	int pfd[2] = { -1, -1 };
	bool ok = p && buf;
	ssize_t n;

	if (ok) {
		CHECK(&ok, pipe(pfd) == 0, "pipe");
		fcntl(pfd[1], F_SETPIPE_SZ, 1 << 20);
		n = vmsplice(pfd[1], &iov, 1, 0);
		CHECK(&ok, n == (ssize_t)iov.iov_len, "vmsplice: %zd %s", n,
		      strerror(errno));
		counts_read(&c);
		CHECK(&ok, madvise(p, LEN, MADV_PAGEOUT) == 0, "MADV_PAGEOUT");
		counts_delta(&c);
		CHECK(&ok, c.refs == 1 && c.discards == NR - 1,
		      "restored_refs +%lld, batches_discarded +%lld, want 1, %d",
		      c.refs, c.discards, NR - 1);
		CHECK(&ok, mm_resident_pages(p, PMD_SIZE_) == (long)(PMD_SIZE_ / PAGE),
		      "pinned THP unmapped");
		CHECK(&ok, check_pattern(p, PMD_SIZE_, 1) < 0, "pinned THP lost data");
		CHECK(&ok, verify_pages("pinned", p, LEN, 0, NULL, 1), "data");
		n = read(pfd[0], buf, iov.iov_len);
		CHECK(&ok, n == (ssize_t)iov.iov_len && check_pattern(buf, n, 1) < 0,
		      "pipe read %zd", n);
	}
	if (pfd[0] >= 0) {
		close(pfd[0]);
		close(pfd[1]);
	}
	free(buf);
	if (p)
		munmap(p, LEN);
	vt_result(ok, "pmd_pinned_thp_kept");
}

static void test_mlock(void)
{
	char *p = lazyfree_thps("mlock");
	bool ok = p;

	if (p) {
		CHECK(&ok, mlock(p, LEN) == 0, "mlock: %s", strerror(errno));
		madvise(p, LEN, MADV_PAGEOUT);
		memcg_reclaim();
		CHECK(&ok, mm_resident_pages(p, LEN) == (long)(LEN / PAGE),
		      "mlocked pages unmapped");
		CHECK(&ok, check_pattern(p, LEN, 1) < 0, "mlocked data changed");
		munlock(p, LEN);
		munmap(p, LEN);
	}
	vt_result(ok, "pmd_mlocked_thp_not_reclaimed");
}

/*
 * fork after MADV_FREE: the THPs are mapped by both processes (MADV_PAGEOUT
 * skips shared folios: reclaim through the memcg LRU).  The child first
 * writes a page of each THP (CoW: its PMD is split, the rest still maps the
 * shared folio by PTEs), so the rmap walk meets PMD and PTE mappings of one
 * folio.  Each side checks its own bytes.
 */
static void test_fork(void)
{
	char *p = lazyfree_thps("fork");
	long long pmd0, ptes0;
	int go[2], done[2];
	bool ok = p;
	size_t off;
	pid_t pid;
	char c = 0;
	int st;

	if (!p || pipe(go) || pipe(done)) {
		vt_result(false, "pmd_shared_after_fork");
		return;
	}
	pid = fork();
	if (pid == 0) {
		unsigned char written[LEN / PAGE] = { 0 };
		bool cok = true;

		close(go[1]);
		close(done[0]);

		for (off = 0; off < LEN; off += PMD_SIZE_) {
			fill(p + off + 5 * PAGE, PAGE, 2);
			written[off / PAGE + 5] = 1;
		}
		cok = write(done[1], &c, 1) == 1;
		cok = read(go[0], &c, 1) == 1 && cok;
		cok = verify_pages("fork child", p, LEN, 0, written, 1) && cok;
		fflush(stdout);
		_exit(cok ? 0 : 1);
	}
	/* The child's ends: a child that dies makes our read() see EOF. */
	close(go[0]);
	close(done[1]);
	CHECK(&ok, pid > 0, "fork: %s", strerror(errno));
	CHECK(&ok, pid > 0 && read(done[0], &c, 1) == 1, "child did not write");
	pmd0 = bu_stat("pmd_batches");
	ptes0 = bu_stat("ptes_batched");
	memcg_reclaim();
	vt_diag("fork: pmd_batches +%lld, ptes_batched +%lld", bu_stat("pmd_batches") - pmd0,
		bu_stat("ptes_batched") - ptes0);
	CHECK(&ok, verify_pages("fork parent", p, LEN, 0, NULL, 1), "parent data");
	CHECK(&ok, write(go[1], &c, 1) == 1, "cannot release the child");
	CHECK(&ok, pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
		   WEXITSTATUS(st) == 0, "child found bad data");
	close(go[1]);
	close(done[0]);
	munmap(p, LEN);
	vt_result(ok, "pmd_shared_after_fork");
}

/* mremap to an address off the PMD grid: PTE-mapped, batched by PTEs. */
static void test_mremap_misaligned(void)
{
	char *p = lazyfree_thps("mremap");
	char *dst = mm_map_aligned(LEN + 2 * PMD_SIZE_, PMD_SIZE_);
	long long pmd0 = bu_stat("pmd_batches"), ptes0 = bu_stat("ptes_batched");
	bool ok = p && dst;
	char *to;

	if (ok) {
		to = mremap(p, LEN, LEN, MREMAP_MAYMOVE | MREMAP_FIXED,
			    dst + PMD_SIZE_ + 64 * KB);
		CHECK(&ok, to != MAP_FAILED, "mremap: %s", strerror(errno));
		if (to != MAP_FAILED) {
			p = NULL;
			memcg_reclaim();
			CHECK(&ok, verify_pages("mremap", to, LEN, 0, NULL, 1), "data");
			CHECK(&ok, bu_stat("pmd_batches") == pmd0,
			      "a PMD batch for a PTE-mapped THP");
			CHECK(&ok, bu_stat("ptes_batched") > ptes0, "no PTE batch");
		}
	}
	if (p)
		munmap(p, LEN);
	if (dst)
		munmap(dst, LEN + 2 * PMD_SIZE_);
	vt_result(ok, "pmd_mremap_off_grid_batched_by_ptes");
}

/*
 * An operation on the first THP only, after MADV_FREE: it splits that PMD
 * (the kernel does), so the other NR - 1 THPs still go at the PMD level.
 */
static void first_thp_split(const char *name, int how)
{
	char *p = lazyfree_thps(name);
	struct counts c;
	size_t keep = LEN;
	bool ok = p;
	pid_t pid;
	int st;

	if (!p) {
		vt_result(false, "%s", name);
		return;
	}
	switch (how) {
	case 0:	/* partial munmap: the first THP's last 64K */
		CHECK(&ok, munmap(p + PMD_SIZE_ - 64 * KB, 64 * KB) == 0, "munmap");
		break;
	case 1:	/* mprotect of its first half, and back */
		CHECK(&ok, mprotect(p, PMD_SIZE_ / 2, PROT_READ) == 0 &&
			   mprotect(p, PMD_SIZE_ / 2, PROT_READ | PROT_WRITE) == 0,
		      "mprotect");
		break;
	default: /* fork with its second half MADV_DONTFORK */
		CHECK(&ok, madvise(p + PMD_SIZE_ / 2, PMD_SIZE_ / 2, MADV_DONTFORK) == 0,
		      "MADV_DONTFORK");
		pid = fork();
		if (pid == 0)
			_exit(0);
		waitpid(pid, &st, 0);
		madvise(p + PMD_SIZE_ / 2, PMD_SIZE_ / 2, MADV_DOFORK);
		break;
	}
	counts_read(&c);
	CHECK(&ok, madvise(p, PMD_SIZE_ - 64 * KB, MADV_PAGEOUT) == 0 &&
		   madvise(p + PMD_SIZE_, LEN - PMD_SIZE_, MADV_PAGEOUT) == 0,
	      "MADV_PAGEOUT: %s", strerror(errno));
	counts_delta(&c);
	CHECK(&ok, c.pmd == NR - 1, "pmd_batches +%lld, want %d", c.pmd, NR - 1);
	/* Before reading the data back, which maps the zero page. */
	CHECK(&ok, mm_resident_pages(p + PMD_SIZE_, LEN - PMD_SIZE_) == 0,
	      "the other THPs stayed mapped");
	CHECK(&ok, verify_pages(name, p, PMD_SIZE_ - 64 * KB, 0, NULL, 1), "first THP data");
	CHECK(&ok, verify_pages(name, p + PMD_SIZE_, LEN - PMD_SIZE_, PMD_SIZE_, NULL, 1), "data");
	if (how == 0) {
		munmap(p, PMD_SIZE_ - 64 * KB);
		munmap(p + PMD_SIZE_, LEN - PMD_SIZE_);
		keep = 0;
	}
	if (keep) {
		/* Writable everywhere after reclaim (CoW where shared). */
		fill(p, LEN, 2);
		CHECK(&ok, check_pattern(p, LEN, 2) < 0, "rewrite after reclaim failed");
		munmap(p, keep);
	}
	vt_result(ok, "%s", name);
}

/* A userfaultfd-wp registered range: the PMD step is declined. */
static void test_uffd_wp(void)
{
	char *p = lazyfree_thps("uffd-wp");
	long long uffd0 = bu_stat("decline_uffd_wp"), pmd0 = bu_stat("pmd_batches");
	bool ok = p;
	int uffd = uffd_wp_open();

	if (uffd < 0) {
		vt_skip("pmd_uffd_wp_declined", "userfaultfd-wp unavailable");
		if (p)
			munmap(p, LEN);
		return;
	}
	if (p) {
		CHECK(&ok, uffd_wp_range(uffd, p, LEN), "cannot write-protect the range");
		CHECK(&ok, madvise(p, LEN, MADV_PAGEOUT) == 0, "MADV_PAGEOUT: %s",
		      strerror(errno));
		CHECK(&ok, verify_pages("uffd-wp", p, LEN, 0, NULL, 1), "data");
		CHECK(&ok, bu_stat("decline_uffd_wp") > uffd0, "no decline_uffd_wp counted");
		CHECK(&ok, bu_stat("pmd_batches") == pmd0, "a PMD batch in a uffd-wp range");
		munmap(p, LEN);
	}
	close(uffd);
	vt_result(ok, "pmd_uffd_wp_declined");
}

int main(void)
{
	if (!vt_start("pmd", 2048, NULL))
		return vt_exit();
	if (memcg_enter())
		vt_diag("cannot enter a test memcg: reclaim tests will fail");
	test_clean();
	test_pmd_off();
	test_redirtied();
	test_pinned();
	test_mlock();
	test_fork();
	test_mremap_misaligned();
	first_thp_split("pmd_partial_munmap_splits_only_that_thp", 0);
	first_thp_split("pmd_mprotect_half_splits_only_that_thp", 1);
	first_thp_split("pmd_fork_dontfork_half_splits_only_that_thp", 2);
	test_uffd_wp();
	return vt_exit();
}
