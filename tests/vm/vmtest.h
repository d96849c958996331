/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the VM tests: TAP results, mTHP sysfs, module load/unload,
 * the module's stats, and memory regions with patterns.
 *
 * Each test program prints "ok - name", "not ok - name" or
 * "ok - name # SKIP reason" lines (tests/run.sh numbers them) and "# ..."
 * diagnostics, and exits non-zero if anything failed.
 */
#ifndef VMTEST_H
#define VMTEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mmutil.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define KB		1024UL
#define MB		(1024 * KB)
#define PAGE		4096UL
#define PMD_SIZE_	MM_PMD_SIZE

#define MODULE_KO	"/vm/batch_unmap.ko"
#define MODULE_NAME	"batch_unmap"
#define STATS_PATH	"/sys/kernel/debug/batch_unmap/stats"

static int vt_failed;

/* --- TAP ----------------------------------------------------------------- */

static inline void vt_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* Record a result; returns @pass so callers can chain diagnostics. */
static inline bool vt_result(bool pass, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", pass ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!pass)
		vt_failed++;
	return pass;
}

static inline void vt_skip(const char *name, const char *why)
{
	printf("ok - %s # SKIP %s\n", name, why);
	fflush(stdout);
}

/* A check inside a test: prints a diagnostic and marks *@ok false. */
#define CHECK(ok, cond, ...)						\
	do {								\
		if (!(cond)) {						\
			printf("#   check failed: %s: ", #cond);		\
			printf(__VA_ARGS__);				\
			printf("\n");					\
			*(ok) = false;					\
		}							\
	} while (0)

static inline int vt_exit(void)
{
	return vt_failed ? 1 : 0;
}

/* --- files ---------------------------------------------------------------- */

static inline long long vmstat(const char *key)
{
	return mm_read_keyed("/proc/vmstat", key);
}

/* A /proc/meminfo field ("AnonPages:"), in kB, or -1. */
static inline long long meminfo(const char *key)
{
	return mm_read_keyed("/proc/meminfo", key);
}

/* Kernel log lines containing @what (e.g. "bad pmd"), or -1. */
static inline int klog_count(const char *what)
{
	char cmd[160], buf[32] = "";
	FILE *f;

	snprintf(cmd, sizeof(cmd), "dmesg | grep -c '%s'", what);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	pclose(f);
	return atoi(buf);
}

/* --- mTHP ------------------------------------------------------------------ */

/* --- the module ------------------------------------------------------------ */

/*
 * BU_IMPL=ref (make check-ref): the batch path under test is not the
 * module but the ref kernel's in-kernel backport of upstream (kernel/ref/),
 * switched by REF_SWITCH.  "Loading the module" then turns the switch on,
 * "unloading" turns it off, and the module's own counters do not exist:
 * tests check data as usual and skip only their counter checks
 * (bu_counted()).
 */
#define REF_SWITCH	"/sys/module/rmap/parameters/lazyfree_batch"

static inline bool vt_ref(void)
{
	const char *impl = getenv("BU_IMPL");

	return impl && !strcmp(impl, "ref");
}

/* Are the module's counters there to check (not with the backport)? */
static inline bool bu_counted(void)
{
	return !vt_ref();
}

static inline bool module_loaded(void)
{
	char v[8] = "";

	if (vt_ref())
		return mm_read_file(REF_SWITCH, v, sizeof(v)) == 0 && v[0] == 'Y';
	return access("/sys/module/" MODULE_NAME, F_OK) == 0;
}

static inline int module_load_path(const char *ko, const char *params)
{
	int fd = open(ko, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, params ? params : "", 0);
	ret = ret ? -errno : 0;
	close(fd);
	return ret;
}

static inline int module_unload_name(const char *name);

/*
 * The module under test: $BU_KO (e.g. the DKMS build) or MODULE_KO; with
 * BU_IMPL=ref the backport's switch (@params do not apply to it).
 */
static inline int module_load(const char *params)
{
	const char *ko = getenv("BU_KO");

	if (vt_ref()) {
		if (access("/sys/module/" MODULE_NAME, F_OK) == 0)
			module_unload_name(MODULE_NAME);
		vt_diag("batch path: the ref kernel's in-kernel backport (%s=1)",
			REF_SWITCH);
		return mm_write_file(REF_SWITCH, "1");
	}
	return module_load_path(ko && *ko ? ko : MODULE_KO, params);
}

/*
 * rmmod, once: the hook takes no module reference per call (unregistering
 * waits for calls in flight), so it must succeed at the first try even
 * while reclaim runs.  A failure is the error the caller reports.
 */
static inline int module_unload_name(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? -errno : 0;
}

/*
 * After a BPF program attached to the module's tracepoints was detached:
 * the link lets go of the module asynchronously (a grace period later).
 * Wait up to @ms for its reference count to drop to 0; false if it did not.
 */
static inline bool module_wait_unused(unsigned int ms)
{
	char v[16];

	for (; ms; ms -= 10) {
		if (mm_read_file("/sys/module/" MODULE_NAME "/refcnt", v, sizeof(v)) ||
		    atoi(v) == 0)
			return true;
		usleep(10000);
		if (ms < 10)
			break;
	}
	return false;
}

static inline int module_unload(void)
{
	if (vt_ref())
		return mm_write_file(REF_SWITCH, "0");
	return module_unload_name(MODULE_NAME);
}

/* A module counter; -1 if there is none (not loaded, BU_IMPL=ref). */
static inline long long bu_stat(const char *name)
{
	return mm_read_keyed(STATS_PATH, name);
}

static inline int bu_stats_reset(void)
{
	return mm_write_file(STATS_PATH, "0");
}

static inline int bu_param_set(const char *name, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/module/" MODULE_NAME "/parameters/%s", name);
	return mm_write_file(path, val);
}

static inline int bu_param_get(const char *name, char *buf, size_t len)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/module/" MODULE_NAME "/parameters/%s", name);
	return mm_read_file(path, buf, len);
}

