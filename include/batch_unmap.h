/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Types shared by batch_unmap.ko, the unmapstat BPF program and userspace.
 * No kernel or libc headers: only plain C that all three sides compile.
 */
#ifndef BATCH_UNMAP_H
#define BATCH_UNMAP_H

/* Outcome of one batch, as reported by the batch_unmap:batch tracepoint. */
enum bu_outcome {
	BU_OUTCOME_DISCARD = 0,		/* PTEs cleared, pages freed */
	BU_OUTCOME_RESTORE_DIRTY,	/* re-dirtied: PTEs restored, swap-backed */
	BU_OUTCOME_RESTORE_REFS,	/* extra references: PTEs restored */
	/* File folio: PTEs cleared, rmap and refs dropped; reclaim decides. */
	BU_OUTCOME_UNMAP,
	BU_OUTCOME_MAX,
};

/* How the TLB flush of one batch was done. */
enum bu_flush {
	BU_FLUSH_DEFERRED = 0,		/* queued on the reclaim TLB batch */
	BU_FLUSH_RANGE,			/* one range flush now */
	BU_FLUSH_NONE,			/* no flush: PTEs not accessible, or a PMD kept as it was */
	BU_FLUSH_MAX,
};

/* The kind of folio a batch unmapped (batch_unmap:batch's kind). */
enum bu_kind {
	BU_KIND_LAZYFREE = 0,		/* anonymous, MADV_FREE'd */
	BU_KIND_FILE,			/* page cache (not shmem) */
	BU_KIND_MAX,
};

/* Why the module left a PTE to the stock path. */
enum bu_decline {
	BU_DECLINE_DISABLED = 0,	/* enabled=0 */
	BU_DECLINE_PMD_MAPPED,		/* PMD-level step of the walk */
	BU_DECLINE_HWPOISON,		/* TTU_HWPOISON */
	BU_DECLINE_NOT_LARGE,		/* order-0 folio */
	BU_DECLINE_MIN_ORDER,		/* below min_order */
	BU_DECLINE_NOT_LAZYFREE,	/* swap-backed anon folio */
	BU_DECLINE_SWAPCACHE,		/* lazyfree folio in the swap cache */
	BU_DECLINE_UFFD_WP,		/* userfaultfd-wp VMA */
	BU_DECLINE_NOT_PRESENT,		/* non-present PTE */
	BU_DECLINE_PTE_UNUSED,		/* pte_unused() */
	BU_DECLINE_BOUNDARY,		/* only 1 PTE before table/VMA/folio end */
	BU_DECLINE_PTE_MISMATCH,	/* next PTE differs in more than PFN/A/D */
	BU_DECLINE_FILE_OFF,		/* page-cache folio, file=0 */
	BU_DECLINE_SHMEM,		/* shmem folio: out of scope */
	BU_DECLINE_UFFD,		/* file folio in a userfaultfd VMA */
	BU_DECLINE_MAX,
};

#endif /* BATCH_UNMAP_H */
