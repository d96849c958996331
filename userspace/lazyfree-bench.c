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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include <linux/capability.h>

#include "cli.h"
#include "mmutil.h"

#define PROG		"lazyfree-bench"
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
/* Exit status of a run whose checks failed (docs/benchmark.md). */
#define EXIT_UNCHECKED	3
/* x86-64's user address space with 4-level page tables. */
#define MAX_SIZE	(1ULL << 47)

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

/* --- arguments ---------------------------------------------------------------- */

enum { OPT_PTE_MAPPED = 1000, OPT_CSV };

static const struct argp_option opts[] = {
	{ "size", 's', "SIZE", 0, "Region size (default 128M): bytes with an optional "
	  "K, M or G suffix (1K = 1024), a multiple of the folio size", 0 },
	{ "folio", 'f', "SIZE", 0, "Folio size: 4K (small pages) or an anonymous mTHP "
	  "size this kernel offers, e.g. 16K..1M, 2M (default 64K); the mTHP settings "
	  "are restored on exit", 0 },
	{ "pte-mapped", OPT_PTE_MAPPED, NULL, 0, "With -f 2M: split the PMD mappings "
	  "first (PTE-mapped THP)", 0 },
	{ "iterations", 'n', "N", 0, "Measured iterations (default 10)", 0 },
	{ "warmup", 'w', "N", 0, "Unmeasured iterations first (default 1)", 0 },
	{ "cpu", 'C', "CPU", 0, "Run on CPU (default: not pinned)", 0 },
	{ "touch-threads", 't', "N", 0, "N threads on other CPUs keep the mm active "
	  "there, so TLB flushes must reach remote CPUs (default 0)", 0 },
	{ "mode", 'm', "MODE", 0, "pageout (default): MADV_FREE, then time "
	  "MADV_PAGEOUT; dontneed: time MADV_DONTNEED (the zap baseline)", 0 },
	{ "label", 'l', "TEXT", 0, "Label recorded with the results (e.g. module=on)", 0 },
	{ NULL, 0, NULL, 0, "Output (default: one line of text):", 1 },
	{ "json", 'j', NULL, 0, "JSON: one object", 1 },
	{ "csv", OPT_CSV, NULL, 0, "CSV: one row per iteration", 1 },
	CLI_OPTS_COMMON,
	{},
};

static const char doc[] =
"How long does reclaim take to drop lazyfree memory?  Map, fill, MADV_FREE,\n"
"then time MADV_PAGEOUT; check that the folios had the size asked for and\n"
"that reclaim dropped them.\n"
"\n"
"USAGE: " PROG " [-hVj] [--csv] [-s SIZE] [-f SIZE] [--pte-mapped] [-n N]\n"
"                      [-w N] [-C CPU] [-t N] [-m MODE] [-l TEXT]\n"
"\n"
"EXAMPLES:\n"
"    " PROG " -f 64K -s 256M   # 256 MiB in 64K folios, 10 iterations\n"
"    " PROG " -f 2M -C 0 -j    # 2M THPs, on CPU 0, as JSON\n"
"    " PROG " -C 0 -t 1        # the mm also active on another CPU\n"
"    " PROG " -m dontneed      # the same memory zapped: the floor\n"
"\n"
"Times are wall-clock; in a VM under TCG only ratios between runs mean\n"
"anything.  Needs CAP_SYS_ADMIN and write access to the mTHP settings: root.\n"
"Exit status: 0 ok, 1 could not run, 2 bad usage, 3 ran but a check failed\n"
"(wrong folio size, memory left resident or not zero: see the warnings).\n";

static const struct argp argp = {
	.options = opts,
	.doc = doc,
};

/* Options of older versions: say what replaced them. */
static const struct cli_hint hints[] = {
	{ "-c", "the CPU is -C/--cpu (as in perf); -n sets the iterations" },
	{ "-o", "the output format is -j/--json or --csv" },
	{ "--format", "the output format is -j/--json or --csv" },
	{},
};

