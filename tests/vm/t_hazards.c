// SPDX-License-Identifier: GPL-2.0
/*
 * The mappings that broke upstream's batched unmap, or could: with the
 * module loaded, each must reclaim without oops or WARN and with no data
 * change the stock kernel would not make (checked page by page: a page
 * written after MADV_FREE keeps its bytes; others read old data or zero).
 *
 *  - a 64K folio mapped across a PMD boundary after mremap (CVE-2025-38447),
 *    reclaimed through the memcg LRU
 *  - partial munmap and mprotect of a folio (batches end at the VMA)
 *  - fork + MADV_DONTFORK: writable and read-only PTEs in one folio (the
 *    write-bit restore bug), then re-dirtied so the batch is restored
 *  - a folio with extra references (vmsplice into a pipe): restored, kept
 *  - mlock: never reclaimed
 *  - a userfaultfd-wp registered range: declined
 */
#include <sys/uio.h>

#include "vmtest.h"

#define FOLIO		(64 * KB)
#define NR		8
#define LEN		(NR * FOLIO)

static const unsigned char *written_or_null(const unsigned char *w, unsigned int stride)
{
	return stride ? w : NULL;
}

static bool free_write_pageout(const char *what, char *p, size_t len,
			       unsigned int stride)
{
	unsigned char written[LEN / PAGE * 2] = { 0 };
	size_t pg;
	bool ok = true;

	fill(p, len, 1);
	CHECK(&ok, madvise(p, len, MADV_FREE) == 0, "%s: MADV_FREE: %s", what,
	      strerror(errno));
	for (pg = 0; stride && pg < len / PAGE; pg += stride) {
		fill(p + pg * PAGE, PAGE, 2);
		written[pg] = 1;
	}
	CHECK(&ok, madvise(p, len, MADV_PAGEOUT) == 0, "%s: MADV_PAGEOUT: %s",
	      what, strerror(errno));
	return verify_pages(what, p, len, 0, written, 1) && ok;
}

/*
 * MADV_FREE, then mremap so that the 4th folio straddles a PMD boundary,
 * then reclaim through the memcg LRU (MADV_PAGEOUT would split the folio).
 * The batch must stop at the page table's end: the folio goes in two parts.
 */
static bool mremap_straddle(const char *what, unsigned int write_stride)
{
	unsigned char written[LEN / PAGE] = { 0 };
	char *src = mm_map_aligned(LEN, FOLIO);
	char *dst = mm_map_aligned(4 * PMD_SIZE_, PMD_SIZE_);
	long long partial0 = bu_stat("batches_partial");
	size_t pg;
	bool ok = true;
	char *to;

	if (!src || !dst)
		return false;
	fill(src, LEN, 1);
	CHECK(&ok, mm_count_folios(src, LEN, 64) == NR, "%s: folios are not 64K", what);
	CHECK(&ok, madvise(src, LEN, MADV_FREE) == 0, "MADV_FREE: %s", strerror(errno));
	to = mremap(src, LEN, LEN, MREMAP_MAYMOVE | MREMAP_FIXED,
		    dst + 2 * PMD_SIZE_ - 3 * FOLIO - FOLIO / 2);
	if (to == MAP_FAILED) {
		vt_diag("%s: mremap: %s", what, strerror(errno));
		return false;
	}
	for (pg = 0; write_stride && pg < LEN / PAGE; pg += write_stride) {
		fill(to + pg * PAGE, PAGE, 2);
		written[pg] = 1;
	}
	memcg_reclaim();
	/* Before reading the data back, which maps zero pages. */
	if (!write_stride)
		CHECK(&ok, mm_resident_pages(to, LEN) == 0, "%s: %ld pages resident",
		      what, mm_resident_pages(to, LEN));
	CHECK(&ok, verify_pages(what, to, LEN, 0, written_or_null(written, write_stride), 1),
	      "%s: data", what);
	/*
	 * Clean: both parts of the straddling folio are discarded, one batch
	 * each.  Re-dirtied: the first part's batch finds the folio dirty and
	 * restores it, which ends the walk.
	 */
	CHECK(&ok, !bu_counted() || bu_stat("batches_partial") >= partial0 + (write_stride ? 1 : 2),
	      "%s: the straddling folio was not batched in parts (+%lld)", what,
	      bu_stat("batches_partial") - partial0);
	munmap(dst, 4 * PMD_SIZE_);
	return ok;
}

