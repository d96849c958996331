/* SPDX-License-Identifier: GPL-2.0 */
/*
 * batch_unmap: which PTEs may be unmapped as one batch.
 *
 * The rules (docs/design.md "Batching rules") in one place:
 *  - only large folios that are anonymous and lazyfree (!swapbacked), or
 *    in the page cache (not shmem), never under TTU_HWPOISON; lazyfree
 *    ones never in a userfaultfd-wp VMA, file ones in no userfaultfd VMA;
 *  - a batch never leaves the current page table, the VMA or the folio, and
 *    its size is computed afresh for every PTE the walk visits;
 *  - all PTEs of a batch are present, map consecutive pages and are equal in
 *    every bit except the PFN, the dirty/young bits and arm64's contiguous
 *    bit, so write, soft-dirty, uffd-wp and PROT_NONE never mix in a batch.
 *
 * Inline: they run for every folio reclaim unmaps, where a call is a cost
 * the in-kernel code does not pay.  The KUnit suite tests them as they are.
 */
#ifndef _BATCH_UNMAP_DETECT_H
#define _BATCH_UNMAP_DETECT_H

#include <linux/mm.h>
#include <linux/pgtable.h>
#include <linux/rmap.h>
#include <linux/userfaultfd_k.h>

#include "../include/batch_unmap.h"

/* Largest batch: one full page table. */
#define BU_MAX_BATCH	PTRS_PER_PTE

/* bu_folio_policy() says yes: one past the reasons to decline. */
#define BU_MAY_BATCH	BU_DECLINE_MAX

/**
 * bu_folio_policy - may PTEs mapping @folio in @vma be batched at all?
 * @folio: the folio try_to_unmap() is unmapping
 * @vma: the VMA being walked
 * @flags: the try_to_unmap() flags
 * @min_order: smallest folio order to batch
 * @file: whether page-cache folios may be batched
 *
 * Return: %BU_MAY_BATCH, or the reason to leave the folio to the stock path.
 */
static inline enum bu_decline bu_folio_policy(struct folio *folio,
					      struct vm_area_struct *vma,
					      enum ttu_flags flags,
					      unsigned int min_order, bool file)
{
	if (flags & TTU_HWPOISON)
		return BU_DECLINE_HWPOISON;
	if (!folio_test_large(folio))
		return BU_DECLINE_NOT_LARGE;
	if (folio_order(folio) < min_order)
		return BU_DECLINE_MIN_ORDER;
	if (!folio_test_anon(folio)) {
		/* Not reclaimable without swap: untested, so not batched. */
		if (folio_test_swapbacked(folio))
			return BU_DECLINE_SHMEM;
		if (!file)
			return BU_DECLINE_FILE_OFF;
		/*
		 * uffd-wp needs a marker in place of each cleared PTE
		 * (pte_install_uffd_wp_if_needed()): as upstream's final
		 * version does, leave every userfaultfd VMA to the stock
		 * path.
		 */
		if (userfaultfd_armed(vma))
			return BU_DECLINE_UFFD;
		return BU_MAY_BATCH;
	}
	/*
	 * Lazyfree only.  That also rules out the swap cache: in 6.12
	 * folio_test_swapcache() is false for a folio that is not swap-backed
	 * (decline_swapcache stays 0; the stock path's swapbacked/swapcache
	 * warning cannot fire for a lazyfree folio either).
	 */
	if (folio_test_swapbacked(folio))
		return BU_DECLINE_NOT_LAZYFREE;
	/* uffd-wp needs markers in place of cleared PTEs: stock path only. */
	if (userfaultfd_wp(vma))
		return BU_DECLINE_UFFD_WP;
	return BU_MAY_BATCH;
}

/**
 * bu_lazyfree_fast - bu_folio_policy()'s yes for a lazyfree folio, quickly
 * @folio: the folio try_to_unmap() is unmapping
 * @vma: the VMA being walked
 * @flags: the try_to_unmap() flags
 * @min_order: smallest folio order to batch, at least 1 (it stands in for
 *	the large-folio test)
 *
 * The hook's common case in the fewest tests: true exactly when @folio is
 * anonymous and bu_folio_policy() would return %BU_MAY_BATCH for it (the
 * KUnit suite checks the two agree).  False sends the caller to
 * bu_folio_policy() for the full check and the reason.
 */
static inline bool bu_lazyfree_fast(struct folio *folio,
				    struct vm_area_struct *vma,
				    enum ttu_flags flags,
				    unsigned int min_order)
{
	return folio_order(folio) >= min_order && !(flags & TTU_HWPOISON) &&
	       folio_test_anon(folio) && !folio_test_swapbacked(folio) &&
	       !userfaultfd_wp(vma);
}

/**
 * bu_limit - the largest batch possible at one address
 * @addr: address of the first PTE
 * @vm_end: end of the VMA
 * @folio_left: pages of the folio from the first PTE's page to its end
 *
 * Return: how many PTEs from @addr stay inside the page table, the VMA and
 * the folio (at least 1).
 */
