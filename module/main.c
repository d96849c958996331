// SPDX-License-Identifier: GPL-2.0
/*
 * batch_unmap: batched unmap of large folios during reclaim.
 *
 * Registered on the try_to_unmap_one() hook of our 6.12 patch, the module
 * unmaps all PTEs that map a lazyfree (MADV_FREE) or page-cache large folio
 * in one batch instead of one by one: one TLB flush per batch instead of one
 * per page, and the rmap of the whole batch removed at once, so a fully
 * unmapped lazyfree folio never looks partially mapped and is never queued
 * for deferred split.  Its referenced hook tests and clears the young bits
 * of such a run in one step of folio_referenced_one()'s walk.  Anything it
 * is not sure about is left to the stock path (declined).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mm.h>
#include <linux/mm_inline.h>
#include <linux/rmap.h>
#include <linux/spinlock.h>
#include <asm/tlbflush.h>

#include "batch_unmap.h"
#include "../include/bu_version.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

/* Under bu_param_lock: the hook is registered (set by init, cleared by exit). */
static bool bu_registered;
static DEFINE_MUTEX(bu_param_lock);

static bool enabled = true;
static unsigned int min_order = 1;

/*
 * enabled= and min_order= in the one value the hooks read: min_order (at
 * least 1, so only large folios pass), or, with enabled=0, above every
 * order, so that every call declines (counted as decline_disabled by
 * bu_decline()).  Set under bu_param_lock.
 */
#define BU_ORDER_OFF	UINT_MAX
static unsigned int bu_min_order = 1;

/*
 * Set enabled= to @on and bu_min_order to match.  bu_decline() reads
 * enabled after the hot path read bu_min_order: enabled goes off first and
 * on last, so that once enabled=0 is written every decline counts as
 * disabled.  Only a decline racing with the write may count under the
 * other reason (statistics: what is batched follows bu_min_order alone).
 */
static void bu_enable(bool on)
{
	lockdep_assert_held(&bu_param_lock);
	if (!on)
		WRITE_ONCE(enabled, false);
	smp_wmb();	/* enabled off before bu_min_order; bu_decline() */
	WRITE_ONCE(bu_min_order, on ? min_order : BU_ORDER_OFF);
	smp_wmb();	/* bu_min_order before enabled on; bu_decline() */
	if (on)
		WRITE_ONCE(enabled, true);
}

static int enabled_set(const char *val, const struct kernel_param *kp)
{
	bool on;

	/* A bare "enabled" means 1, as for any bool parameter. */
	if (kstrtobool(val ? val : "1", &on))
		return -EINVAL;
	mutex_lock(&bu_param_lock);
	bu_enable(on);
	mutex_unlock(&bu_param_lock);
	return 0;
}

static const struct kernel_param_ops enabled_ops = {
	.flags = KERNEL_PARAM_OPS_FL_NOARG,
	.set = enabled_set,
	.get = param_get_bool,
};

module_param_cb(enabled, &enabled_ops, &enabled, 0644);
MODULE_PARM_DESC(enabled, "Batch at all; 0 declines everything (default: 1)");

static int bu_hook_update(bool *param, bool val);

/* file= and referenced= change what the kernel calls the hook for. */
static int hook_param_set(const char *val, const struct kernel_param *kp)
{
	bool on;

	if (kstrtobool(val, &on))
		return -EINVAL;
	return bu_hook_update(kp->arg, on);
}

static const struct kernel_param_ops hook_param_ops = {
	.set = hook_param_set,
	.get = param_get_bool,
};

static bool file = true;
module_param_cb(file, &hook_param_ops, &file, 0644);
MODULE_PARM_DESC(file, "Batch the unmap of page-cache large folios (default: 1)");

static bool referenced = true;
module_param_cb(referenced, &hook_param_ops, &referenced, 0644);
MODULE_PARM_DESC(referenced,
		 "Batch reclaim's young-bit check of large folios (default: 1)");

static int min_order_set(const char *val, const struct kernel_param *kp)
{
	unsigned int order;

	if (kstrtouint(val, 0, &order) || order < 1 || order > HPAGE_PMD_ORDER)
		return -EINVAL;
	mutex_lock(&bu_param_lock);
	WRITE_ONCE(min_order, order);
	if (enabled)
		WRITE_ONCE(bu_min_order, order);
	mutex_unlock(&bu_param_lock);
	return 0;
}

static const struct kernel_param_ops min_order_ops = {
	.set = min_order_set,
	.get = param_get_uint,
};

module_param_cb(min_order, &min_order_ops, &min_order, 0644);
MODULE_PARM_DESC(min_order,
		 "Smallest folio order to batch, 1..PMD order (default: 1)");

static bool pmd_discard = true;
module_param_named(pmd, pmd_discard, bool, 0644);
MODULE_PARM_DESC(pmd,
		 "Discard PMD-mapped lazyfree THPs without splitting them (default: 1)");

