// SPDX-License-Identifier: GPL-2.0
/*
 * CVE-2026-63950's scenario: a lazyfree large folio one of whose PTEs is a
 * device-exclusive entry (lib/test_hmm, HMM_DMIRROR_EXCLUSIVE).  Reclaim
 * batches the present PTEs, then meets the non-present one; upstream
 * reused the previous batch's size there and corrupted the folio's
 * refcount, mapcount and RSS.  Here the batch is sized afresh at every
 * PTE (and non-present PTEs are declined).
 *
 * MAP_DROPPABLE 64K folios are filled, MADV_FREEd, their last page left
 * device-exclusive, then reclaimed by memcg reclaim: with the module off
 * (stock), on, and with BU_IMPL=ref the in-kernel backport.  Checks: every page still
 * mapped has mapcount 1 (/proc/kpagecount), RssAnon equals the pages
 * mapped, data reads old or zero, and after munmap and exit AnonPages is
 * back to its baseline with no "Bad rss-counter" or bad page in the log.
 */
#include <linux/types.h>

#include "vmtest.h"

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE	0x08
#endif

/* lib/test_hmm_uapi.h (not installed by the kernel). */
struct hmm_dmirror_cmd {
	__u64 addr;
	__u64 ptr;
	__u64 npages;
	__u64 cpages;
	__u64 faults;
};

#define HMM_DMIRROR_EXCLUSIVE	_IOWR('H', 0x05, struct hmm_dmirror_cmd)
#define HMM_DEV			"/dev/hmm_dmirror0"

#define FOLIO		(64 * KB)
#define NR		16
#define LEN		(NR * FOLIO)
#define SEED		9

