// SPDX-License-Identifier: GPL-2.0
/*
 * batch_unmap: batched unmap of lazyfree large folios during reclaim.
 *
 * Registered on the try_to_unmap_one() hook of our 6.12 patch, the module
 * unmaps all PTEs that map a lazyfree (MADV_FREE) large folio in one batch
 * instead of one by one: one TLB flush per batch instead of one per page,
 * and the rmap of the whole batch removed at once, so a fully unmapped folio
 * never looks partially mapped and is never queued for deferred split.
 * Anything it is not sure about is left to the stock path (declined).
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

#define CREATE_TRACE_POINTS
#include "trace.h"

static bool enabled = true;
module_param(enabled, bool, 0644);
MODULE_PARM_DESC(enabled, "Batch lazyfree large folios (default: 1)");

static unsigned int min_order = 1;

static int min_order_set(const char *val, const struct kernel_param *kp)
{
	unsigned int order;

	if (kstrtouint(val, 0, &order) || order < 1 || order > HPAGE_PMD_ORDER)
		return -EINVAL;
	WRITE_ONCE(min_order, order);
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

static int flush_set(const char *val, const struct kernel_param *kp)
{
	int i = sysfs_match_string(bu_flush_names, val);

	if (i < 0)
		return -EINVAL;
	WRITE_ONCE(flush_policy, i);
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
static DEFINE_MUTEX(bu_param_lock);

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

/* A range flush of more pages than this flushes the whole TLB. */
static unsigned long bu_flush_ceiling(void)
{
#ifdef CONFIG_X86
	return tlb_flush_ceiling();
#else
	return ULONG_MAX;
#endif
}

