// SPDX-License-Identifier: GPL-2.0
/*
 * jemalloc-bench: a real allocator's lazy purging under memory pressure.
 *
 * Several threads allocate and free objects of a realistic size mix (8
 * bytes to a few MiB) through jemalloc, linked in statically (Debian's
 * libjemalloc.a, unpatched, configured only through MALLOC_CONF), and
 * touch every page they allocate, as fast as they can for a fixed time.
 * Each thread's live set follows a sawtooth in time: it grows to
 * -p/--peak over the first half of a cycle (-P/--period), drops to an
 * eighth of it and stays there for the second half; the threads are a
 * fraction of a cycle apart, like workers taking turns on big requests.
 * Phases in time, not in operations: jemalloc's decay is in wall-clock
 * time too, so the two keep their relation at any speed (TCG or not).
 * jemalloc gives each thread an arena of its own, so what one thread frees
 * stays in its arena, dirty, then muzzy (purged with MADV_FREE once the
 * dirty decay time has passed, if muzzy_decay_ms is not 0), while another
 * thread's arena grows: run in a memcg whose memory.high is below the sum
 * of the arenas' peaks, reclaim takes back the muzzy pages (the only
 * reclaimable memory there: the memcg gets no swap).  A cap on the live
 * bytes of all threads together (-L) keeps what cannot be reclaimed below
 * memory.high.
 *
 * It reports throughput, allocation latency percentiles (malloc plus the
 * first touch of every page, where faults and memcg reclaim land), CPU
 * time, and the counters that cost nothing to read, before and after the
 * run: the memcg's memory.stat and memory.events, /proc/vmstat, the mTHP
 * stats of every size, batch_unmap's debugfs counters when it is loaded,
 * PSI when the kernel has it, and jemalloc's own purge statistics.  Every
 * object's pages are checked when it is freed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mmutil.h"

#define PROG		"jemalloc-bench"
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define EXIT_UNCHECKED	3
#define MAX_THREADS	64
#define MAX_FOLIOS	10
#define CG_DEFAULT	"/sys/fs/cgroup/" PROG
#define CGROUP2_MAGIC	0x63677270
#define MODULE_STATS	"/sys/kernel/debug/batch_unmap/stats"
#define REF_SWITCH	"/sys/module/rmap/parameters/lazyfree_batch"
/* MALLCTL_ARENAS_ALL of jemalloc.h (5.x): the sum over all arenas. */
#define JE_ARENAS_ALL	"4096"
/* The live-set sawtooth: grows over this share of a cycle, then low. */
#define DUTY		0.5
/* Chance that an allocation is preceded by the free of a random object. */
#define CHURN		0.25

/*
 * jemalloc's control interface.  Weak: the host's sanitizer build links
 * against glibc's malloc, which has none (the run then says so).
 */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp,
		   size_t newlen) __attribute__((weak));

enum format { FMT_TEXT, FMT_JSON };

struct opts {
	unsigned int threads, cycles, warmup;
	unsigned long period_ms;
	unsigned long long peak, max_object, high, cap;
	bool memcg, cap_set;
	const char *cgroup;
	unsigned long folios[MAX_FOLIOS];
	unsigned int nfolios;
	bool set_folios;
	const char *folios_arg;
	unsigned long seed;
	enum format format;
	const char *label;
};

/* --- latency histogram: log-linear, 32 buckets per power of two (3%) ------ */

#define H_SUB_BITS	5
#define H_SUB		(1U << H_SUB_BITS)
#define H_LINEAR	(2 * H_SUB)
#define H_BUCKETS	(H_LINEAR + (64 - H_SUB_BITS - 1) * H_SUB)

struct hist {
	uint64_t b[H_BUCKETS];
	uint64_t n, max, sum;
};

static unsigned int h_index(uint64_t v)
{
	unsigned int e;

	if (v < H_LINEAR)
		return v;
	e = 63 - __builtin_clzll(v);		/* >= H_SUB_BITS + 1 */
	return H_LINEAR + (e - H_SUB_BITS - 1) * H_SUB +
	       ((v >> (e - H_SUB_BITS)) & (H_SUB - 1));
}

/* The smallest value of bucket @i. */
static uint64_t h_value(unsigned int i)
{
	unsigned int e;

	if (i < H_LINEAR)
		return i;
	e = (i - H_LINEAR) / H_SUB + H_SUB_BITS + 1;
	return (1ULL << e) + ((uint64_t)((i - H_LINEAR) % H_SUB) << (e - H_SUB_BITS));
}

static void h_add(struct hist *h, uint64_t v)
{
	h->b[h_index(v)]++;
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

static void h_merge(struct hist *to, const struct hist *from)
{
	unsigned int i;

	for (i = 0; i < H_BUCKETS; i++)
		to->b[i] += from->b[i];
	to->n += from->n;
	to->sum += from->sum;
	if (from->max > to->max)
		to->max = from->max;
}

/* The value at quantile @q: the middle of its bucket, at most the maximum. */
static uint64_t h_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0, lo, hi;
	unsigned int i;

	if (!h->n)
		return 0;
	rank = (uint64_t)ceil(q * h->n);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < H_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank)
			break;
	}
	if (i >= H_BUCKETS)
		return h->max;
	lo = h_value(i);
	hi = i + 1 < H_BUCKETS ? h_value(i + 1) : lo;
	lo += (hi - lo) / 2;
	return lo < h->max ? lo : h->max;
}

/* --- the workload ----------------------------------------------------------- */

/* Object sizes: share of the allocations (per mille), log-uniform in [lo, hi). */
static const struct {
	unsigned int permille;
	size_t lo, hi;
} size_mix[] = {
	{ 600, 8, 512 },			/* small objects: strings, nodes */
	{ 250, 512, 8 << 10 },			/* buffers */
	{ 100, 8 << 10, 128 << 10 },		/* jemalloc's large classes start at 16K */
	{ 40, 128 << 10, 1 << 20 },
	{ 10, 1 << 20, 4 << 20 },		/* a few MiB */
};

struct obj {
	char *p;
	size_t size;
	uint64_t tag;
};

struct worker {
	pthread_t thr;
	unsigned int id;
	const struct opts *o;
	uint64_t rng;
	struct obj *live;
	unsigned long nlive, cap_live;
	size_t live_bytes, top_bytes;	/* now, and the most */
	unsigned int arena;		/* jemalloc's arena for this thread */
	struct hist alloc_h, malloc_h, free_h;
	uint64_t allocs, frees, bytes, data_errors, alloc_failures, cap_hits;
	uint64_t ns;
	bool started;
};

