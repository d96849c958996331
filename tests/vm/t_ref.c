// SPDX-License-Identifier: GPL-2.0
/*
 * The ref kernel's in-kernel backport of upstream's lazyfree batching
 * (kernel/ref/, the benchmark's reference): switched off it is stock 6.12
 * (one deferred split per lazyfree large folio), switched on it batches
 * (none), for every mTHP size and PTE-mapped 2M, and reclaims everything.
 * Skipped on kernels without the backport (the product kernel).
 */
#include "vmtest.h"

static const unsigned long sizes_kb[] = { 16, 64, 256, 1024, 2048 };

#define REGION	(4 * MB)

int main(void)
{
	unsigned int i;
	char v[8];

	if (mm_read_file(REF_SWITCH, v, sizeof(v))) {
		vt_skip("ref_backport_batches", "not the ref kernel (no " REF_SWITCH ")");
		return vt_exit();
	}
	if (module_loaded())
		module_unload();
	if (access("/sys/module/" MODULE_NAME, F_OK) == 0)
		module_unload_name(MODULE_NAME);
	pin_cpu(0);
	for (i = 0; i < sizeof(sizes_kb) / sizeof(sizes_kb[0]); i++) {
		unsigned long kb = sizes_kb[i];
		unsigned int nr = REGION / (kb * KB);
		struct lazyfree_run off = { .folio_kb = kb, .nr_folios = nr,
					    .pte_mapped_2m = kb == 2048 };
		struct lazyfree_run on = off;
		bool ok = true;

		if (!mthp_supported(kb)) {
			vt_skip("ref_backport_batches", "mTHP size unavailable");
			continue;
		}
		CHECK(&ok, mm_write_file(REF_SWITCH, "0") == 0, "switch off");
		lazyfree_reclaim(&off, 3);
		CHECK(&ok, mm_write_file(REF_SWITCH, "1") == 0, "switch on");
		lazyfree_reclaim(&on, 3);
		mm_write_file(REF_SWITCH, "0");
		CHECK(&ok, lazyfree_reclaimed("off", &off), "switch off: not reclaimed");
		CHECK(&ok, lazyfree_reclaimed("on", &on), "switch on: not reclaimed");
		/* Stock splits each folio it unmaps PTE by PTE; a batch none. */
		CHECK(&ok, off.split_deferred == nr, "off: split_deferred +%lld, want %u",
		      off.split_deferred, nr);
		CHECK(&ok, on.split_deferred == 0, "on: split_deferred +%lld, want 0",
		      on.split_deferred);
		vt_result(ok, "ref_backport_batches_%luK%s", kb, kb == 2048 ? "_pte_mapped" : "");
	}
	mthp_only(0);
	return vt_exit();
}