static inline unsigned int bu_limit(unsigned long addr, unsigned long vm_end,
				    unsigned long folio_left)
{
	unsigned long end = pmd_addr_end(addr, vm_end);
	unsigned long in_table = (end - addr) >> PAGE_SHIFT;

	return min3(in_table, folio_left, (unsigned long)BU_MAX_BATCH);
}

/**
 * bu_batch_limit - the largest batch possible at the walk's current PTE
 * @folio: the folio @pte maps a page of
 * @vma: the VMA being walked
 * @addr: address of @pte
 * @pte: the current (present) PTE
 *
 * Computed from scratch for each PTE: never reuse a size from an earlier step.
 *
 * Return: the cap for bu_pte_batch().
 */
static inline unsigned int bu_batch_limit(struct folio *folio,
					  struct vm_area_struct *vma,
					  unsigned long addr, pte_t pte)
{
	unsigned long idx = pte_pfn(pte) - folio_pfn(folio);
	unsigned long nr_pages = folio_nr_pages(folio);

	if (WARN_ON_ONCE(idx >= nr_pages))
		return 1;
	return bu_limit(addr, vma->vm_end, nr_pages - idx);
}

/*
 * The raw entry: the detector compares entries with young, dirty and the
 * contiguous bit masked, so arm64's ptep_get(), which gathers young and
 * dirty over a whole contiguous block (16 reads per entry), is not needed.
 */
#ifdef CONFIG_ARM64
#define bu_ptep_get(ptep)	__ptep_get(ptep)
#else
#define bu_ptep_get(ptep)	ptep_get(ptep)
#endif

/*
 * A PTE with the bits that may differ within a batch cleared: dirty, young
 * and, on arm64, the contiguous bit.  Folded or not, a contpte block maps
 * the same pages: the batch helpers unfold only partial blocks at its ends,
 * and set_ptes() on restore folds each whole block the batch covers.
 */
static inline pte_t bu_pte_norm(pte_t pte)
{
	pte = pte_mkold(pte_mkclean(pte));
#ifdef CONFIG_ARM64
	pte = pte_mknoncont(pte);
#endif
	return pte;
}

/**
 * bu_pte_batch - count the PTEs that can join a batch starting at @ptep
 * @ptep: the first PTE of the run (its page table must hold @max entries)
 * @first: the value of *@ptep, present
 * @max: cap from bu_batch_limit()
 *
 * Return: 1..@max: the number of consecutive PTEs that map consecutive PFNs
 * and equal @first in every bit but PFN, dirty, young (and arm64's contiguous
 * bit).
 */
static inline unsigned int bu_pte_batch(pte_t *ptep, pte_t first,
					unsigned int max)
{
	pte_t expect = bu_pte_norm(first);
	unsigned int nr;

	for (nr = 1; nr < max; nr++) {
		pte_t pte = bu_ptep_get(ptep + nr);

		expect = pte_advance_pfn(expect, 1);
		if (!pte_same(bu_pte_norm(pte), expect) || pte_unused(pte))
			break;
	}
	return nr;
}

/*
 * Above this many times the ceiling, one full flush stands for so many
 * single-page invalidations that it is the cheaper choice even where full
 * flushes are costly (under QEMU TCG, with the ceiling at 33, chunks win at
 * 64 pages and one full flush wins from 256 on: README "Flush policy").
 */
#define BU_FULL_FLUSH_FACTOR	4

/**
 * bu_flush_step - pages per range flush when a batch is flushed now
 * @nr: PTEs in the batch
 * @ceiling: the architecture's single-page flush ceiling: a range flush of
 *	more pages flushes the whole TLB (x86: tlb_single_page_flush_ceiling;
 *	arm64: MAX_DVM_OPS - 1 pages, the whole ASID above)
 *
 * The stock path flushes page by page.  One range flush per batch replaces
 * @nr flushes (and, with other CPUs in the mm, @nr IPIs) by one, but above
 * @ceiling it becomes a full TLB flush.  Just above the ceiling that can
 * cost more than the stock path's @nr invalidations: there, split the
 * batch into the fewest equal chunks at or under the ceiling (the same
 * invalidations as the stock path, in a few calls).  Far above it (more
 * than BU_FULL_FLUSH_FACTOR times), or with a ceiling of 0 (every range
 * flush is a full one), one flush for the batch.
 *
 * Return: 1..@nr pages per flush_tlb_range() call.
 */
static inline unsigned int bu_flush_step(unsigned int nr, unsigned long ceiling)
{
	unsigned int chunks;

	if (!nr)
		return 1;
	/* (nr - 1) / F >= ceiling: nr > F * ceiling, without an overflow. */
	if (!ceiling || nr <= ceiling || (nr - 1) / BU_FULL_FLUSH_FACTOR >= ceiling)
		return nr;
	chunks = DIV_ROUND_UP(nr, ceiling);
	return DIV_ROUND_UP(nr, chunks);
}

#endif /* _BATCH_UNMAP_DETECT_H */