/* The folio sizes this kernel offers for anonymous memory, in KiB, ascending. */
static int offered_sizes(unsigned long *kb, int max)
{
	/* x86's mTHP sizes (order 2 to PMD order) when sysfs does not say. */
	static const unsigned long x86[] = { 16, 32, 64, 128, 256, 512, 1024, 2048 };
	struct dirent *de;
	unsigned long v;
	char path[512];
	int n = 0, i, j;
	DIR *d;

	kb[n++] = 4;
	d = opendir(THP_DIR);
	while (d && (de = readdir(d)) && n < max) {
		if (sscanf(de->d_name, "hugepages-%lukB", &v) != 1)
			continue;
		/* Shmem-only sizes (x86 order 1) have no "enabled". */
		snprintf(path, sizeof(path), THP_DIR "/%s/enabled", de->d_name);
		if (access(path, F_OK))
			continue;
		for (i = n; i > 1 && kb[i - 1] > v; i--)
			kb[i] = kb[i - 1];
		kb[i] = v;
		n++;
	}
	if (d)
		closedir(d);
	for (j = 0; n == 1 && j < (int)ARRAY_SIZE(x86) && n < max; j++)
		kb[n++] = x86[j];
	return n;
}

static void size_name(char *buf, size_t len, unsigned long kb)
{
	if (kb >= 1024 && !(kb % 1024))
		snprintf(buf, len, "%luM", kb >> 10);
	else
		snprintf(buf, len, "%luK", kb);
}

/* "4K (small pages), 16K, 32K, ..., 2M" */
static const char *offered_list(char *buf, size_t len)
{
	unsigned long kb[32];
	char name[24];
	size_t used = 0;
	int i, n = offered_sizes(kb, ARRAY_SIZE(kb));

	buf[0] = 0;
	for (i = 0; i < n; i++) {
		size_name(name, sizeof(name), kb[i]);
		used += snprintf(buf + used, used < len ? len - used : 0, "%s%s%s",
				 i ? ", " : "", name, kb[i] == 4 ? " (small pages)" : "");
	}
	return buf;
}

/* "0-1", "0,2-3": the CPUs in @set. */
static void cpu_list(char *buf, size_t len, const cpu_set_t *set)
{
	size_t used = 0;
	int cpu, first;

	buf[0] = 0;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, set))
			continue;
		for (first = cpu; cpu + 1 < CPU_SETSIZE && CPU_ISSET(cpu + 1, set); cpu++)
			;
		used += snprintf(buf + used, used < len ? len - used : 0,
				 first == cpu ? "%s%d" : "%s%d-%d", used ? "," : "", first, cpu);
	}
}

/* -C: a CPU this machine has and this process may run on, or exit 2. */
static int check_cpu(struct cli *c, unsigned long cpu)
{
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	char list[256];
	cpu_set_t set;

	if (ncpu <= 0 || ncpu > CPU_SETSIZE)
		ncpu = CPU_SETSIZE;
	if (cpu >= (unsigned long)ncpu)
		return cli_fail(c, "invalid CPU %lu for -C/--cpu: this machine has %ld "
				"CPU%s (0-%ld)", cpu, ncpu, ncpu == 1 ? "" : "s", ncpu - 1);
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && !CPU_ISSET(cpu, &set)) {
		cpu_list(list, sizeof(list), &set);
		return cli_fail(c, "invalid CPU %lu for -C/--cpu: offline or not allowed "
				"to this process (it may run on %s)", cpu, list);
	}
	return 0;
}