/*
 * How a batch is flushed when reclaim does not defer the flush (a deferred
 * flush is one call per batch under every policy).
 */
enum bu_flush_policy {
	BU_FP_AUTO,		/* bu_flush_step(): chunks near the ceiling */
	BU_FP_RANGE,	/* one range flush per batch */
	BU_FP_PAGES,	/* one flush per page, like the stock path */
};

static const char * const bu_flush_names[] = {
	[BU_FP_AUTO] = "auto",
	[BU_FP_RANGE] = "range",
	[BU_FP_PAGES] = "pages",
};

static int flush_policy = BU_FP_AUTO;

static const unsigned long *bu_flush_max_of(int policy);

/*
 * Up to how many pages bu_flush_now() makes one range flush without
 * looking at flush_policy: the ceiling (flush=auto, which also makes one
 * far above it), every batch (range) or none (pages).  It points at the
 * value, which the hot path reads in two dependent loads.  Set with
 * flush_policy under bu_param_lock (init sets it before the hooks run).
 */
static const unsigned long *bu_flush_max;

static int flush_set(const char *val, const struct kernel_param *kp)
{
	int i = sysfs_match_string(bu_flush_names, val);

	if (i < 0)
		return -EINVAL;
	mutex_lock(&bu_param_lock);
	WRITE_ONCE(flush_policy, i);
	WRITE_ONCE(bu_flush_max, bu_flush_max_of(i));
	mutex_unlock(&bu_param_lock);
	return 0;
}

static int flush_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%s\n", bu_flush_names[READ_ONCE(flush_policy)]);
}

static const struct kernel_param_ops flush_ops = {
	.set = flush_set,
	.get = flush_get,
};

module_param_cb(flush, &flush_ops, &flush_policy, 0644);
MODULE_PARM_DESC(flush,
		 "Flush of a batch that is not deferred: auto (one range up to the single-page flush ceiling, chunks of at most it up to 4x, one flush above), range (one per batch) or pages (one per page) (default: auto)");

/* kprobes= may be given at load time, before the probes can be armed. */
static bool kprobes;
static bool bu_ready;

static int kprobes_set(const char *val, const struct kernel_param *kp)
{
	bool on;
	int ret = 0;

	if (kstrtobool(val, &on))
		return -EINVAL;
	mutex_lock(&bu_param_lock);
	if (bu_ready)
		ret = bu_probes_set(on);
	if (!ret)
		kprobes = on;
	mutex_unlock(&bu_param_lock);
	return ret;
}

static const struct kernel_param_ops kprobes_ops = {
	.set = kprobes_set,
	.get = param_get_bool,
};

module_param_cb(kprobes, &kprobes_ops, &kprobes, 0644);
MODULE_PARM_DESC(kprobes, "Count the stock unmap path with kprobes (default: 0)");

/*
 * A range flush of more pages than this flushes the whole TLB (x86) or the
 * whole ASID (arm64: its per-page TLBIs stop at MAX_DVM_OPS, unless the CPU
 * has range TLBIs, FEAT_TLBIRANGE, which reach MAX_TLBI_RANGE_PAGES).
 */
static unsigned long bu_flush_ceiling(void)
{
#if defined(CONFIG_X86)
	return tlb_flush_ceiling();
#elif defined(CONFIG_ARM64)
	return system_supports_tlb_range() ? MAX_TLBI_RANGE_PAGES : MAX_DVM_OPS - 1;
#else
	return ULONG_MAX;
#endif
}

static const unsigned long bu_all_pages = ULONG_MAX, bu_no_pages;

static const unsigned long *bu_flush_max_of(int policy)
{
#ifdef CONFIG_X86
	/* x86's own ceiling, read live: it changes with debugfs. */
	const unsigned long *ceiling = tlb_single_page_flush_ceiling_ro;
#else
	/* Fixed at boot (arm64: whether the CPU has range TLBIs). */
	static unsigned long arch_ceiling;
	const unsigned long *ceiling = &arch_ceiling;

	WRITE_ONCE(arch_ceiling, bu_flush_ceiling());
#endif
	if (policy == BU_FP_RANGE)
		return &bu_all_pages;
	if (policy == BU_FP_PAGES)
		return &bu_no_pages;
	return ceiling;
}

/* flush_ceiling: what flush=auto sizes its chunks by, on this machine. */
static int flush_ceiling_set(const char *val, const struct kernel_param *kp)
{
	pr_err("flush_ceiling is read-only: %s\n", IS_ENABLED(CONFIG_X86) ?
	       "it is x86's tlb_single_page_flush_ceiling, in debugfs" :
	       "it is the architecture's");
	return -EPERM;
}

static int flush_ceiling_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%lu\n", bu_flush_ceiling());
}