static void test_mremap_across_pmd(void)
{
	vt_result(mremap_straddle("mremap clean", 0),
		  "mremap_folio_across_pmd_boundary_reclaimed_in_parts");
	vt_result(mremap_straddle("mremap redirtied", 5),
		  "mremap_across_pmd_redirtied_keeps_data");
}

static void test_partial_munmap(void)
{
	char *p = mm_map_aligned(LEN, FOLIO);

	fill(p, LEN, 1);
	/* Cut the 2nd and 5th folios in half. */
	munmap(p + FOLIO + FOLIO / 2, FOLIO / 4);
	munmap(p + 4 * FOLIO, FOLIO / 2);
	vt_result(free_write_pageout("partial munmap", p, FOLIO + FOLIO / 2, 0) &&
		  free_write_pageout("partial munmap tail", p + 4 * FOLIO + FOLIO / 2,
				     LEN - 4 * FOLIO - FOLIO / 2, 3),
		  "partial_munmap_of_folio");
	munmap(p, LEN);
}

static void test_mprotect_half(void)
{
	char *p = mm_map_aligned(LEN, FOLIO);
	bool ok;

	fill(p, LEN, 1);
	madvise(p, LEN, MADV_FREE);
	/* Half of each of two folios read-only: PTEs differ in the write bit. */
	mprotect(p + FOLIO / 2, FOLIO, PROT_READ);
	madvise(p, LEN, MADV_PAGEOUT);
	ok = verify_pages("mprotect", p, LEN, 0, NULL, 1);
	mprotect(p, LEN, PROT_READ | PROT_WRITE);
	ok = free_write_pageout("mprotect redirty", p, LEN, 7) && ok;
	vt_result(ok, "mprotect_half_folio");
	munmap(p, LEN);
}

/*
 * fork with half of each folio MADV_DONTFORK: after the child exits the
 * parent's folio has read-only (CoW) and writable PTEs side by side.  A
 * batch must never restore them with one write bit.
 */
static void test_fork_mixed_write_bits(void)
{
	char *p = mm_map_aligned(LEN, FOLIO);
	unsigned char written[LEN / PAGE] = { 0 };
	size_t off, pg;
	long long mismatch0 = bu_stat("decline_pte_mismatch");
	bool ok = true;
	pid_t pid;
	int st;

	fill(p, LEN, 1);
	for (off = 0; off < LEN; off += FOLIO)
		madvise(p + off + FOLIO / 2, FOLIO / 2, MADV_DONTFORK);
	pid = fork();
	if (pid == 0)
		_exit(0);
	waitpid(pid, &st, 0);
	for (off = 0; off < LEN; off += FOLIO)
		madvise(p + off + FOLIO / 2, FOLIO / 2, MADV_DOFORK);
	CHECK(&ok, madvise(p, LEN, MADV_FREE) == 0, "MADV_FREE: %s", strerror(errno));
	/* Re-dirty one writable page per folio: forces a restore. */
	for (pg = LEN / PAGE / NR / 2 + 1; pg < LEN / PAGE; pg += LEN / PAGE / NR) {
		fill(p + pg * PAGE, PAGE, 2);
		written[pg] = 1;
	}
	CHECK(&ok, madvise(p, LEN, MADV_PAGEOUT) == 0, "MADV_PAGEOUT: %s", strerror(errno));
	CHECK(&ok, verify_pages("fork", p, LEN, 0, written, 1), "data");
	/* The read-only halves must still be CoW: writing them must work. */
	fill(p, LEN, 2);
	CHECK(&ok, check_pattern(p, LEN, 2) < 0, "rewrite after reclaim failed");
	vt_diag("decline_pte_mismatch +%lld", bu_stat("decline_pte_mismatch") - mismatch0);
	vt_result(ok, "fork_mixed_writable_readonly_ptes");
	munmap(p, LEN);
}

