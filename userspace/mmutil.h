/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Memory helpers shared by lazyfree-bench and the VM tests: mTHP sysfs
 * controls and stats, aligned anonymous mappings, residency and folio-size
 * checks through /proc/self/pagemap and /proc/kpageflags.
 */
#ifndef MMUTIL_H
#define MMUTIL_H

#include <stdbool.h>
#include <stddef.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT	21
#endif

#define MM_PAGE		4096UL
#define MM_PMD_SIZE	(2UL << 20)
#define THP_DIR		"/sys/kernel/mm/transparent_hugepage"

int mm_write_file(const char *path, const char *val);
int mm_read_file(const char *path, char *buf, size_t len);

/* Is hugepages-<kb>kB offered by this kernel (and writable by us)? */
bool mthp_supported(unsigned long kb);
/*
 * Enable exactly one mTHP size @kb for anonymous faults (0: none, small
 * pages only); the other sizes are set to "never".
 */
int mthp_only(unsigned long kb);

/*
 * Can this process write every mTHP size's "enabled" file (root's, mode
 * 0644)?  0 (also without any), or -1 with errno and, in @path, the first
 * one it cannot write.
 */
int mthp_writable(char *path, size_t len);
/*
 * Enable exactly the mTHP sizes @kb[0..n) (KiB; 4 means small pages, which
 * are always on, and is skipped) for anonymous faults; the other sizes are
 * set to "never".  -ENOENT if a size is not offered, -EIO if a write failed.
 */
int mthp_set(const unsigned long *kb, unsigned int n);
/* Save and restore every size's "enabled" setting. */
struct mthp_saved {
	char enabled[16][16];
};
void mthp_save(struct mthp_saved *s);
void mthp_restore(const struct mthp_saved *s);
/* hugepages-<kb>kB/stats/split_deferred, or -1. */
long long mthp_split_deferred(unsigned long kb);

/* Value of "key value" in a file of such lines (e.g. /proc/vmstat), or -1. */
long long mm_read_keyed(const char *path, const char *key);

/* Map @len bytes of private anonymous memory aligned to @align. */
char *mm_map_aligned(size_t len, size_t align);
/* Pages of [p, p+len) mapped (mincore), or -1. */
long mm_resident_pages(void *p, size_t len);
/*
 * Pages of [p, p+len) mapped in this process (pagemap), or -1; unlike
 * mincore(), a file's pages in the page cache but unmapped do not count.
 */
long mm_mapped_pages(const void *p, size_t len);

/* /proc/self/pagemap and /proc/kpageflags bits. */
#define MM_PM_PRESENT		(1ULL << 63)
#define MM_PM_PFN_MASK		((1ULL << 55) - 1)
#define MM_KPF_COMPOUND_HEAD	15
#define MM_KPF_COMPOUND_TAIL	16
/*
 * Number of naturally aligned folios of exactly @folio_kb backing
 * [p, p+len) (4 = small pages), or -1 if pagemap/kpageflags are unreadable.
 */
long mm_count_folios(void *p, size_t len, unsigned long folio_kb);

/*
 * Split the PMD mappings of [p, p + len) (PMD-aligned, read-write) into PTE
 * mappings of the same THPs, uniform across each THP: mprotect the last
 * page of each read-only (the split) and back.  The last page, because
 * arm64 folds a contiguous block again only when its last entry is
 * written: with the first page, one block stays unfolded, MADV_FREE and
 * MADV_PAGEOUT find the THP's PTEs not uniform and split it (seen on 6.12
 * arm64).  0, or -1 with errno.
 */
int mm_split_pmd_mappings(char *p, size_t len);

#endif /* MMUTIL_H */