/* Returns 0, 1 if --help or --version was printed, -1 on error (in @err). */
static int parse_args(int argc, char **argv, struct opts *o, char *err, size_t errlen)
{
	const char *size_arg = NULL, *fmt_opt = NULL;
	char name[64], why[128], list[256];
	unsigned long long v;
	unsigned long n;
	struct cli c;
	int key;

	*o = (struct opts){ .size = 128UL << 20, .folio_kb = 64, .iterations = 10,
			    .warmup = 1, .cpu = -1, .label = "" };
	cli_init(&c, PROG, &argp, hints, err, errlen);
	while ((key = cli_next(&c, argc, argv)) != -1) {
		cli_name(&c, key, name, sizeof(name));
		switch (key) {
		case 's':
			if (cli_parse_size(optarg, &v, why, sizeof(why)))
				goto bad_size;
			if (v > MAX_SIZE) {
				snprintf(why, sizeof(why), "too large: more than the 128 TiB "
					 "of the user address space");
				goto bad_size;
			}
			if (v % MM_PAGE) {
				snprintf(why, sizeof(why), "not a multiple of the %luK page "
					 "size", MM_PAGE >> 10);
				goto bad_size;
			}
			o->size = v;
			size_arg = optarg;
			break;
		case 'f':
			why[0] = 0;
			if (!cli_parse_size(optarg, &v, why, sizeof(why))) {
				if (v & (v - 1))
					snprintf(why, sizeof(why), "not a power of two");
				else if (v < MM_PAGE)
					snprintf(why, sizeof(why), "smaller than a %luK page",
						 MM_PAGE >> 10);
				else if (v > MM_PMD_SIZE)
					snprintf(why, sizeof(why), "larger than a %luM PMD",
						 MM_PMD_SIZE >> 20);
			}
			if (why[0]) {
				cli_fail(&c, "invalid folio size '%s' for %s: %s; this kernel "
					 "offers %s", optarg, name, why,
					 offered_list(list, sizeof(list)));
				return -1;
			}
			o->folio_kb = v >> 10;
			break;
		case OPT_PTE_MAPPED:
			o->pte_mapped = true;
			break;
		case 'n':
			if (cli_parse_ulong(optarg, 1, 1000000, &n)) {
				cli_fail(&c, "invalid count '%s' for %s: want 1..1000000",
					 optarg, name);
				return -1;
			}
			o->iterations = n;
			break;
		case 'w':
			if (cli_parse_ulong(optarg, 0, 1000000, &n)) {
				cli_fail(&c, "invalid count '%s' for %s: want 0..1000000",
					 optarg, name);
				return -1;
			}
			o->warmup = n;
			break;
		case 'C':
			if (cli_parse_ulong(optarg, 0, ULONG_MAX, &n)) {
				cli_fail(&c, "invalid CPU '%s' for %s: want a CPU number",
					 optarg, name);
				return -1;
			}
			if (check_cpu(&c, n))
				return -1;
			o->cpu = n;
			break;
		case 't':
			if (cli_parse_ulong(optarg, 0, 256, &n)) {
				cli_fail(&c, "invalid count '%s' for %s: want 0..256 threads",
					 optarg, name);
				return -1;
			}
			o->touch_threads = n;
			break;
		case 'm':
			if (!strcmp(optarg, "pageout")) {
				o->mode = MODE_PAGEOUT;
			} else if (!strcmp(optarg, "dontneed")) {
				o->mode = MODE_DONTNEED;
			} else {
				cli_fail(&c, "invalid mode '%s' for %s: want pageout or "
					 "dontneed", optarg, name);
				return -1;
			}
			break;
		case 'j':
		case OPT_CSV:
			if (fmt_opt && strcmp(fmt_opt, name)) {
				cli_fail(&c, "%s and %s exclude each other", fmt_opt,
					 key == 'j' ? "-j/--json" : "--csv");
				return -1;
			}
			fmt_opt = key == 'j' ? "-j/--json" : "--csv";
			o->format = key == 'j' ? FMT_JSON : FMT_CSV;
			break;
		case 'l':
			if (cli_label(&c, name, optarg, &o->label))
				return -1;
			break;
		case 'h':
		case 'V':
			cli_common(&c, key);
			return 1;
		default:	/* '?': cli_next() said what */
			return -1;
		}
	}
	if (optind < argc) {
		cli_fail(&c, "unexpected argument '%s': " PROG " takes no operands",
			 argv[optind]);
		return -1;
	}
	if (o->pte_mapped && o->folio_kb != MM_PMD_SIZE >> 10) {
		cli_fail(&c, "--pte-mapped needs --folio 2M (it splits PMD mappings)");
		return -1;
	}
	if (o->size % (o->folio_kb << 10)) {
		size_name(name, sizeof(name), o->folio_kb);
		cli_fail(&c, "invalid size '%s' for -s/--size: not a multiple of the "
			 "%s folio size (-f/--folio)", size_arg ? size_arg : "128M", name);
		return -1;
	}
	return 0;

bad_size:
	cli_fail(&c, "invalid size '%s' for %s: %s", optarg, name, why);
	return -1;
}

/*
 * What the run needs, checked before anything is changed: CAP_SYS_ADMIN,
 * without which /proc/self/pagemap shows no page frame numbers (the folio
 * size check reads them); read access to /proc/kpageflags and write
 * access to the mTHP settings, root's files (mode 0400 and 0644).
 * Returns 0 or 1 (the exit status), having said what is missing.
 */
