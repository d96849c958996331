// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit suite for batch_unmap's batching policy and PTE-run detector, on
 * constructed PTE arrays and folios (no user process needed).
 *
 * Load batch_unmap.ko first; results appear in dmesg and in
 * /sys/kernel/debug/kunit/batch_unmap/results.
 */
#include <kunit/test.h>
#include <linux/mm.h>
#include <linux/pgtable.h>
#include <linux/userfaultfd_k.h>

#include "batch_unmap.h"

#define RUN_LEN		16
#define BASE_PFN	0x12340UL

/* A table of @n present, writable PTEs mapping consecutive PFNs. */
static pte_t *make_run(struct kunit *test, unsigned int n)
{
	pte_t *ptes = kunit_kcalloc(test, PTRS_PER_PTE, sizeof(pte_t), GFP_KERNEL);
	unsigned int i;

	KUNIT_ASSERT_NOT_NULL(test, ptes);
	for (i = 0; i < n; i++)
		ptes[i] = pfn_pte(BASE_PFN + i, PAGE_SHARED);
	return ptes;
}

static void batch_uniform_run_is_whole(struct kunit *test)
{
	pte_t *ptes = make_run(test, RUN_LEN);

	KUNIT_EXPECT_EQ(test, bu_pte_batch(ptes, ptes[0], RUN_LEN), RUN_LEN);
}

static void batch_respects_cap(struct kunit *test)
{
	pte_t *ptes = make_run(test, RUN_LEN);

	KUNIT_EXPECT_EQ(test, bu_pte_batch(ptes, ptes[0], 5), 5U);
	KUNIT_EXPECT_EQ(test, bu_pte_batch(ptes, ptes[0], 1), 1U);
}

static void batch_ignores_dirty_and_young(struct kunit *test)
{
	pte_t *ptes = make_run(test, RUN_LEN);

	ptes[3] = pte_mkdirty(ptes[3]);
	/* pte_mkdirty() may also set soft-dirty: keep only the dirty bit. */
	ptes[3] = pte_clear_soft_dirty(ptes[3]);
	ptes[5] = pte_mkold(ptes[5]);
	ptes[6] = pte_mkyoung(pte_mkclean(ptes[6]));
	KUNIT_EXPECT_EQ(test, bu_pte_batch(ptes, ptes[0], RUN_LEN), RUN_LEN);
}

static void batch_stops_at_write_bit(struct kunit *test)
{
	pte_t *ptes = make_run(test, RUN_LEN);

	/* fork + MADV_DONTFORK on half: RW and RO halves must not mix. */
	ptes[7] = pte_wrprotect(ptes[7]);
	KUNIT_EXPECT_EQ(test, bu_pte_batch(ptes, ptes[0], RUN_LEN), 7U);
	/* Nor when the run starts read-only. */
	KUNIT_EXPECT_EQ(test, bu_pte_batch(ptes + 7, ptes[7], RUN_LEN - 7), 1U);
}

static void batch_stops_at_soft_dirty(struct kunit *test)
{
	pte_t *ptes = make_run(test, RUN_LEN);

	ptes[4] = pte_mksoft_dirty(ptes[4]);
	if (pte_same(ptes[4], pfn_pte(BASE_PFN + 4, PAGE_SHARED)))
		kunit_skip(test, "no soft-dirty bit on this kernel");
	KUNIT_EXPECT_EQ(test, bu_pte_batch(ptes, ptes[0], RUN_LEN), 4U);
}

static void batch_stops_at_uffd_wp(struct kunit *test)
{
	pte_t *ptes = make_run(test, RUN_LEN);

	ptes[9] = pte_mkuffd_wp(ptes[9]);
	if (pte_same(ptes[9], pfn_pte(BASE_PFN + 9, PAGE_SHARED)))
		kunit_skip(test, "no uffd-wp bit on this kernel");
	KUNIT_EXPECT_EQ(test, bu_pte_batch(ptes, ptes[0], RUN_LEN), 9U);
}

static void batch_stops_at_prot_none(struct kunit *test)
{
	pte_t *ptes = make_run(test, RUN_LEN);

	/* NUMA hinting: a PROT_NONE PTE must end the batch (see README). */
	ptes[2] = pfn_pte(BASE_PFN + 2, PAGE_NONE);
	KUNIT_EXPECT_EQ(test, bu_pte_batch(ptes, ptes[0], RUN_LEN), 2U);
	/* And a PROT_NONE first PTE never batches with accessible ones. */
	KUNIT_EXPECT_EQ(test, bu_pte_batch(ptes + 2, ptes[2], RUN_LEN - 2), 1U);
}

