/* SPDX-License-Identifier: GPL-2.0 */
/*
 * unmapstat: the counters shared by unmapstat.bpf.c and unmapstat.c.
 * Plain C types only (the BPF side gets __u64 from vmlinux.h, userspace
 * from <linux/types.h>).
 */
#ifndef UNMAPSTAT_H
#define UNMAPSTAT_H

#define US_ORDERS	10	/* folio orders 0..9 (PMD order on x86-64) */
#define US_TLB_REASONS	6	/* tlb:tlb_flush reasons 0..5 */
#define US_OUTCOMES	3	/* enum bu_outcome */
#define US_FLUSHES	3	/* enum bu_flush */

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

/* The value of the single entry of the per-CPU "counters" map. */
struct us_counters {
	__u64 reclaim_calls;		/* shrink_folio_list() calls */
	__u64 split_partial[US_ORDERS];	/* deferred_split_folio(.., true) by order */
	__u64 split_other[US_ORDERS];	/* deferred_split_folio(.., false): THP faults */
	struct us_flushes reclaim;
	struct us_flushes other;
	__u64 batches[US_OUTCOMES];	/* batch_unmap:batch by outcome */
	__u64 batch_pages;		/* pages in those batches */
	__u64 batch_flush[US_FLUSHES];	/* batch_unmap:batch by flush kind */
};

/* Names of the tlb:tlb_flush reasons (enum tlb_flush_reason). */
#define US_TLB_REASON_NAMES { "task_switch", "remote_shootdown", \
	"local_shootdown", "local_mm_shootdown", "remote_send_ipi", "reason5" }

#endif /* UNMAPSTAT_H */