static int check_rights(void)
{
	char path[512];

	if (cli_has_cap(CAP_SYS_ADMIN) == 0) {
		fprintf(stderr, PROG ": missing CAP_SYS_ADMIN: /proc/self/pagemap shows page "
			"frame numbers only with it, and the folio size check needs them; "
			"run " PROG " as root\n");
		return 1;
	}
	if (faccessat(AT_FDCWD, "/proc/kpageflags", R_OK, AT_EACCESS)) {
		fprintf(stderr, PROG ": cannot read /proc/kpageflags (%s): run " PROG
			" as root (or with CAP_DAC_READ_SEARCH)\n", strerror(errno));
		return 1;
	}
	if (mthp_writable(path, sizeof(path))) {
		fprintf(stderr, PROG ": cannot write %s (%s): run " PROG " as root "
			"(or with CAP_DAC_OVERRIDE)\n", path, strerror(errno));
		return 1;
	}
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Run on @cpu; a run that is not where it says it is must not go on. */
static int pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		fprintf(stderr, PROG ": cannot run on CPU %d: %s\n", cpu, strerror(errno));
		return -1;
	}
	return 0;
}

/* A thread that keeps this mm live on another CPU. */
static void *toucher(void *arg)
{
	static char buf[4096];
	unsigned int i = 0;

	(void)arg;
	while (!touch_stop)
		((volatile char *)buf)[i++ & 4095]++;
	return NULL;
}

static void stop_touchers(pthread_t *thr, unsigned int n)
{
	unsigned int i;

	touch_stop = 1;
	for (i = 0; i < n; i++)
		pthread_join(thr[i], NULL);
}

/*
 * Start @n touch threads, spread over the online CPUs other than -C's
 * (none given: wherever the scheduler puts them).  The online CPUs, not
 * this process's affinity: a caller that pinned us with taskset -c to the
 * -C CPU still wants the threads elsewhere (sched_setaffinity() may widen
 * an inherited mask; a cpuset that forbids it makes pthread_create() fail,
 * reported).  Returns how many started; fewer than @n is an error, already
 * reported.
 */
static unsigned int start_touchers(const struct opts *o, pthread_t *thr, unsigned int n)
{
	int others[CPU_SETSIZE], nothers = 0, cpu, err;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_attr_t attr;
	cpu_set_t set;
	unsigned int i;

	if (o->cpu >= 0)
		for (cpu = 0; cpu < ncpu && cpu < CPU_SETSIZE; cpu++)
			if (cpu != o->cpu)
				others[nothers++] = cpu;
	for (i = 0; i < n; i++) {
		pthread_attr_init(&attr);
		if (o->cpu >= 0) {
			/* One CPU only: the threads share it with us. */
			CPU_ZERO(&set);
			CPU_SET(nothers ? others[i % nothers] : o->cpu, &set);
			pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
		}
		err = pthread_create(&thr[i], &attr, toucher, NULL);
		pthread_attr_destroy(&attr);
		if (err) {
			fprintf(stderr, PROG ": cannot start touch thread %u of %u: %s\n",
				i + 1, n, strerror(err));
			break;
		}
	}
	return i;
}

