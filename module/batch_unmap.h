/* SPDX-License-Identifier: GPL-2.0 */
/*
 * batch_unmap.ko internals, shared by its source files and its KUnit suite.
 */
#ifndef _BATCH_UNMAP_INTERNAL_H
#define _BATCH_UNMAP_INTERNAL_H

#include <linux/mm.h>
#include <linux/percpu.h>

/* Say what is missing on a kernel without our patches (kernel/patches/). */
#if !__has_include("linux/rmap_hook.h")
#error "batch_unmap needs the try_to_unmap_one() hook patch (no linux/rmap_hook.h)"
#endif
#include <linux/rmap_hook.h>

/* Large anonymous folios (mTHP, THP) only exist with THP. */
#ifndef CONFIG_TRANSPARENT_HUGEPAGE
#error "batch_unmap needs CONFIG_TRANSPARENT_HUGEPAGE"
#endif

#include "../include/batch_unmap.h"

/* detect.h: the batching policy and the PTE-run detector. */
#include "detect.h"

/* stats.c: per-CPU counters, reported in debugfs batch_unmap/stats. */
enum bu_stat {
	BU_STAT_CALLS,			/* derived: batches + declines */
	BU_STAT_BATCHES,		/* derived: flush_* (one per batch) */
	BU_STAT_PTES,
	BU_STAT_WHOLE,			/* derived: batches - partial */
	BU_STAT_PARTIAL,
	BU_STAT_DISCARDS,		/* derived: batches - restores - file */
	BU_STAT_PAGES_DISCARDED,	/* derived: ptes - ptes restored */
	BU_STAT_RESTORE_DIRTY,
	BU_STAT_RESTORE_REFS,
	BU_STAT_FLUSH_DEFERRED,
	BU_STAT_FLUSH_RANGE,
	BU_STAT_FLUSH_NONE,
	BU_STAT_DECLINE,			/* + enum bu_decline */
	BU_STAT_KP_TRY_TO_UNMAP_ONE = BU_STAT_DECLINE + BU_DECLINE_MAX,
	BU_STAT_KP_PTEP_CLEAR_FLUSH,
	BU_STAT_KP_FLUSH_TLB_PAGE,
	BU_STAT_KP_FLUSH_TLB_RANGE,
	BU_STAT_KP_FLUSH_TLB_RANGE_PAGES,
	BU_STAT_KP_TLBBATCH_FLUSH,
	BU_STAT_KP_SPLIT_PARTIAL,
	BU_STAT_KP_SPLIT_OTHER,
	BU_STAT_FLUSH_CALLS,		/* counts calls beyond one per batch */
	BU_STAT_PMD_BATCHES,
	BU_STAT_PTES_RESTORED,
	BU_STAT_FILE_BATCHES,		/* file batches (in batches too) */
	BU_STAT_FILE_PTES,		/* their PTEs (in ptes_batched too) */
	BU_STAT_REF_BATCHES,		/* referenced hook: runs batched */
	BU_STAT_REF_PTES,		/* their PTEs */
	BU_STAT_REF_YOUNG,		/* runs with a young PTE */
	BU_STAT_REF_FILE,		/* runs of file folios (in ref_batches) */
	BU_STAT_REF_DECLINES,		/* referenced hook calls declined */
	BU_STAT_KP_TLB_PENDING,		/* deferred flushes queued (arm64) */
	BU_STAT_KP_TLB_PENDING_PAGES,	/* the pages they cover */
	BU_STAT_KP_CONTPTE_UNFOLD,	/* contiguous blocks unfolded (arm64) */
	BU_STAT_NR,
};

struct bu_stats {
	u64 v[BU_STAT_NR];
};

DECLARE_PER_CPU(struct bu_stats, bu_stats);

static inline void bu_count(enum bu_stat s, u64 n)
{
	this_cpu_add(bu_stats.v[s], n);
}

static inline void bu_count_decline(enum bu_decline why)
{
	bu_count(BU_STAT_DECLINE + why, 1);
}

int bu_stats_init(void);
void bu_stats_exit(void);

/* probes.c: kprobes on the stock path. */
int bu_probes_set(bool on);
bool bu_probe_registered(unsigned int i, const char **name, int *err);
unsigned int bu_probes_count(void);

#endif /* _BATCH_UNMAP_INTERNAL_H */
