// SPDX-License-Identifier: GPL-2.0
/*
 * unmapstat: what reclaim does to the TLB and to the deferred-split queue.
 *
 * Every attach point exists twice, as fentry/fexit (or tp_btf) and as a
 * kprobe (or classic tracepoint) fallback; the loader enables one of each
 * pair after probing the running kernel.
 *
 * With -p PID (targ_tgid), an event counts if it is about PID's memory,
 * whichever task causes it: kswapd reclaiming PID's folios counts, PID
 * touching another process's memory does not.  "PID's memory" is an mm
 * whose owner (mm->owner, CONFIG_MEMCG) is a thread of PID; the mm of an
 * event is taken from the attach point's arguments where it has one
 * (flush_tlb_mm_range: mm, ptep_clear_flush: vma->vm_mm), else from the
 * rmap walk step running on this thread (try_to_unmap_one() or
 * folio_referenced_one(): its vma->vm_mm), else from the current task.
 * docs/unmapstat.md lists the rule of every counter.
 *
 * The TLB attach points differ by architecture, and the loader picks them
 * from what the running kernel has: x86 flushes out of line
 * (flush_tlb_mm_range(), arch_tlbbatch_flush(), tlb:tlb_flush); arm64
 * flushes inline, so there it counts the requests that queue a deferred
 * flush (set_tlb_ubc_flush_pending()), the batch's completion
 * (try_to_unmap_flush()) and contpte unfolds (__contpte_try_unfold()).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "unmapstat.h"

#define TLB_FLUSH_ALL_	(~0UL)

/* Set by the loader before load: only count this process's memory (0: all). */
const volatile __u32 targ_tgid = 0;
/*
 * Set by the loader: the loaded batch_unmap.ko's batch_unmap:batch has the
 * kind field (0.3.0 on).  Without it, the event is 4 bytes shorter and
 * "kind" would read past it.
 */
const volatile bool batch_has_kind = false;
/*
 * Set by the loader from the kernel's BTF: set_tlb_ubc_flush_pending()
 * takes a range (mm, pteval, start, end) rather than one address (mm,
 * pteval, uaddr).
 */
const volatile bool queue_range = false;
/*
 * Set by the loader on arm64: estimate the TLBI ops each queued request
 * costs there (queued_tlbi_est), from the page size and MAX_DVM_OPS
 * (PTRS_PER_PTE: a range of that many pages or more is one ASID flush).
 */
const volatile bool tlbi_model = false;
const volatile __u32 page_shift = 12;
const volatile __u64 dvm_max_ops = 512;

/* Kernel mms: __contpte_try_unfold() unfolds nothing there (mm_is_user()). */
extern const void init_mm __ksym __weak;
extern const void efi_mm __ksym __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct us_counters);
} counters SEC(".maps");

/*
 * Why a counter is n/a on this kernel: written by the loader, never by a
 * program; pinned next to "counters" for --dump.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct us_na);
} na SEC(".maps");

/* A thread inside shrink_folio_list(). */
struct reclaim_ctx {
	__u32 depth;		/* nesting */
	__u32 target_unmapped;	/* -p: this pass unmapped PID's memory */
	__u32 target_pending;	/* -p: ... since its last batched TLB flush */
};

/* Threads inside shrink_folio_list(): tid -> struct reclaim_ctx. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct reclaim_ctx);
} in_reclaim SEC(".maps");

/*
 * -p only: threads inside an rmap walk step, try_to_unmap_one() or
 * folio_referenced_one(): tid -> the mm of the VMA it visits.  LRU: an
 * entry left behind (programs detached mid-call) must not fill the map up.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} rmap_mm SEC(".maps");

/* mm->owner exists with CONFIG_MEMCG only: a CO-RE flavour that may be absent. */
struct mm_struct___owner {
	struct task_struct *owner;
} __attribute__((preserve_access_index));