static const struct kernel_param_ops flush_ceiling_ops = {
	.set = flush_ceiling_set,
	.get = flush_ceiling_get,
};

module_param_cb(flush_ceiling, &flush_ceiling_ops, NULL, 0444);
MODULE_PARM_DESC(flush_ceiling,
		 "Read-only: pages above which a range flush becomes a full one here (x86: tlb_single_page_flush_ceiling; arm64: MAX_DVM_OPS - 1, or MAX_TLBI_RANGE_PAGES with range TLBIs)");

/*
 * The flushes bu_flush_now() does not make inline: flush=pages (one per
 * page) and flush=auto between the ceiling and 4x it (bu_flush_step():
 * equal chunks at most the ceiling), or with a ceiling of 0 (one flush).
 */
static noinline void bu_flush_chunks(struct vm_area_struct *vma,
				     unsigned long start, unsigned int nr,
				     int policy)
{
	unsigned int step, done, calls = 0;

	step = policy == BU_FP_PAGES ? 1 : bu_flush_step(nr, bu_flush_ceiling());
	for (done = 0; done < nr; done += step, calls++)
		try_to_unmap_flush_range(vma, start + done * PAGE_SIZE,
					 start + min(done + step, nr) * PAGE_SIZE);
	/* The first call is counted in flush_range: only the others here. */
	if (calls > 1)
		bu_count(BU_STAT_FLUSH_CALLS, calls - 1);
}

/* Flush the TLB for @nr cleared PTEs from @start now, as the policy says. */
static __always_inline void bu_flush_now(struct vm_area_struct *vma,
					 unsigned long start, unsigned int nr)
{
	unsigned long max = READ_ONCE(*READ_ONCE(bu_flush_max));

	/*
	 * One range flush: flush=range, or flush=auto up to the ceiling and
	 * far above it (bu_flush_step()); flush=pages (max 0) never.
	 */
	if (likely(nr <= max) ||
	    (max && (nr - 1) / BU_FULL_FLUSH_FACTOR >= max))
		try_to_unmap_flush_range(vma, start, start + nr * PAGE_SIZE);
	else
		bu_flush_chunks(vma, start, nr, READ_ONCE(flush_policy));
}

/* Re-dirtied since MADV_FREE: the data must be kept (and swapped out). */
static bool bu_redirtied(struct folio *folio, struct vm_area_struct *vma)
{
	return folio_test_dirty(folio) && !(vma->vm_flags & VM_DROPPABLE);
}

/*
 * The entries mapping @folio in @vma are cleared and flushed: may it go?
 * Returns %BU_OUTCOME_DISCARD, or which reason the caller must restore
 * the entries for.
 */
static __always_inline enum bu_outcome
bu_verdict(struct folio *folio, struct vm_area_struct *vma)
{
	int ref_count, map_count;

	/* Update high watermark before we lower rss. */
	update_hiwater_rss(vma->vm_mm);

	/*
	 * Synchronize with GUP-fast, exactly as try_to_unmap_one() does:
	 * we clear the entries; barrier; read the refcount.  GUP-fast raises
	 * the refcount; barrier; re-reads the entry and backs off if cleared.
	 * Either we see its reference or it sees our cleared entries.
	 */
	smp_mb();
	ref_count = folio_ref_count(folio);
	/* Large: a batch is two PTEs or more, or a PMD. */
	map_count = folio_large_mapcount(folio);
	/* Order the refcount read before the dirty flag read (__remove_mapping()). */
	smp_rmb();

	if (bu_redirtied(folio, vma))
		return BU_OUTCOME_RESTORE_DIRTY;
	/*
	 * Someone else (GUP pin, O_DIRECT) holds a reference and may still
	 * write: keep the mapping and leave the folio lazyfree.  The only
	 * references we may drop are the mappings, on top of the one reclaim
	 * took when it isolated the folio.
	 */
	if (ref_count != 1 + map_count)
		return BU_OUTCOME_RESTORE_REFS;
	return BU_OUTCOME_DISCARD;
}

/*
 * Count a lazyfree batch of @nr pages (PTE or PMD) and tell the walk how to
 * go on.  The flush was counted with it (bu_clear_flush(), bu_unmap_pmd()):
 * batches_discarded is derived from that count when read.
 */
static __always_inline enum ttu_hook_result
bu_account(struct ttu_hook_args *args, unsigned long pfn, unsigned int nr,
	   enum bu_outcome outcome, enum bu_flush flush)
{
	unsigned int order = folio_order(args->folio);

	bu_count(BU_STAT_PTES, nr);
	if (nr != 1U << order)
		bu_count(BU_STAT_PARTIAL, 1);
	trace_batch(pfn, order, nr, outcome, flush, BU_KIND_LAZYFREE);