/* Flush the TLB for @nr cleared PTEs from @start now, as the policy says. */
static void bu_flush_now(struct vm_area_struct *vma, unsigned long start,
			 unsigned int nr)
{
	unsigned int step, done, calls = 0;

	switch (READ_ONCE(flush_policy)) {
	case BU_FP_RANGE:
		step = nr;
		break;
	case BU_FP_PAGES:
		step = 1;
		break;
	default:
		step = bu_flush_step(nr, bu_flush_ceiling());
		break;
	}
	for (done = 0; done < nr; done += step, calls++)
		try_to_unmap_flush_range(vma, start + done * PAGE_SIZE,
					 start + min(done + step, nr) * PAGE_SIZE);
	/* The first call is counted in flush_range: only the others here. */
	if (calls > 1)
		bu_count(BU_STAT_FLUSH_CALLS, calls - 1);
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
	map_count = folio_mapcount(folio);
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

/* Count a batch of @nr pages and tell the walk how to go on. */
static enum ttu_hook_result bu_account(struct ttu_hook_args *args,
				       unsigned long pfn, unsigned int nr,
				       enum bu_outcome outcome,
				       enum bu_flush flush)
{
	unsigned int order = folio_order(args->folio);

	/* Batches, whole ones and hook calls are derived when read. */
	bu_count(BU_STAT_PTES, nr);
	if (nr != 1U << order)
		bu_count(BU_STAT_PARTIAL, 1);
	trace_batch(pfn, order, nr, outcome, flush);

	switch (outcome) {
	case BU_OUTCOME_RESTORE_DIRTY:
		bu_count(BU_STAT_RESTORE_DIRTY, 1);
		bu_count(BU_STAT_PTES_RESTORED, nr);
		return TTU_HOOK_ABORT;
	case BU_OUTCOME_RESTORE_REFS:
		bu_count(BU_STAT_RESTORE_REFS, 1);
		bu_count(BU_STAT_PTES_RESTORED, nr);
		return TTU_HOOK_ABORT;
	default:
		/* pages_discarded: ptes_batched - ptes_restored, when read. */
		bu_count(BU_STAT_DISCARDS, 1);
		args->nr = nr;
		/* All of the folio was mapped here: nothing left in this VMA. */
		return nr == 1U << order ? TTU_HOOK_DONE : TTU_HOOK_CONTINUE;
	}
}

/*
 * Unmap @nr PTEs from @args->pvmw->pte, which bu_pte_batch() found uniform:
 * clear, flush once, then discard the pages or restore the PTEs.
 */
static enum ttu_hook_result bu_unmap_batch(struct ttu_hook_args *args,
					   pte_t first, unsigned int nr)
{
	struct vm_area_struct *vma = args->vma;
	struct mm_struct *mm = vma->vm_mm;
	struct folio *folio = args->folio;
	unsigned long start = args->pvmw->address;
	unsigned long end = start + nr * PAGE_SIZE;
	pte_t *ptep = args->pvmw->pte;
	struct page *page = folio_page(folio, pte_pfn(first) - folio_pfn(folio));
	enum bu_outcome outcome;
	enum bu_flush flush;
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
	pteval = get_and_clear_full_ptes(mm, start, ptep, nr, 0);

	if (!pte_accessible(mm, pteval)) {
		/* Like ptep_clear_flush(): no TLB can cache these entries. */
		flush = BU_FLUSH_NONE;
	} else if (try_to_unmap_flush_deferred(mm, args->flags, pteval, start,
					       end)) {
		/*
		 * As in try_to_unmap_one(): reclaim's try_to_unmap_flush()
		 * flushes before the pages are freed or written back.  A
		 * remote CPU may still hold a clean entry meanwhile; the
		 * architecture guarantees a write through it traps
		 * (clear->dirty on an unmapped PTE), so no write is lost.
		 */
		flush = BU_FLUSH_DEFERRED;
	} else {
		bu_flush_now(vma, start, nr);
		flush = BU_FLUSH_RANGE;
	}
	bu_count(BU_STAT_FLUSH_DEFERRED + flush, 1);

	if (pte_dirty(pteval))
		folio_mark_dirty(folio);

	outcome = bu_verdict(folio, vma);
	if (outcome != BU_OUTCOME_DISCARD) {
		set_ptes(mm, start, ptep, pteval, nr);
		/* Re-dirtied: keep the data, swap it out. */
		if (outcome == BU_OUTCOME_RESTORE_DIRTY)
			folio_set_swapbacked(folio);
	} else {
		add_mm_counter(mm, MM_ANONPAGES, -(long)nr);
		folio_remove_rmap_ptes(folio, page, nr, vma);
		if (vma->vm_flags & VM_LOCKED)
			mlock_drain_local();
		folio_put_refs(folio, nr);
	}

	return bu_account(args, pte_pfn(first), nr, outcome, flush);
}

/*
 * Discard a PMD-mapped lazyfree THP whole, without splitting the PMD, or
 * leave the PMD as it was: the PTE path's rules, for one entry.
 */
static enum ttu_hook_result bu_unmap_pmd(struct ttu_hook_args *args)
{
	struct vm_area_struct *vma = args->vma;
	struct mm_struct *mm = vma->vm_mm;
	struct folio *folio = args->folio;
	unsigned long addr = args->pvmw->address;
	pmd_t *pmdp = args->pvmw->pmd;
	enum bu_outcome outcome;
	pmd_t orig;

	lockdep_assert_held(args->pvmw->ptl);

	/* Re-dirtied already: keep the PMD as it is, no clear, no flush. */
	orig = pmdp_get(pmdp);
	if (pmd_dirty(orig))
		folio_mark_dirty(folio);
	if (bu_redirtied(folio, vma)) {
		folio_set_swapbacked(folio);
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

/* May @args' PMD-level step be discarded by bu_unmap_pmd()? */
static enum bu_decline bu_pmd_policy(struct ttu_hook_args *args)
{
	struct folio *folio = args->folio;
	pmd_t pmdval = pmdp_get(args->pvmw->pmd);
	enum bu_decline why;

	if (!READ_ONCE(pmd_discard))
		return BU_DECLINE_PMD_MAPPED;
	why = bu_folio_policy(folio, args->vma, args->flags,
			      READ_ONCE(min_order));
	if (why != BU_MAY_BATCH)
		return why;
	/* Exactly the whole folio, mapped by this one present PMD. */
	if (!pmd_trans_huge(pmdval) || folio_order(folio) != HPAGE_PMD_ORDER ||
	    pmd_pfn(pmdval) != folio_pfn(folio) ||
	    !IS_ALIGNED(args->pvmw->address, HPAGE_PMD_SIZE))
		return BU_DECLINE_PMD_MAPPED;
	return BU_MAY_BATCH;
}

/* The hook: one step of try_to_unmap_one()'s walk, under the PTL. */
static enum ttu_hook_result bu_unmap(struct ttu_hook_args *args)
{
	struct page_vma_mapped_walk *pvmw = args->pvmw;
	enum bu_decline why;
	unsigned int max, nr;
	pte_t pte;

	if (!READ_ONCE(enabled)) {
		why = BU_DECLINE_DISABLED;
		goto decline;
	}
	if (!pvmw->pte) {
		why = bu_pmd_policy(args);
		if (why != BU_MAY_BATCH)
			goto decline;
		return bu_unmap_pmd(args);
	}
	why = bu_folio_policy(args->folio, args->vma, args->flags,
			      READ_ONCE(min_order));
	if (why != BU_MAY_BATCH)
		goto decline;

	pte = ptep_get(pvmw->pte);
	if (!pte_present(pte)) {
		why = BU_DECLINE_NOT_PRESENT;
		goto decline;
	}
	if (pte_unused(pte)) {
		why = BU_DECLINE_PTE_UNUSED;
		goto decline;
	}

	/* Sized afresh for this PTE: table, VMA and folio bound it. */
	max = bu_batch_limit(args->folio, args->vma, pvmw->address, pte);
	nr = bu_pte_batch(pvmw->pte, pte, max);
	if (nr < 2) {
		why = max < 2 ? BU_DECLINE_BOUNDARY : BU_DECLINE_PTE_MISMATCH;
		goto decline;
	}
	return bu_unmap_batch(args, pte, nr);

decline:
	bu_count_decline(why);
	return TTU_HOOK_DECLINE;
}

/*
 * The kernel calls the hook only for the folios it declares: small and
 * swap-backed or file folios cost nothing but one static branch.
 */
static const struct ttu_hook_ops bu_hook_ops = {
	.folios = TTU_HOOK_ANON_LAZYFREE,
	.min_order = 1,
	.unmap = bu_unmap,
};

static int __init batch_unmap_init(void)
{
	int ret;

	ret = bu_stats_init();
	if (ret)
		return ret;

	mutex_lock(&bu_param_lock);
	bu_ready = true;
	ret = kprobes ? bu_probes_set(true) : 0;
	mutex_unlock(&bu_param_lock);
	if (ret)
		goto stats_exit;

	ret = try_to_unmap_hook_register(&bu_hook_ops);
	if (ret) {
		pr_err("cannot register the try_to_unmap hook: %d%s\n", ret,
		       ret == -EBUSY ? " (another module holds it)" : "");
		goto probes_off;
	}
	pr_info("loaded: enabled=%d min_order=%u pmd=%d flush=%s kprobes=%d\n",
		enabled, min_order, pmd_discard, bu_flush_names[flush_policy], kprobes);
	return 0;

probes_off:
	bu_probes_set(false);
stats_exit:
	bu_stats_exit();
	return ret;
}

static void __exit batch_unmap_exit(void)
{
	/* Waits until no CPU is inside bu_unmap(). */
	try_to_unmap_hook_unregister(&bu_hook_ops);
	mutex_lock(&bu_param_lock);
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
MODULE_DESCRIPTION("Batched unmap of lazyfree large folios during reclaim");
MODULE_AUTHOR("batch_unmap developers");
