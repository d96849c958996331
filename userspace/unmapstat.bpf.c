// SPDX-License-Identifier: GPL-2.0
/*
 * unmapstat: what reclaim does to the TLB and to the deferred-split queue.
 *
 * Every attach point exists twice, as fentry/fexit (or tp_btf) and as a
 * kprobe (or classic tracepoint) fallback; the loader enables one of each
 * pair after probing the running kernel.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "unmapstat.h"

#define TLB_FLUSH_ALL_	(~0UL)

/* Set by the loader before load: only count this process (0: all). */
const volatile __u32 targ_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct us_counters);
} counters SEC(".maps");

/* Threads inside shrink_folio_list(): tid -> nesting depth. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} in_reclaim SEC(".maps");

static __always_inline bool wanted(void)
{
	return !targ_tgid || (bpf_get_current_pid_tgid() >> 32) == targ_tgid;
}

static __always_inline struct us_counters *ctrs(void)
{
	__u32 zero = 0;

	if (!wanted())
		return NULL;
	return bpf_map_lookup_elem(&counters, &zero);
}

static __always_inline struct us_flushes *where(struct us_counters *c)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	return bpf_map_lookup_elem(&in_reclaim, &tid) ? &c->reclaim : &c->other;
}

#define inc(p, n) __sync_fetch_and_add(p, n)

/* --- reclaim scope ---------------------------------------------------------- */

static __always_inline int reclaim_enter(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), one = 1, *depth;
	struct us_counters *c = ctrs();

	if (c)
		inc(&c->reclaim_calls, 1);
	depth = bpf_map_lookup_elem(&in_reclaim, &tid);
	if (depth)
		(*depth)++;
	else
		bpf_map_update_elem(&in_reclaim, &tid, &one, BPF_ANY);
	return 0;
}

static __always_inline int reclaim_exit(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), *depth;

	depth = bpf_map_lookup_elem(&in_reclaim, &tid);
	if (depth && *depth > 1)
		(*depth)--;
	else
		bpf_map_delete_elem(&in_reclaim, &tid);
	return 0;
}

SEC("fentry/shrink_folio_list")
int BPF_PROG(reclaim_enter_fentry)
{
	return reclaim_enter();
}

SEC("fexit/shrink_folio_list")
int BPF_PROG(reclaim_exit_fexit)
{
	return reclaim_exit();
}

SEC("kprobe/shrink_folio_list")
int BPF_KPROBE(reclaim_enter_kprobe)
{
	return reclaim_enter();
}

SEC("kretprobe/shrink_folio_list")
int BPF_KRETPROBE(reclaim_exit_kretprobe)
{
	return reclaim_exit();
}

/* --- deferred split ----------------------------------------------------------- */

static __always_inline unsigned int folio_order_of(struct folio *folio)
{
	unsigned long flags = BPF_CORE_READ(folio, flags);
	int head = bpf_core_enum_value(enum pageflags, PG_head);

	if (!(flags & (1UL << head)))
		return 0;
	/* Large folios keep their order in the low byte of _flags_1. */
	return BPF_CORE_READ(folio, _flags_1) & 0xff;
}

static __always_inline int count_split(struct folio *folio, bool partially_mapped)
{
	struct us_counters *c = ctrs();
	unsigned int order;

	if (!c)
		return 0;
	order = folio_order_of(folio);
	if (order >= US_ORDERS)
		order = US_ORDERS - 1;
	barrier_var(order);
	if (order < US_ORDERS) {
		if (partially_mapped)
			inc(&c->split_partial[order], 1);
		else
			inc(&c->split_other[order], 1);
	}
	return 0;
}

SEC("fentry/deferred_split_folio")
int BPF_PROG(split_fentry, struct folio *folio, bool partially_mapped)
{
	return count_split(folio, partially_mapped);
}

SEC("kprobe/deferred_split_folio")
int BPF_KPROBE(split_kprobe, struct folio *folio, bool partially_mapped)
{
	return count_split(folio, partially_mapped);
}