	if (unlikely(outcome != BU_OUTCOME_DISCARD)) {
		bu_count(outcome == BU_OUTCOME_RESTORE_DIRTY ?
			 BU_STAT_RESTORE_DIRTY : BU_STAT_RESTORE_REFS, 1);
		bu_count(BU_STAT_PTES_RESTORED, nr);
		return TTU_HOOK_ABORT;
	}
	args->nr = nr;
	/* All of the folio was mapped here: nothing left in this VMA. */
	return nr == 1U << order ? TTU_HOOK_DONE : TTU_HOOK_CONTINUE;
}

/*
 * Clear @nr PTEs from @args->pvmw->pte, which bu_pte_batch() found uniform,
 * and flush them once (now or deferred to reclaim's batch).  Returns the
 * first PTE with the dirty and young bits of all of them; *@flush says how
 * the flush was done.
 */
static __always_inline pte_t bu_clear_flush(struct ttu_hook_args *args,
					    unsigned int nr,
					    enum bu_flush *flush)
{
	struct vm_area_struct *vma = args->vma;
	struct mm_struct *mm = vma->vm_mm;
	unsigned long start = args->pvmw->address;
	unsigned long end = start + nr * PAGE_SIZE;
	pte_t pteval;

	lockdep_assert_held(args->pvmw->ptl);

	/*
	 * Clear the whole batch, then flush once for all of it.  pteval is
	 * the first PTE with the dirty and young bits of the whole batch:
	 * bu_pte_batch() found the PTEs equal in every other bit, so pteval
	 * advanced page by page restores each of them exactly but for A/D,
	 * which it may set where they were clear (as upstream's restore),
	 * and, on x86, soft-dirty, which pte_mkdirty() sets with D: a restore
	 * may over-report soft-dirty pages, never lose one.
	 */
	flush_cache_range(vma, start, end);
	pteval = get_and_clear_full_ptes(mm, start, args->pvmw->pte, nr, 0);

	if (!pte_accessible(mm, pteval)) {
		/* Like ptep_clear_flush(): no TLB can cache these entries. */
		*flush = BU_FLUSH_NONE;
	} else if (try_to_unmap_flush_deferred(mm, args->flags, pteval, start,
					       end)) {
		/*
		 * As in try_to_unmap_one(): reclaim's try_to_unmap_flush()
		 * flushes before the pages are freed or written back.  A
		 * remote CPU may still hold a clean entry meanwhile; the
		 * architecture guarantees a write through it traps
		 * (clear->dirty on an unmapped PTE), so no write is lost.
		 */
		*flush = BU_FLUSH_DEFERRED;
	} else {
		bu_flush_now(vma, start, nr);
		*flush = BU_FLUSH_RANGE;
	}
	bu_count(BU_STAT_FLUSH_DEFERRED + *flush, 1);
	return pteval;
}

/*
 * The verdict on a cleared lazyfree batch was to keep it: put the @nr PTEs
 * back (@pteval advanced page by page) and count it.  Rare: out of line.
 */
static noinline enum ttu_hook_result
bu_restore_batch(struct ttu_hook_args *args, pte_t first, pte_t pteval,
		 unsigned int nr, enum bu_outcome outcome, enum bu_flush flush)
{
	struct vm_area_struct *vma = args->vma;
	unsigned long start = args->pvmw->address;

	/*
	 * arm64: set_ptes() of a batch folds each whole contiguous block in
	 * it, also one that was unfolded, whose 4K entries other CPUs may
	 * still cache while the flush is only queued (its TLBIs complete at
	 * reclaim's try_to_unmap_flush()).  Break-before-make wants the
	 * invalidation complete before a block changes size: complete it now
	 * (restores are rare).
	 */
	if (IS_ENABLED(CONFIG_ARM64) && flush == BU_FLUSH_DEFERRED)
		try_to_unmap_flush_range(vma, start, start + nr * PAGE_SIZE);
	set_ptes(vma->vm_mm, start, args->pvmw->pte, pteval, nr);
	/* Re-dirtied: keep the data, swap it out. */
	if (outcome == BU_OUTCOME_RESTORE_DIRTY)
		folio_set_swapbacked(args->folio);
	return bu_account(args, pte_pfn(first), nr, outcome, flush);
}

/*
 * Unmap @nr uniform PTEs of a lazyfree folio from @args->pvmw->pte: clear,
 * flush once, then discard the pages or restore the PTEs.  The common case
 * of reclaiming lazyfree memory: kept short and inline in bu_unmap().
 */