/* Is @mm the memory of process targ_tgid (always true without -p)? */
static __always_inline bool mm_wanted(struct mm_struct *mm)
{
	struct mm_struct___owner *m = (void *)mm;
	struct task_struct *owner;

	if (!targ_tgid)
		return true;
	/* The loader refuses -p on a kernel without mm->owner. */
	if (!mm || !bpf_core_field_exists(m->owner))
		return false;
	owner = BPF_CORE_READ(m, owner);
	return owner && BPF_CORE_READ(owner, tgid) == targ_tgid;
}

/*
 * The mm of an event whose attach point has none: the one this thread's
 * rmap walk step (try_to_unmap_one()) visits, else the current task's.
 */
static __always_inline struct mm_struct *event_mm(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct task_struct *task;
	__u64 *mm;

	mm = bpf_map_lookup_elem(&rmap_mm, &tid);
	if (mm)
		return (struct mm_struct *)*mm;
	task = (struct task_struct *)bpf_get_current_task();
	return BPF_CORE_READ(task, mm);
}

/* The per-CPU counters if an event about @mm is wanted, else NULL. */
static __always_inline struct us_counters *ctrs_for(struct mm_struct *mm)
{
	__u32 zero = 0;

	if (targ_tgid && !mm_wanted(mm))
		return NULL;
	return bpf_map_lookup_elem(&counters, &zero);
}

static __always_inline struct us_counters *ctrs(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&counters, &zero);
}

static __always_inline struct us_flushes *where(struct us_counters *c)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	return bpf_map_lookup_elem(&in_reclaim, &tid) ? &c->reclaim : &c->other;
}

static __always_inline struct us_flushes_ext *where_ext(struct us_counters *c)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	return bpf_map_lookup_elem(&in_reclaim, &tid) ? &c->reclaim_ext : &c->other_ext;
}

#define inc(p, n) __sync_fetch_and_add(p, n)

/* --- reclaim scope ---------------------------------------------------------- */

/*
 * Without -p a pass counts when it starts; with -p when it ends, if it
 * unmapped some of PID's memory (a pass reclaims the folios of many mms).
 */
static __always_inline int reclaim_enter(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct reclaim_ctx *rc, first = { .depth = 1 };
	struct us_counters *c;

	if (!targ_tgid) {
		c = ctrs();
		if (c)
			inc(&c->reclaim_calls, 1);
	}
	rc = bpf_map_lookup_elem(&in_reclaim, &tid);
	if (rc)
		rc->depth++;
	else
		bpf_map_update_elem(&in_reclaim, &tid, &first, BPF_ANY);
	return 0;
}

