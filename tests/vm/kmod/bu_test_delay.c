// SPDX-License-Identifier: GPL-2.0
/*
 * bu_test_delay: a test helper, not part of batch_unmap.  It widens the
 * window between a PMD's invalidation (or clearing) and the verdict of the
 * PMD-level discard, so that the race tests (t_pmdrace) hit it every time
 * instead of once in thousands of tries.
 *
 * kretprobes on pmdp_invalidate() and pmdp_huge_clear_flush() busy-wait
 * delay_us microseconds when the caller belongs to thread group tgid (the
 * test's reclaimer; 0: never), still under the page-table lock, as the
 * discard path is when it returns from them.  Other callers pass untouched.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/sched.h>

static int tgid;
module_param(tgid, int, 0644);
MODULE_PARM_DESC(tgid, "Delay only callers in this thread group (0: none)");

static unsigned int delay_us = 2000;
module_param(delay_us, uint, 0644);
MODULE_PARM_DESC(delay_us, "Busy-wait after the PMD changed, in us (max 20000)");

static atomic_t hits = ATOMIC_INIT(0);
module_param_named(hits, hits.counter, int, 0444);
MODULE_PARM_DESC(hits, "How many delays were started");

static int bu_delay_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	int want = READ_ONCE(tgid);

	if (want && current->tgid == want) {
		/* Counted first: a test polls it to act inside the delay. */
		atomic_inc(&hits);
		udelay(min(READ_ONCE(delay_us), 20000U));
	}
	return 0;
}

static struct kretprobe bu_delay_probes[] = {
	{ .kp.symbol_name = "pmdp_invalidate", .handler = bu_delay_ret },
	{ .kp.symbol_name = "pmdp_huge_clear_flush", .handler = bu_delay_ret },
};

static int __init bu_delay_init(void)
{
	unsigned int i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(bu_delay_probes); i++) {
		bu_delay_probes[i].maxactive = 4;
		ret = register_kretprobe(&bu_delay_probes[i]);
		if (ret) {
			pr_err("cannot probe %s: %d\n",
			       bu_delay_probes[i].kp.symbol_name, ret);
			while (i--)
				unregister_kretprobe(&bu_delay_probes[i]);
			return ret;
		}
	}
	return 0;
}

static void __exit bu_delay_exit(void)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bu_delay_probes); i++)
		unregister_kretprobe(&bu_delay_probes[i]);
}

module_init(bu_delay_init);
module_exit(bu_delay_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("batch_unmap test helper: delay after a PMD is invalidated or cleared");
