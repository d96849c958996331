// SPDX-License-Identifier: GPL-2.0
/*
 * file-bench: how long does reclaim take to drop a mapped clean file?
 *
 * The workload of upstream's file-folio batching (Linux 7.0), scaled to a
 * test VM: a clean file on a filesystem with large folios (XFS), read into
 * the page cache (readahead builds the large folios), mapped and touched
 * page by page, then reclaimed: with MADV_PAGEOUT (the unmap path alone:
 * it skips the referenced check) or through memory.reclaim of the memcg
 * the tool runs in (the LRU: the referenced walk, then the unmap).  Each
 * iteration records the folio orders that were mapped, how much reclaim
 * unmapped and checks a sample of the data afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>

#include "cli.h"
#include "mmutil.h"

#define PROG		"file-bench"
#define EXIT_UNCHECKED	3
#define MAX_ITER	1000
#define NR_ORDERS	10	/* 0..9: up to PMD order on x86-64 */
#define CG_DIR		"/sys/fs/cgroup/file-bench"

enum reclaim { RECLAIM_PAGEOUT, RECLAIM_MEMCG };
enum format { FMT_TEXT, FMT_JSON };

struct opts {
	unsigned long long size;
	const char *dir;
	enum reclaim reclaim;
	unsigned int iterations, warmup;
	int cpu;
	enum format format;
	const char *label;
};

struct iter {
	uint64_t ns;
	long mapped_before, mapped_after;
	long folio_pages[NR_ORDERS];	/* mapped pages by folio order */
	int reclaim_err;		/* memory.reclaim's errno (EAGAIN: short) */
	bool data_ok;
};

static const struct argp_option opts[] = {
	{ "size", 's', "SIZE", 0, "File size (default 128M): bytes with an optional K, M "
	  "or G suffix, a multiple of 2M", 0 },
	{ "dir", 'd', "DIR", 0, "Directory for the file, on the filesystem under test "
	  "(default /mnt/xfs)", 0 },
	{ "reclaim", 'r', "HOW", 0, "pageout (default): time MADV_PAGEOUT of the mapping; "
	  "memcg: time memory.reclaim of the file's size in the tool's own memcg "
	  "(" CG_DIR ")", 0 },
	{ "iterations", 'n', "N", 0, "Measured iterations (default 3)", 0 },
	{ "warmup", 'w', "N", 0, "Unmeasured iterations first (default 1)", 0 },
	{ "cpu", 'C', "CPU", 0, "Run on CPU (default: not pinned)", 0 },
	{ "label", 'l', "TEXT", 0, "Label recorded with the results (e.g. module=on)", 0 },
	{ NULL, 0, NULL, 0, "Output (default: one line of text):", 1 },
	{ "json", 'j', NULL, 0, "JSON: one object", 1 },
	CLI_OPTS_COMMON,
	{},
};

static const char doc[] =
"How long does reclaim take to drop a mapped clean file?  Read the file into\n"
"the page cache, map it, touch every page, then time its reclaim; report the\n"
"folio orders that were mapped and check the data afterwards.\n"
"\n"
"USAGE: " PROG " [-hVj] [-s SIZE] [-d DIR] [-r HOW] [-n N] [-w N] [-C CPU]\n"
"                  [-l TEXT]\n"
"\n"
"EXAMPLES:\n"
"    " PROG " -s 256M -d /mnt/xfs   # 256 MiB on XFS, MADV_PAGEOUT\n"
"    " PROG " -r memcg -C 0 -j      # memory.reclaim, on CPU 0, as JSON\n"
"\n"
"Large folios need a filesystem that has them (XFS on 6.12; ext4 has none)\n"
"and a read_ahead_kb of their size or more on its disk.  Times are\n"
"wall-clock; in a VM under TCG only ratios between runs mean anything.  Needs\n"
"CAP_SYS_ADMIN (drop_caches, pagemap PFNs, the memcg): root.\n"
"Exit status: 0 ok, 1 could not run, 2 bad usage, 3 ran but a check failed\n"
"(data differed after reclaim).\n";

static const struct argp argp = {
	.options = opts,
	.doc = doc,
};