static __always_inline int reclaim_exit(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct reclaim_ctx *rc;
	struct us_counters *c;

	rc = bpf_map_lookup_elem(&in_reclaim, &tid);
	if (rc && rc->depth > 1) {
		rc->depth--;
		return 0;
	}
	if (targ_tgid && rc && rc->target_unmapped) {
		c = ctrs();
		if (c)
			inc(&c->reclaim_calls, 1);
	}
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

/* --- folios -------------------------------------------------------------------- */

/*
 * folio->flags as a word: an unsigned long up to 6.17, a memdesc_flags_t
 * (one unsigned long) from 6.18; read as raw bytes so that a vmlinux.h from
 * either compiles and CO-RE relocates the offset.
 */
static __always_inline unsigned long folio_flags_of(struct folio *folio)
{
	unsigned long flags = 0;

	bpf_core_read(&flags, sizeof(flags), &folio->flags);
	return flags;
}

static __always_inline unsigned int folio_order_of(struct folio *folio)
{
	unsigned long flags = folio_flags_of(folio), flags1 = 0;
	int head = bpf_core_enum_value(enum pageflags, PG_head);

	if (!(flags & (1UL << head)))
		return 0;
	/* Large folios keep their order in the low byte of _flags_1. */
	bpf_core_read(&flags1, sizeof(flags1), &folio->_flags_1);
	return flags1 & 0xff;
}

/*
 * enum us_kind of @folio: what folio_test_anon() and
 * folio_test_swapbacked() say, read directly (they are inline).
 */
static __always_inline unsigned int folio_kind_of(struct folio *folio)
{
	unsigned long mapping = (unsigned long)BPF_CORE_READ(folio, mapping);
	unsigned long flags = folio_flags_of(folio);
	int swapbacked = bpf_core_enum_value(enum pageflags, PG_swapbacked);

	if (mapping & 1)	/* PAGE_MAPPING_ANON (KSM folios too) */
		return flags & (1UL << swapbacked) ? US_KIND_ANON : US_KIND_LAZYFREE;
	return flags & (1UL << swapbacked) ? US_KIND_SHMEM : US_KIND_FILE;
}

/* --- try_to_unmap_one(): what reclaim unmaps; with -p, whose memory ---------- */

/*
 * One call per (folio, VMA) of the rmap walk.  Always attached, entry
 * only unless -p: without -p it counts inside reclaim and keeps no state
 * (two lookups); with -p its fexit/kretprobe half clears what it records
 * in rmap_mm for the events raised under it.
 */
static __always_inline int unmap_enter(struct folio *folio, struct vm_area_struct *vma)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct reclaim_ctx *rc = bpf_map_lookup_elem(&in_reclaim, &tid);
	unsigned int kind, order;
	struct mm_struct *mm;
	struct us_counters *c;
	__u64 val;

	if (targ_tgid) {
		mm = BPF_CORE_READ(vma, vm_mm);
		val = (__u64)mm;
		bpf_map_update_elem(&rmap_mm, &tid, &val, BPF_ANY);
		if (!mm_wanted(mm))
			return 0;
		/* For reclaim_calls and the next batched flush (count_deferred()). */
		if (rc) {
			rc->target_unmapped = 1;
			rc->target_pending = 1;
		}
	}
	/* Outside shrink_folio_list(): memory failure, a page-cache THP split, ... */
	if (!rc)
		return 0;
	c = ctrs();
	if (!c)
		return 0;
	kind = folio_kind_of(folio);
	order = folio_order_of(folio);
	if (order >= US_ORDERS)
		order = US_ORDERS - 1;
	barrier_var(kind);
	barrier_var(order);
	if (kind < US_KINDS && order < US_ORDERS)
		inc(&c->unmaps[kind][order], 1);
	return 0;
}

/* With -p only. */
static __always_inline int rmap_exit(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (targ_tgid)
		bpf_map_delete_elem(&rmap_mm, &tid);
	return 0;
}

SEC("fentry/try_to_unmap_one")
int BPF_PROG(unmap_enter_fentry, struct folio *folio, struct vm_area_struct *vma)
{
	return unmap_enter(folio, vma);
}

SEC("fexit/try_to_unmap_one")
int BPF_PROG(unmap_exit_fexit)
{
	return rmap_exit();
}

SEC("kprobe/try_to_unmap_one")
int BPF_KPROBE(unmap_enter_kprobe, struct folio *folio, struct vm_area_struct *vma)
{
	return unmap_enter(folio, vma);
}

SEC("kretprobe/try_to_unmap_one")
int BPF_KRETPROBE(unmap_exit_kretprobe)
{
	return rmap_exit();
}

/*
 * -p only, and only while batch_unmap:referenced exists: the mm of the
 * VMA reclaim's young-bit check visits, for the module's event raised
 * inside it (referenced_tp()).
 */
static __always_inline int referenced_enter(struct vm_area_struct *vma)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 val = (__u64)BPF_CORE_READ(vma, vm_mm);

	if (targ_tgid)
		bpf_map_update_elem(&rmap_mm, &tid, &val, BPF_ANY);
	return 0;
}

SEC("fentry/folio_referenced_one")
int BPF_PROG(referenced_enter_fentry, struct folio *folio, struct vm_area_struct *vma)
{
	return referenced_enter(vma);
}

