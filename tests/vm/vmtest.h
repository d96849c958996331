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

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define KB		1024UL
#define MB		(1024 * KB)
#define PAGE		4096UL
#define PMD_SIZE_	(2 * MB)

#define MODULE_KO	"/vm/batch_unmap.ko"
#define MODULE_NAME	"batch_unmap"
#define STATS_PATH	"/sys/kernel/debug/batch_unmap/stats"
#define THP_DIR		"/sys/kernel/mm/transparent_hugepage"

static int vt_failed;

/* --- TAP ----------------------------------------------------------------- */

static void vt_diag(const char *fmt, ...)
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
static bool vt_result(bool pass, const char *fmt, ...)
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

static void vt_skip(const char *name, const char *why)
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

static int vt_exit(void)
{
	return vt_failed ? 1 : 0;
}

/* --- files ---------------------------------------------------------------- */

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;
	int err;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

static long long read_ll(const char *path)
{
	char buf[64];

	if (read_file(path, buf, sizeof(buf)))
		return -1;
	return strtoll(buf, NULL, 0);
}

/* Value of "name value" in a file of such lines, or -1. */
static long long read_keyed(const char *path, const char *key)
{
	char line[256];
	long long val = -1;
	size_t klen = strlen(key);
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, klen) && line[klen] == ' ') {
			val = strtoll(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

static long long vmstat(const char *key)
{
	return read_keyed("/proc/vmstat", key);
}

/* --- mTHP ------------------------------------------------------------------ */

static bool mthp_supported(unsigned long kb)
{
	char path[128];

	snprintf(path, sizeof(path), THP_DIR "/hugepages-%lukB/enabled", kb);
	return access(path, W_OK) == 0;
}

/* Enable exactly one size (@kb, 0 for none) for anonymous faults. */
static int mthp_only(unsigned long kb)
{
	static const unsigned long sizes[] = { 8, 16, 32, 64, 128, 256, 512,
					       1024, 2048 };
	char path[128];
	unsigned int i;
	int err = 0;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if (!mthp_supported(sizes[i]))
			continue;
		snprintf(path, sizeof(path), THP_DIR "/hugepages-%lukB/enabled",
			 sizes[i]);
		if (write_file(path, sizes[i] == kb ? "always" : "never"))
			err = -1;
	}
	return err;
}

static long long split_deferred(unsigned long kb)
{
	char path[128];

	snprintf(path, sizeof(path),
		 THP_DIR "/hugepages-%lukB/stats/split_deferred", kb);
	return read_ll(path);
}

/* --- the module ------------------------------------------------------------ */

static bool module_loaded(void)
{
	return access("/sys/module/" MODULE_NAME, F_OK) == 0;
}

static int module_load_path(const char *ko, const char *params)
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

static int module_load(const char *params)
{
	return module_load_path(MODULE_KO, params);
}

static int module_unload_name(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? -errno : 0;
}

static int module_unload(void)
{
	return module_unload_name(MODULE_NAME);
}

static long long bu_stat(const char *name)
{
	return read_keyed(STATS_PATH, name);
}

static int bu_stats_reset(void)
{
	return write_file(STATS_PATH, "0");
}

static int bu_param_set(const char *name, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/module/" MODULE_NAME "/parameters/%s", name);
	return write_file(path, val);
}

static int bu_param_get(const char *name, char *buf, size_t len)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/module/" MODULE_NAME "/parameters/%s", name);
	return read_file(path, buf, len);
}

/* --- memory ------------------------------------------------------------------ */

/* Map @len bytes of anonymous memory aligned to @align. */
static char *map_aligned(size_t len, size_t align)
{
	size_t span = len + align;
	char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p;

	if (raw == MAP_FAILED)
		return NULL;
	p = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
	if (p > raw)
		munmap(raw, p - raw);
	if (p + len < raw + span)
		munmap(p + len, raw + span - (p + len));
	return p;
}

/* A byte that depends on the address and a seed: detects moved pages too. */
static inline unsigned char pattern(const void *addr, unsigned int seed)
{
	uintptr_t a = (uintptr_t)addr;

	return (unsigned char)((a >> 12) * 31 + (a & 0xfff) * 7 + seed * 13 + 1) | 1;
}

static void fill(char *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = pattern(p + i, seed);
}

/* Offset of the first byte that is not the pattern, or -1. */
static long check_pattern(const char *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] != pattern(p + i, seed))
			return (long)i;
	return -1;
}

