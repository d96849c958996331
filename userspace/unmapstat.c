// SPDX-License-Identifier: GPL-2.0
/*
 * unmapstat: count deferred-split events and per-PTE vs per-batch TLB
 * flushes during reclaim, with and without batch_unmap.ko.
 *
 * Each attach point is probed on the running kernel: fentry/fexit (or
 * tp_btf) where BTF allows, else a kprobe (or classic tracepoint); a point
 * that is missing is reported and the others still count.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "unmapstat_fmt.h"
#include "unmapstat.skel.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define TRACEFS		"/sys/kernel/tracing/events"

static struct us_env env;
static volatile sig_atomic_t exiting;

static int libbpf_print_fn(enum libbpf_print_level level, const char *fmt,
			   va_list args)
{
	if (level == LIBBPF_DEBUG && !env.verbose)
		return 0;
	if (level == LIBBPF_INFO && !env.verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void sig_handler(int sig)
{
	(void)sig;
	exiting = 1;
}

/* --- attach points ------------------------------------------------------------ */

enum kind { K_FUNC, K_TP };

/* One attach point: a fast program pair (fentry/fexit, tp_btf) or a slow one. */
struct point {
	const char *what;
	enum kind kind;
	const char *tp_path;		/* K_TP: tracefs event directory */
	struct bpf_program *fast[2];	/* fentry [, fexit] or tp_btf */
	struct bpf_program *slow[2];	/* kprobe [, kretprobe] or tracepoint */
	const char *fast_how, *slow_how;
	bool use_fast, use_slow;
	struct bpf_link *links[2];
	int err;
};

static bool kallsyms_has(const char *sym)
{
	char line[512], name[256], type;
	unsigned long long addr;
	bool found = false;
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) == 3 &&
		    (type == 't' || type == 'T') && !strcmp(name, sym))
			found = true;
	fclose(f);
	return found;
}

static bool btf_has(const struct btf *btf, const char *name, __u32 kind)
{
	return btf && btf__find_by_name_kind(btf, name, kind) > 0;
}

/*
 * Is there a kprobe on @name already (e.g. batch_unmap.ko kprobes=1)?  We
 * then use a kprobe too: on our 6.12 test kernel, a BPF trampoline sharing
 * a function with an ftrace-based kprobe oopsed under reclaim load.
 */
static bool kprobed(const char *name)
{
	char line[512], sym[256];
	unsigned long long addr;
	bool found = false;
	FILE *f = fopen("/sys/kernel/debug/kprobes/list", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *plus;

		if (sscanf(line, "%llx %*s %255s", &addr, sym) != 2)
			continue;
		plus = strchr(sym, '+');
		if (plus)
			*plus = 0;
		found = !strcmp(sym, name);
	}
	fclose(f);
	return found;
}

/*
 * Can fentry attach to @name?  It must be in BTF, and BPF trampolines do
 * not support functions returning a struct (e.g. ptep_clear_flush()
 * returns pte_t): those need a kprobe.
 */
static bool fentry_ok(const struct btf *btf, const char *name)
{
	const struct btf_type *fn, *proto;
	int id, ret;

	id = btf ? btf__find_by_name_kind(btf, name, BTF_KIND_FUNC) : -1;
	if (id <= 0)
		return false;
	fn = btf__type_by_id(btf, id);
	proto = fn ? btf__type_by_id(btf, fn->type) : NULL;
	if (!proto || !btf_is_func_proto(proto))
		return false;
	if (!proto->type)
		return true;	/* void */
	ret = btf__resolve_type(btf, proto->type);
	return ret > 0 && !btf_is_composite(btf__type_by_id(btf, ret));
}

/* Pick fast or slow programs for each point; disable the others. */
static void choose(struct point *pts, int n, const struct btf *btf, bool force_slow)
{
	char tname[128];
	int i, j;

	for (i = 0; i < n; i++) {
		struct point *p = &pts[i];

		if (p->kind == K_FUNC) {
			p->use_fast = !force_slow && fentry_ok(btf, p->what) &&
				      !kprobed(p->what);
			p->use_slow = !p->use_fast && kallsyms_has(p->what);
		} else {
			snprintf(tname, sizeof(tname), "btf_trace_%s",
				 strrchr(p->what, ':') + 1);
			p->use_fast = !force_slow && p->fast[0] &&
				      btf_has(btf, tname, BTF_KIND_TYPEDEF);
			p->use_slow = !p->use_fast && access(p->tp_path, F_OK) == 0;
		}
		p->err = p->use_fast || p->use_slow ? 0 : -ENOENT;
		for (j = 0; j < 2; j++) {
			if (p->fast[j])
				bpf_program__set_autoload(p->fast[j], p->use_fast);
			if (p->slow[j])
				bpf_program__set_autoload(p->slow[j], p->use_slow);
		}
	}
}