static int parse(int argc, char **argv, struct opts *o, char *err, size_t errlen)
{
	char name[64], why[128];
	unsigned long v;
	struct cli c;
	int key;

	cli_init(&c, PROG, &argp, NULL, err, errlen);
	while ((key = cli_next(&c, argc, argv)) != -1) {
		cli_name(&c, key, name, sizeof(name));
		switch (key) {
		case 's':
			if (cli_parse_size(optarg, &o->size, why, sizeof(why))) {
				cli_fail(&c, "invalid size '%s' for %s: %s", optarg, name, why);
				return -1;
			}
			if (!o->size || o->size % MM_PMD_SIZE || o->size > (64ULL << 30)) {
				cli_fail(&c, "invalid size '%s' for %s: want a multiple of 2M, "
					 "at most 64G", optarg, name);
				return -1;
			}
			break;
		case 'd':
			o->dir = optarg;
			break;
		case 'r':
			if (!strcmp(optarg, "pageout")) {
				o->reclaim = RECLAIM_PAGEOUT;
			} else if (!strcmp(optarg, "memcg")) {
				o->reclaim = RECLAIM_MEMCG;
			} else {
				cli_fail(&c, "invalid reclaim '%s' for %s: want pageout or memcg",
					 optarg, name);
				return -1;
			}
			break;
		case 'n':
		case 'w':
			if (cli_parse_ulong(optarg, key == 'n', MAX_ITER, &v)) {
				cli_fail(&c, "invalid count '%s' for %s: want %d..%d", optarg,
					 name, key == 'n', MAX_ITER);
				return -1;
			}
			*(key == 'n' ? &o->iterations : &o->warmup) = v;
			break;
		case 'C':
			if (cli_parse_ulong(optarg, 0, sysconf(_SC_NPROCESSORS_ONLN) - 1, &v)) {
				cli_fail(&c, "invalid CPU '%s' for %s: this machine has CPUs 0-%ld",
					 optarg, name, sysconf(_SC_NPROCESSORS_ONLN) - 1);
				return -1;
			}
			o->cpu = v;
			break;
		case 'l':
			if (cli_label(&c, name, optarg, &o->label))
				return -1;
			break;
		case 'j':
			o->format = FMT_JSON;
			break;
		case 'h':
		case 'V':
			cli_common(&c, key);
			return 1;
		default:
			return -1;
		}
	}
	if (optind < argc) {
		cli_fail(&c, "unexpected argument '%s'", argv[optind]);
		return -1;
	}
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* A byte of the file: depends on its offset, never zero. */
static unsigned char pattern(unsigned long long off)
{
	return (unsigned char)((off >> 12) * 29 + (off & 0xfff) * 3 + 1) | 1;
}

static int create_file(const char *path, unsigned long long size)
{
	size_t chunk = 1 << 20, i;
	unsigned long long off;
	char *buf = malloc(chunk);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || !buf) {
		fprintf(stderr, PROG ": cannot create %s: %s\n", path, strerror(errno));
		goto fail;
	}
	/* Large writes: the page cache gets large folios from the start. */
	for (off = 0; off < size; off += chunk) {
		for (i = 0; i < chunk; i++)
			buf[i] = pattern(off + i);
		if (pwrite(fd, buf, chunk, off) != (ssize_t)chunk) {
			fprintf(stderr, PROG ": cannot write %s: %s\n", path, strerror(errno));
			goto fail;
		}
	}
	if (fsync(fd)) {
		fprintf(stderr, PROG ": fsync %s: %s\n", path, strerror(errno));
		goto fail;
	}
	free(buf);
	return fd;
fail:
	free(buf);
	if (fd >= 0)
		close(fd);
	return -1;
}

/*
 * Pages of [p, p+len) by the order of the folio mapping them: each folio
 * whose head page is mapped here counts its pages once.
 */