static inline void pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/*
 * Common start of a test: needs the @kb mTHP size (else a SKIP named
 * @what), a freshly loaded module (with @params), @kb enabled, CPU 0.
 * Returns false if the test cannot go on (the reason is reported).
 */
static inline bool vt_start(const char *what, unsigned long kb, const char *params)
{
	int err;

	if (!mthp_supported(kb)) {
		vt_skip(what, "this kernel offers no such mTHP size");
		return false;
	}
	if (module_loaded())
		module_unload();
	err = module_load(params);
	if (!vt_result(err == 0, "module_loads (%s)", strerror(-err)))
		return false;
	mthp_only(kb);
	pin_cpu(0);
	return true;
}

/* --- memory ------------------------------------------------------------------ */

/*
 * A non-zero byte that depends on its offset in the region (page number and
 * offset in the page) and a seed: a page that moved or was swapped with
 * another is detected, and survives mremap (offsets do not change).
 */
static inline unsigned char pattern(size_t off, unsigned int seed)
{
	return (unsigned char)((off >> 12) * 31 + (off & 0xfff) * 7 + seed * 13 + 1) | 1;
}

/* Fill [p, p+len) as bytes at region offsets base.. of pattern @seed. */
static inline void fill_at(char *p, size_t len, unsigned int seed, size_t base)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = pattern(base + i, seed);
}

static inline void fill(char *p, size_t len, unsigned int seed)
{
	fill_at(p, len, seed, 0);
}

/* Offset of the first byte that is not the pattern at base.., or -1. */
static inline long check_at(const char *p, size_t len, unsigned int seed,
			    size_t base)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] != pattern(base + i, seed))
			return (long)i;
	return -1;
}

static inline long check_pattern(const char *p, size_t len, unsigned int seed)
{
	return check_at(p, len, seed, 0);
}

static inline long check_zero(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return (long)i;
	return -1;
}

/* A page at region offset @off: all old pattern @seed, or all zero (discarded). */
static inline bool page_old_or_zero(const char *pg, unsigned int seed, size_t off)
{
	return check_at(pg, PAGE, seed, off) < 0 || check_zero(pg, PAGE) < 0;
}

/*
 * After reclaim of [p, p+len), which was filled with @seed_old at region
 * offsets @base..: pages marked in @written (a bitmap by page of p, may be
 * NULL) must hold seed 2 data (each written with fill(page, PAGE, 2)); the
 * others may read their old data or zeros, nothing else.
 */
static inline bool verify_pages(const char *what, const char *p, size_t len, size_t base,
				const unsigned char *written, unsigned int seed_old)
{
	size_t pg;
	bool ok = true;

	for (pg = 0; pg < len / PAGE && ok; pg++) {
		const char *page = p + pg * PAGE;

		if (written && written[pg])
			CHECK(&ok, check_pattern(page, PAGE, 2) < 0,
			      "%s: written page %zu lost data", what, pg);
		else
			CHECK(&ok, page_old_or_zero(page, seed_old, base + pg * PAGE),
			      "%s: page %zu is neither old data nor zero", what, pg);
	}
	return ok;
}

/* --- userfaultfd-wp ----------------------------------------------------------- */

/* A userfaultfd that supports write-protect, or -1 if this kernel has none. */
static inline int uffd_wp_open(void)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP };
	int uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (uffd >= 0 && (ioctl(uffd, UFFDIO_API, &api) ||
			  !(api.features & UFFD_FEATURE_PAGEFAULT_FLAG_WP))) {
		close(uffd);
		uffd = -1;
	}
	return uffd;
}

/* Register [p, p+len) with @uffd in write-protect mode and protect it. */
static inline bool uffd_wp_range(int uffd, char *p, size_t len)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)p, .len = len },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	struct uffdio_writeprotect wp = {
		.range = { .start = (uintptr_t)p, .len = len },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};
	bool ok = true;

	CHECK(&ok, ioctl(uffd, UFFDIO_REGISTER, &reg) == 0, "register: %s", strerror(errno));
	CHECK(&ok, ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) == 0, "wp: %s", strerror(errno));
	return ok;
}