static int attach(struct point *pts, int n, struct us_attach *att)
{
	int i, j, attached = 0;

	for (i = 0; i < n; i++) {
		struct point *p = &pts[i];
		struct bpf_program **progs = p->use_fast ? p->fast : p->slow;

		att[i].what = p->what;
		att[i].how = NULL;
		att[i].err = p->err;
		if (!p->use_fast && !p->use_slow)
			continue;
		for (j = 0; j < 2 && progs[j]; j++) {
			p->links[j] = bpf_program__attach(progs[j]);
			if (!p->links[j]) {
				p->err = -errno;
				break;
			}
		}
		if (p->err) {
			for (j = 0; j < 2; j++) {
				bpf_link__destroy(p->links[j]);
				p->links[j] = NULL;
			}
			att[i].err = p->err;
			continue;
		}
		att[i].how = p->use_fast ? p->fast_how : p->slow_how;
		attached++;
	}
	return attached;
}

static void detach(struct point *pts, int n)
{
	int i, j;

	for (i = 0; i < n; i++)
		for (j = 0; j < 2; j++) {
			bpf_link__destroy(pts[i].links[j]);
			pts[i].links[j] = NULL;
		}
}

#define FUNC(sym, f0, f1, s0, s1, fh, sh)				\
	{ .what = sym, .kind = K_FUNC, .fast = { f0, f1 }, .slow = { s0, s1 }, \
	  .fast_how = fh, .slow_how = sh }
#define TP(name, path, f0, s0, fh, sh)					\
	{ .what = name, .kind = K_TP, .tp_path = TRACEFS path,		\
	  .fast = { f0, NULL }, .slow = { s0, NULL }, .fast_how = fh, .slow_how = sh }

static int setup_points(struct unmapstat_bpf *skel, struct point *pts)
{
	__typeof__(skel->progs) *p = &skel->progs;
	struct point def[] = {
		FUNC("shrink_folio_list", p->reclaim_enter_fentry, p->reclaim_exit_fexit,
		     p->reclaim_enter_kprobe, p->reclaim_exit_kretprobe,
		     "fentry+fexit", "kprobe+kretprobe"),
		FUNC("deferred_split_folio", p->split_fentry, NULL, p->split_kprobe,
		     NULL, "fentry", "kprobe"),
		FUNC("flush_tlb_mm_range", p->flush_fentry, NULL, p->flush_kprobe,
		     NULL, "fentry", "kprobe"),
		FUNC("arch_tlbbatch_flush", p->tlbbatch_fentry, NULL, p->tlbbatch_kprobe,
		     NULL, "fentry", "kprobe"),
		FUNC("ptep_clear_flush", p->ptep_clear_flush_fentry, NULL,
		     p->ptep_clear_flush_kprobe, NULL, "fentry", "kprobe"),
		TP("tlb:tlb_flush", "/tlb/tlb_flush", p->tlb_flush_btf, p->tlb_flush_tp,
		   "tp_btf", "tracepoint"),
		/* batch_unmap.ko's event: there only while the module is loaded. */
		TP("batch_unmap:batch", "/batch_unmap/batch", NULL, p->batch_tp,
		   NULL, "tracepoint"),
	};

	memcpy(pts, def, sizeof(def));
	return ARRAY_SIZE(def);
}

#define MAX_POINTS 8

struct loaded {
	struct unmapstat_bpf *skel;
	struct point pts[MAX_POINTS];
	struct us_attach att[MAX_POINTS];
	int npts;
};