/* A "Key:   123 kB" line of /proc/self/status, in kB, or -1. */
static long long status_kb(const char *key)
{
	char line[256];
	long long v = -1;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && sscanf(line + n, "%lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/*
 * What maps @addr: 0 nothing, 1 a present PTE (*@mapcount set from
 * /proc/kpagecount), 2 a swap-like entry (device-exclusive here); -1 on
 * error.
 */
static int page_state(void *addr, long *mapcount)
{
	uint64_t ent, cnt;
	int pm, kc, ret = -1;

	pm = open("/proc/self/pagemap", O_RDONLY);
	kc = open("/proc/kpagecount", O_RDONLY);
	if (pm < 0 || kc < 0)
		goto out;
	if (pread(pm, &ent, 8, (uintptr_t)addr / PAGE * 8) != 8)
		goto out;
	if (ent & (1ULL << 63)) {
		if (pread(kc, &cnt, 8, (ent & ((1ULL << 55) - 1)) * 8) == 8) {
			*mapcount = (long)cnt;
			ret = 1;
		}
	} else {
		ret = ent & (1ULL << 62) ? 2 : 0;
	}
out:
	if (pm >= 0)
		close(pm);
	if (kc >= 0)
		close(kc);
	return ret;
}

/* The scenario in a child process (exit is part of it): 0 if all is well. */
static int scenario(void)
{
	struct hmm_dmirror_cmd cmd = { 0 };
	char *p, *buf = malloc(PAGE);
	long long base, rss;
	long present = 0, exclusive = 0;
	unsigned int sum = 0;
	int fd, i, bad = 0;
	size_t off;

	if (memcg_enter()) {
		printf("# no test memcg\n");
		return 2;
	}
	fd = open(HMM_DEV, O_RDWR);
	if (fd < 0 || !buf) {
		printf("# open %s: %s\n", HMM_DEV, strerror(errno));
		return 2;
	}
	/* MAP_DROPPABLE is a mapping type of its own, not a MAP_PRIVATE flag. */
	p = mmap(NULL, LEN + FOLIO, PROT_READ | PROT_WRITE,
		 MAP_ANONYMOUS | MAP_DROPPABLE, -1, 0);
	if (p == MAP_FAILED) {
		printf("# mmap MAP_DROPPABLE: %s\n", strerror(errno));
		return 2;
	}
	p = (char *)(((uintptr_t)p + FOLIO - 1) & ~(FOLIO - 1));
	fill(p, LEN, SEED);
	if (mm_count_folios(p, LEN, 64) != NR) {
		printf("# not %d 64K folios\n", NR);
		return 2;
	}
	if (madvise(p, LEN, MADV_FREE)) {
		printf("# MADV_FREE: %s\n", strerror(errno));
		return 2;
	}
	/*
	 * On 6.12 make_device_exclusive_range() takes head pages only and
	 * turns every PTE of the folio into a device-exclusive entry; reading
	 * pages 0..14 back restores their PTEs, which leaves the layout of the
	 * CVE: 15 present PTEs, then the device-exclusive one.
	 */
	for (i = 0; i < NR; i++) {
		char *f = p + i * FOLIO;
		long mc = 0;

		cmd.addr = (uintptr_t)f;
		cmd.ptr = (uintptr_t)buf;
		cmd.npages = 1;
		if (ioctl(fd, HMM_DMIRROR_EXCLUSIVE, &cmd)) {
			printf("# HMM_DMIRROR_EXCLUSIVE folio %d: %s\n", i, strerror(errno));
			return 2;
		}
		for (off = 0; off < FOLIO - PAGE; off += PAGE)
			sum += *(volatile char *)(f + off);
		if (page_state(f + FOLIO - PAGE, &mc) != 2 || page_state(f, &mc) != 1) {
			printf("# folio %d: not 15 present PTEs and a device-exclusive one\n", i);
			return 2;
		}
	}
	/* RssAnon of everything but the region. */
	base = status_kb("RssAnon:") - (long long)(LEN / KB);
	/*
	 * Reclaim through the LRU (MADV_PAGEOUT would try to split a folio
	 * it cannot batch whole, fail on the extra reference and skip it).
	 */
	memcg_reclaim_quiet();
	rss = status_kb("RssAnon:");
	if (base + (long long)(LEN / KB) < 0 || rss < 0) {
		printf("# no RssAnon in /proc/self/status\n");
		return 2;
	}
	for (off = 0; off < LEN; off += PAGE) {
		long mc = 0;
		int state = page_state(p + off, &mc);

		if (state < 0 || (state == 1 && mc != 1)) {
			printf("# page +%zu: state %d, mapcount %ld, want 1\n", off, state, mc);
			bad = 1;
			break;
		}
		present += state == 1;
		exclusive += state == 2;
	}
	printf("# after reclaim: %ld pages present, %ld device-exclusive, RssAnon %lld kB (%lld kB besides the region)\n",
	       present, exclusive, rss, base);
	/* Both kinds of entry count in MM_ANONPAGES, nothing else of ours does. */
	if (rss != base + (present + exclusive) * (long long)(PAGE / KB)) {
		printf("# RssAnon %lld kB, want %lld\n", rss,
		       base + (present + exclusive) * (long long)(PAGE / KB));
		bad = 1;
	}
	/* Touching the pages again (and the device-exclusive ones) is safe. */
	for (off = 0; off < LEN; off += PAGE) {
		if (!page_old_or_zero(p + off, SEED, off)) {
			printf("# page +%zu is neither old data nor zero\n", off);
			bad = 1;
			break;
		}
	}
	munmap(p, LEN);
	close(fd);
	free(buf);
	fflush(stdout);
	return bad;
}

static void run(const char *mode)
{
	long long anon0, anon1, refs0;
	int st, rss0 = klog_count("Bad rss-counter"), pg0 = klog_count("Bad page");
	bool ok = true;
	pid_t pid;

	anon0 = meminfo("AnonPages:");
	refs0 = bu_stat("restored_refs");
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		exit(scenario());
	waitpid(pid, &st, 0);
	CHECK(&ok, WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: scenario status %#x", mode, st);
	anon1 = meminfo("AnonPages:");
	vt_diag("%s: AnonPages %lld -> %lld kB", mode, anon0, anon1);
	CHECK(&ok, anon1 < anon0 + 512, "%s: AnonPages +%lld kB after exit", mode,
	      anon1 - anon0);
	CHECK(&ok, klog_count("Bad rss-counter") == rss0, "%s: Bad rss-counter", mode);
	CHECK(&ok, klog_count("Bad page") == pg0, "%s: Bad page state", mode);
	/*
	 * The module batched the 15 present PTEs of each folio and put them
	 * back (the device-exclusive entry holds a reference, no mapcount),
	 * at least once per folio: memcg reclaim goes round the LRU often.
	 */
	if (!strcmp(mode, "on"))
		CHECK(&ok, bu_stat("restored_refs") - refs0 >= NR,
		      "on: restored_refs +%lld, want at least %d",
		      bu_stat("restored_refs") - refs0, NR);
	vt_result(ok, "hmm_device_exclusive_lazyfree_reclaim_%s", mode);
}

int main(void)
{
	int err;

	if (access(HMM_DEV, F_OK)) {
		vt_skip("hmm_device_exclusive_lazyfree_reclaim", "no " HMM_DEV " (CONFIG_TEST_HMM)");
		return vt_exit();
	}
	if (!mthp_supported(64)) {
		vt_skip("hmm_device_exclusive_lazyfree_reclaim", "no 64K mTHP");
		return vt_exit();
	}
#ifdef __aarch64__
	/*
	 * A stock 6.12 bug, seen here with the module unloaded (the "off"
	 * run): folio_referenced_one() clears the young bit of every entry the
	 * walk finds, and the walk finds device-exclusive entries too.  On
	 * arm64 the access flag, PTE bit 10, is bit 4 of a swap entry's type:
	 * the entry becomes a swap entry of type 13 instead of 29, and the
	 * next access refaults forever ("get_swap_device: Bad swap file
	 * entry").  x86 keeps no type bits there.  The module declines
	 * non-present entries and neither causes nor prevents it.
	 */
	vt_skip("hmm_device_exclusive_lazyfree_reclaim",
		"arm64: stock 6.12 turns the device-exclusive entry into a bad swap entry (folio_referenced_one() clears PTE bit 10), docs/arm64.md");
	return vt_exit();
#endif
	mthp_only(64);
	pin_cpu(0);
	if (module_loaded())
		module_unload();
	run("off");
	err = module_load(NULL);
	if (vt_result(err == 0, "module_loads (%s)", strerror(-err))) {
		run(vt_ref() ? "ref" : "on");
		module_unload();
	}
	mthp_only(0);
	return vt_exit();
}
