// SPDX-License-Identifier: GPL-2.0
/*
 * lazyfree-bench: how long does reclaim take to drop lazyfree memory?
 *
 * The microbenchmark of the upstream batched-unmap series as a tool: map an
 * anonymous region backed by folios of one size, fill it, MADV_FREE it, and
 * time MADV_PAGEOUT (or, with --mode dontneed, MADV_DONTNEED of the same
 * memory: the cheapest way the kernel frees it).  Each iteration also
 * records the size's split_deferred delta and checks that reclaim really
 * happened (nothing left resident, every page reads back as zero) and that
 * the folios really had the requested size.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mmutil.h"

enum mode { MODE_PAGEOUT, MODE_DONTNEED };
enum format { FMT_TABLE, FMT_CSV, FMT_JSON };

struct opts {
	size_t size;
	unsigned long folio_kb;
	bool pte_mapped;
	unsigned int iterations, warmup;
	int cpu;
	unsigned int touch_threads;
	enum mode mode;
	enum format format;
	const char *label;
};

struct iter {
	uint64_t ns;
	long long split_deferred;
	long resident_after;
	bool zero_ok;
};

static struct mthp_saved saved;
static volatile int touch_stop;

static void usage(FILE *f)
{
	fprintf(f,
"usage: lazyfree-bench [options]\n"
"  -s, --size SIZE         region size (default 128M; K/M/G suffixes)\n"
"  -f, --folio SIZE        folio size: 4K (small pages), 16K..1M (mTHP), 2M (THP)\n"
"                          (default 64K); the mTHP setting is restored on exit\n"
"      --pte-mapped        2M only: split the PMD mappings first (PTE-mapped THP)\n"
"  -n, --iterations N      measured iterations (default 10)\n"
"  -w, --warmup N          unmeasured iterations first (default 1)\n"
"  -c, --cpu N             pin to CPU N (default: no pinning)\n"
"  -t, --touch-threads N   N threads on other CPUs keep the mm active there,\n"
"                          so TLB flushes must reach remote CPUs (default 0)\n"
"  -m, --mode MODE         pageout (default): MADV_FREE then time MADV_PAGEOUT;\n"
"                          dontneed: time MADV_DONTNEED (the zap baseline)\n"
"  -o, --format FMT        table (default), csv or json\n"
"  -l, --label TEXT        label recorded with the results (e.g. module=on)\n"
"  -h, --help\n"
"Times are wall-clock; in a VM under TCG only ratios between runs mean anything.\n");
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end || !v)
		return -1;
	*out = v;
	return 0;
}

static int parse_uint(const char *s, unsigned int max, unsigned int *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "folio", required_argument, NULL, 'f' },
		{ "pte-mapped", no_argument, NULL, 'P' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "touch-threads", required_argument, NULL, 't' },
		{ "mode", required_argument, NULL, 'm' },
		{ "format", required_argument, NULL, 'o' },
		{ "label", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	size_t folio;
	unsigned int v;
	int c;

	*o = (struct opts){ .size = 128UL << 20, .folio_kb = 64, .iterations = 10,
			    .warmup = 1, .cpu = -1, .label = "" };
	while ((c = getopt_long(argc, argv, "s:f:n:w:c:t:m:o:l:h", lopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_size(optarg, &o->size) || o->size % MM_PAGE) {
				fprintf(stderr, "lazyfree-bench: invalid --size '%s'\n", optarg);
				return -1;
			}
			break;
		case 'f':
			if (parse_size(optarg, &folio) || folio < MM_PAGE ||
			    folio > MM_PMD_SIZE || (folio & (folio - 1))) {
				fprintf(stderr, "lazyfree-bench: invalid --folio '%s' "
					"(4K, 8K, ..., 2M)\n", optarg);
				return -1;
			}
			o->folio_kb = folio >> 10;
			break;
		case 'P':
			o->pte_mapped = true;
			break;
		case 'n':
			if (parse_uint(optarg, 1000000, &o->iterations) || !o->iterations) {
				fprintf(stderr, "lazyfree-bench: invalid --iterations '%s'\n", optarg);
				return -1;
			}
			break;
		case 'w':
			if (parse_uint(optarg, 1000000, &o->warmup)) {
				fprintf(stderr, "lazyfree-bench: invalid --warmup '%s'\n", optarg);
				return -1;
			}
			break;
		case 'c':
			if (parse_uint(optarg, CPU_SETSIZE - 1, &v)) {
				fprintf(stderr, "lazyfree-bench: invalid --cpu '%s'\n", optarg);
				return -1;
			}
			o->cpu = v;
			break;
		case 't':
			if (parse_uint(optarg, 256, &o->touch_threads)) {
				fprintf(stderr, "lazyfree-bench: invalid --touch-threads '%s'\n", optarg);
				return -1;
			}
			break;
		case 'm':
			if (!strcmp(optarg, "pageout")) {
				o->mode = MODE_PAGEOUT;
			} else if (!strcmp(optarg, "dontneed")) {
				o->mode = MODE_DONTNEED;
			} else {
				fprintf(stderr, "lazyfree-bench: invalid --mode '%s' "
					"(pageout or dontneed)\n", optarg);
				return -1;
			}
			break;
		case 'o':
			if (!strcmp(optarg, "table")) {
				o->format = FMT_TABLE;
			} else if (!strcmp(optarg, "csv")) {
				o->format = FMT_CSV;
			} else if (!strcmp(optarg, "json")) {
				o->format = FMT_JSON;
			} else {
				fprintf(stderr, "lazyfree-bench: invalid --format '%s' "
					"(table, csv or json)\n", optarg);
				return -1;
			}
			break;
		case 'l':
			if (strpbrk(optarg, "\",\\\n")) {
				fprintf(stderr, "lazyfree-bench: --label must not contain quotes, commas, backslashes or newlines\n");
				return -1;
			}
			o->label = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "lazyfree-bench: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->pte_mapped && o->folio_kb != MM_PMD_SIZE >> 10) {
		fprintf(stderr, "lazyfree-bench: --pte-mapped needs --folio 2M\n");
		return -1;
	}
	if (o->size % (o->folio_kb << 10)) {
		fprintf(stderr, "lazyfree-bench: --size must be a multiple of the folio size\n");
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

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* A thread that keeps this mm live on another CPU. */
static void *toucher(void *arg)
{
	static char buf[4096];
	long cpu = (long)arg;
	unsigned int i = 0;

	if (cpu >= 0)
		pin(cpu);
	while (!touch_stop)
		((volatile char *)buf)[i++ & 4095]++;
	return NULL;
}