/* The start: every thread ready (arena bound), then all go, or abort. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static unsigned int gate_ready;
static int gate_state;		/* 0 wait, 1 go, -1 abort */
static uint64_t start_ns;	/* set before the go: phases are from here */
static uint64_t measure_ns;	/* the warm-up cycles end here */
static _Atomic unsigned int threads_done;
static _Atomic size_t live_total;
static struct mthp_saved saved;
static bool mthp_changed;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void sleep_until(uint64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000ULL, .tv_nsec = ns % 1000000000ULL };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* splitmix64 */
static uint64_t rnd(struct worker *w)
{
	uint64_t z = (w->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double rnd_unit(struct worker *w)
{
	return (rnd(w) >> 11) * (1.0 / 9007199254740992.0);
}

/* A size from the mix, at most --max-object. */
static size_t draw_size(struct worker *w)
{
	unsigned int total = 0, pick, i;
	size_t lo, hi, max = w->o->max_object;

	for (i = 0; i < ARRAY_SIZE(size_mix); i++)
		if (size_mix[i].lo < max)
			total += size_mix[i].permille;
	pick = rnd(w) % total;
	for (i = 0; i < ARRAY_SIZE(size_mix); i++) {
		if (size_mix[i].lo >= max)
			continue;
		if (pick < size_mix[i].permille)
			break;
		pick -= size_mix[i].permille;
	}
	lo = size_mix[i].lo;
	hi = size_mix[i].hi < max ? size_mix[i].hi : max;
	return (size_t)(lo * exp(rnd_unit(w) * log((double)hi / lo)));
}

/*
 * Write the object the way a program filling it would fault it in: a
 * header, then a word in every page (and the last word), tagged so that a
 * page lost to reclaim reads back wrong.
 */
static void touch(const struct obj *o)
{
	size_t off;

	memset(o->p, 0xa5, o->size < 64 ? o->size : 64);
	for (off = 0; off + 8 <= o->size; off += MM_PAGE)
		*(volatile uint64_t *)(o->p + off) = o->tag ^ off;
	off = (o->size - 8) & ~7UL;
	*(volatile uint64_t *)(o->p + off) = o->tag ^ off;
}

static bool intact(const struct obj *o)
{
	size_t off;

	for (off = 0; off + 8 <= o->size; off += MM_PAGE)
		if (*(volatile uint64_t *)(o->p + off) != (o->tag ^ off))
			return false;
	off = (o->size - 8) & ~7UL;
	return *(volatile uint64_t *)(o->p + off) == (o->tag ^ off);
}

/* Free live object @i (checked first, not timed); @timed: count it. */
static void free_obj(struct worker *w, unsigned long i, bool timed)
{
	struct obj o = w->live[i];
	uint64_t t0;

	if (!intact(&o))
		w->data_errors++;
	w->live[i] = w->live[--w->nlive];
	t0 = now_ns();
	free(o.p);
	if (timed) {
		h_add(&w->free_h, now_ns() - t0);
		w->frees++;
	}
	w->live_bytes -= o.size;
	atomic_fetch_sub(&live_total, o.size);
}

static void free_random(struct worker *w, bool measured)
{
	free_obj(w, rnd(w) % w->nlive, measured);
}

/* When thread @id starts, in ns after the others: they start in turn. */
static uint64_t offset_ns(const struct opts *o, unsigned int id)
{
	return (uint64_t)o->period_ms * 1000000 * id / o->threads;
}

/* The live bytes this thread aims at, @ns into the run (after its start). */
static size_t target(const struct worker *w, uint64_t ns)
{
	const struct opts *o = w->o;
	double cycle = o->period_ms * 1e6;
	double phase = fmod((ns - offset_ns(o, w->id)) / cycle, 1.0);
	size_t lo = o->peak / 8;

	if (phase >= DUTY)
		return lo;
	return lo + (size_t)((o->peak - lo) * (phase / DUTY));
}

/* Room for one more live object; false if there is none. */
static bool live_room(struct worker *w)
{
	struct obj *n;

	if (w->nlive < w->cap_live)
		return true;
	n = realloc(w->live, 2 * w->cap_live * sizeof(*n));
	if (!n)
		return false;
	w->live = n;
	w->cap_live *= 2;
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	const struct opts *o = w->o;
	uint64_t t0, t1, t2, end;
	size_t sz = sizeof(w->arena);
	struct obj ob;

	/* The first allocation binds the thread to its arena. */
	w->cap_live = 1024;
	w->live = malloc(w->cap_live * sizeof(*w->live));
	if (mallctl && mallctl("thread.arena", &w->arena, &sz, NULL, 0))
		w->arena = -1U;
	pthread_mutex_lock(&gate_mu);
	gate_ready++;
	pthread_cond_broadcast(&gate_cv);
	while (!gate_state)
		pthread_cond_wait(&gate_cv, &gate_mu);
	pthread_mutex_unlock(&gate_mu);
	if (!w->live || gate_state < 0)
		return NULL;
	w->started = true;
	sleep_until(start_ns + offset_ns(o, w->id));
	end = measure_ns + (uint64_t)o->cycles * o->period_ms * 1000000;
	for (t2 = now_ns(); t2 < end; ) {
		size_t want = target(w, t2 - start_ns);
		bool capped = false, measured = t2 >= measure_ns;

		while (w->nlive && w->live_bytes > want)
			free_random(w, measured);
		if (w->nlive && rnd_unit(w) < CHURN)
			free_random(w, measured);
		ob.size = draw_size(w);
		ob.tag = rnd(w) | 1;
		while (o->cap && w->nlive &&
		       atomic_load(&live_total) + ob.size > o->cap) {
			free_random(w, measured);
			capped = true;
		}
		w->cap_hits += capped && measured;
		if (!live_room(w)) {
			w->alloc_failures++;
			break;
		}

		t0 = now_ns();
		ob.p = malloc(ob.size);
		t1 = now_ns();
		if (!ob.p) {
			w->alloc_failures++;
			t2 = t1;
			continue;
		}
		touch(&ob);
		t2 = now_ns();
		if (measured) {
			h_add(&w->malloc_h, t1 - t0);
			h_add(&w->alloc_h, t2 - t0);
			w->allocs++;
			w->bytes += ob.size;
		}
		w->live[w->nlive++] = ob;
		w->live_bytes += ob.size;
		if (w->live_bytes > w->top_bytes)
			w->top_bytes = w->live_bytes;
		atomic_fetch_add(&live_total, ob.size);
	}
	w->ns = now_ns() - measure_ns;
	atomic_fetch_add(&threads_done, 1);
	return NULL;
}

/* --- counters: "key value" files ---------------------------------------------- */

#define KV_MAX	96

struct kv {
	char k[48];
	long long v;
};

struct kvset {
	struct kv e[KV_MAX];
	unsigned int n;
	bool ok;
};

static struct kv *kv_find(struct kvset *s, const char *k)
{
	unsigned int i;

	for (i = 0; i < s->n; i++)
		if (!strcmp(s->e[i].k, k))
			return &s->e[i];
	return NULL;
}

static void kv_add(struct kvset *s, const char *k, long long v)
{
	struct kv *e = kv_find(s, k);

	if (!e && s->n < KV_MAX) {
		e = &s->e[s->n++];
		snprintf(e->k, sizeof(e->k), "%s", k);
		e->v = 0;
	}
	if (e)
		e->v += v;
}

/*
 * The "key value" lines of @path whose key is in @keys (NULL: all), with
 * every allocstall_<zone> summed into "allocstall".
 */
static void kv_read(struct kvset *s, const char *path, const char *const *keys)
{
	char line[256], k[64];
	long long v;
	const char *const *kp;
	FILE *f = fopen(path, "r");

	memset(s, 0, sizeof(*s));
	if (!f)
		return;
	s->ok = true;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %lld", k, &v) != 2)
			continue;
		if (!strncmp(k, "allocstall_", 11)) {
			kv_add(s, "allocstall", v);
			continue;
		}
		for (kp = keys; kp && *kp && strcmp(*kp, k); kp++)
			;
		if (!keys || *kp)
			kv_add(s, k, v);
	}
	fclose(f);
}

static const char *const vmstat_keys[] = {
	"pglazyfree", "pglazyfreed", "pgsteal_direct", "pgsteal_kswapd", "pgscan_direct",
	"pgscan_kswapd", "pgsteal_anon", "pgsteal_file", "pgscan_anon", "pgscan_file",
	"pgfault", "pswpout", "thp_fault_alloc", "thp_fault_fallback", "thp_split_page",
	"thp_split_page_failed", "thp_deferred_split_page", "thp_underused_split_page",
	"thp_split_pmd", "thp_collapse_alloc", "compact_stall", NULL
};

static const char *const memcg_keys[] = {
	"pgscan", "pgsteal", "pgscan_direct", "pgscan_kswapd", "pgsteal_direct",
	"pgsteal_kswapd", "pglazyfree", "pglazyfreed", "pgfault", "pgmajfault",
	"pgactivate", "pgdeactivate", "pgrefill", "thp_fault_alloc", "thp_collapse_alloc",
	"workingset_refault_anon", "workingset_refault_file", NULL
};

static const char *const mthp_keys[] = {
	"anon_fault_alloc", "anon_fault_fallback", "anon_fault_fallback_charge", "split",
	"split_failed", "split_deferred", "nr_anon", "nr_anon_partially_mapped",
};

#define MTHP_MAX	16

struct mthp_snap {
	unsigned int n;
	unsigned long kb[MTHP_MAX];
	long long v[MTHP_MAX][ARRAY_SIZE(mthp_keys)];
};

static int cmp_ul(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

/* The stats of every anonymous mTHP size (those with an "enabled"). */
static void mthp_read(struct mthp_snap *s)
{
	char path[512], buf[64];
	struct dirent *de;
	unsigned long kb;
	unsigned int i, j;
	DIR *d = opendir(THP_DIR);

	memset(s, 0, sizeof(*s));
	while (d && (de = readdir(d)) && s->n < MTHP_MAX) {
		if (sscanf(de->d_name, "hugepages-%lukB", &kb) != 1)
			continue;
		snprintf(path, sizeof(path), THP_DIR "/%s/enabled", de->d_name);
		if (access(path, F_OK))
			continue;
		s->kb[s->n++] = kb;
	}
	if (d)
		closedir(d);
	qsort(s->kb, s->n, sizeof(s->kb[0]), cmp_ul);
	for (i = 0; i < s->n; i++)
		for (j = 0; j < ARRAY_SIZE(mthp_keys); j++) {
			snprintf(path, sizeof(path), THP_DIR "/hugepages-%lukB/stats/%s",
				 s->kb[i], mthp_keys[j]);
			s->v[i][j] = mm_read_file(path, buf, sizeof(buf)) ? -1 :
				     strtoll(buf, NULL, 10);
		}
}

struct psi {
	bool ok;
	long long some_us, full_us;
};

static void psi_read(struct psi *p, const char *path)
{
	char line[256], *t;
	FILE *f = fopen(path, "r");

	memset(p, 0, sizeof(*p));
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		t = strstr(line, "total=");
		if (!t)
			continue;
		if (!strncmp(line, "some", 4))
			p->some_us = strtoll(t + 6, NULL, 10);
		else if (!strncmp(line, "full", 4))
			p->full_us = strtoll(t + 6, NULL, 10);
		p->ok = true;
	}
	fclose(f);
}

/* jemalloc's purge statistics over all arenas (-1 where unavailable). */
static const char *const je_u64_stats[] = {
	"dirty_npurge", "dirty_nmadvise", "dirty_purged",
	"muzzy_npurge", "muzzy_nmadvise", "muzzy_purged",
};
static const char *const je_size_stats[] = {
	"stats.arenas." JE_ARENAS_ALL ".pdirty", "stats.arenas." JE_ARENAS_ALL ".pmuzzy",
	"stats.resident", "stats.mapped", "stats.retained", "stats.active",
	"stats.allocated",
};

struct je_snap {
	long long u64[ARRAY_SIZE(je_u64_stats)];
	long long sz[ARRAY_SIZE(je_size_stats)];
	long long bg_runs;
};

static void je_read(struct je_snap *s)
{
	char name[128];
	uint64_t epoch = 1, u;
	size_t len, z;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(s->u64); i++)
		s->u64[i] = -1;
	for (i = 0; i < ARRAY_SIZE(s->sz); i++)
		s->sz[i] = -1;
	s->bg_runs = -1;
	if (!mallctl)
		return;
	len = sizeof(epoch);
	mallctl("epoch", &epoch, &len, &epoch, sizeof(epoch));
	for (i = 0; i < ARRAY_SIZE(je_u64_stats); i++) {
		snprintf(name, sizeof(name), "stats.arenas." JE_ARENAS_ALL ".%s", je_u64_stats[i]);
		len = sizeof(u);
		if (!mallctl(name, &u, &len, NULL, 0))
			s->u64[i] = u;
	}
	for (i = 0; i < ARRAY_SIZE(je_size_stats); i++) {
		len = sizeof(z);
		if (!mallctl(je_size_stats[i], &z, &len, NULL, 0))
			s->sz[i] = z;
	}
	len = sizeof(u);
	if (!mallctl("stats.background_thread.num_runs", &u, &len, NULL, 0))
		s->bg_runs = u;
}