static __always_inline enum ttu_hook_result
bu_unmap_batch(struct ttu_hook_args *args, pte_t first, unsigned int nr)
{
	struct vm_area_struct *vma = args->vma;
	struct mm_struct *mm = vma->vm_mm;
	struct folio *folio = args->folio;
	struct page *page = folio_page(folio, pte_pfn(first) - folio_pfn(folio));
	enum bu_outcome outcome;
	enum bu_flush flush;
	pte_t pteval;

	pteval = bu_clear_flush(args, nr, &flush);
	if (pte_dirty(pteval))
		folio_mark_dirty(folio);

	outcome = bu_verdict(folio, vma);
	if (unlikely(outcome != BU_OUTCOME_DISCARD))
		return bu_restore_batch(args, first, pteval, nr, outcome, flush);

	add_mm_counter(mm, MM_ANONPAGES, -(long)nr);
	folio_remove_rmap_ptes(folio, page, nr, vma);
	if (unlikely(vma->vm_flags & VM_LOCKED))
		mlock_drain_local();
	folio_put_refs(folio, nr);
	return bu_account(args, pte_pfn(first), nr, outcome, flush);
}

/* bu_unmap_batch() for bu_unmap_other(): out of line, rarely taken. */
static noinline enum ttu_hook_result
bu_unmap_batch_other(struct ttu_hook_args *args, pte_t first, unsigned int nr)
{
	return bu_unmap_batch(args, first, nr);
}

/*
 * Unmap @nr uniform PTEs of a page-cache folio from @args->pvmw->pte, as
 * the stock path does for each (upstream 7.0 does it for the batch): clear,
 * flush once, carry the dirty bit to the folio, drop the mappings.  The
 * folio is locked, so it stays in the page cache until reclaim decides;
 * nothing is restored.
 */
static noinline enum ttu_hook_result
bu_unmap_file(struct ttu_hook_args *args, pte_t first, unsigned int nr)
{
	struct vm_area_struct *vma = args->vma;
	struct mm_struct *mm = vma->vm_mm;
	struct folio *folio = args->folio;
	struct page *page = folio_page(folio, pte_pfn(first) - folio_pfn(folio));
	enum bu_flush flush;
	pte_t pteval;

	pteval = bu_clear_flush(args, nr, &flush);
	/* A write through any of the PTEs must reach the file. */
	if (pte_dirty(pteval))
		folio_mark_dirty(folio);
	/* Update high watermark before we lower rss. */
	update_hiwater_rss(mm);
	add_mm_counter(mm, mm_counter_file(folio), -(long)nr);
	folio_remove_rmap_ptes(folio, page, nr, vma);
	if (vma->vm_flags & VM_LOCKED)
		mlock_drain_local();
	folio_put_refs(folio, nr);

	bu_count(BU_STAT_FILE_BATCHES, 1);
	bu_count(BU_STAT_FILE_PTES, nr);
	bu_count(BU_STAT_PTES, nr);
	if (nr != folio_nr_pages(folio))
		bu_count(BU_STAT_PARTIAL, 1);
	trace_batch(pte_pfn(first), folio_order(folio), nr, BU_OUTCOME_UNMAP,
		    flush, BU_KIND_FILE);
	args->nr = nr;
	return nr == folio_nr_pages(folio) ? TTU_HOOK_DONE : TTU_HOOK_CONTINUE;
}

/* May @args' PMD-level step be discarded by bu_unmap_pmd()? */
static enum bu_decline bu_pmd_policy(struct ttu_hook_args *args)
{
	struct folio *folio = args->folio;
	pmd_t pmdval = pmdp_get(args->pvmw->pmd);
	enum bu_decline why;

	if (!READ_ONCE(pmd_discard))
		return BU_DECLINE_PMD_MAPPED;
	/* PMD-mapped page-cache folios are split (zapped) by the stock path. */
	if (!folio_test_anon(folio))
		return BU_DECLINE_PMD_MAPPED;
	why = bu_folio_policy(folio, args->vma, args->flags,
			      READ_ONCE(bu_min_order), false);
	if (why != BU_MAY_BATCH)
		return why;
	/* Exactly the whole folio, mapped by this one present PMD. */
	if (!pmd_trans_huge(pmdval) || folio_order(folio) != HPAGE_PMD_ORDER ||
	    pmd_pfn(pmdval) != folio_pfn(folio) ||
	    !IS_ALIGNED(args->pvmw->address, HPAGE_PMD_SIZE))
		return BU_DECLINE_PMD_MAPPED;
	return BU_MAY_BATCH;
}

/*
 * A step the hook leaves to the stock path: count why.  With enabled=0
 * every step declines (bu_min_order is above every order), and all of
 * them count as disabled, whatever check declined them first.
 */
static noinline enum ttu_hook_result bu_decline(enum bu_decline why)
{
	smp_rmb();	/* the caller's bu_min_order before enabled; bu_enable() */
	bu_count_decline(READ_ONCE(enabled) ? why : BU_DECLINE_DISABLED);
	return TTU_HOOK_DECLINE;
}

/*
 * Discard a PMD-mapped lazyfree THP whole, without splitting the PMD, or
 * leave the PMD as it was: the PTE path's rules, for one entry.
 */