SEC("fexit/folio_referenced_one")
int BPF_PROG(referenced_exit_fexit)
{
	return rmap_exit();
}

SEC("kprobe/folio_referenced_one")
int BPF_KPROBE(referenced_enter_kprobe, struct folio *folio, struct vm_area_struct *vma)
{
	return referenced_enter(vma);
}

SEC("kretprobe/folio_referenced_one")
int BPF_KRETPROBE(referenced_exit_kretprobe)
{
	return rmap_exit();
}

/* --- deferred split ----------------------------------------------------------- */

static __always_inline int count_split(struct folio *folio, bool partially_mapped)
{
	struct us_counters *c = ctrs_for(targ_tgid ? event_mm() : NULL);
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

static __always_inline int count_flush(struct mm_struct *mm, unsigned long start,
				       unsigned long end, unsigned int stride_shift)
{
	struct us_counters *c = ctrs_for(mm);
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
	return count_flush(mm, start, end, stride_shift);
}

SEC("kprobe/flush_tlb_mm_range")
int BPF_KPROBE(flush_kprobe, struct mm_struct *mm, unsigned long start,
	       unsigned long end, unsigned int stride_shift)
{
	return count_flush(mm, start, end, stride_shift);
}

/*
 * The batched flush covers the mms of every folio this thread unmapped
 * since its last one: with -p it counts if PID's was among them.
 */
static __always_inline int count_deferred(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct us_counters *c = ctrs();
	struct reclaim_ctx *rc;

	if (targ_tgid) {
		rc = bpf_map_lookup_elem(&in_reclaim, &tid);
		if (!rc || !rc->target_pending)
			return 0;
		rc->target_pending = 0;
	}
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

/*
 * Threads inside a try_to_unmap_flush_dirty() that counted its flush:
 * whether it inlines try_to_unmap_flush() (arm64 6.12 does) or calls it,
 * the batch counts once.  LRU, as rmap_mm.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} in_flush_dirty SEC(".maps");

/*
 * Where the batch's completion is inline (arm64: arch_tlbbatch_flush() is a
 * DSB inside try_to_unmap_flush()), count the calls that complete a batch:
 * those that find a flush pending in the task's batch on entry (and, for
 * try_to_unmap_flush_dirty(), a writable entry among it).
 */
static __always_inline int count_ubc_flush(bool dirty)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u8 one = 1;

	if (!BPF_CORE_READ(task, tlb_ubc.flush_required))
		return 0;
	if (dirty) {
		if (!BPF_CORE_READ(task, tlb_ubc.writable))
			return 0;
		bpf_map_update_elem(&in_flush_dirty, &tid, &one, BPF_ANY);
	} else if (bpf_map_lookup_elem(&in_flush_dirty, &tid)) {
		return 0;	/* called by try_to_unmap_flush_dirty(): counted there */
	}
	return count_deferred();
}

static __always_inline int ubc_flush_dirty_exit(void)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&in_flush_dirty, &tid);
	return 0;
}

SEC("fentry/try_to_unmap_flush")
int BPF_PROG(ubc_flush_fentry)
{
	return count_ubc_flush(false);
}

SEC("kprobe/try_to_unmap_flush")
int BPF_KPROBE(ubc_flush_kprobe)
{
	return count_ubc_flush(false);
}

SEC("fentry/try_to_unmap_flush_dirty")
int BPF_PROG(ubc_flush_dirty_fentry)
{
	return count_ubc_flush(true);
}

SEC("fexit/try_to_unmap_flush_dirty")
int BPF_PROG(ubc_flush_dirty_fexit)
{
	return ubc_flush_dirty_exit();
}

SEC("kprobe/try_to_unmap_flush_dirty")
int BPF_KPROBE(ubc_flush_dirty_kprobe)
{
	return count_ubc_flush(true);
}