static void on_signal(int sig)
{
	mthp_restore(&saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* One iteration; returns -1 on a syscall failure. */
static int run_once(const struct opts *o, struct iter *it, long *folios_found)
{
	size_t fsz = o->folio_kb << 10, len = o->size, off;
	int advice = o->mode == MODE_PAGEOUT ? MADV_PAGEOUT : MADV_DONTNEED;
	long long sd0;
	uint64_t t0, t1;
	char *p;

	p = mm_map_aligned(len, fsz > MM_PMD_SIZE ? fsz : MM_PMD_SIZE);
	if (!p)
		return -1;
	for (off = 0; off < len; off += MM_PAGE)
		memset(p + off, 0x5a, MM_PAGE);
	if (o->pte_mapped)
		for (off = 0; off < len; off += MM_PMD_SIZE)
			if (mprotect(p + off, MM_PAGE, PROT_READ) ||
			    mprotect(p + off, MM_PAGE, PROT_READ | PROT_WRITE))
				goto fail;
	if (folios_found)
		*folios_found = mm_count_folios(p, len, o->folio_kb);
	if (o->mode == MODE_PAGEOUT && madvise(p, len, MADV_FREE))
		goto fail;

	sd0 = mthp_split_deferred(o->folio_kb);
	t0 = now_ns();
	if (madvise(p, len, advice))
		goto fail;
	t1 = now_ns();
	it->ns = t1 - t0;
	it->split_deferred = sd0 < 0 ? -1 : mthp_split_deferred(o->folio_kb) - sd0;
	it->resident_after = mm_resident_pages(p, len);
	it->zero_ok = true;
	for (off = 0; off < len; off += MM_PAGE)
		if (p[off] || p[off + MM_PAGE - 1]) {
			it->zero_ok = false;
			break;
		}
	munmap(p, len);
	return 0;
fail:
	fprintf(stderr, "lazyfree-bench: %s\n", strerror(errno));
	munmap(p, len);
	return -1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static const char *mode_name(enum mode m)
{
	return m == MODE_PAGEOUT ? "pageout" : "dontneed";
}

int main(int argc, char **argv)
{
	struct opts o;
	struct iter *its;
	uint64_t *sorted;
	pthread_t *thr = NULL;
	long folios = -1, expect, max_res = 0;
	long long splits = 0;
	bool zero_ok = true, split_known = true;
	unsigned int i, ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	double med, mn, mx;
	int ret;

	ret = parse_args(argc, argv, &o);
	if (ret)
		return ret > 0 ? 0 : 2;
	if (geteuid() != 0) {
		fprintf(stderr, "lazyfree-bench: must run as root (mTHP sysfs, /proc/kpageflags)\n");
		return 1;
	}
	if (o.folio_kb > 4 && !mthp_supported(o.folio_kb)) {
		fprintf(stderr, "lazyfree-bench: this kernel offers no %luK folios for "
			"anonymous memory (no writable %s/hugepages-%lukB/enabled; "
			"is CONFIG_TRANSPARENT_HUGEPAGE set?)\n",
			o.folio_kb, THP_DIR, o.folio_kb);
		return 1;
	}
	its = calloc(o.iterations, sizeof(*its));
	sorted = calloc(o.iterations, sizeof(*sorted));
	if (!its || !sorted)
		return 1;

	mthp_save(&saved);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (mthp_only(o.folio_kb > 4 ? o.folio_kb : 0)) {
		fprintf(stderr, "lazyfree-bench: cannot set the mTHP size in %s\n", THP_DIR);
		mthp_restore(&saved);
		return 1;
	}
	if (o.cpu >= 0)
		pin(o.cpu);
	if (o.touch_threads) {
		thr = calloc(o.touch_threads, sizeof(*thr));
		for (i = 0; thr && i < o.touch_threads; i++) {
			long cpu = -1;

			/* Spread over the CPUs other than ours. */
			if (o.cpu >= 0 && ncpu > 1)
				cpu = (o.cpu + 1 + i % (ncpu - 1)) % ncpu;
			pthread_create(&thr[i], NULL, toucher, (void *)cpu);
		}
	}

	ret = 0;
	for (i = 0; i < o.warmup + o.iterations && !ret; i++) {
		struct iter it;
		bool measured = i >= o.warmup;

		ret = run_once(&o, &it, i == o.warmup ? &folios : NULL);
		if (ret || !measured)
			continue;
		its[i - o.warmup] = it;
	}
	touch_stop = 1;
	for (i = 0; thr && i < o.touch_threads; i++)
		pthread_join(thr[i], NULL);
	free(thr);
	mthp_restore(&saved);
	if (ret) {
		free(its);
		free(sorted);
		return 1;
	}

	for (i = 0; i < o.iterations; i++) {
		sorted[i] = its[i].ns;
		if (its[i].split_deferred < 0)
			split_known = false;
		splits += its[i].split_deferred;
		if (its[i].resident_after > max_res || its[i].resident_after < 0)
			max_res = its[i].resident_after < 0 ? -1 : its[i].resident_after;
		zero_ok &= its[i].zero_ok;
	}
	qsort(sorted, o.iterations, sizeof(*sorted), cmp_u64);
	med = (o.iterations % 2 ? sorted[o.iterations / 2] :
	       (sorted[o.iterations / 2 - 1] + sorted[o.iterations / 2]) / 2) / 1e6;
	mn = sorted[0] / 1e6;
	mx = sorted[o.iterations - 1] / 1e6;
	expect = o.size / (o.folio_kb << 10);

	switch (o.format) {
	case FMT_JSON:
		printf("{\"label\":\"%s\",\"mode\":\"%s\",\"folio_kb\":%lu,\"pte_mapped\":%s,"
		       "\"size\":%zu,\"cpu\":%d,\"touch_threads\":%u,\"warmup\":%u,"
		       "\"iterations\":%u,\"median_ms\":%.3f,\"min_ms\":%.3f,\"max_ms\":%.3f,"
		       "\"split_deferred_per_iter\":%.2f,\"folios_expected\":%ld,"
		       "\"folios_found\":%ld,\"resident_after_max\":%ld,\"zero_ok\":%s,\"ns\":[",
		       o.label, mode_name(o.mode), o.folio_kb, o.pte_mapped ? "true" : "false",
		       o.size, o.cpu, o.touch_threads, o.warmup, o.iterations, med, mn, mx,
		       split_known ? (double)splits / o.iterations : -1.0, expect, folios,
		       max_res, zero_ok ? "true" : "false");
		for (i = 0; i < o.iterations; i++)
			printf("%s%llu", i ? "," : "", (unsigned long long)its[i].ns);
		printf("],\"split_deferred\":[");
		for (i = 0; i < o.iterations; i++)
			printf("%s%lld", i ? "," : "", its[i].split_deferred);
		printf("]}\n");
		break;
	case FMT_CSV:
		printf("label,mode,folio_kb,pte_mapped,size,iteration,ns,split_deferred,"
		       "resident_after,zero_ok\n");
		for (i = 0; i < o.iterations; i++)
			printf("%s,%s,%lu,%d,%zu,%u,%llu,%lld,%ld,%d\n", o.label,
			       mode_name(o.mode), o.folio_kb, o.pte_mapped, o.size, i,
			       (unsigned long long)its[i].ns, its[i].split_deferred,
			       its[i].resident_after, its[i].zero_ok);
		break;
	default:
		printf("%s%s%s %s of %zu MiB in %luK folios%s, %u iterations: "
		       "median %.3f ms (min %.3f, max %.3f); split_deferred/iter %.1f\n",
		       o.label, *o.label ? ": " : "", "lazyfree-bench", mode_name(o.mode),
		       o.size >> 20, o.folio_kb, o.pte_mapped ? " (PTE-mapped)" : "",
		       o.iterations, med, mn, mx,
		       split_known ? (double)splits / o.iterations : -1.0);
	}

	/* Say so when the run did not measure what it claims to. */
	if (folios != expect)
		fprintf(stderr, "lazyfree-bench: warning: %ld of %ld folios were %luK "
			"(mTHP allocation failed or the size is disabled)\n",
			folios, expect, o.folio_kb);
	if (max_res != 0)
		fprintf(stderr, "lazyfree-bench: warning: %ld pages stayed resident: "
			"reclaim did not drop the memory\n", max_res);
	if (!zero_ok)
		fprintf(stderr, "lazyfree-bench: warning: memory did not read back as zero "
			"after reclaim\n");
	free(its);
	free(sorted);
	return 0;
}