struct snap {
	struct kvset vm, memcg, events, module;
	struct mthp_snap mthp;
	struct psi psi, cg_psi;
	struct je_snap je;
	struct rusage ru;
};

static void cg_path(char *buf, size_t len, const struct opts *o, const char *file)
{
	snprintf(buf, len, "%s/%s", o->cgroup, file);
}

static void snap_read(struct snap *s, const struct opts *o)
{
	char path[4200];

	kv_read(&s->vm, "/proc/vmstat", vmstat_keys);
	kv_read(&s->module, MODULE_STATS, NULL);
	mthp_read(&s->mthp);
	psi_read(&s->psi, "/proc/pressure/memory");
	memset(&s->memcg, 0, sizeof(s->memcg));
	memset(&s->events, 0, sizeof(s->events));
	memset(&s->cg_psi, 0, sizeof(s->cg_psi));
	if (o->memcg) {
		cg_path(path, sizeof(path), o, "memory.stat");
		kv_read(&s->memcg, path, memcg_keys);
		cg_path(path, sizeof(path), o, "memory.events");
		kv_read(&s->events, path, NULL);
		cg_path(path, sizeof(path), o, "memory.pressure");
		psi_read(&s->cg_psi, path);
	}
	je_read(&s->je);
	getrusage(RUSAGE_SELF, &s->ru);
}

static long long kv_delta(struct kvset *a, struct kvset *b, const char *k)
{
	struct kv *x = kv_find(a, k), *y = kv_find(b, k);

	if (!y)
		return -1;
	return y->v - (x ? x->v : 0);
}