SEC("kretprobe/try_to_unmap_flush_dirty")
int BPF_KRETPROBE(ubc_flush_dirty_kretprobe)
{
	return ubc_flush_dirty_exit();
}

/*
 * set_tlb_ubc_flush_pending(): one request to flush cleared PTEs later,
 * per PTE on the stock path, per batch with the module once the kernel
 * takes a range.  On arm64 6.12 the request itself issues the TLBIs
 * (arch_tlbbatch_add_pending()): one per page (__flush_tlb_page_nosync()),
 * or for a range __flush_tlb_range_nosync()'s, one per page below
 * MAX_DVM_OPS pages and one ASID flush from there (a CPU with range TLBIs,
 * FEAT_TLBIRANGE, issues fewer: hence an estimate).  A PTE no TLB can hold
 * (!pte_accessible()) queues nothing.
 */
static __always_inline bool pte_accessible_arm64(struct mm_struct *mm, __u64 pteval)
{
	/* The cleared PTE was present: valid (bit 0), or PROT_NONE. */
	return (pteval & 1) || BPF_CORE_READ(mm, tlb_flush_pending.counter) > 0;
}

static __always_inline int count_queue(struct mm_struct *mm, __u64 pteval,
				       unsigned long start, unsigned long end)
{
	struct us_counters *c = ctrs_for(mm);
	struct us_flushes_ext *x;
	__u64 pages = 1;

	if (!c)
		return 0;
	x = where_ext(c);
	if (queue_range)
		pages = end > start ? (end - start) >> page_shift : 0;
	inc(&x->queued, 1);
	inc(&x->queued_pages, pages);
	if (tlbi_model && pages && pte_accessible_arm64(mm, pteval))
		inc(&x->queued_tlbi_est, pages < dvm_max_ops ? pages : 1);
	return 0;
}

/* The two signatures have a program each: fentry reads only the arguments BTF has. */
SEC("fentry/set_tlb_ubc_flush_pending")
int BPF_PROG(queue_page_fentry, struct mm_struct *mm, __u64 pteval, unsigned long uaddr)
{
	return count_queue(mm, pteval, uaddr, uaddr);
}

SEC("fentry/set_tlb_ubc_flush_pending")
int BPF_PROG(queue_range_fentry, struct mm_struct *mm, __u64 pteval,
	     unsigned long start, unsigned long end)
{
	return count_queue(mm, pteval, start, end);
}

/* pte_t is one register (AAPCS64, x86-64 SysV): the arguments stay in order. */
SEC("kprobe/set_tlb_ubc_flush_pending")
int BPF_KPROBE(queue_kprobe, struct mm_struct *mm, __u64 pteval, unsigned long start,
	       unsigned long end)
{
	return count_queue(mm, pteval, start, queue_range ? end : start);
}

/*
 * __contpte_try_unfold(): a contiguous-PTE block turned back into single
 * PTEs before one of them changes (its own TLB invalidation of the block).
 */
static __always_inline int count_unfold(struct mm_struct *mm)
{
	struct us_counters *c;

	if ((void *)mm == &init_mm || (void *)mm == &efi_mm)
		return 0;
	c = ctrs_for(mm);
	if (c)
		inc(&where_ext(c)->contpte_unfolds, 1);
	return 0;
}

SEC("fentry/__contpte_try_unfold")
int BPF_PROG(unfold_fentry, struct mm_struct *mm)
{
	return count_unfold(mm);
}

SEC("kprobe/__contpte_try_unfold")
int BPF_KPROBE(unfold_kprobe, struct mm_struct *mm)
{
	return count_unfold(mm);
}

static __always_inline int count_ptep_clear_flush(struct vm_area_struct *vma)
{
	struct us_counters *c = ctrs_for(targ_tgid ? BPF_CORE_READ(vma, vm_mm) : NULL);

	if (c)
		inc(&where(c)->ptep_clear_flush, 1);
	return 0;
}