static void batch_stops_at_pfn_gap(struct kunit *test)
{
	pte_t *ptes = make_run(test, RUN_LEN);

	ptes[11] = pfn_pte(BASE_PFN + 100, PAGE_SHARED);
	KUNIT_EXPECT_EQ(test, bu_pte_batch(ptes, ptes[0], RUN_LEN), 11U);
	/* Same PFN twice is not consecutive either. */
	ptes[11] = pfn_pte(BASE_PFN + 10, PAGE_SHARED);
	KUNIT_EXPECT_EQ(test, bu_pte_batch(ptes, ptes[0], RUN_LEN), 11U);
}

static void batch_stops_at_none_pte(struct kunit *test)
{
	pte_t *ptes = make_run(test, RUN_LEN);

	ptes[8] = __pte(0);
	KUNIT_EXPECT_EQ(test, bu_pte_batch(ptes, ptes[0], RUN_LEN), 8U);
}

static void batch_full_table(struct kunit *test)
{
	pte_t *ptes = make_run(test, PTRS_PER_PTE);

	KUNIT_EXPECT_EQ(test, bu_pte_batch(ptes, ptes[0], PTRS_PER_PTE),
			(unsigned int)PTRS_PER_PTE);
}

static void limit_stops_at_pmd_boundary(struct kunit *test)
{
	unsigned long pmd = 64UL << PMD_SHIFT;

	/* A 16-page folio mapped 4 pages before a PMD boundary (mremap). */
	KUNIT_EXPECT_EQ(test, bu_limit(pmd - 4 * PAGE_SIZE, pmd + PMD_SIZE, 16), 4U);
	/* The part after the boundary is its own batch. */
	KUNIT_EXPECT_EQ(test, bu_limit(pmd, pmd + PMD_SIZE, 12), 12U);
	/* Never more than one page table. */
	KUNIT_EXPECT_EQ(test, bu_limit(pmd, pmd + 4 * PMD_SIZE, 4096),
			(unsigned int)PTRS_PER_PTE);
}

static void limit_stops_at_vma_end(struct kunit *test)
{
	unsigned long pmd = 64UL << PMD_SHIFT;

	/* Partial munmap: the VMA ends inside the folio. */
	KUNIT_EXPECT_EQ(test, bu_limit(pmd, pmd + 3 * PAGE_SIZE, 16), 3U);
	KUNIT_EXPECT_EQ(test, bu_limit(pmd + 2 * PAGE_SIZE, pmd + 3 * PAGE_SIZE, 16), 1U);
}

static void limit_stops_at_folio_end(struct kunit *test)
{
	unsigned long pmd = 64UL << PMD_SHIFT;

	/* The walk is in the middle of the folio: only the rest of it. */
	KUNIT_EXPECT_EQ(test, bu_limit(pmd + 8 * PAGE_SIZE, pmd + PMD_SIZE, 5), 5U);
}

/* A fake VMA and folio for the policy checks. */
struct policy_ctx {
	struct vm_area_struct vma;
	struct folio *folio;
};

static struct policy_ctx *policy_setup(struct kunit *test, unsigned int order,
				       bool anon, bool swapbacked)
{
	struct policy_ctx *ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, ctx);
	ctx->folio = folio_alloc(GFP_KERNEL, order);
	KUNIT_ASSERT_NOT_NULL(test, ctx->folio);
	/* Only the PAGE_MAPPING_ANON bit is looked at, never the anon_vma. */
	if (anon)
		ctx->folio->mapping = (void *)PAGE_MAPPING_ANON;
	if (swapbacked)
		__folio_set_swapbacked(ctx->folio);
	return ctx;
}

static void policy_teardown(struct policy_ctx *ctx)
{
	ctx->folio->mapping = NULL;
	__folio_clear_swapbacked(ctx->folio);
	folio_put(ctx->folio);
}

static void policy_batches_lazyfree_large(struct kunit *test)
{
	struct policy_ctx *ctx = policy_setup(test, 4, true, false);

	KUNIT_EXPECT_EQ(test, bu_folio_policy(ctx->folio, &ctx->vma, TTU_BATCH_FLUSH, 1, true),
			BU_MAY_BATCH);
	policy_teardown(ctx);
}