/* --- the memcg -------------------------------------------------------------------- */

static char orig_cgroup[8320];	/* where to go back to, or "" */
static bool in_memcg;

static int write_cg(const struct opts *o, const char *file, const char *val, bool quiet)
{
	char path[4200];
	int err;

	cg_path(path, sizeof(path), o, file);
	err = mm_write_file(path, val);
	if (err && !quiet)
		fprintf(stderr, PROG ": cannot write '%s' to %s: %s\n", val, path, strerror(-err));
	return err;
}

static bool is_cgroup2(const char *dir)
{
	struct statfs sfs;

	return !statfs(dir, &sfs) && sfs.f_type == CGROUP2_MAGIC;
}

/* The cgroup2 directory this process is in (to go back to), or "". */
static void find_own_cgroup(const char *dir)
{
	char line[4096], mnt[4200], up[4200], *slash;
	FILE *f = fopen("/proc/self/cgroup", "r");

	/* The mount: the topmost cgroup2 directory above @dir. */
	snprintf(mnt, sizeof(mnt), "%s", dir);
	for (;;) {
		snprintf(up, sizeof(up), "%s", mnt);
		slash = strrchr(up, '/');
		if (!slash || slash == up)
			break;
		*slash = 0;
		if (!is_cgroup2(up))
			break;
		snprintf(mnt, sizeof(mnt), "%s", up);
	}

	orig_cgroup[0] = 0;
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(orig_cgroup, sizeof(orig_cgroup), "%s%s", mnt,
			 strcmp(line + 3, "/") ? line + 3 : "");
	}
	if (f)
		fclose(f);
}

/*
 * A fresh memcg at -G (removed first if an earlier run left it empty)
 * with memory.high, no swap, and this process in it.
 */
static int enter_memcg(const struct opts *o)
{
	char parent[4200], val[32], *slash;
	int err;

	snprintf(parent, sizeof(parent), "%s", o->cgroup);
	slash = strrchr(parent, '/');
	if (!slash || slash == parent) {
		fprintf(stderr, PROG ": -G %s: want a directory below a cgroup2 mount\n", o->cgroup);
		return -1;
	}
	*slash = 0;
	if (!is_cgroup2(parent)) {
		fprintf(stderr, PROG ": %s is not a cgroup2 directory (mount -t cgroup2 none "
			"/sys/fs/cgroup, or -H none to run without a memcg)\n", parent);
		return -1;
	}
	find_own_cgroup(parent);
	/* The controller for the children (already on: no harm). */
	strcat(parent, "/cgroup.subtree_control");
	mm_write_file(parent, "+memory");
	if (rmdir(o->cgroup) && errno != ENOENT) {
		fprintf(stderr, PROG ": %s exists and cannot be removed (%s): is another "
			"run in it?\n", o->cgroup, strerror(errno));
		return -1;
	}
	if (mkdir(o->cgroup, 0755)) {
		fprintf(stderr, PROG ": cannot create %s: %s\n", o->cgroup, strerror(errno));
		return -1;
	}
	if (o->high)
		snprintf(val, sizeof(val), "%llu", o->high);
	else
		snprintf(val, sizeof(val), "max");
	if (write_cg(o, "memory.high", val, false))
		goto fail;
	/* Only lazyfree memory is reclaimable here, whatever swap exists. */
	write_cg(o, "memory.swap.max", "0", true);
	snprintf(val, sizeof(val), "%d", getpid());
	err = write_cg(o, "cgroup.procs", val, false);
	if (err)
		goto fail;
	in_memcg = true;
	return 0;
fail:
	rmdir(o->cgroup);
	return -1;
}

/* Back to the cgroup the process came from; remove the memcg. */
static void leave_memcg(const struct opts *o)
{
	char path[8400], pid[24];

	if (!in_memcg)
		return;
	snprintf(pid, sizeof(pid), "%d", getpid());
	snprintf(path, sizeof(path), "%s/cgroup.procs", orig_cgroup);
	if (!orig_cgroup[0] || mm_write_file(path, pid))
		return;		/* the memcg stays; the next run removes it */
	in_memcg = false;
	rmdir(o->cgroup);
}

/* --- arguments ------------------------------------------------------------------- */

enum { OPT_SEED = 1000, OPT_MAX_OBJECT };

static const struct argp_option opts[] = {
	{ "threads", 't', "N", 0, "Worker threads (default 8)", 0 },
	{ "period", 'P', "MS", 0, "Length of a live-set cycle in milliseconds "
	  "(default 2000)", 0 },
	{ "cycles", 'c', "N", 0, "Measured cycles (default 3)", 0 },
	{ "warmup", 'w', "N", 0, "Unmeasured cycles first, while the threads start in "
	  "turn and their arenas fill (default 2)", 0 },
	{ "peak", 'p', "SIZE", 0, "Live bytes of one thread at the top of its cycle "
	  "(default 16M)", 0 },
	{ "max-object", OPT_MAX_OBJECT, "SIZE", 0, "Largest object (default 4M; the size mix is cut "
	  "there)", 0 },
	{ "high", 'H', "SIZE", 0, "memory.high of the memcg the run is in (default 192M); "
	  "max: a memcg without a limit (to measure the peak); none: no memcg", 0 },
	{ "cgroup", 'G', "DIR", 0, "The memcg, created afresh and removed after "
	  "(default " CG_DEFAULT ")", 0 },
	{ "live-cap", 'L', "SIZE", 0, "At most this many live bytes in all threads "
	  "together (default: 3/4 of memory.high; none without a memcg)", 0 },
	{ "folios", 'f', "LIST", 0, "Anonymous folio sizes to enable, e.g. 4K (small "
	  "pages only), 64K or 64K+2M; the other mTHP sizes are set to never and all "
	  "are restored on exit (default: leave the settings as they are)", 0 },
	{ "seed", OPT_SEED, "N", 0, "Random seed (default 1)", 0 },
	{ "label", 'l', "TEXT", 0, "Label recorded with the results (e.g. on)", 0 },
	{ NULL, 0, NULL, 0, "Output (default: two lines of text):", 1 },
	{ "json", 'j', NULL, 0, "JSON: one object", 1 },
	CLI_OPTS_COMMON,
	{},
};

static const char doc[] =
"Does reclaim of an allocator's lazily freed memory get cheaper?  Threads\n"
"allocate, touch and free objects of 8 bytes to 4 MiB through jemalloc (set\n"
"up by MALLOC_CONF only) in a memcg whose memory.high is below the peak of\n"
"their arenas; report throughput, allocation latency and what reclaim did.\n"
"\n"
"USAGE: " PROG " [-hVj] [-t N] [-P MS] [-c N] [-w N] [-p SIZE] [-H SIZE]\n"
"                      [-G DIR] [-L SIZE] [-f LIST] [--max-object SIZE]\n"
"                      [--seed N] [-l TEXT]\n"
"\n"
"EXAMPLES:\n"
"    MALLOC_CONF=muzzy_decay_ms:10000 " PROG " -f 64K  # 64K mTHP\n"
"    " PROG " -t 4 -p 32M -H 256M -j   # 4 threads, as JSON\n"
"    " PROG " -H none -P 500 -c 2      # no memcg, 2 s\n"
"\n"
"jemalloc 5.3 purges with MADV_DONTNEED unless muzzy_decay_ms is set (0 by\n"
"default since 5.2): a run without MADV_FREE says so and exits 3.  The\n"
"memcg gets memory.swap.max 0: only lazyfree memory is reclaimable there.\n"
"A run lasts (-w + -c) x -P.  Needs root for the memcg and -f.  Times are\n"
"wall-clock; in a VM under TCG only ratios between runs mean anything.\n"
"Exit status: 0 ok, 1 could not run, 2 bad usage, 3 ran but a check failed\n"
"(no MADV_FREE, no reclaim in the memcg, or an object's data changed).\n";