SEC("fentry/ptep_clear_flush")
int BPF_PROG(ptep_clear_flush_fentry, struct vm_area_struct *vma)
{
	return count_ptep_clear_flush(vma);
}

SEC("kprobe/ptep_clear_flush")
int BPF_KPROBE(ptep_clear_flush_kprobe, struct vm_area_struct *vma)
{
	return count_ptep_clear_flush(vma);
}

/*
 * The event has no mm: with -p it counts if PID's mm is the one this CPU
 * runs with (current->active_mm, kernel threads borrow the last one).
 * Right for local flushes and for the shootdowns a CPU receives; an IPI
 * sent to flush PID's memory counts under the sender's mm, and a switch
 * to PID under the task switched from.
 */
static __always_inline struct mm_struct *active_mm(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, active_mm);
}

static __always_inline int count_tlb_event(int reason, unsigned long pages)
{
	struct us_counters *c = ctrs_for(targ_tgid ? active_mm() : NULL);
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

/*
 * Layout of the batch_unmap:batch event (module/trace.h).  The loader
 * checks kind's offset in the event's tracefs format (BU_BATCH_KIND_OFF in
 * unmapstat.c) before it sets batch_has_kind.
 */
struct bu_batch_event {
	__u64 common;		/* common_type, flags, preempt_count, pid */
	unsigned long pfn;
	unsigned int order;
	unsigned int nr_pages;
	unsigned int outcome;
	unsigned int flush;
	unsigned int kind;	/* 0.3.0 on: enum bu_kind */
};

SEC("tracepoint/batch_unmap/batch")
int batch_tp(struct bu_batch_event *ctx)
{
	/* Raised inside try_to_unmap_one(): event_mm() is the folio's mm. */
	struct us_counters *c = ctrs_for(targ_tgid ? event_mm() : NULL);
	unsigned int outcome = ctx->outcome, flush = ctx->flush;
	unsigned int kind = BU_KIND_LAZYFREE;	/* all a module before 0.3.0 batched */

	if (!c)
		return 0;
	inc(&c->batch_pages, ctx->nr_pages);
	barrier_var(outcome);
	if (outcome < US_OUTCOMES)
		inc(&c->batches[outcome], 1);
	barrier_var(flush);
	if (flush < US_FLUSHES)
		inc(&c->batch_flush[flush], 1);
	if (batch_has_kind)
		kind = ctx->kind;
	barrier_var(kind);
	if (kind < US_BU_KINDS) {
		inc(&c->batch_kinds[kind].batches, 1);
		inc(&c->batch_kinds[kind].pages, ctx->nr_pages);
	}
	return 0;
}

/* Layout of the batch_unmap:referenced event (module/trace.h). */
struct bu_ref_event {
	__u64 common;		/* common_type, flags, preempt_count, pid */
	unsigned long pfn;
	unsigned int order;
	unsigned int nr_pages;
	bool young;
	unsigned int kind;	/* enum bu_kind */
};

SEC("tracepoint/batch_unmap/referenced")
int referenced_tp(struct bu_ref_event *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	unsigned int kind = ctx->kind;
	struct us_counters *c;
	__u64 *mm;

	/*
	 * Raised inside folio_referenced_one(), not try_to_unmap_one(): with
	 * -p, its mm is only known from referenced_enter().  No entry means
	 * folio_referenced_one() is not attached (the report says so): never
	 * guess the current task's mm, that is the reclaimer's.
	 */
	if (targ_tgid) {
		mm = bpf_map_lookup_elem(&rmap_mm, &tid);
		if (!mm)
			return 0;
		c = ctrs_for((struct mm_struct *)*mm);
	} else {
		c = ctrs();
	}
	if (!c)
		return 0;
	barrier_var(kind);
	if (kind < US_BU_KINDS) {
		inc(&c->referenced[kind].runs, 1);
		if (ctx->young)
			inc(&c->referenced[kind].young, 1);
		inc(&c->referenced[kind].pages, ctx->nr_pages);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