static noinline enum ttu_hook_result bu_unmap_pmd(struct ttu_hook_args *args)
{
	struct vm_area_struct *vma = args->vma;
	struct mm_struct *mm = vma->vm_mm;
	struct folio *folio = args->folio;
	unsigned long addr = args->pvmw->address;
	pmd_t *pmdp = args->pvmw->pmd;
	enum bu_outcome outcome;
	enum bu_decline why;
	pmd_t orig;

	lockdep_assert_held(args->pvmw->ptl);

	why = bu_pmd_policy(args);
	if (why != BU_MAY_BATCH)
		return bu_decline(why);

	/* Re-dirtied already: keep the PMD as it is, no clear, no flush. */
	orig = pmdp_get(pmdp);
	if (pmd_dirty(orig))
		folio_mark_dirty(folio);
	if (bu_redirtied(folio, vma)) {
		folio_set_swapbacked(folio);
		/* Every batch counts one flush_*: batches_discarded needs it. */
		bu_count(BU_STAT_FLUSH_NONE, 1);
		bu_count(BU_STAT_PMD_BATCHES, 1);
		return bu_account(args, pmd_pfn(orig), HPAGE_PMD_NR,
				  BU_OUTCOME_RESTORE_DIRTY, BU_FLUSH_NONE);
	}

	/*
	 * Invalidate, do not clear, until the verdict: lockless walkers
	 * (zap_pmd_range() for MADV_DONTNEED, munmap and exit,
	 * change_pmd_range() for mprotect, get_old_pmd() for mremap) skip a
	 * PMD that reads as none without taking its lock.  A cleared PMD
	 * restored after such a walker passed would bring back a mapping it
	 * removed.  An invalidated one still reads as a mapped huge PMD, so
	 * they wait for the lock; the hardware and GUP-fast cannot use it, and
	 * pmdp_invalidate() flushed it from the TLB (one invalidation on x86),
	 * so its A/D bits in @orig are final.
	 */
	orig = pmdp_invalidate(vma, addr, pmdp);
	if (pmd_dirty(orig))
		folio_mark_dirty(folio);

	outcome = bu_verdict(folio, vma);
	if (outcome != BU_OUTCOME_DISCARD) {
		set_pmd_at(mm, addr, pmdp, orig);
		if (outcome == BU_OUTCOME_RESTORE_DIRTY)
			folio_set_swapbacked(folio);
	} else {
		/* Not in any TLB since the invalidation: no second flush. */
		pmdp_huge_get_and_clear(mm, addr, pmdp);
		folio_remove_rmap_pmd(folio, pmd_page(orig), vma);
		/* The table deposited for a later split goes with the PMD. */
		huge_pmd_zap_deposited_table(mm, pmdp);
		add_mm_counter(mm, MM_ANONPAGES, -HPAGE_PMD_NR);
		if (vma->vm_flags & VM_LOCKED)
			mlock_drain_local();
		/* A PMD mapping holds one reference to the folio. */
		folio_put(folio);
	}

	bu_count(BU_STAT_FLUSH_RANGE, 1);
	bu_count(BU_STAT_PMD_BATCHES, 1);
	return bu_account(args, pmd_pfn(orig), HPAGE_PMD_NR, outcome,
			  BU_FLUSH_RANGE);
}

/*
 * The run of uniform PTEs the hooks may batch from the walk's current PTE:
 * returns its length (2 or more) and sets *@first to the current PTE, or
 * returns 0 and sets *@why to the reason not to.
 */
static __always_inline unsigned int bu_pte_run(struct ttu_hook_args *args,
					       pte_t *first,
					       enum bu_decline *why)
{
	struct page_vma_mapped_walk *pvmw = args->pvmw;
	unsigned int max, nr;
	pte_t pte;

	pte = ptep_get(pvmw->pte);
	if (unlikely(!pte_present(pte))) {
		*why = BU_DECLINE_NOT_PRESENT;
		return 0;
	}
	if (unlikely(pte_unused(pte))) {
		*why = BU_DECLINE_PTE_UNUSED;
		return 0;
	}

	/* Sized afresh for this PTE: table, VMA and folio bound it. */
	max = bu_batch_limit(args->folio, args->vma, pvmw->address, pte);
	nr = bu_pte_batch(pvmw->pte, pte, max);
	if (unlikely(nr < 2)) {
		*why = max < 2 ? BU_DECLINE_BOUNDARY : BU_DECLINE_PTE_MISMATCH;
		return 0;
	}
	*first = pte;
	return nr;
}

/*
 * The PTE steps bu_unmap() does not take inline: page-cache folios, and
 * every folio bu_folio_policy() declines (counted with its reason).
 */