static void policy_declines(struct kunit *test)
{
	struct policy_ctx *ctx;

	ctx = policy_setup(test, 0, true, false);
	KUNIT_EXPECT_EQ(test, bu_folio_policy(ctx->folio, &ctx->vma, 0, 1, true),
			BU_DECLINE_NOT_LARGE);
	policy_teardown(ctx);

	ctx = policy_setup(test, 2, true, false);
	KUNIT_EXPECT_EQ(test, bu_folio_policy(ctx->folio, &ctx->vma, 0, 3, true),
			BU_DECLINE_MIN_ORDER);
	KUNIT_EXPECT_EQ(test, bu_folio_policy(ctx->folio, &ctx->vma, TTU_HWPOISON, 1, true),
			BU_DECLINE_HWPOISON);
	vm_flags_init(&ctx->vma, VM_UFFD_WP);
	if (userfaultfd_wp(&ctx->vma))
		KUNIT_EXPECT_EQ(test, bu_folio_policy(ctx->folio, &ctx->vma, 0, 1, true),
				BU_DECLINE_UFFD_WP);
	policy_teardown(ctx);

	ctx = policy_setup(test, 2, true, true);
	KUNIT_EXPECT_EQ(test, bu_folio_policy(ctx->folio, &ctx->vma, 0, 1, true),
			BU_DECLINE_NOT_LAZYFREE);
	policy_teardown(ctx);

	/* shmem: out of scope; page cache with file=0 or in a uffd VMA. */
	ctx = policy_setup(test, 2, false, true);
	KUNIT_EXPECT_EQ(test, bu_folio_policy(ctx->folio, &ctx->vma, 0, 1, true),
			BU_DECLINE_SHMEM);
	policy_teardown(ctx);

	ctx = policy_setup(test, 2, false, false);
	KUNIT_EXPECT_EQ(test, bu_folio_policy(ctx->folio, &ctx->vma, 0, 1, false),
			BU_DECLINE_FILE_OFF);
	vm_flags_init(&ctx->vma, VM_UFFD_MISSING);
	if (userfaultfd_armed(&ctx->vma))
		KUNIT_EXPECT_EQ(test, bu_folio_policy(ctx->folio, &ctx->vma, 0, 1, true),
				BU_DECLINE_UFFD);
	policy_teardown(ctx);
}

/* Page-cache large folios batch, with file=1, outside userfaultfd VMAs. */
static void policy_batches_file_large(struct kunit *test)
{
	struct policy_ctx *ctx = policy_setup(test, 4, false, false);

	KUNIT_EXPECT_EQ(test, bu_folio_policy(ctx->folio, &ctx->vma, TTU_BATCH_FLUSH, 1, true),
			BU_MAY_BATCH);
	KUNIT_EXPECT_EQ(test, bu_folio_policy(ctx->folio, &ctx->vma, TTU_HWPOISON, 1, true),
			BU_DECLINE_HWPOISON);
	policy_teardown(ctx);
}

/* One folio and VMA: bu_lazyfree_fast() against bu_folio_policy(). */
static void fast_agrees_one(struct kunit *test, struct policy_ctx *ctx,
			    bool anon)
{
	static const unsigned int min_orders[] = { 1, 3 };
	static const enum ttu_flags flags[] = { 0, TTU_BATCH_FLUSH, TTU_HWPOISON };
	unsigned int m, f;
	bool fast, policy;

	for (m = 0; m < ARRAY_SIZE(min_orders); m++) {
		for (f = 0; f < ARRAY_SIZE(flags); f++) {
			fast = bu_lazyfree_fast(ctx->folio, &ctx->vma, flags[f],
						min_orders[m]);
			policy = anon && bu_folio_policy(ctx->folio, &ctx->vma,
							 flags[f], min_orders[m],
							 true) == BU_MAY_BATCH;
			KUNIT_EXPECT_EQ_MSG(test, fast, policy,
					    "order %u anon %d swapbacked %d uffd-wp %d min_order %u flags %#x",
					    folio_order(ctx->folio), anon,
					    folio_test_swapbacked(ctx->folio),
					    userfaultfd_wp(&ctx->vma), min_orders[m],
					    flags[f]);
		}
	}
}

/*
 * bu_lazyfree_fast(), the hot path's test, says yes exactly when the folio
 * is anonymous and bu_folio_policy() says yes: for every combination of
 * order, min_order, kind (anonymous or not, swap-backed or not), flags and
 * uffd-wp.
 */
