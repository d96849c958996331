// SPDX-License-Identifier: GPL-2.0
/*
 * batch_unmap: kprobes that count what the stock unmap path does, so that
 * module off and on can be compared from the stats file alone.
 *
 * The counts are system-wide (every caller of the probed functions), which
 * is what a reclaim benchmark in an otherwise idle test VM wants.  A probe
 * that cannot be armed on this kernel (inlined or renamed symbol) is
 * reported in debugfs batch_unmap/kprobes and the others still work.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kprobes.h>
#include <linux/ptrace.h>
#include <asm/tlbflush.h>

#include "batch_unmap.h"

static int kp_try_to_unmap_one(struct kprobe *p, struct pt_regs *regs)
{
	bu_count(BU_STAT_KP_TRY_TO_UNMAP_ONE, 1);
	return 0;
}

static int kp_ptep_clear_flush(struct kprobe *p, struct pt_regs *regs)
{
	bu_count(BU_STAT_KP_PTEP_CLEAR_FLUSH, 1);
	return 0;
}

/* flush_tlb_mm_range(mm, start, end, stride_shift, freed_tables) */
static int kp_flush_tlb_mm_range(struct kprobe *p, struct pt_regs *regs)
{
	unsigned long start = regs_get_kernel_argument(regs, 1);
	unsigned long end = regs_get_kernel_argument(regs, 2);
	unsigned long shift = regs_get_kernel_argument(regs, 3);

	if (end - start == 1UL << shift) {
		bu_count(BU_STAT_KP_FLUSH_TLB_PAGE, 1);
	} else {
		bu_count(BU_STAT_KP_FLUSH_TLB_RANGE, 1);
		/*
		 * x86's TLB_FLUSH_ALL ends at ~0: count the range as 0 pages.
		 * (Other architectures have no flush_tlb_mm_range(): the probe
		 * does not register there and says so in debugfs.)
		 */
		if (end > start && end != ~0UL)
			bu_count(BU_STAT_KP_FLUSH_TLB_RANGE_PAGES,
				 (end - start) >> shift);
	}
	return 0;
}

static int kp_arch_tlbbatch_flush(struct kprobe *p, struct pt_regs *regs)
{
	bu_count(BU_STAT_KP_TLBBATCH_FLUSH, 1);
	return 0;
}

/* deferred_split_folio(folio, partially_mapped) */
/*
 * set_tlb_ubc_flush_pending(mm, pteval, start, end): a deferred flush
 * queued on reclaim's TLB batch, one page per call on the stock path.  On
 * arm64 each queued page is one TLBI (the whole range is one range TLBI
 * with FEAT_TLBIRANGE).  Where the compiler inlined or cloned it (x86), the
 * probe does not register and debugfs says so.
 */
static int kp_set_tlb_ubc_flush_pending(struct kprobe *p, struct pt_regs *regs)
{
	unsigned long start = regs_get_kernel_argument(regs, 2);
	unsigned long end = regs_get_kernel_argument(regs, 3);

	bu_count(BU_STAT_KP_TLB_PENDING, 1);
	if (end > start)
		bu_count(BU_STAT_KP_TLB_PENDING_PAGES, (end - start) >> PAGE_SHIFT);
	return 0;
}

/* arm64: a write to one entry of a contiguous block unfolds the block. */
static int kp_contpte_try_unfold(struct kprobe *p, struct pt_regs *regs)
{
	bu_count(BU_STAT_KP_CONTPTE_UNFOLD, 1);
	return 0;
}

static int kp_deferred_split_folio(struct kprobe *p, struct pt_regs *regs)
{
	bool partially_mapped = regs_get_kernel_argument(regs, 1) & 1;

	bu_count(partially_mapped ? BU_STAT_KP_SPLIT_PARTIAL :
				    BU_STAT_KP_SPLIT_OTHER, 1);
	return 0;
}

static const struct {
	const char *symbol;
	kprobe_pre_handler_t handler;
} bu_probe_defs[] = {
	{ "try_to_unmap_one", kp_try_to_unmap_one },
	{ "ptep_clear_flush", kp_ptep_clear_flush },
	{ "flush_tlb_mm_range", kp_flush_tlb_mm_range },
	{ "arch_tlbbatch_flush", kp_arch_tlbbatch_flush },
	{ "deferred_split_folio", kp_deferred_split_folio },
	{ "set_tlb_ubc_flush_pending", kp_set_tlb_ubc_flush_pending },
	{ "__contpte_try_unfold", kp_contpte_try_unfold },
};

#define BU_NR_PROBES ARRAY_SIZE(bu_probe_defs)

static struct kprobe bu_kprobes[BU_NR_PROBES];
static int bu_probe_err[BU_NR_PROBES];
static bool bu_probe_armed[BU_NR_PROBES];

unsigned int bu_probes_count(void)
{
	return BU_NR_PROBES;
}

bool bu_probe_registered(unsigned int i, const char **name, int *err)
{
	*name = bu_probe_defs[i].symbol;
	*err = bu_probe_err[i];
	return bu_probe_armed[i];
}

/**
 * bu_probes_set - arm or disarm the kprobes (caller serializes)
 * @on: arm if true
 *
 * Return: 0 if at least one probe is armed (or @on is false), else the
 * error of the first probe.
 */
int bu_probes_set(bool on)
{
	unsigned int i, armed = 0;
	int first_err = 0;

	for (i = 0; i < BU_NR_PROBES; i++) {
		struct kprobe *kp = &bu_kprobes[i];

		if (!on) {
			if (bu_probe_armed[i])
				unregister_kprobe(kp);
			bu_probe_armed[i] = false;
			bu_probe_err[i] = 0;
			continue;
		}
		if (bu_probe_armed[i]) {
			armed++;
			continue;
		}
		/* A kprobe must be zeroed before it is registered again. */
		memset(kp, 0, sizeof(*kp));
		kp->symbol_name = bu_probe_defs[i].symbol;
		kp->pre_handler = bu_probe_defs[i].handler;
		bu_probe_err[i] = register_kprobe(kp);
		if (bu_probe_err[i]) {
			pr_warn("kprobe on %s unavailable: %d\n",
				kp->symbol_name, bu_probe_err[i]);
			if (!first_err)
				first_err = bu_probe_err[i];
			continue;
		}
		bu_probe_armed[i] = true;
		armed++;
	}
	return on && !armed ? first_err : 0;
}