static noinline enum ttu_hook_result bu_unmap_other(struct ttu_hook_args *args)
{
	enum bu_decline why;
	unsigned int nr;
	pte_t pte;

	why = bu_folio_policy(args->folio, args->vma, args->flags,
			      READ_ONCE(bu_min_order), READ_ONCE(file));
	if (why != BU_MAY_BATCH)
		return bu_decline(why);
	nr = bu_pte_run(args, &pte, &why);
	if (!nr)
		return bu_decline(why);
	/* bu_unmap() saw a VMA flag or enabled=/min_order= change since. */
	if (folio_test_anon(args->folio))
		return bu_unmap_batch_other(args, pte, nr);
	return bu_unmap_file(args, pte, nr);
}

/*
 * The hook: one step of try_to_unmap_one()'s walk, under the PTL.
 *
 * Reclaim calls it for every lazyfree and page-cache large folio, so its
 * common path (a lazyfree batch discarded) is inline here and everything
 * else is out of line.  Aligned to 4 KiB so that this path does not cross
 * a code page (the entry is up to 16 bytes in, after ftrace's patchable
 * prefix; a host test checks that the whole function fits one page):
 * under QEMU TCG, where `make bench` runs, a jump to another code page is
 * not chained but looked up, which cost the module a few percent against
 * the in-kernel backport (docs/benchmark.md); on hardware it costs only
 * the padding.
 */
static enum ttu_hook_result __aligned(SZ_4K) bu_unmap(struct ttu_hook_args *args)
{
	struct folio *folio = args->folio;
	enum bu_decline why;
	unsigned int nr;
	pte_t pte;

	if (unlikely(!args->pvmw->pte))
		return bu_unmap_pmd(args);
	/*
	 * What bu_folio_policy() accepts of an anonymous folio, in the fewest
	 * tests.  Anything else (page-cache folios, declines) takes
	 * bu_unmap_other(), out of line, which runs all the checks.
	 */
	if (unlikely(!bu_lazyfree_fast(folio, args->vma, args->flags,
				       READ_ONCE(bu_min_order))))
		return bu_unmap_other(args);

	nr = bu_pte_run(args, &pte, &why);
	if (unlikely(!nr))
		return bu_decline(why);
	return bu_unmap_batch(args, pte, nr);
}

/*
 * How many of the @left PTEs from @ptep (mapping @addr on) one
 * ptep_test_and_clear_young() tests and clears: on arm64, the rest of a
 * contiguous block (contpte_ptep_test_and_clear_young() covers the whole
 * block: the run never needs to visit its other entries).
 */
static inline unsigned int bu_young_span(pte_t *ptep, unsigned long addr,
					 unsigned int left)
{
#ifdef CONFIG_ARM64
	if (pte_valid_cont(__ptep_get(ptep)))
		return min_t(unsigned int, left,
			     CONT_PTES - ((addr >> PAGE_SHIFT) & (CONT_PTES - 1)));
#endif
	return 1;
}

/*
 * The referenced hook: one step of folio_referenced_one()'s walk, under the
 * PTL, for lazyfree and page-cache large folios (file= does not apply).
 * Tests and clears the young bits of the run of uniform PTEs from the
 * current one (the run bu_unmap() would batch), or declines (-1).  Only
 * young bits change, so no restore is ever needed; the kernel does the MMU
 * notifiers for the run.
 */
static int bu_referenced(struct ttu_hook_args *args)
{
	struct page_vma_mapped_walk *pvmw = args->pvmw;
	struct vm_area_struct *vma = args->vma;
	struct folio *folio = args->folio;
	unsigned long addr = pvmw->address;
	enum bu_decline why;
	unsigned int i, nr;
	bool young = false;
	pte_t pte;

	lockdep_assert_held(pvmw->ptl);

	/* Re-checked here: the walk chose to call us before we knew. */
	if (!READ_ONCE(referenced) || !pvmw->pte ||
	    !folio_test_large(folio) || folio_test_swapbacked(folio) ||
	    folio_order(folio) < READ_ONCE(bu_min_order))
		goto decline;
	/* The run bu_unmap() would batch; its declines count here as one. */
	nr = bu_pte_run(args, &pte, &why);
	if (!nr)
		goto decline;

	/*
	 * What ptep_clear_flush_young() does for each: on x86 clearing the
	 * accessed bit needs no flush (a stale TLB entry only delays the next
	 * time it is set); elsewhere flush the run once if any was young.
	 */
	for (i = 0; i < nr; i += bu_young_span(pvmw->pte + i,
					       addr + i * PAGE_SIZE, nr - i))
		young |= ptep_test_and_clear_young(vma, addr + i * PAGE_SIZE,
						   pvmw->pte + i);
#if defined(CONFIG_ARM64)
	/*
	 * A contiguous block at either end of the run had all its young bits
	 * cleared, also outside the run: flush all of it, as
	 * contpte_ptep_clear_flush_young() does.
	 */
	if (young)
		flush_tlb_range(vma, ALIGN_DOWN(addr, CONT_PTE_SIZE),
				ALIGN(addr + nr * PAGE_SIZE, CONT_PTE_SIZE));
#elif !defined(CONFIG_X86)
	if (young)
		flush_tlb_range(vma, addr, addr + nr * PAGE_SIZE);
#endif

	bu_count(BU_STAT_REF_BATCHES, 1);
	bu_count(BU_STAT_REF_PTES, nr);
	if (young)
		bu_count(BU_STAT_REF_YOUNG, 1);
	if (!folio_test_anon(folio))
		bu_count(BU_STAT_REF_FILE, 1);
	trace_referenced(pte_pfn(pte), folio_order(folio), nr, young,
			 folio_test_anon(folio) ? BU_KIND_LAZYFREE : BU_KIND_FILE);
	args->nr = nr;
	return young;

decline:
	bu_count(BU_STAT_REF_DECLINES, 1);
	return -1;
}

