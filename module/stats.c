// SPDX-License-Identifier: GPL-2.0
/*
 * batch_unmap: counters in debugfs.
 *
 * /sys/kernel/debug/batch_unmap/stats holds one "name value" line per
 * counter (names are stable: match on them, not on line numbers).  Writing "0"
 * resets all counters.  /sys/kernel/debug/batch_unmap/kprobes lists each
 * kprobe with its state: "armed", "off" or "error <errno>".
 */
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>

#include "batch_unmap.h"

DEFINE_PER_CPU(struct bu_stats, bu_stats);

static const char *const bu_stat_names[BU_STAT_NR] = {
	[BU_STAT_CALLS]			= "hook_calls",
	[BU_STAT_BATCHES]		= "batches",
	[BU_STAT_PTES]			= "ptes_batched",
	[BU_STAT_WHOLE]			= "batches_whole_folio",
	[BU_STAT_PARTIAL]		= "batches_partial",
	[BU_STAT_DISCARDS]		= "batches_discarded",
	[BU_STAT_PAGES_DISCARDED]	= "pages_discarded",
	[BU_STAT_RESTORE_DIRTY]		= "restored_dirty",
	[BU_STAT_RESTORE_REFS]		= "restored_refs",
	[BU_STAT_FLUSH_DEFERRED]	= "flush_deferred",
	[BU_STAT_FLUSH_RANGE]		= "flush_range",
	[BU_STAT_FLUSH_NONE]		= "flush_none",
	[BU_STAT_DECLINE + BU_DECLINE_DISABLED]	= "decline_disabled",
	[BU_STAT_DECLINE + BU_DECLINE_PMD_MAPPED] = "decline_pmd_mapped",
	[BU_STAT_DECLINE + BU_DECLINE_HWPOISON]	= "decline_hwpoison",
	[BU_STAT_DECLINE + BU_DECLINE_NOT_LARGE] = "decline_not_large",
	[BU_STAT_DECLINE + BU_DECLINE_MIN_ORDER] = "decline_min_order",
	[BU_STAT_DECLINE + BU_DECLINE_NOT_LAZYFREE] = "decline_not_lazyfree",
	[BU_STAT_DECLINE + BU_DECLINE_SWAPCACHE] = "decline_swapcache",
	[BU_STAT_DECLINE + BU_DECLINE_UFFD_WP]	= "decline_uffd_wp",
	[BU_STAT_DECLINE + BU_DECLINE_NOT_PRESENT] = "decline_not_present",
	[BU_STAT_DECLINE + BU_DECLINE_PTE_UNUSED] = "decline_pte_unused",
	[BU_STAT_DECLINE + BU_DECLINE_BOUNDARY]	= "decline_boundary",
	[BU_STAT_DECLINE + BU_DECLINE_PTE_MISMATCH] = "decline_pte_mismatch",
	[BU_STAT_KP_TRY_TO_UNMAP_ONE]	= "kp_try_to_unmap_one",
	[BU_STAT_KP_PTEP_CLEAR_FLUSH]	= "kp_ptep_clear_flush",
	[BU_STAT_KP_FLUSH_TLB_PAGE]	= "kp_flush_tlb_single_page",
	[BU_STAT_KP_FLUSH_TLB_RANGE]	= "kp_flush_tlb_range",
	[BU_STAT_KP_FLUSH_TLB_RANGE_PAGES] = "kp_flush_tlb_range_pages",
	[BU_STAT_KP_TLBBATCH_FLUSH]	= "kp_tlbbatch_flush",
	[BU_STAT_KP_SPLIT_PARTIAL]	= "kp_deferred_split_partial",
	[BU_STAT_KP_SPLIT_OTHER]	= "kp_deferred_split_other",
	[BU_STAT_FLUSH_CALLS]		= "flush_range_calls",
	[BU_STAT_PMD_BATCHES]		= "pmd_batches",
	[BU_STAT_PTES_RESTORED]		= "ptes_restored",
	[BU_STAT_DECLINE + BU_DECLINE_FILE_OFF]	= "decline_file_off",
	[BU_STAT_DECLINE + BU_DECLINE_SHMEM]	= "decline_shmem",
	[BU_STAT_DECLINE + BU_DECLINE_UFFD]	= "decline_uffd",
	[BU_STAT_FILE_BATCHES]		= "file_batches",
	[BU_STAT_FILE_PTES]		= "file_ptes",
	[BU_STAT_REF_BATCHES]		= "ref_batches",
	[BU_STAT_REF_PTES]		= "ref_ptes",
	[BU_STAT_REF_YOUNG]		= "ref_young",
	[BU_STAT_REF_FILE]		= "ref_file_batches",
	[BU_STAT_REF_DECLINES]		= "ref_declines",
	[BU_STAT_KP_TLB_PENDING]	= "kp_tlb_pending",
	[BU_STAT_KP_TLB_PENDING_PAGES]	= "kp_tlb_pending_pages",
	[BU_STAT_KP_CONTPTE_UNFOLD]	= "kp_contpte_unfold",
};