static long check_zero(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return (long)i;
	return -1;
}

/* Pages of [p, p+len) present in the page tables (mincore). */
static long resident_pages(void *p, size_t len)
{
	size_t n = len / PAGE, i;
	unsigned char *vec = malloc(n);
	long res = 0;

	if (!vec || mincore(p, len, vec)) {
		free(vec);
		return -1;
	}
	for (i = 0; i < n; i++)
		res += vec[i] & 1;
	free(vec);
	return res;
}

#define KPF_COMPOUND_HEAD	15
#define KPF_COMPOUND_TAIL	16
#define KPF_THP			22

/*
 * Count the folios of exactly @folio_kb that back [p, p+len): a compound
 * head followed by the right number of tails, naturally aligned.  Returns
 * the number found, or -1 if pagemap/kpageflags cannot be read.
 */
static long count_folios(void *p, size_t len, unsigned long folio_kb)
{
	size_t n = len / PAGE, per = folio_kb * KB / PAGE, i, j;
	int pm = open("/proc/self/pagemap", O_RDONLY);
	int kf = open("/proc/kpageflags", O_RDONLY);
	long found = -1;

	if (pm < 0 || kf < 0)
		goto out;
	found = 0;
	for (i = 0; i + per <= n; i += per) {
		uint64_t head = 0;
		bool good = true;

		for (j = 0; j < per && good; j++) {
			uint64_t ent, flags;
			uintptr_t va = (uintptr_t)p + (i + j) * PAGE;

			if (pread(pm, &ent, 8, (va / PAGE) * 8) != 8 ||
			    !(ent >> 63)) {
				good = false;
				break;
			}
			ent &= (1ULL << 55) - 1;
			if (pread(kf, &flags, 8, ent * 8) != 8) {
				good = false;
				break;
			}
			if (per == 1)
				good = !(flags & (1ULL << KPF_COMPOUND_TAIL)) &&
				       !(flags & (1ULL << KPF_COMPOUND_HEAD));
			else if (j == 0)
				good = (flags >> KPF_COMPOUND_HEAD) & 1 &&
				       !(ent & (per - 1));
			else
				good = (flags >> KPF_COMPOUND_TAIL) & 1 &&
				       ent == head + j;
			if (j == 0)
				head = ent;
		}
		found += good;
	}
out:
	if (pm >= 0)
		close(pm);
	if (kf >= 0)
		close(kf);
	return found;
}

static void pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
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
static void lazyfree_reclaim(struct lazyfree_run *r, unsigned int seed)
{
	size_t fsz = r->folio_kb * KB, len = fsz * r->nr_folios;
	unsigned long stat_kb = r->folio_kb;
	long long sd0, lf0;
	char *p;

	r->err = 0;
	r->folios_found = -1;
	r->bad_offset = -1;
	if (mthp_only(r->folio_kb > 4 ? r->folio_kb : 0)) {
		r->err = EINVAL;
		return;
	}
	p = map_aligned(len, fsz > PMD_SIZE_ ? fsz : PMD_SIZE_);
	if (!p) {
		r->err = errno;
		return;
	}
	fill(p, len, seed);
	if (r->pte_mapped_2m) {
		size_t off;

		/* mprotect one page there and back: the PMD is split. */
		for (off = 0; off < len; off += PMD_SIZE_) {
			if (mprotect(p + off, PAGE, PROT_READ) ||
			    mprotect(p + off, PAGE, PROT_READ | PROT_WRITE))
				r->err = errno;
		}
	}
	r->folios_found = r->folio_kb > 4 ? count_folios(p, len, r->folio_kb) :
					    count_folios(p, len, 4);
	if (madvise(p, len, MADV_FREE)) {
		r->err = errno;
		goto out;
	}
	sd0 = r->folio_kb > 4 ? split_deferred(stat_kb) : 0;
	lf0 = vmstat("pglazyfreed");
	if (madvise(p, len, MADV_PAGEOUT)) {
		r->err = errno;
		goto out;
	}
	r->split_deferred = r->folio_kb > 4 ? split_deferred(stat_kb) - sd0 : 0;
	r->lazyfreed = vmstat("pglazyfreed") - lf0;
	r->resident_after = resident_pages(p, len);
	r->bad_offset = check_zero(p, len);
out:
	munmap(p, len);
}

#endif /* VMTEST_H */