/*
 * The kernel calls the hooks only for the folios they declare: small,
 * swap-backed and shmem folios, and page-cache ones with file=0, cost
 * nothing but one static branch.  Set by bu_hook_register().
 */
static struct ttu_hook_ops bu_hook_ops = {
	.min_order = 1,
	.unmap = bu_unmap,
};

/* Register the hooks for what file= and referenced= ask; bu_param_lock. */
static int bu_hook_register(void)
{
	unsigned int kinds = TTU_HOOK_ANON_LAZYFREE | TTU_HOOK_FILE;
	int ret;

	lockdep_assert_held(&bu_param_lock);
	/* Lazyfree and page-cache folios: neither is swap-backed. */
	bu_hook_ops.folios = file ? kinds : TTU_HOOK_ANON_LAZYFREE;
	bu_hook_ops.ref_folios = referenced ? kinds : 0;
	bu_hook_ops.referenced = referenced ? bu_referenced : NULL;
	ret = try_to_unmap_hook_register(&bu_hook_ops);
	bu_registered = !ret;
	return ret;
}

/*
 * Set file= or referenced= (*@param) to @val.  Once loaded, the hooks are
 * registered again with the new folio kinds: in between, reclaim takes the
 * stock path.  If that fails (another module took the hook meanwhile),
 * the old value stays, the module is left without its hooks, and the next
 * write of either parameter tries to register them again.
 */
static int bu_hook_update(bool *param, bool val)
{
	bool old;
	int ret = 0;

	mutex_lock(&bu_param_lock);
	old = *param;
	*param = val;
	if (bu_ready && (old != val || !bu_registered)) {
		if (bu_registered)
			try_to_unmap_hook_unregister(&bu_hook_ops);
		ret = bu_hook_register();
		if (ret) {
			*param = old;
			pr_err("cannot register the hooks: %d; batching is off until file= or referenced= is written again\n",
			       ret);
		}
	}
	mutex_unlock(&bu_param_lock);
	return ret;
}

static int __init batch_unmap_init(void)
{
	int ret;

	ret = bu_stats_init();
	if (ret)
		return ret;

	mutex_lock(&bu_param_lock);
	/* For flush= as given at load, or as written in sysfs since. */
	WRITE_ONCE(bu_flush_max, bu_flush_max_of(flush_policy));
	bu_ready = true;
	ret = kprobes ? bu_probes_set(true) : 0;
	if (!ret) {
		ret = bu_hook_register();
		if (ret) {
			pr_err("cannot register the try_to_unmap hook: %d%s\n",
			       ret, ret == -EBUSY ? " (another module holds it)" : "");
			bu_probes_set(false);
		}
	}
	if (ret)
		bu_ready = false;
	mutex_unlock(&bu_param_lock);
	if (ret) {
		bu_stats_exit();
		return ret;
	}
	pr_info("loaded: enabled=%d file=%d referenced=%d min_order=%u pmd=%d flush=%s kprobes=%d\n",
		enabled, file, referenced, min_order, pmd_discard,
		bu_flush_names[flush_policy], kprobes);
	return 0;
}

static void __exit batch_unmap_exit(void)
{
	mutex_lock(&bu_param_lock);
	/* Waits until no CPU is inside bu_unmap() or bu_referenced(). */
	if (bu_registered)
		try_to_unmap_hook_unregister(&bu_hook_ops);
	bu_registered = false;
	bu_probes_set(false);
	bu_ready = false;
	mutex_unlock(&bu_param_lock);
	bu_stats_exit();
	pr_info("unloaded\n");
}

module_init(batch_unmap_init);
module_exit(batch_unmap_exit);

MODULE_IMPORT_NS(RMAP_HOOK);
MODULE_LICENSE("GPL");
MODULE_VERSION(BU_VERSION);
MODULE_DESCRIPTION("Batched unmap of lazyfree and page-cache large folios during reclaim");
MODULE_AUTHOR("batch_unmap developers");