/* Open, choose attach points, load (falling back to kprobes), attach. */
static int load_and_attach(struct loaded *l)
{
	struct btf *btf = btf__load_vmlinux_btf();
	int err = 0, pass;

	if (!btf) {
		fprintf(stderr, "unmapstat: cannot read kernel BTF (/sys/kernel/btf/vmlinux): "
			"the kernel needs CONFIG_DEBUG_INFO_BTF\n");
		return -ENOENT;
	}
	for (pass = 0; pass < 2; pass++) {
		l->skel = unmapstat_bpf__open();
		if (!l->skel) {
			err = -errno;
			fprintf(stderr, "unmapstat: cannot open the BPF object: %s\n",
				strerror(-err));
			break;
		}
		l->skel->rodata->targ_tgid = env.pid;
		l->npts = setup_points(l->skel, l->pts);
		choose(l->pts, l->npts, btf, pass == 1);
		err = unmapstat_bpf__load(l->skel);
		if (!err)
			break;
		if (pass == 0)
			fprintf(stderr, "unmapstat: loading with fentry failed (%s), "
				"retrying with kprobes\n", strerror(-err));
		else
			fprintf(stderr, "unmapstat: cannot load the BPF programs: %s%s\n",
				strerror(-err), env.verbose ? "" : " (-v shows why)");
		unmapstat_bpf__destroy(l->skel);
		l->skel = NULL;
	}
	btf__free(btf);
	if (err)
		return err;
	if (!attach(l->pts, l->npts, l->att)) {
		fprintf(stderr, "unmapstat: no attach point could be attached\n");
		return -ENOENT;
	}
	return 0;
}

static void unload(struct loaded *l)
{
	detach(l->pts, l->npts);
	unmapstat_bpf__destroy(l->skel);
}

static int read_counters(int map_fd, struct us_counters *out)
{
	int ncpu = libbpf_num_possible_cpus();
	struct us_counters *percpu;
	__u32 zero = 0;
	int err = 0;

	if (ncpu <= 0)
		return -EINVAL;
	percpu = calloc(ncpu, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(map_fd, &zero, percpu))
		err = -errno;
	else
		us_sum(out, percpu, ncpu);
	free(percpu);
	return err;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- modes ---------------------------------------------------------------------- */

static int run_live(void)
{
	struct us_counters start = { 0 }, prev, cur, delta;
	struct loaded l = { 0 };
	unsigned int n = 0;
	double t0, t1;
	int fd, err;

	err = load_and_attach(&l);
	if (err)
		goto out;
	fd = bpf_map__fd(l.skel->maps.counters);
	if (!env.json) {
		printf("unmapstat: attach points:\n");
		us_print_attach(stdout, l.att, l.npts);
		printf("counting every %us%s; Ctrl-C for the summary\n\n", env.interval,
		       env.pid ? " for one process" : "");
		fflush(stdout);
	}
	read_counters(fd, &start);
	prev = start;
	t0 = t1 = now_s();
	while (!exiting && (!env.count || n < env.count)) {
		char title[64];
		double t;

		sleep(env.interval);
		err = read_counters(fd, &cur);
		if (err) {
			fprintf(stderr, "unmapstat: reading counters: %s\n", strerror(-err));
			goto out;
		}
		t = now_s();
		us_delta(&delta, &cur, &prev);
		if (env.json) {
			us_print_json(stdout, &delta, t - t1, NULL, 0);
		} else {
			snprintf(title, sizeof(title), "--- interval %u (%.1fs)", ++n, t - t1);
			us_print_table(stdout, &delta, title);
			printf("\n");
		}
		if (env.json)
			n++;
		fflush(stdout);
		prev = cur;
		t1 = t;
	}
	us_delta(&delta, &prev, &start);
	if (env.json) {
		us_print_json(stdout, &delta, t1 - t0, l.att, l.npts);
	} else {
		printf("=== summary over %.1fs\n", t1 - t0);
		us_print_table(stdout, &delta, NULL);
	}
	err = 0;
out:
	unload(&l);
	return err;
}

static void pin_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", env.pin_dir, name);
}