static void test_pinned(void)
{
	char *p = mm_map_aligned(LEN, FOLIO);
	long long refs0 = bu_stat("restored_refs");
	struct iovec iov = { .iov_base = p, .iov_len = FOLIO };
	char *buf = malloc(FOLIO);
	int pfd[2];
	bool ok = true;
	ssize_t n;

	fill(p, LEN, 1);
	CHECK(&ok, pipe(pfd) == 0, "pipe");
	fcntl(pfd[1], F_SETPIPE_SZ, 1 << 20);
	/* The pipe holds references to the first folio's pages. */
	n = vmsplice(pfd[1], &iov, 1, 0);
	CHECK(&ok, n == (ssize_t)FOLIO, "vmsplice: %zd %s", n, strerror(errno));
	CHECK(&ok, madvise(p, LEN, MADV_FREE) == 0, "MADV_FREE");
	CHECK(&ok, madvise(p, LEN, MADV_PAGEOUT) == 0, "MADV_PAGEOUT");
	/* The referenced folio stays mapped with its data. */
	CHECK(&ok, mm_resident_pages(p, FOLIO) == FOLIO / PAGE, "pinned folio unmapped");
	CHECK(&ok, check_pattern(p, FOLIO, 1) < 0, "pinned folio lost data");
	CHECK(&ok, verify_pages("pinned", p, LEN, 0, NULL, 1), "data");
	CHECK(&ok, !bu_counted() || bu_stat("restored_refs") > refs0, "no restored_refs counted");
	n = read(pfd[0], buf, FOLIO);
	CHECK(&ok, n == (ssize_t)FOLIO && check_pattern(p, FOLIO, 1) < 0,
	      "pipe read %zd", n);
	close(pfd[0]);
	close(pfd[1]);
	free(buf);
	vt_result(ok, "extra_reference_keeps_folio_mapped");
	munmap(p, LEN);
}

static void test_mlock(void)
{
	char *p = mm_map_aligned(LEN, FOLIO);
	bool ok = true;

	fill(p, LEN, 1);
	CHECK(&ok, mlock(p, LEN) == 0, "mlock: %s", strerror(errno));
	madvise(p, LEN, MADV_FREE);
	/* MADV_PAGEOUT refuses locked VMAs; nothing may be lost either way. */
	madvise(p, LEN, MADV_PAGEOUT);
	CHECK(&ok, mm_resident_pages(p, LEN) == LEN / PAGE, "mlocked pages unmapped");
	CHECK(&ok, check_pattern(p, LEN, 1) < 0, "mlocked data changed");
	munlock(p, LEN);
	vt_result(ok, "mlocked_folio_not_reclaimed");
	munmap(p, LEN);
}

static void test_uffd_wp(void)
{
	char *p = mm_map_aligned(LEN, FOLIO);
	long long uffd0 = bu_stat("decline_uffd_wp");
	bool ok = true;
	int uffd = uffd_wp_open();

	if (uffd < 0) {
		vt_skip("uffd_wp_range_declined", "userfaultfd-wp unavailable");
		return;
	}
	fill(p, LEN, 1);
	CHECK(&ok, uffd_wp_range(uffd, p, LEN), "cannot write-protect the range");
	CHECK(&ok, madvise(p, LEN, MADV_FREE) == 0, "MADV_FREE: %s", strerror(errno));
	CHECK(&ok, madvise(p, LEN, MADV_PAGEOUT) == 0, "MADV_PAGEOUT: %s", strerror(errno));
	CHECK(&ok, verify_pages("uffd-wp", p, LEN, 0, NULL, 1), "data");
	CHECK(&ok, !bu_counted() || bu_stat("decline_uffd_wp") > uffd0, "no decline_uffd_wp counted");
	vt_result(ok, "uffd_wp_range_declined");
	close(uffd);
	munmap(p, LEN);
}

int main(void)
{
	if (!vt_start("hazards", 64, NULL))
		return vt_exit();
	if (memcg_enter())
		vt_diag("cannot enter a test memcg: reclaim tests will fail");
	test_mremap_across_pmd();
	test_partial_munmap();
	test_mprotect_half();
	test_fork_mixed_write_bits();
	test_pinned();
	test_mlock();
	test_uffd_wp();
	mthp_only(0);
	module_unload();
	return vt_exit();
}