static const struct argp argp = {
	.options = opts,
	.doc = doc,
};

static int parse_size_opt(struct cli *c, const char *name, unsigned long long min,
			  unsigned long long *out)
{
	char why[128];

	if (cli_parse_size(optarg, out, why, sizeof(why)))
		return cli_fail(c, "invalid size '%s' for %s: %s", optarg, name, why);
	if (*out < min)
		return cli_fail(c, "invalid size '%s' for %s: less than %lluK", optarg, name,
				min >> 10);
	if (*out > (1ULL << 40))
		return cli_fail(c, "invalid size '%s' for %s: more than 1T", optarg, name);
	return 0;
}

/* "4K", "64K", "64K+2M" or "16K,64K": folio sizes in KiB. */
static int parse_folios(struct cli *c, const char *name, struct opts *o)
{
	char buf[256], why[128], *tok, *save = NULL;
	unsigned long long v;

	snprintf(buf, sizeof(buf), "%s", optarg);
	o->nfolios = 0;
	for (tok = strtok_r(buf, "+,", &save); tok; tok = strtok_r(NULL, "+,", &save)) {
		why[0] = 0;
		if (!cli_parse_size(tok, &v, why, sizeof(why))) {
			if (v & (v - 1))
				snprintf(why, sizeof(why), "not a power of two");
			else if (v < MM_PAGE)
				snprintf(why, sizeof(why), "smaller than a 4K page");
			else if (v > MM_PMD_SIZE)
				snprintf(why, sizeof(why), "larger than a 2M PMD");
		}
		if (why[0])
			return cli_fail(c, "invalid folio size '%s' in '%s' for %s: %s", tok,
					optarg, name, why);
		if (o->nfolios == MAX_FOLIOS)
			return cli_fail(c, "invalid folio list '%s' for %s: more than %d sizes",
					optarg, name, MAX_FOLIOS);
		o->folios[o->nfolios++] = v >> 10;
	}
	if (!o->nfolios)
		return cli_fail(c, "invalid folio list '%s' for %s: want sizes like 4K, 64K "
				"or 64K+2M", optarg, name);
	o->set_folios = true;
	o->folios_arg = optarg;
	return 0;
}