/* --- memcg: reclaim through the LRU, as memory pressure does -------------- */

#define TEST_CG	"/sys/fs/cgroup/batch_unmap_test"

/* Move this process into a test memcg (before it allocates). */
static inline int memcg_enter(void)
{
	char pid[32];

	mm_write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
	if (mkdir(TEST_CG, 0755) && errno != EEXIST)
		return -errno;
	snprintf(pid, sizeof(pid), "%d", getpid());
	return mm_write_file(TEST_CG "/cgroup.procs", pid);
}

/*
 * Proactive reclaim of the test memcg, without a report; returns the last
 * write's error (EAGAIN just means less than asked could be reclaimed).
 */
static inline int memcg_reclaim_quiet(void)
{
	int i, err = 0;

	for (i = 0; i < 4; i++)
		err = mm_write_file(TEST_CG "/memory.reclaim", "256M");
	return err;
}

/* Proactive reclaim of the test memcg: shrink_folio_list() via the LRU. */
static inline void memcg_reclaim(void)
{
	char before[32] = "?", after[32] = "?";
	int err;

	mm_read_file(TEST_CG "/memory.current", before, sizeof(before));
	err = memcg_reclaim_quiet();
	mm_read_file(TEST_CG "/memory.current", after, sizeof(after));
	before[strcspn(before, "\n")] = 0;
	after[strcspn(after, "\n")] = 0;
	vt_diag("memcg reclaim: memory.current %s -> %s (last write: %s)", before,
		after, strerror(-err));
}


/* --- the lazyfree reclaim workload ------------------------------------------ */

struct lazyfree_run {
	unsigned long folio_kb;	/* requested folio size; 4 = small pages */
	unsigned int nr_folios;
	bool pte_mapped_2m;	/* 2M only: split the PMD mapping first */
	/* results */
	long folios_found;	/* folios of folio_kb backing the region */
	long resident_after;	/* pages still mapped after MADV_PAGEOUT */
	long long split_deferred; /* delta of split_deferred for folio_kb */
	long long lazyfreed;	/* delta of pglazyfreed */
	long bad_offset;	/* first non-zero byte after reclaim, or -1 */
	int err;		/* errno of a failed syscall, else 0 */
};

/*
 * Fill nr_folios folios of folio_kb, MADV_FREE them, then MADV_PAGEOUT:
 * clean lazyfree memory that reclaim discards.  Reports what happened.
 */
static inline void lazyfree_reclaim(struct lazyfree_run *r, unsigned int seed)
{
	size_t fsz = r->folio_kb * KB, len = fsz * r->nr_folios;
	long long sd0, lf0;
	char *p;

	r->err = 0;
	r->folios_found = -1;
	r->bad_offset = -1;
	if (mthp_only(r->folio_kb > 4 ? r->folio_kb : 0)) {
		r->err = EINVAL;
		return;
	}
	p = mm_map_aligned(len, fsz > PMD_SIZE_ ? fsz : PMD_SIZE_);
	if (!p) {
		r->err = errno;
		return;
	}
	fill(p, len, seed);
	if (r->pte_mapped_2m && mm_split_pmd_mappings(p, len))
		r->err = errno;
	r->folios_found = mm_count_folios(p, len, r->folio_kb);
	if (madvise(p, len, MADV_FREE)) {
		r->err = errno;
		goto out;
	}
	sd0 = r->folio_kb > 4 ? mthp_split_deferred(r->folio_kb) : 0;
	lf0 = vmstat("pglazyfreed");
	if (madvise(p, len, MADV_PAGEOUT)) {
		r->err = errno;
		goto out;
	}
	r->split_deferred = r->folio_kb > 4 ? mthp_split_deferred(r->folio_kb) - sd0 : 0;
	r->lazyfreed = vmstat("pglazyfreed") - lf0;
	r->resident_after = mm_resident_pages(p, len);
	r->bad_offset = check_zero(p, len);
out:
	munmap(p, len);
}

/*
 * The checks every clean lazyfree reclaim must pass: the folios had the
 * asked size, none stayed mapped, everything reads zero, and pglazyfreed
 * counted every page.
 */
static inline bool lazyfree_reclaimed(const char *what, const struct lazyfree_run *r)
{
	unsigned long pages = r->nr_folios * r->folio_kb / 4;
	bool ok = true;

	CHECK(&ok, r->err == 0, "%s: syscall failed: %s", what, strerror(r->err));
	CHECK(&ok, r->folios_found == r->nr_folios, "%s: %ld of %u folios are %lu KiB",
	      what, r->folios_found, r->nr_folios, r->folio_kb);
	CHECK(&ok, r->resident_after == 0, "%s: %ld pages still resident", what,
	      r->resident_after);
	CHECK(&ok, r->bad_offset < 0, "%s: non-zero byte at offset %ld", what,
	      r->bad_offset);
	CHECK(&ok, r->lazyfreed == (long long)pages,
	      "%s: pglazyfreed moved by %lld, want %lu", what, r->lazyfreed, pages);
	return ok;
}

#endif /* VMTEST_H */
