/* SPDX-License-Identifier: GPL-2.0 */
/*
 * unmapstat: the counters shared by unmapstat.bpf.c and unmapstat.c.
 * Plain C types only (the BPF side gets __u64 from vmlinux.h, userspace
 * from <linux/types.h>).
 */
#ifndef UNMAPSTAT_H
#define UNMAPSTAT_H

#include "batch_unmap.h"

#define US_ORDERS	10	/* folio orders 0..9 (PMD order on x86-64) */
#define US_TLB_REASONS	6	/* tlb:tlb_flush reasons 0..5 */
/* The module's enums: a new value gets its counter (and JSON key) too. */
#define US_OUTCOMES	BU_OUTCOME_MAX
#define US_FLUSHES	BU_FLUSH_MAX
#define US_BU_KINDS	BU_KIND_MAX	/* enum bu_kind: what the module batches */

/*
 * What kind of folio reclaim unmaps, from the folio alone: anonymous or
 * not (folio->mapping's PAGE_MAPPING_ANON bit), swap-backed or not
 * (PG_swapbacked).  The four combinations are the four kinds.
 */
enum us_kind {
	US_KIND_ANON = 0,	/* anonymous, swap-backed: goes to swap */
	US_KIND_LAZYFREE,	/* anonymous, not swap-backed: MADV_FREE'd, clean */
	US_KIND_FILE,		/* page cache, not swap-backed */
	US_KIND_SHMEM,		/* not anonymous, swap-backed: shmem, tmpfs */
	US_KINDS,
};

/* Their names in the table and as JSON keys. */
#define US_KIND_NAMES { [US_KIND_ANON] = "anon", [US_KIND_LAZYFREE] = "lazyfree", \
	[US_KIND_FILE] = "file", [US_KIND_SHMEM] = "shmem" }

/*
 * TLB flushes seen by unmapstat, split by where they were issued: inside
 * reclaim (shrink_folio_list() of the current task) or elsewhere.
 */
struct us_flushes {
	__u64 single;		/* flush_tlb_mm_range() of one page */
	__u64 range;		/* ... of more than one page, not everything */
	__u64 range_pages;	/* pages covered by those range flushes */
	__u64 full;		/* ... of the whole mm (TLB_FLUSH_ALL) */
	__u64 deferred;		/* arch_tlbbatch_flush(): reclaim's batched flush */
	__u64 ptep_clear_flush;	/* per-PTE clear+flush calls (stock unmap path) */
	__u64 tlb_events[US_TLB_REASONS]; /* tlb:tlb_flush events by reason */
	__u64 tlb_pages[US_TLB_REASONS];  /* their pages (TLB_FLUSH_ALL not summed) */
};

/*
 * What unmapstat counts where the TLB maintenance itself is inline (arm64:
 * no flush_tlb_mm_range(), no out-of-line arch_tlbbatch_flush()): the
 * requests that queue a deferred flush, the TLB invalidations those cost
 * there (an estimate), and contpte unfolds.  Split like struct us_flushes.
 */
struct us_flushes_ext {
	__u64 queued;		/* set_tlb_ubc_flush_pending() calls */
	__u64 queued_pages;	/* pages those calls asked to flush */
	__u64 queued_tlbi_est;	/* TLBI ops arm64 6.12 issues for them (estimate) */
	__u64 contpte_unfolds;	/* __contpte_try_unfold(): contiguous blocks unfolded */
};

/* batch_unmap:batch events of one enum bu_kind. */
struct us_batch_kind {
	__u64 batches;		/* events */
	__u64 pages;		/* their nr_pages */
};

/* batch_unmap:referenced events (the referenced hook's runs) of one kind. */
struct us_ref_kind {
	__u64 runs;		/* events: runs of PTEs tested and cleared at once */
	__u64 young;		/* ... of which at least one PTE was young */
	__u64 pages;		/* their nr_pages */
};

/*
 * The value of the single entry of the per-CPU "counters" map.  New fields
 * go at the end: the layout only grows, and the offsets of the old ones
 * stay.  Only __u64s and arrays or structs of them (us_sum() and
 * us_delta() treat it as an array of __u64; bpftool names every field
 * from its BTF).
 */
struct us_counters {
	__u64 reclaim_calls;		/* shrink_folio_list() calls */
	__u64 split_partial[US_ORDERS];	/* deferred_split_folio(.., true) by order */
	__u64 split_other[US_ORDERS];	/* deferred_split_folio(.., false): THP faults */
	struct us_flushes reclaim;
	struct us_flushes other;
	__u64 batches[US_OUTCOMES];	/* batch_unmap:batch by outcome */
	__u64 batch_pages;		/* pages in those batches */
	__u64 batch_flush[US_FLUSHES];	/* batch_unmap:batch by flush kind */
	/*
	 * try_to_unmap_one() calls inside reclaim by folio kind and order: one
	 * per (folio, VMA) the rmap walk visits, whether it unmaps or not.
	 */
	__u64 unmaps[US_KINDS][US_ORDERS];
	struct us_batch_kind batch_kinds[US_BU_KINDS];	/* batch_unmap:batch by kind */
	struct us_ref_kind referenced[US_BU_KINDS];	/* batch_unmap:referenced by kind */
	struct us_flushes_ext reclaim_ext;	/* inside reclaim, as .reclaim */
	struct us_flushes_ext other_ext;	/* elsewhere, as .other */
};

/*
 * The counters a kernel may be unable to provide: the architecture has
 * nothing to attach them to (x86 has no contpte, arm64 no
 * flush_tlb_mm_range()), or the attach failed.  Each is printed as a
 * number, or as n/a (text) / null (JSON) with the reason.
 */
enum us_field {
	US_F_RECLAIM_CALLS = 0,	/* reclaim_calls */
	US_F_SPLITS,		/* split_partial, split_other */
	US_F_UNMAPS,		/* unmaps */
	US_F_MM_RANGE,		/* single, range, range_pages, full */
	US_F_DEFERRED,		/* deferred */
	US_F_PTEP_CLEAR_FLUSH,	/* ptep_clear_flush */
	US_F_TLB_EVENTS,	/* tlb_events, tlb_pages */
	US_F_QUEUED,		/* queued */
	US_F_QUEUED_PAGES,	/* queued_pages */
	US_F_QUEUED_TLBI,	/* queued_tlbi_est */
	US_F_CONTPTE,		/* contpte_unfolds */
	US_FIELDS,
};

#define US_NA_LEN	160

/*
 * The value of the single entry of the "na" map: why each enum us_field
 * is not available on this kernel, or "" if it is.  Written by the loader
 * (unmapstat --pin pins it next to the counters, for --dump).
 */
struct us_na {
	char why[US_FIELDS][US_NA_LEN];
};

/* Names of the tlb:tlb_flush reasons (enum tlb_flush_reason). */
#define US_TLB_REASON_NAMES { "task_switch", "remote_shootdown", \
	"local_shootdown", "local_mm_shootdown", "remote_send_ipi", "reason5" }

#endif /* UNMAPSTAT_H */