/* Returns 0, 1 if --help or --version was printed, -1 on error (in @err). */
static int parse_args(int argc, char **argv, struct opts *o, char *err, size_t errlen)
{
	char name[64];
	unsigned long n;
	struct cli c;
	int key;

	*o = (struct opts){ .threads = 8, .period_ms = 2000, .cycles = 3, .warmup = 2,
			    .peak = 16ULL << 20,
			    .max_object = 4ULL << 20, .high = 192ULL << 20, .memcg = true,
			    .cgroup = CG_DEFAULT, .seed = 1, .label = "" };
	cli_init(&c, PROG, &argp, NULL, err, errlen);
	while ((key = cli_next(&c, argc, argv)) != -1) {
		cli_name(&c, key, name, sizeof(name));
		switch (key) {
		case 't':
			if (cli_parse_ulong(optarg, 1, MAX_THREADS, &n))
				return cli_fail(&c, "invalid count '%s' for %s: want 1..%d "
						"threads", optarg, name, MAX_THREADS), -1;
			o->threads = n;
			break;
		case 'P':
			if (cli_parse_ulong(optarg, 10, 3600000, &n))
				return cli_fail(&c, "invalid period '%s' for %s: want 10..3600000 "
						"ms", optarg, name), -1;
			o->period_ms = n;
			break;
		case 'c':
			if (cli_parse_ulong(optarg, 1, 1000, &n))
				return cli_fail(&c, "invalid count '%s' for %s: want 1..1000",
						optarg, name), -1;
			o->cycles = n;
			break;
		case 'w':
			if (cli_parse_ulong(optarg, 0, 1000, &n))
				return cli_fail(&c, "invalid count '%s' for %s: want 0..1000",
						optarg, name), -1;
			o->warmup = n;
			break;
		case 'p':
			if (parse_size_opt(&c, name, 64 << 10, &o->peak))
				return -1;
			break;
		case OPT_MAX_OBJECT:
			if (parse_size_opt(&c, name, 16, &o->max_object))
				return -1;
			break;
		case 'H':
			o->memcg = strcmp(optarg, "none");
			o->high = 0;
			if (o->memcg && strcmp(optarg, "max") &&
			    parse_size_opt(&c, name, 4 << 20, &o->high))
				return -1;
			break;
		case 'G':
			if (optarg[0] != '/' || strlen(optarg) > 2048)
				return cli_fail(&c, "invalid cgroup '%s' for %s: want an "
						"absolute path", optarg, name), -1;
			o->cgroup = optarg;
			break;
		case 'L':
			o->cap_set = true;
			o->cap = 0;
			if (strcmp(optarg, "none") && parse_size_opt(&c, name, 1 << 20, &o->cap))
				return -1;
			break;
		case 'f':
			if (parse_folios(&c, name, o))
				return -1;
			break;
		case OPT_SEED:
			if (cli_parse_ulong(optarg, 0, ULONG_MAX, &n))
				return cli_fail(&c, "invalid seed '%s' for %s: want a number",
						optarg, name), -1;
			o->seed = n;
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
	if (optind < argc)
		return cli_fail(&c, "unexpected argument '%s': " PROG " takes no operands",
				argv[optind]), -1;
	if ((unsigned long long)o->period_ms * (o->cycles + o->warmup) > 24ULL * 3600 * 1000)
		return cli_fail(&c, "the run would last more than a day (-P/--period times "
				"-c/--cycles and -w/--warmup)"), -1;
	if (!o->cap_set)
		o->cap = o->memcg ? o->high / 4 * 3 : 0;
	if (o->memcg && o->high && o->cap > o->high)
		return cli_fail(&c, "-L/--live-cap is above -H/--high: live memory cannot be "
				"reclaimed (no swap in the memcg)"), -1;
	return 0;
}

/* --- output ---------------------------------------------------------------------- */

static void json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void json_hist(const char *name, const struct hist *h)
{
	printf("\"%s\":{\"n\":%llu,\"mean\":%.0f,\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,"
	       "\"p999\":%llu,\"max\":%llu}", name, (unsigned long long)h->n,
	       h->n ? (double)h->sum / h->n : 0.0,
	       (unsigned long long)h_quantile(h, 0.5), (unsigned long long)h_quantile(h, 0.9),
	       (unsigned long long)h_quantile(h, 0.99), (unsigned long long)h_quantile(h, 0.999),
	       (unsigned long long)h->max);
}

/* {"key": after - before, ...} for every key read after, or null. */
static void json_kv_delta(struct kvset *a, struct kvset *b)
{
	unsigned int i;

	if (!b->ok) {
		printf("null");
		return;
	}
	putchar('{');
	for (i = 0; i < b->n; i++)
		printf("%s\"%s\":%lld", i ? "," : "", b->e[i].k,
		       kv_delta(a, b, b->e[i].k));
	putchar('}');
}

static void size_name(char *buf, size_t len, unsigned long kb)
{
	if (kb >= 1024 && !(kb % 1024))
		snprintf(buf, len, "%luM", kb >> 10);
	else
		snprintf(buf, len, "%luK", kb);
}

static void json_mthp(const struct mthp_snap *a, const struct mthp_snap *b)
{
	char name[24];
	unsigned int i, j, k;

	putchar('{');
	for (i = 0; i < b->n; i++) {
		for (k = 0; k < a->n && a->kb[k] != b->kb[i]; k++)
			;
		size_name(name, sizeof(name), b->kb[i]);
		printf("%s\"%s\":{", i ? "," : "", name);
		for (j = 0; j < ARRAY_SIZE(mthp_keys); j++) {
			/* Values are never negative; the nr_* gauges' deltas may be. */
			if (b->v[i][j] < 0 || k == a->n || a->v[k][j] < 0)
				printf("%s\"%s\":null", j ? "," : "", mthp_keys[j]);
			else
				printf("%s\"%s\":%lld", j ? "," : "", mthp_keys[j],
				       b->v[i][j] - a->v[k][j]);
		}
		putchar('}');
	}
	putchar('}');
}

static void json_psi(const struct psi *a, const struct psi *b)
{
	if (!a->ok || !b->ok)
		printf("null");
	else
		printf("{\"some_us\":%lld,\"full_us\":%lld}", b->some_us - a->some_us,
		       b->full_us - a->full_us);
}

static long long je_delta(long long a, long long b)
{
	return a < 0 || b < 0 ? -1 : b - a;
}

static void json_num_or_null(const char *name, long long v, bool comma)
{
	if (v < 0)
		printf("%s\"%s\":null", comma ? "," : "", name);
	else
		printf("%s\"%s\":%lld", comma ? "," : "", name, v);
}

/* jemalloc's effective options, as its mallctl reports them. */
static void json_jemalloc(void)
{
	const char *s;
	ssize_t ms;
	unsigned int u;
	bool b;
	size_t len;

	if (!mallctl) {
		printf("null");
		return;
	}
	len = sizeof(s);
	printf("{\"version\":");
	json_str(mallctl("version", &s, &len, NULL, 0) ? "?" : s);
	len = sizeof(ms);
	if (!mallctl("opt.dirty_decay_ms", &ms, &len, NULL, 0))
		printf(",\"dirty_decay_ms\":%zd", ms);
	len = sizeof(ms);
	if (!mallctl("opt.muzzy_decay_ms", &ms, &len, NULL, 0))
		printf(",\"muzzy_decay_ms\":%zd", ms);
	len = sizeof(b);
	if (!mallctl("opt.background_thread", &b, &len, NULL, 0))
		printf(",\"background_thread\":%s", b ? "true" : "false");
	len = sizeof(b);
	if (!mallctl("opt.retain", &b, &len, NULL, 0))
		printf(",\"retain\":%s", b ? "true" : "false");
	len = sizeof(u);
	if (!mallctl("opt.narenas", &u, &len, NULL, 0))
		printf(",\"narenas\":%u", u);
	len = sizeof(s);
	if (!mallctl("opt.thp", &s, &len, NULL, 0)) {
		printf(",\"thp\":");
		json_str(s);
	}
	len = sizeof(b);
	if (!mallctl("config.stats", &b, &len, NULL, 0))
		printf(",\"stats\":%s", b ? "true" : "false");
	putchar('}');
}

static double tv_ms(const struct timeval *a, const struct timeval *b)
{
	return (b->tv_sec - a->tv_sec) * 1e3 + (b->tv_usec - a->tv_usec) / 1e3;
}

/*
 * What the memory looked like during the measured cycles, sampled every
 * SAMPLE_MS by the main thread (which has nothing else to do): jemalloc's
 * live, dirty (unused, not purged) and muzzy (purged with MADV_FREE,
 * unused) pages, and the memcg's usage.  Sum and maximum, in bytes.
 */
#define SAMPLE_MS	250

enum { S_ALLOCATED, S_DIRTY, S_MUZZY, S_RESIDENT, S_MEMCG, S_NR };
static const char *const sample_names[S_NR] = {
	"allocated", "dirty", "muzzy", "resident", "memcg_current",
};

struct samples {
	unsigned int n;
	double sum[S_NR];
	long long max[S_NR];
	bool ok[S_NR];
};

static void sample(struct samples *s, const struct opts *o)
{
	long long v[S_NR];
	char path[4200], buf[64];
	uint64_t epoch = 1;
	size_t len = sizeof(epoch), z;
	unsigned int i;

	for (i = 0; i < S_NR; i++)
		v[i] = -1;
	if (mallctl) {
		mallctl("epoch", &epoch, &len, &epoch, sizeof(epoch));
		len = sizeof(z);
		if (!mallctl("stats.allocated", &z, &len, NULL, 0))
			v[S_ALLOCATED] = z;
		len = sizeof(z);
		if (!mallctl("stats.arenas." JE_ARENAS_ALL ".pdirty", &z, &len, NULL, 0))
			v[S_DIRTY] = z * MM_PAGE;
		len = sizeof(z);
		if (!mallctl("stats.arenas." JE_ARENAS_ALL ".pmuzzy", &z, &len, NULL, 0))
			v[S_MUZZY] = z * MM_PAGE;
		len = sizeof(z);
		if (!mallctl("stats.resident", &z, &len, NULL, 0))
			v[S_RESIDENT] = z;
	}
	if (o->memcg) {
		cg_path(path, sizeof(path), o, "memory.current");
		if (!mm_read_file(path, buf, sizeof(buf)))
			v[S_MEMCG] = strtoll(buf, NULL, 10);
	}
	s->n++;
	for (i = 0; i < S_NR; i++) {
		if (v[i] < 0)
			continue;
		s->ok[i] = true;
		s->sum[i] += v[i];
		if (v[i] > s->max[i])
			s->max[i] = v[i];
	}
}

struct result {
	struct samples mem;
	struct hist alloc_h, malloc_h, free_h;
	uint64_t allocs, frees, bytes, data_errors, alloc_failures, cap_hits, wall_ns;
	long long pglazyfree, pgsteal, high_events;
	bool lazyfree_ok, reclaim_ok;
};

static void report_json(const struct opts *o, struct worker *w, struct result *r,
			struct snap *a, struct snap *b, uint64_t peak, long long ref)
{
	const char *conf = getenv("MALLOC_CONF");
	char buf[64];
	unsigned int i;

	printf("{\"tool\":\"" PROG "\",\"version\":\"" BU_VERSION "\",\"label\":");
	json_str(o->label);
	printf(",\"config\":{\"threads\":%u,\"period_ms\":%lu,\"cycles\":%u,\"warmup\":%u,"
	       "\"peak_per_thread\":%llu,\"max_object\":%llu,\"live_cap\":%llu,\"seed\":%lu,"
	       "\"folios\":", o->threads, o->period_ms, o->cycles, o->warmup, o->peak, o->max_object, o->cap,
	       o->seed);
	if (o->set_folios)
		json_str(o->folios_arg);
	else
		printf("null");
	printf(",\"memory_high\":");
	if (o->memcg && o->high)
		printf("%llu", o->high);
	else
		printf(o->memcg ? "\"max\"" : "null");
	printf(",\"cgroup\":");
	if (o->memcg)
		json_str(o->cgroup);
	else
		printf("null");
	printf(",\"malloc_conf\":");
	if (conf)
		json_str(conf);
	else
		printf("null");
	printf("},\"jemalloc\":");
	json_jemalloc();
	printf(",\"wall_ms\":%.3f,\"allocs\":%llu,\"frees\":%llu,\"bytes_allocated\":%llu,"
	       "\"ops_per_s\":%.1f,\"latency_ns\":{", r->wall_ns / 1e6,
	       (unsigned long long)r->allocs, (unsigned long long)r->frees,
	       (unsigned long long)r->bytes, r->allocs / (r->wall_ns / 1e9));
	json_hist("alloc", &r->alloc_h);
	putchar(',');
	json_hist("malloc", &r->malloc_h);
	putchar(',');
	json_hist("free", &r->free_h);
	printf("},\"threads\":[");
	for (i = 0; i < o->threads; i++)
		printf("%s{\"ms\":%.3f,\"allocs\":%llu,\"top_live\":%zu,\"arena\":%d}",
		       i ? "," : "", w[i].ns / 1e6, (unsigned long long)w[i].allocs,
		       w[i].top_bytes, w[i].arena == -1U ? -1 : (int)w[i].arena);
	printf("],\"rusage\":{\"user_ms\":%.1f,\"sys_ms\":%.1f,\"minflt\":%ld,\"majflt\":%ld,"
	       "\"nvcsw\":%ld,\"nivcsw\":%ld}", tv_ms(&a->ru.ru_utime, &b->ru.ru_utime),
	       tv_ms(&a->ru.ru_stime, &b->ru.ru_stime), b->ru.ru_minflt - a->ru.ru_minflt,
	       b->ru.ru_majflt - a->ru.ru_majflt, b->ru.ru_nvcsw - a->ru.ru_nvcsw,
	       b->ru.ru_nivcsw - a->ru.ru_nivcsw);
	printf(",\"memory\":{\"samples\":%u", r->mem.n);
	for (i = 0; i < S_NR; i++) {
		if (!r->mem.ok[i]) {
			printf(",\"%s\":null", sample_names[i]);
			continue;
		}
		printf(",\"%s\":{\"avg\":%.0f,\"max\":%lld}", sample_names[i],
		       r->mem.sum[i] / r->mem.n, r->mem.max[i]);
	}
	printf("}");
	printf(",\"checks\":{\"data_errors\":%llu,\"alloc_failures\":%llu,\"cap_hits\":%llu,"
	       "\"lazyfree_ok\":%s,\"reclaim_ok\":%s}", (unsigned long long)r->data_errors,
	       (unsigned long long)r->alloc_failures, (unsigned long long)r->cap_hits,
	       r->lazyfree_ok ? "true" : "false", r->reclaim_ok ? "true" : "false");
	printf(",\"memcg\":");
	if (o->memcg) {
		printf("{\"stat\":");
		json_kv_delta(&a->memcg, &b->memcg);
		printf(",\"events\":");
		json_kv_delta(&a->events, &b->events);
		printf(",\"peak\":");
		if (peak)
			printf("%llu", (unsigned long long)peak);
		else
			printf("null");
		printf(",\"pressure\":");
		json_psi(&a->cg_psi, &b->cg_psi);
		putchar('}');
	} else {
		printf("null");
	}
	printf(",\"vmstat\":");
	json_kv_delta(&a->vm, &b->vm);
	printf(",\"mthp\":");
	json_mthp(&a->mthp, &b->mthp);
	printf(",\"batch_unmap\":");
	json_kv_delta(&a->module, &b->module);
	printf(",\"ref_lazyfree_batch\":");
	if (ref < 0)
		printf("null");
	else
		printf("%lld", ref);
	printf(",\"pressure\":");
	json_psi(&a->psi, &b->psi);
	printf(",\"jemalloc_stats\":{");
	for (i = 0; i < ARRAY_SIZE(je_u64_stats); i++)
		json_num_or_null(je_u64_stats[i], je_delta(a->je.u64[i], b->je.u64[i]), i);
	for (i = 0; i < ARRAY_SIZE(je_size_stats); i++) {
		/* End values: "stats.resident" -> "resident_end". */
		const char *dot = strrchr(je_size_stats[i], '.');

		snprintf(buf, sizeof(buf), "%s_end", dot + 1);
		json_num_or_null(buf, b->je.sz[i], true);
	}
	json_num_or_null("background_runs", je_delta(a->je.bg_runs, b->je.bg_runs), true);
	printf("}}\n");
}

static void report_text(const struct opts *o, struct result *r, uint64_t peak)
{
	printf("%s%s" PROG ": %u threads, %llu allocations in %.3f s: %.0f ops/s; alloc+touch "
	       "p50 %.1f us, p99 %.1f us, p99.9 %.1f us\n", o->label, *o->label ? ": " : "",
	       o->threads, (unsigned long long)r->allocs, r->wall_ns / 1e9, r->allocs / (r->wall_ns / 1e9),
	       h_quantile(&r->alloc_h, 0.5) / 1e3, h_quantile(&r->alloc_h, 0.99) / 1e3,
	       h_quantile(&r->alloc_h, 0.999) / 1e3);
	if (o->memcg)
		printf("memcg memory.high %lluM (0: max; peak %lluM): %lld high events, pgsteal "
		       "%lld, pglazyfree %lld\n", o->high >> 20, (unsigned long long)peak >> 20,
		       r->high_events, r->pgsteal, r->pglazyfree);
	else
		printf("no memcg: pglazyfree %lld (system-wide)\n", r->pglazyfree);
}

/* --- main ---------------------------------------------------------------------- */

static void on_signal(int sig)
{
	if (mthp_changed)
		mthp_restore(&saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* What the run needs, checked before anything is changed. */
static int check_rights(const struct opts *o)
{
	char path[4200], *slash;
	unsigned int i;

	if (o->memcg) {
		snprintf(path, sizeof(path), "%s", o->cgroup);
		slash = strrchr(path, '/');
		*(slash == path ? slash + 1 : slash) = 0;
		if (faccessat(AT_FDCWD, path, W_OK, AT_EACCESS)) {
			fprintf(stderr, PROG ": cannot create the memcg in %s (%s): run as root, "
				"or -H none to run without a memcg\n", path, strerror(errno));
			return 1;
		}
	}
	if (!o->set_folios)
		return 0;
	for (i = 0; i < o->nfolios; i++) {
		snprintf(path, sizeof(path), THP_DIR "/hugepages-%lukB/enabled", o->folios[i]);
		if (o->folios[i] > 4 && access(path, F_OK)) {
			fprintf(stderr, PROG ": this kernel offers no %luK folios for anonymous "
				"memory (no %s)\n", o->folios[i], path);
			return 1;
		}
	}
	if (mthp_writable(path, sizeof(path))) {
		fprintf(stderr, PROG ": cannot write %s (%s): -f needs root\n", path,
			strerror(errno));
		return 1;
	}
	return 0;
}

static long long read_ll(const char *path)
{
	char buf[64];

	return mm_read_file(path, buf, sizeof(buf)) ? -1 : strtoll(buf, NULL, 10);
}

int main(int argc, char **argv)
{
	static struct snap before, after;
	struct worker *w = NULL;
	struct result r = { 0 };
	struct opts o;
	char err[512], path[4200];
	unsigned int i, started = 0;
	uint64_t peak = 0;
	long long ref;
	int ret;

	ret = parse_args(argc, argv, &o, err, sizeof(err));
	if (ret)
		return ret > 0 ? 0 : cli_usage_error(PROG, err);
	if (check_rights(&o))
		return CLI_EXIT_RUNTIME;
	if (!mallctl)
		fprintf(stderr, PROG ": warning: not linked with jemalloc (no mallctl): this "
			"measures the C library's malloc\n");
	w = calloc(o.threads, sizeof(*w));
	if (!w) {
		fprintf(stderr, PROG ": out of memory\n");
		return CLI_EXIT_RUNTIME;
	}
	ret = CLI_EXIT_RUNTIME;
	if (o.set_folios) {
		mthp_save(&saved);
		mthp_changed = true;
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		if (mthp_set(o.folios, o.nfolios)) {
			fprintf(stderr, PROG ": cannot set the mTHP sizes in %s\n", THP_DIR);
			goto out;
		}
	}
	/* Before the threads and their arenas: everything is charged there. */
	if (o.memcg && enter_memcg(&o))
		goto out;
	for (i = 0; i < o.threads; i++) {
		w[i].id = i;
		w[i].o = &o;
		w[i].rng = o.seed * 0x100000001b3ULL + i;
		if (pthread_create(&w[i].thr, NULL, worker_main, &w[i])) {
			fprintf(stderr, PROG ": cannot start thread %u of %u\n", i + 1, o.threads);
			break;
		}
		started++;
	}
	pthread_mutex_lock(&gate_mu);
	while (gate_ready < started)
		pthread_cond_wait(&gate_cv, &gate_mu);
	pthread_mutex_unlock(&gate_mu);
	start_ns = now_ns();
	measure_ns = start_ns + (uint64_t)o.warmup * o.period_ms * 1000000;
	pthread_mutex_lock(&gate_mu);
	gate_state = started == o.threads ? 1 : -1;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
	/* The counters from the end of the warm-up: the measured cycles only. */
	if (gate_state > 0)
		sleep_until(measure_ns);
	snap_read(&before, &o);
	while (gate_state > 0 && atomic_load(&threads_done) < started) {
		sleep_until(now_ns() + SAMPLE_MS * 1000000ULL);
		sample(&r.mem, &o);
	}
	for (i = 0; i < started; i++) {
		pthread_join(w[i].thr, NULL);
		/* The measured cycles, to the last thread's last allocation. */
		if (w[i].ns > r.wall_ns)
			r.wall_ns = w[i].ns;
	}
	snap_read(&after, &o);
	if (o.memcg) {
		cg_path(path, sizeof(path), &o, "memory.peak");
		ref = read_ll(path);
		peak = ref > 0 ? ref : 0;
	}
	ref = read_ll(REF_SWITCH);
	if (started < o.threads) {
		fprintf(stderr, PROG ": not every thread started\n");
		goto teardown;
	}
	for (i = 0; i < o.threads; i++) {
		if (!w[i].started) {
			fprintf(stderr, PROG ": out of memory in thread %u\n", i);
			goto teardown;
		}
		h_merge(&r.alloc_h, &w[i].alloc_h);
		h_merge(&r.malloc_h, &w[i].malloc_h);
		h_merge(&r.free_h, &w[i].free_h);
		r.allocs += w[i].allocs;
		r.frees += w[i].frees;
		r.bytes += w[i].bytes;
		r.alloc_failures += w[i].alloc_failures;
		r.cap_hits += w[i].cap_hits;
	}
	/* Free what is left (untimed, checked): the data errors count these too. */
	for (i = 0; i < o.threads; i++)
		while (w[i].nlive)
			free_obj(&w[i], w[i].nlive - 1, false);
	for (i = 0; i < o.threads; i++)
		r.data_errors += w[i].data_errors;
	if (o.memcg) {
		r.pglazyfree = kv_delta(&before.memcg, &after.memcg, "pglazyfree");
		r.pgsteal = kv_delta(&before.memcg, &after.memcg, "pgsteal");
		r.high_events = kv_delta(&before.events, &after.events, "high");
	} else {
		r.pglazyfree = kv_delta(&before.vm, &after.vm, "pglazyfree");
		r.pgsteal = r.high_events = -1;
	}
	r.lazyfree_ok = r.pglazyfree > 0;
	/* Reclaim is the point, but not with memory.high max (calibration). */
	r.reclaim_ok = !o.memcg || !o.high || (r.pgsteal > 0 && r.high_events > 0);
	if (o.format == FMT_JSON)
		report_json(&o, w, &r, &before, &after, peak, ref);
	else
		report_text(&o, &r, peak);
	fflush(stdout);
	ret = 0;
	if (!r.lazyfree_ok) {
		fprintf(stderr, PROG ": warning: NO MADV_FREE: pglazyfree did not move%s; "
			"jemalloc purged with MADV_DONTNEED or not at all: set MALLOC_CONF="
			"muzzy_decay_ms:<not 0> (now %s)\n", o.memcg ? " in the memcg" : "",
			getenv("MALLOC_CONF") ? getenv("MALLOC_CONF") : "unset");
		ret = EXIT_UNCHECKED;
	}
	if (!r.reclaim_ok) {
		fprintf(stderr, PROG ": warning: no reclaim in the memcg (memory.high %lluM "
			"never exceeded, peak %lluM): raise -p/--peak or lower -H/--high\n",
			o.high >> 20, (unsigned long long)peak >> 20);
		ret = EXIT_UNCHECKED;
	}
	if (r.data_errors) {
		fprintf(stderr, PROG ": warning: %llu objects read back changed\n",
			(unsigned long long)r.data_errors);
		ret = EXIT_UNCHECKED;
	}
	if (r.alloc_failures) {
		fprintf(stderr, PROG ": warning: %llu allocations failed\n",
			(unsigned long long)r.alloc_failures);
		ret = EXIT_UNCHECKED;
	}
	goto out;
teardown:
	for (i = 0; i < started; i++)
		while (w[i].nlive)
			free_obj(&w[i], w[i].nlive - 1, false);
out:
	for (i = 0; w && i < o.threads; i++)
		free(w[i].live);
	leave_memcg(&o);
	if (mthp_changed)
		mthp_restore(&saved);
	free(w);
	return ret;
}