static void policy_fast_agrees(struct kunit *test)
{
	static const unsigned int orders[] = { 0, 2, 4 };
	unsigned int o, kind;
	struct policy_ctx *ctx;

	for (o = 0; o < ARRAY_SIZE(orders); o++) {
		for (kind = 0; kind < 4; kind++) {
			ctx = policy_setup(test, orders[o], kind & 1, kind & 2);
			vm_flags_init(&ctx->vma, 0);
			fast_agrees_one(test, ctx, kind & 1);
			vm_flags_init(&ctx->vma, VM_UFFD_WP);
			fast_agrees_one(test, ctx, kind & 1);
			policy_teardown(ctx);
		}
	}
	/* enabled=0's value: nothing passes. */
	ctx = policy_setup(test, 4, true, false);
	KUNIT_EXPECT_FALSE(test, bu_lazyfree_fast(ctx->folio, &ctx->vma, 0, UINT_MAX));
	policy_teardown(ctx);
}

/* Flush chunks: never above the ceiling, as few and as equal as possible. */
static void flush_step_chunks_near_the_ceiling(struct kunit *test)
{
	unsigned int nr, step;

	/* From just above the ceiling to 4x it: chunks, none above it. */
	for (nr = 34; nr <= 4 * 33; nr++) {
		step = bu_flush_step(nr, 33);
		KUNIT_EXPECT_LE(test, step, 33U);
		KUNIT_EXPECT_GE(test, step, 1U);
		/* The fewest chunks: one fewer would need more than 33 each. */
		KUNIT_EXPECT_EQ(test, DIV_ROUND_UP(nr, step), DIV_ROUND_UP(nr, 33));
	}
	KUNIT_EXPECT_EQ(test, bu_flush_step(34, 33), 17U);
	KUNIT_EXPECT_EQ(test, bu_flush_step(64, 33), 32U);
	KUNIT_EXPECT_EQ(test, bu_flush_step(128, 33), 32U);
	KUNIT_EXPECT_EQ(test, bu_flush_step(16, 4), 4U);
}

/* At or under the ceiling, far above it, or ceiling 0 / none: one flush. */
static void flush_step_one_flush(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, bu_flush_step(16, 33), 16U);
	KUNIT_EXPECT_EQ(test, bu_flush_step(33, 33), 33U);
	KUNIT_EXPECT_EQ(test, bu_flush_step(133, 33), 133U);
	KUNIT_EXPECT_EQ(test, bu_flush_step(17, 4), 17U);
	KUNIT_EXPECT_EQ(test, bu_flush_step(256, 33), 256U);
	KUNIT_EXPECT_EQ(test, bu_flush_step(512, 33), 512U);
	KUNIT_EXPECT_EQ(test, bu_flush_step(64, 0), 64U);
	KUNIT_EXPECT_EQ(test, bu_flush_step(512, ULONG_MAX), 512U);
	KUNIT_EXPECT_EQ(test, bu_flush_step(0, 33), 1U);
}

static struct kunit_case batch_unmap_cases[] = {
	KUNIT_CASE(batch_uniform_run_is_whole),
	KUNIT_CASE(batch_respects_cap),
	KUNIT_CASE(batch_ignores_dirty_and_young),
	KUNIT_CASE(batch_stops_at_write_bit),
	KUNIT_CASE(batch_stops_at_soft_dirty),
	KUNIT_CASE(batch_stops_at_uffd_wp),
	KUNIT_CASE(batch_stops_at_prot_none),
	KUNIT_CASE(batch_stops_at_pfn_gap),
	KUNIT_CASE(batch_stops_at_none_pte),
	KUNIT_CASE(batch_full_table),
	KUNIT_CASE(limit_stops_at_pmd_boundary),
	KUNIT_CASE(limit_stops_at_vma_end),
	KUNIT_CASE(limit_stops_at_folio_end),
	KUNIT_CASE(policy_batches_lazyfree_large),
	KUNIT_CASE(policy_declines),
	KUNIT_CASE(policy_batches_file_large),
	KUNIT_CASE(policy_fast_agrees),
	KUNIT_CASE(flush_step_chunks_near_the_ceiling),
	KUNIT_CASE(flush_step_one_flush),
	{}
};

static struct kunit_suite batch_unmap_suite = {
	.name = "batch_unmap",
	.test_cases = batch_unmap_cases,
};

kunit_test_suite(batch_unmap_suite);

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("KUnit tests for batch_unmap");