static int check_bpffs(void)
{
	struct statfs st;
	char parent[512], *slash;

	snprintf(parent, sizeof(parent), "%s", env.pin_dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = 0;
	if (statfs(parent, &st) || st.f_type != BPF_FS_MAGIC) {
		fprintf(stderr, "unmapstat: %s is not a BPF filesystem; mount it with: "
			"mount -t bpf bpf %s\n", parent, parent);
		return -ENOENT;
	}
	return 0;
}

static int run_pin(void)
{
	struct loaded l = { 0 };
	char path[600];
	int i, j, err;

	err = check_bpffs();
	if (err)
		return err;
	pin_path(path, sizeof(path), "counters");
	if (access(path, F_OK) == 0) {
		printf("unmapstat: already pinned at %s and counting; "
		       "unmapstat --unpin first to start over\n", env.pin_dir);
		return 0;
	}
	if (mkdir(env.pin_dir, 0700) && errno != EEXIST) {
		err = -errno;
		fprintf(stderr, "unmapstat: mkdir %s: %s\n", env.pin_dir, strerror(errno));
		return err;
	}
	err = load_and_attach(&l);
	if (err)
		goto fail;
	for (i = 0; i < l.npts; i++)
		for (j = 0; j < 2; j++) {
			char name[64];

			if (!l.pts[i].links[j])
				continue;
			snprintf(name, sizeof(name), "link_%s",
				 bpf_program__name(l.pts[i].use_fast ? l.pts[i].fast[j] :
								      l.pts[i].slow[j]));
			pin_path(path, sizeof(path), name);
			err = bpf_link__pin(l.pts[i].links[j], path);
			if (err)
				goto pin_fail;
		}
	pin_path(path, sizeof(path), "counters");
	err = bpf_map__pin(l.skel->maps.counters, path);
	if (err)
		goto pin_fail;
	printf("unmapstat: counting; maps and programs pinned under %s\n", env.pin_dir);
	us_print_attach(stdout, l.att, l.npts);
	printf("read with: unmapstat --dump, or bpftool map dump pinned %s/counters\n",
	       env.pin_dir);
	unload(&l);	/* the pinned links keep the programs attached */
	return 0;

pin_fail:
	fprintf(stderr, "unmapstat: pinning %s: %s\n", path, strerror(-err));
fail:
	unload(&l);
	rmdir(env.pin_dir);
	return err;
}

static int run_unpin(void)
{
	struct dirent *de;
	char path[600];
	int removed = 0, err = 0;
	DIR *dir;

	dir = opendir(env.pin_dir);
	if (!dir) {
		if (errno == ENOENT) {
			printf("unmapstat: nothing pinned at %s\n", env.pin_dir);
			return 0;
		}
		fprintf(stderr, "unmapstat: %s: %s\n", env.pin_dir, strerror(errno));
		return -errno;
	}
	/* Unlinking a pinned link detaches its program once nothing holds it. */
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		pin_path(path, sizeof(path), de->d_name);
		if (unlink(path) == 0) {
			removed++;
		} else {
			err = -errno;
			fprintf(stderr, "unmapstat: unlink %s: %s\n", path, strerror(errno));
		}
	}
	closedir(dir);
	if (rmdir(env.pin_dir)) {
		err = -errno;
		fprintf(stderr, "unmapstat: rmdir %s: %s\n", env.pin_dir, strerror(errno));
	}
	if (!err)
		printf("unmapstat: removed %d pinned objects; programs detached\n", removed);
	return err;
}

static int run_dump(void)
{
	struct us_counters c;
	char path[600];
	int fd, err;

	pin_path(path, sizeof(path), "counters");
	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "unmapstat: no pinned counters at %s (%s); "
			"run unmapstat --pin first\n", path, strerror(errno));
		return err;
	}
	err = read_counters(fd, &c);
	close(fd);
	if (err) {
		fprintf(stderr, "unmapstat: reading %s: %s\n", path, strerror(-err));
		return err;
	}
	if (env.json)
		us_print_json(stdout, &c, -1, NULL, 0);
	else
		us_print_table(stdout, &c, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	char errbuf[256];
	int ret;

	ret = us_parse_args(argc, argv, &env, errbuf, sizeof(errbuf));
	if (ret > 0)
		return 0;
	if (ret < 0) {
		fprintf(stderr, "unmapstat: %s\n", errbuf);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "unmapstat: must run as root (needs CAP_BPF and CAP_PERFMON)\n");
		return 1;
	}
	libbpf_set_print(libbpf_print_fn);
	signal(SIGINT, sig_handler);
	signal(SIGTERM, sig_handler);

	switch (env.mode) {
	case US_MODE_PIN:
		ret = run_pin();
		break;
	case US_MODE_DUMP:
		ret = run_dump();
		break;
	case US_MODE_UNPIN:
		ret = run_unpin();
		break;
	default:
		ret = run_live();
		break;
	}
	return ret ? 1 : 0;
}