/* --- TLB flushes ---------------------------------------------------------------- */

static __always_inline int count_flush(unsigned long start, unsigned long end,
				       unsigned int stride_shift)
{
	struct us_counters *c = ctrs();
	struct us_flushes *f;

	if (!c)
		return 0;
	f = where(c);
	if (end == TLB_FLUSH_ALL_) {
		inc(&f->full, 1);
	} else if (end - start == 1UL << stride_shift) {
		inc(&f->single, 1);
	} else {
		inc(&f->range, 1);
		inc(&f->range_pages, (end - start) >> stride_shift);
	}
	return 0;
}

SEC("fentry/flush_tlb_mm_range")
int BPF_PROG(flush_fentry, struct mm_struct *mm, unsigned long start,
	     unsigned long end, unsigned int stride_shift, bool freed_tables)
{
	return count_flush(start, end, stride_shift);
}

SEC("kprobe/flush_tlb_mm_range")
int BPF_KPROBE(flush_kprobe, struct mm_struct *mm, unsigned long start,
	       unsigned long end, unsigned int stride_shift)
{
	return count_flush(start, end, stride_shift);
}

static __always_inline int count_deferred(void)
{
	struct us_counters *c = ctrs();

	if (c)
		inc(&where(c)->deferred, 1);
	return 0;
}

SEC("fentry/arch_tlbbatch_flush")
int BPF_PROG(tlbbatch_fentry)
{
	return count_deferred();
}

SEC("kprobe/arch_tlbbatch_flush")
int BPF_KPROBE(tlbbatch_kprobe)
{
	return count_deferred();
}

static __always_inline int count_ptep_clear_flush(void)
{
	struct us_counters *c = ctrs();

	if (c)
		inc(&where(c)->ptep_clear_flush, 1);
	return 0;
}

SEC("fentry/ptep_clear_flush")
int BPF_PROG(ptep_clear_flush_fentry)
{
	return count_ptep_clear_flush();
}

SEC("kprobe/ptep_clear_flush")
int BPF_KPROBE(ptep_clear_flush_kprobe)
{
	return count_ptep_clear_flush();
}

static __always_inline int count_tlb_event(int reason, unsigned long pages)
{
	struct us_counters *c = ctrs();
	struct us_flushes *f;
	unsigned int r = reason;

	if (!c)
		return 0;
	f = where(c);
	if (r >= US_TLB_REASONS)
		r = US_TLB_REASONS - 1;
	barrier_var(r);
	if (r < US_TLB_REASONS) {
		inc(&f->tlb_events[r], 1);
		if (pages != TLB_FLUSH_ALL_)
			inc(&f->tlb_pages[r], pages);
	}
	return 0;
}

SEC("tp_btf/tlb_flush")
int BPF_PROG(tlb_flush_btf, int reason, unsigned long pages)
{
	return count_tlb_event(reason, pages);
}

SEC("tracepoint/tlb/tlb_flush")
int tlb_flush_tp(struct trace_event_raw_tlb_flush *ctx)
{
	return count_tlb_event(ctx->reason, ctx->pages);
}

/* --- batch_unmap.ko's own tracepoint ---------------------------------------------- */

/* Layout of the batch_unmap:batch event (module/trace.h). */
struct bu_batch_event {
	__u64 common;		/* common_type, flags, preempt_count, pid */
	unsigned long pfn;
	unsigned int order;
	unsigned int nr_pages;
	unsigned int outcome;
	unsigned int flush;
};

SEC("tracepoint/batch_unmap/batch")
int batch_tp(struct bu_batch_event *ctx)
{
	struct us_counters *c = ctrs();
	unsigned int outcome = ctx->outcome, flush = ctx->flush;

	if (!c)
		return 0;
	inc(&c->batch_pages, ctx->nr_pages);
	barrier_var(outcome);
	if (outcome < US_OUTCOMES)
		inc(&c->batches[outcome], 1);
	barrier_var(flush);
	if (flush < US_FLUSHES)
		inc(&c->batch_flush[flush], 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