static void folio_orders(const char *p, size_t len, long *pages)
{
	int pm = open("/proc/self/pagemap", O_RDONLY);
	int kf = open("/proc/kpageflags", O_RDONLY);
	uint64_t ent, flags, tail[512];
	size_t i, n = len / MM_PAGE;
	int k, nr;

	memset(pages, 0, NR_ORDERS * sizeof(*pages));
	for (i = 0; pm >= 0 && kf >= 0 && i < n; i++) {
		uintptr_t va = (uintptr_t)p + i * MM_PAGE;
		uint64_t pfn;

		if (pread(pm, &ent, 8, (va / MM_PAGE) * 8) != 8 || !(ent & MM_PM_PRESENT))
			continue;
		pfn = ent & MM_PM_PFN_MASK;
		if (pread(kf, &flags, 8, pfn * 8) != 8)
			continue;
		if ((flags >> MM_KPF_COMPOUND_TAIL) & 1)
			continue;
		if (!((flags >> MM_KPF_COMPOUND_HEAD) & 1)) {
			pages[0]++;
			continue;
		}
		nr = pread(kf, tail, sizeof(tail), (pfn + 1) * 8) / 8;
		for (k = 0; k < nr && ((tail[k] >> MM_KPF_COMPOUND_TAIL) & 1); k++)
			;
		for (nr = 0; (2 << nr) <= k + 1 && nr < NR_ORDERS - 1; nr++)
			;
		pages[nr] += 1L << nr;
	}
	if (pm >= 0)
		close(pm);
	if (kf >= 0)
		close(kf);
}

/* One iteration on the file @fd; -1 on a syscall failure, reported. */
static int run_once(const struct opts *o, int fd, struct iter *it)
{
	size_t len = o->size, off;
	char *p, *buf = NULL;
	char val[32];
	uint64_t t0;
	int err = 0;

	/* Clean page cache of this file only: read afresh with readahead. */
	if (posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) ||
	    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL))
		fprintf(stderr, PROG ": warning: posix_fadvise: %s\n", strerror(errno));
	buf = malloc(MM_PMD_SIZE);
	for (off = 0; buf && off < len; off += MM_PMD_SIZE)
		if (pread(fd, buf, MM_PMD_SIZE, off) != (ssize_t)MM_PMD_SIZE)
			break;
	free(buf);
	if (!buf || off < len) {
		fprintf(stderr, PROG ": cannot read the file: %s\n", strerror(errno));
		return -1;
	}
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, PROG ": mmap of %zu MiB: %s\n", len >> 20, strerror(errno));
		return -1;
	}
	for (off = 0; off < len; off += MM_PAGE)
		(void)*(volatile char *)(p + off);
	it->mapped_before = mm_mapped_pages(p, len);
	folio_orders(p, len, it->folio_pages);

	t0 = now_ns();
	if (o->reclaim == RECLAIM_PAGEOUT) {
		if (madvise(p, len, MADV_PAGEOUT))
			err = errno;
	} else {
		snprintf(val, sizeof(val), "%zu", len);
		err = -mm_write_file(CG_DIR "/memory.reclaim", val);
	}
	it->ns = now_ns() - t0;
	it->reclaim_err = err;
	if (err && err != EAGAIN) {
		fprintf(stderr, PROG ": %s: %s\n", o->reclaim == RECLAIM_PAGEOUT ?
			"MADV_PAGEOUT" : "memory.reclaim", strerror(err));
		munmap(p, len);
		return -1;
	}
	it->mapped_after = mm_mapped_pages(p, len);
	/* One byte in every 7th page, read back through the mapping. */
	it->data_ok = true;
	for (off = 0; off < len; off += 7 * MM_PAGE + 64)
		if ((unsigned char)p[off] != pattern(off))
			it->data_ok = false;
	munmap(p, len);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report(const struct opts *o, const struct iter *it, unsigned int n)
{
	const char *how = o->reclaim == RECLAIM_PAGEOUT ? "pageout" : "memcg";
	uint64_t sorted[MAX_ITER];
	unsigned int i;
	int k;

	for (i = 0; i < n; i++)
		sorted[i] = it[i].ns;
	qsort(sorted, n, sizeof(sorted[0]), cmp_u64);
	if (o->format == FMT_TEXT) {
		printf("%s %s: %llu MiB, median %.3f ms [%.3f-%.3f], mapped %ld -> %ld pages,"
		       " folio pages by order:", o->label ? o->label : PROG, how, o->size >> 20,
		       sorted[n / 2] / 1e6, sorted[0] / 1e6, sorted[n - 1] / 1e6,
		       it[0].mapped_before, it[0].mapped_after);
		for (k = 0; k < NR_ORDERS; k++)
			if (it[0].folio_pages[k])
				printf(" %d:%ld", k, it[0].folio_pages[k]);
		printf("\n");
		return;
	}
	printf("{\"tool\":\"" PROG "\",\"version\":\"" BU_VERSION "\",\"label\":\"%s\","
	       "\"reclaim\":\"%s\",\"size\":%llu,\"median_ms\":%.3f,\"iterations\":[",
	       o->label ? o->label : "", how, o->size, sorted[n / 2] / 1e6);
	for (i = 0; i < n; i++) {
		printf("%s{\"ms\":%.3f,\"mapped_before\":%ld,\"mapped_after\":%ld,"
		       "\"reclaim_err\":%d,\"data_ok\":%s,\"folio_pages\":{", i ? "," : "",
		       it[i].ns / 1e6, it[i].mapped_before, it[i].mapped_after,
		       it[i].reclaim_err, it[i].data_ok ? "true" : "false");
		for (k = 0; k < NR_ORDERS; k++)
			printf("%s\"order%d\":%ld", k ? "," : "", k, it[i].folio_pages[k]);
		printf("}}");
	}
	printf("]}\n");
}