static struct dentry *bu_debugfs;

static u64 bu_stat_sum(enum bu_stat s)
{
	u64 sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += per_cpu(bu_stats, cpu).v[s];
	return sum;
}

/* @a - @b, or 0: the sums are read one after another while CPUs count. */
static u64 bu_stat_diff(u64 a, u64 b)
{
	return a > b ? a - b : 0;
}

/*
 * The hot path counts as little as it can: every batch counts one flush_*
 * and ends in one outcome, and every hook call is a batch or a decline, so
 * those totals are sums and differences of the other counters.
 */
static int stats_show(struct seq_file *m, void *v)
{
	u64 val[BU_STAT_NR];
	unsigned int i;

	for (i = 0; i < BU_STAT_NR; i++)
		val[i] = bu_stat_sum(i);
	val[BU_STAT_BATCHES] = val[BU_STAT_FLUSH_DEFERRED] + val[BU_STAT_FLUSH_RANGE] +
			       val[BU_STAT_FLUSH_NONE];
	val[BU_STAT_DISCARDS] = bu_stat_diff(val[BU_STAT_BATCHES],
					     val[BU_STAT_RESTORE_DIRTY] +
					     val[BU_STAT_RESTORE_REFS] +
					     val[BU_STAT_FILE_BATCHES]);
	val[BU_STAT_WHOLE] = bu_stat_diff(val[BU_STAT_BATCHES], val[BU_STAT_PARTIAL]);
	/* Lazyfree pages freed: file batches leave the folio to reclaim. */
	val[BU_STAT_PAGES_DISCARDED] = bu_stat_diff(val[BU_STAT_PTES],
						    val[BU_STAT_PTES_RESTORED] +
						    val[BU_STAT_FILE_PTES]);
	/* One call per batch flushed now, plus the extra chunks. */
	val[BU_STAT_FLUSH_CALLS] += val[BU_STAT_FLUSH_RANGE];
	val[BU_STAT_CALLS] = val[BU_STAT_BATCHES];
	for (i = 0; i < BU_DECLINE_MAX; i++)
		val[BU_STAT_CALLS] += val[BU_STAT_DECLINE + i];
	for (i = 0; i < BU_STAT_NR; i++)
		seq_printf(m, "%s %llu\n", bu_stat_names[i], val[i]);
	return 0;
}

static int stats_open(struct inode *inode, struct file *file)
{
	return single_open(file, stats_show, NULL);
}

static ssize_t stats_write(struct file *file, const char __user *ubuf,
			   size_t len, loff_t *ppos)
{
	unsigned int val;
	int cpu, ret;

	ret = kstrtouint_from_user(ubuf, len, 0, &val);
	if (ret)
		return ret;
	if (val != 0)
		return -EINVAL;
	/* Counters bumped concurrently on other CPUs may survive: fine. */
	for_each_possible_cpu(cpu)
		memset(per_cpu_ptr(&bu_stats, cpu), 0, sizeof(struct bu_stats));
	return len;
}

static const struct file_operations stats_fops = {
	.owner = THIS_MODULE,
	.open = stats_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
	.write = stats_write,
};

static int kprobes_show(struct seq_file *m, void *v)
{
	unsigned int i;

	for (i = 0; i < bu_probes_count(); i++) {
		const char *name;
		int err;

		if (bu_probe_registered(i, &name, &err))
			seq_printf(m, "%s armed\n", name);
		else if (err)
			seq_printf(m, "%s error %d\n", name, err);
		else
			seq_printf(m, "%s off\n", name);
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kprobes);

int bu_stats_init(void)
{
	/* Sanity: every counter has a name. */
	BUILD_BUG_ON(ARRAY_SIZE(bu_stat_names) != BU_STAT_NR);

	bu_debugfs = debugfs_create_dir(KBUILD_MODNAME, NULL);
	if (IS_ERR(bu_debugfs)) {
		/* Without debugfs the module still works, only unobserved. */
		pr_warn("%s: no debugfs (%ld): stats unavailable\n", KBUILD_MODNAME,
			PTR_ERR(bu_debugfs));
		bu_debugfs = NULL;
		return 0;
	}
	debugfs_create_file("stats", 0644, bu_debugfs, NULL, &stats_fops);
	debugfs_create_file("kprobes", 0444, bu_debugfs, NULL, &kprobes_fops);
	return 0;
}

void bu_stats_exit(void)
{
	debugfs_remove_recursive(bu_debugfs);
}