static void on_signal(int sig)
{
	mthp_restore(&saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* One iteration; returns -1 on a syscall failure, reported. */
static int run_once(const struct opts *o, struct iter *it, long *folios_found)
{
	size_t fsz = o->folio_kb << 10, len = o->size, off;
	int advice = o->mode == MODE_PAGEOUT ? MADV_PAGEOUT : MADV_DONTNEED;
	const char *what;
	long long sd0;
	uint64_t t0, t1;
	char *p;

	p = mm_map_aligned(len, fsz > MM_PMD_SIZE ? fsz : MM_PMD_SIZE);
	if (!p) {
		fprintf(stderr, PROG ": mmap of %zu MiB: %s\n", len >> 20, strerror(errno));
		return -1;
	}
	for (off = 0; off < len; off += MM_PAGE)
		memset(p + off, 0x5a, MM_PAGE);
	what = "mprotect (splitting the PMD mappings)";
	if (o->pte_mapped && mm_split_pmd_mappings(p, len))
		goto fail;
	if (folios_found)
		*folios_found = mm_count_folios(p, len, o->folio_kb);
	what = "madvise(MADV_FREE)";
	if (o->mode == MODE_PAGEOUT && madvise(p, len, MADV_FREE))
		goto fail;

	sd0 = mthp_split_deferred(o->folio_kb);
	what = o->mode == MODE_PAGEOUT ? "madvise(MADV_PAGEOUT)" : "madvise(MADV_DONTNEED)";
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
	fprintf(stderr, PROG ": %s: %s\n", what, strerror(errno));
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
	struct iter *its = NULL;
	uint64_t *sorted = NULL;
	pthread_t *thr = NULL;
	long folios = -1, expect, max_res = 0;
	long long splits = 0;
	bool zero_ok = true, split_known = true;
	unsigned int i, started = 0;
	double med, mn, mx;
	char err[512], list[256];
	int ret;

	ret = parse_args(argc, argv, &o, err, sizeof(err));
	if (ret)
		return ret > 0 ? 0 : cli_usage_error(PROG, err);
	if (check_rights())
		return CLI_EXIT_RUNTIME;
	if (o.folio_kb > 4 && !mthp_supported(o.folio_kb)) {
		fprintf(stderr, PROG ": this kernel offers no %luK folios for anonymous "
			"memory (no writable %s/hugepages-%lukB/enabled; is "
			"CONFIG_TRANSPARENT_HUGEPAGE set?); it offers %s\n", o.folio_kb,
			THP_DIR, o.folio_kb, offered_list(list, sizeof(list)));
		return CLI_EXIT_RUNTIME;
	}
	its = calloc(o.iterations, sizeof(*its));
	sorted = calloc(o.iterations, sizeof(*sorted));
	thr = calloc(o.touch_threads ? o.touch_threads : 1, sizeof(*thr));
	if (!its || !sorted || !thr) {
		fprintf(stderr, PROG ": out of memory\n");
		ret = CLI_EXIT_RUNTIME;
		goto out;
	}

	mthp_save(&saved);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	ret = CLI_EXIT_RUNTIME;
	if (mthp_only(o.folio_kb > 4 ? o.folio_kb : 0)) {
		fprintf(stderr, PROG ": cannot set the mTHP sizes in %s\n", THP_DIR);
		goto restore;
	}
	if (o.cpu >= 0 && pin(o.cpu))
		goto restore;
	started = start_touchers(&o, thr, o.touch_threads);
	if (started < o.touch_threads)
		goto restore;

	ret = 0;
	for (i = 0; i < o.warmup + o.iterations && !ret; i++) {
		struct iter it;
		bool measured = i >= o.warmup;

		ret = run_once(&o, &it, i == o.warmup ? &folios : NULL);
		if (ret || !measured)
			continue;
		its[i - o.warmup] = it;
	}
	ret = ret ? CLI_EXIT_RUNTIME : 0;
restore:
	stop_touchers(thr, started);
	mthp_restore(&saved);
	if (ret)
		goto out;

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
		       o.label, *o.label ? ": " : "", PROG, mode_name(o.mode),
		       o.size >> 20, o.folio_kb, o.pte_mapped ? " (PTE-mapped)" : "",
		       o.iterations, med, mn, mx,
		       split_known ? (double)splits / o.iterations : -1.0);
	}
	fflush(stdout);

	/*
	 * Say so, and exit 3, when the run did not measure what it claims to:
	 * the results above are printed all the same (make bench keeps them
	 * and flags the size in its report).
	 */
	if (folios < 0)
		fprintf(stderr, PROG ": warning: could not check the folio sizes "
			"(/proc/self/pagemap or /proc/kpageflags unreadable)\n");
	else if (folios != expect)
		fprintf(stderr, PROG ": warning: %ld of %ld folios were %luK "
			"(mTHP allocation failed or the size is disabled)\n",
			folios, expect, o.folio_kb);
	if (max_res < 0)
		fprintf(stderr, PROG ": warning: could not check what stayed resident "
			"(mincore failed)\n");
	else if (max_res > 0)
		fprintf(stderr, PROG ": warning: %ld pages stayed resident: "
			"reclaim did not drop the memory\n", max_res);
	if (!zero_ok)
		fprintf(stderr, PROG ": warning: memory did not read back as zero "
			"after reclaim\n");
	if (folios != expect || max_res != 0 || !zero_ok)
		ret = EXIT_UNCHECKED;
out:
	free(thr);
	free(its);
	free(sorted);
	return ret;
}