static int enter_memcg(void)
{
	char pid[24];
	int err;

	mm_write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
	if (mkdir(CG_DIR, 0755) && errno != EEXIST) {
		fprintf(stderr, PROG ": cannot create %s: %s (cgroup2 mounted at "
			"/sys/fs/cgroup, with the memory controller?)\n", CG_DIR, strerror(errno));
		return -1;
	}
	snprintf(pid, sizeof(pid), "%d", getpid());
	err = mm_write_file(CG_DIR "/cgroup.procs", pid);
	if (err) {
		fprintf(stderr, PROG ": cannot enter %s: %s\n", CG_DIR, strerror(-err));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .size = 128ULL << 20, .dir = "/mnt/xfs", .iterations = 3,
			  .warmup = 1, .cpu = -1 };
	static struct iter it[MAX_ITER];
	unsigned int i, bad = 0;
	char err[512], path[4096];
	struct iter warm;
	int ret, fd;

	ret = parse(argc, argv, &o, err, sizeof(err));
	if (ret)
		return ret > 0 ? 0 : cli_usage_error(PROG, err);
	if (cli_has_cap(CAP_SYS_ADMIN) != 1) {
		fprintf(stderr, PROG ": missing CAP_SYS_ADMIN: pagemap hides PFNs and the "
			"memcg cannot be made without it (run as root)\n");
		return CLI_EXIT_RUNTIME;
	}
	if (o.cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(o.cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			fprintf(stderr, PROG ": cannot run on CPU %d: %s\n", o.cpu,
				strerror(errno));
			return CLI_EXIT_RUNTIME;
		}
	}
	/* The file is charged to the memcg that reads it: enter it first. */
	if (o.reclaim == RECLAIM_MEMCG && enter_memcg())
		return CLI_EXIT_RUNTIME;
	snprintf(path, sizeof(path), "%s/file-bench.%d", o.dir, getpid());
	fd = create_file(path, o.size);
	if (fd < 0)
		return CLI_EXIT_RUNTIME;
	for (i = 0; i < o.warmup; i++)
		if (run_once(&o, fd, &warm))
			goto fail;
	for (i = 0; i < o.iterations; i++) {
		if (run_once(&o, fd, &it[i]))
			goto fail;
		if (!it[i].data_ok) {
			fprintf(stderr, PROG ": iteration %u: the data differs after reclaim\n", i);
			bad++;
		}
	}
	close(fd);
	unlink(path);
	report(&o, it, o.iterations);
	return bad ? EXIT_UNCHECKED : 0;
fail:
	close(fd);
	unlink(path);
	return CLI_EXIT_RUNTIME;
}
