// SPDX-License-Identifier: GPL-2.0
/*
 * unmapstat: count deferred-split events and per-PTE vs per-batch TLB
 * flushes during reclaim, with and without batch_unmap.ko.
 *
 * Each attach point is probed on the running kernel: fentry/fexit (or
 * tp_btf) where BTF allows, else a kprobe (or classic tracepoint); a point
 * that is missing is reported and the others still count.  Which points
 * there are depends on what the kernel has (x86 flushes the TLB in
 * functions, arm64 inline): a counter no point feeds on this kernel is
 * printed as n/a with the reason, never as 0.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <linux/capability.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "cli.h"
#include "unmapstat_fmt.h"
#include "unmapstat.skel.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define TRACEFS		"/sys/kernel/tracing/events"
#define BPFFS		"/sys/fs/bpf"

#ifndef CAP_PERFMON
#define CAP_PERFMON	38
#endif
#ifndef CAP_BPF
#define CAP_BPF		39
#endif

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
	unsigned int fields;		/* the enum us_field counters it feeds (bits) */
	bool present;			/* K_FUNC: the kernel has the function */
	bool use_fast, use_slow;
	struct bpf_link *links[2];
	int err;
};

/* The functions whose presence decides the attach points. */
enum ksym {
	KS_SHRINK_FOLIO_LIST,
	KS_TRY_TO_UNMAP_ONE,
	KS_DEFERRED_SPLIT_FOLIO,
	KS_FLUSH_TLB_MM_RANGE,
	KS_ARCH_TLBBATCH_FLUSH,
	KS_TRY_TO_UNMAP_FLUSH,
	KS_TRY_TO_UNMAP_FLUSH_DIRTY,
	KS_PTEP_CLEAR_FLUSH,
	KS_SET_TLB_UBC_FLUSH_PENDING,
	KS_CONTPTE_TRY_UNFOLD,
	KS_FOLIO_REFERENCED_ONE,
	KS_COUNT,
};

static const char *const ksym_names[KS_COUNT] = {
	[KS_SHRINK_FOLIO_LIST] = "shrink_folio_list",
	[KS_TRY_TO_UNMAP_ONE] = "try_to_unmap_one",
	[KS_DEFERRED_SPLIT_FOLIO] = "deferred_split_folio",
	[KS_FLUSH_TLB_MM_RANGE] = "flush_tlb_mm_range",
	[KS_ARCH_TLBBATCH_FLUSH] = "arch_tlbbatch_flush",
	[KS_TRY_TO_UNMAP_FLUSH] = "try_to_unmap_flush",
	[KS_TRY_TO_UNMAP_FLUSH_DIRTY] = "try_to_unmap_flush_dirty",
	[KS_PTEP_CLEAR_FLUSH] = "ptep_clear_flush",
	[KS_SET_TLB_UBC_FLUSH_PENDING] = "set_tlb_ubc_flush_pending",
	[KS_CONTPTE_TRY_UNFOLD] = "__contpte_try_unfold",
	[KS_FOLIO_REFERENCED_ONE] = "folio_referenced_one",
};

/* What the running kernel has, probed once before the points are chosen. */
struct kern {
	struct btf *btf;
	bool x86, arm64;		/* uname()'s machine */
	bool has[KS_COUNT];		/* in kallsyms, under that exact name */
	bool tlb_flush_tp;		/* the tlb:tlb_flush tracepoint */
	int queue_args;			/* set_tlb_ubc_flush_pending()'s (BTF), 0: unknown */
	long page_size;
};

/*
 * Which functions of ksym_names[] the kernel has as text symbols, in one
 * pass over /proc/kallsyms (long, and slow to read under TCG).  An
 * optimized copy (".isra.0", ".constprop.0") does not count: fentry and
 * kprobes attach by the plain name.  False if it cannot be read.
 */
static bool kallsyms_scan(bool *has)
{
	char line[512], name[256], type;
	unsigned long long addr;
	FILE *f = fopen("/proc/kallsyms", "r");
	int i;

	memset(has, 0, KS_COUNT * sizeof(*has));
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3 ||
		    (type != 't' && type != 'T'))
			continue;
		for (i = 0; i < KS_COUNT; i++)
			if (!has[i] && !strcmp(name, ksym_names[i]))
				has[i] = true;
	}
	fclose(f);
	return true;
}

static bool btf_has(const struct btf *btf, const char *name, __u32 kind)
{
	return btf && btf__find_by_name_kind(btf, name, kind) > 0;
}

/* Has struct type @id a member @name, also inside anonymous structs/unions? */
static bool btf_has_member(const struct btf *btf, __u32 id, const char *name, int depth)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	const struct btf_member *m;
	int i;

	if (!t || !btf_is_composite(t) || depth > 4)
		return false;
	m = btf_members(t);
	for (i = 0; i < btf_vlen(t); i++, m++) {
		if (!m->name_off) {
			if (btf_has_member(btf, btf__resolve_type(btf, m->type), name,
					   depth + 1))
				return true;
		} else if (!strcmp(btf__name_by_offset(btf, m->name_off), name)) {
			return true;
		}
	}
	return false;
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

/* @name's prototype in BTF, or NULL. */
static const struct btf_type *func_proto(const struct btf *btf, const char *name)
{
	const struct btf_type *fn, *proto;
	int id;

	id = btf ? btf__find_by_name_kind(btf, name, BTF_KIND_FUNC) : -1;
	if (id <= 0)
		return NULL;
	fn = btf__type_by_id(btf, id);
	proto = fn ? btf__type_by_id(btf, fn->type) : NULL;
	return proto && btf_is_func_proto(proto) ? proto : NULL;
}

/*
 * Can fentry attach to @name?  It must be in BTF, and BPF trampolines do
 * not support functions returning a struct (e.g. ptep_clear_flush()
 * returns pte_t): those need a kprobe.
 */
static bool fentry_ok(const struct btf *btf, const char *name)
{
	const struct btf_type *proto = func_proto(btf, name);
	int ret;

	if (!proto)
		return false;
	if (!proto->type)
		return true;	/* void */
	ret = btf__resolve_type(btf, proto->type);
	return ret > 0 && !btf_is_composite(btf__type_by_id(btf, ret));
}

/*
 * set_tlb_ubc_flush_pending()'s form, from BTF: 3 for (mm, pteval, uaddr),
 * stock 6.12; 4 for (mm, pteval, start, end), a kernel that queues a range
 * at once; 0 if BTF does not say (then only its calls are counted).
 */
static int queue_args(const struct btf *btf)
{
	const struct btf_type *proto = func_proto(btf, ksym_names[KS_SET_TLB_UBC_FLUSH_PENDING]);
	const struct btf_param *args;
	int i, n, id;

	if (!proto)
		return 0;
	n = btf_vlen(proto);
	if (n != 3 && n != 4)
		return 0;
	/* The address (or start and end) after mm and pteval: integers. */
	args = btf_params(proto);
	for (i = 2; i < n; i++) {
		id = btf__resolve_type(btf, args[i].type);
		if (id <= 0 || !btf_is_int(btf__type_by_id(btf, id)))
			return 0;
	}
	return n;
}

/* Probe the running kernel.  Returns 0, or -errno having said why. */
static int kern_probe(struct kern *k)
{
	struct utsname u;
	int i;

	memset(k, 0, sizeof(*k));
	k->btf = btf__load_vmlinux_btf();
	if (!k->btf) {
		fprintf(stderr, "unmapstat: cannot read kernel BTF (/sys/kernel/btf/vmlinux): "
			"the kernel needs CONFIG_DEBUG_INFO_BTF\n");
		return -ENOENT;
	}
	if (!uname(&u)) {
		k->x86 = !strcmp(u.machine, "x86_64");
		k->arm64 = !strcmp(u.machine, "aarch64");
	}
	/* Without kallsyms, BTF says what there is (it may list an .isra copy). */
	if (!kallsyms_scan(k->has))
		for (i = 0; i < KS_COUNT; i++)
			k->has[i] = btf_has(k->btf, ksym_names[i], BTF_KIND_FUNC);
	k->tlb_flush_tp = btf_has(k->btf, "btf_trace_tlb_flush", BTF_KIND_TYPEDEF) ||
			  access(TRACEFS "/tlb/tlb_flush", F_OK) == 0;
	k->queue_args = queue_args(k->btf);
	k->page_size = sysconf(_SC_PAGESIZE);
	if (k->page_size <= 0)
		k->page_size = 4096;
	return 0;
}

/* Pick fast or slow programs for each point (all others stay unloaded). */
static void choose(struct point *pts, int n, const struct btf *btf, bool force_slow)
{
	char tname[128];
	int i, j;

	for (i = 0; i < n; i++) {
		struct point *p = &pts[i];

		if (p->kind == K_FUNC) {
			p->use_fast = p->present && !force_slow && fentry_ok(btf, p->what) &&
				      !kprobed(p->what);
			p->use_slow = p->present && !p->use_fast;
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

#define F(field)	(1U << (field))
#define FUNC(ks, f0, f1, s0, s1, fh, sh, fl)				\
	((struct point){ .what = ksym_names[ks], .kind = K_FUNC,		\
	  .present = k->has[ks], .fast = { f0, f1 }, .slow = { s0, s1 },	\
	  .fast_how = fh, .slow_how = sh, .fields = fl })
#define TP(name, path, f0, s0, fh, sh, fl)				\
	((struct point){ .what = name, .kind = K_TP, .tp_path = TRACEFS path,	\
	  .fast = { f0, NULL }, .slow = { s0, NULL }, .fast_how = fh,		\
	  .slow_how = sh, .fields = fl })

#define UNMAP_POINT	"try_to_unmap_one"
#define REF_EVENT	"/batch_unmap/referenced"
#define MAX_POINTS	16

/*
 * The attach points for kernel @k, in @pts (MAX_POINTS); returns how many.
 * Every program starts unloaded: choose() loads those of these points.
 */
static int setup_points(struct unmapstat_bpf *skel, const struct kern *k,
			struct point *pts)
{
	__typeof__(skel->progs) *p = &skel->progs;
	/*
	 * try_to_unmap_one()'s exit half only clears what -p records for the
	 * events under it: without -p, the entry alone (no fexit trampoline,
	 * no kretprobe on a function reclaim calls per folio and VMA).
	 */
	bool pid = env.pid != 0;
	/*
	 * With -p, the module's referenced event needs the mm of the VMA
	 * folio_referenced_one() visits; no module, no such event: no probe.
	 */
	bool ref_mm = pid && access(TRACEFS REF_EVENT, F_OK) == 0;
	/*
	 * Where the TLB flushes are functions (x86), they are counted there;
	 * where they are inline (arm64), the requests that issue them are.
	 */
	bool direct = k->has[KS_FLUSH_TLB_MM_RANGE];
	struct bpf_program *prog;
	int n = 0;

	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, false);

	pts[n++] = FUNC(KS_SHRINK_FOLIO_LIST, p->reclaim_enter_fentry, p->reclaim_exit_fexit,
			p->reclaim_enter_kprobe, p->reclaim_exit_kretprobe,
			"fentry+fexit", "kprobe+kretprobe",
			F(US_F_RECLAIM_CALLS) | F(US_F_UNMAPS));
	pts[n++] = FUNC(KS_TRY_TO_UNMAP_ONE, p->unmap_enter_fentry,
			pid ? p->unmap_exit_fexit : NULL, p->unmap_enter_kprobe,
			pid ? p->unmap_exit_kretprobe : NULL,
			pid ? "fentry+fexit" : "fentry", pid ? "kprobe+kretprobe" : "kprobe",
			F(US_F_UNMAPS));
	pts[n++] = FUNC(KS_DEFERRED_SPLIT_FOLIO, p->split_fentry, NULL, p->split_kprobe, NULL,
			"fentry", "kprobe", F(US_F_SPLITS));
	if (direct)
		pts[n++] = FUNC(KS_FLUSH_TLB_MM_RANGE, p->flush_fentry, NULL, p->flush_kprobe,
				NULL, "fentry", "kprobe", F(US_F_MM_RANGE));
	/*
	 * The batch's completion: arch_tlbbatch_flush() where it is a function
	 * (x86), else the try_to_unmap_flush() calls that reach it (arm64,
	 * where it is an inline DSB).
	 */
	if (k->has[KS_ARCH_TLBBATCH_FLUSH]) {
		pts[n++] = FUNC(KS_ARCH_TLBBATCH_FLUSH, p->tlbbatch_fentry, NULL,
				p->tlbbatch_kprobe, NULL, "fentry", "kprobe", F(US_F_DEFERRED));
	} else if (k->has[KS_TRY_TO_UNMAP_FLUSH]) {
		pts[n++] = FUNC(KS_TRY_TO_UNMAP_FLUSH, p->ubc_flush_fentry, NULL,
				p->ubc_flush_kprobe, NULL, "fentry", "kprobe", F(US_F_DEFERRED));
		/* It may inline try_to_unmap_flush() (arm64 6.12 does). */
		pts[n++] = FUNC(KS_TRY_TO_UNMAP_FLUSH_DIRTY, p->ubc_flush_dirty_fentry,
				p->ubc_flush_dirty_fexit, p->ubc_flush_dirty_kprobe,
				p->ubc_flush_dirty_kretprobe, "fentry+fexit", "kprobe+kretprobe",
				F(US_F_DEFERRED));
	}
	pts[n++] = FUNC(KS_PTEP_CLEAR_FLUSH, p->ptep_clear_flush_fentry, NULL,
			p->ptep_clear_flush_kprobe, NULL, "fentry", "kprobe",
			F(US_F_PTEP_CLEAR_FLUSH));
	if (!direct && k->has[KS_SET_TLB_UBC_FLUSH_PENDING])
		pts[n++] = FUNC(KS_SET_TLB_UBC_FLUSH_PENDING,
				k->queue_args == 4 ? p->queue_range_fentry : p->queue_page_fentry,
				NULL, p->queue_kprobe, NULL, "fentry", "kprobe",
				F(US_F_QUEUED) | F(US_F_QUEUED_PAGES) | F(US_F_QUEUED_TLBI));
	if (k->has[KS_CONTPTE_TRY_UNFOLD])
		pts[n++] = FUNC(KS_CONTPTE_TRY_UNFOLD, p->unfold_fentry, NULL, p->unfold_kprobe,
				NULL, "fentry", "kprobe", F(US_F_CONTPTE));
	/* mm/rmap.c defines the event everywhere; only x86's TLB code raises it. */
	if (k->tlb_flush_tp && k->x86)
		pts[n++] = TP("tlb:tlb_flush", "/tlb/tlb_flush", p->tlb_flush_btf,
			      p->tlb_flush_tp, "tp_btf", "tracepoint", F(US_F_TLB_EVENTS));
	/* batch_unmap.ko's events: there only while the module is loaded. */
	pts[n++] = TP("batch_unmap:batch", "/batch_unmap/batch", NULL, p->batch_tp,
		      NULL, "tracepoint", 0);
	pts[n++] = TP("batch_unmap:referenced", REF_EVENT, NULL, p->referenced_tp,
		      NULL, "tracepoint", 0);
	/* Last: only with -p, and the module's referenced event. */
	if (ref_mm)
		pts[n++] = FUNC(KS_FOLIO_REFERENCED_ONE, p->referenced_enter_fentry,
				p->referenced_exit_fexit, p->referenced_enter_kprobe,
				p->referenced_exit_kretprobe, "fentry+fexit", "kprobe+kretprobe",
				0);
	return n;
}

/* Why @field has no attach point at all on kernel @k. */
static const char *why_absent(int field, const struct kern *k)
{
	switch (field) {
	case US_F_MM_RANGE:
		return k->arm64 ? "no flush_tlb_mm_range() in this kernel: arm64 flushes the "
				  "TLB inline (see queued_tlbi_est and ptep_clear_flush)" :
				  "no flush_tlb_mm_range() in this kernel";
	case US_F_DEFERRED:
		return "neither arch_tlbbatch_flush() nor try_to_unmap_flush() in this kernel";
	case US_F_TLB_EVENTS:
		if (k->tlb_flush_tp && !k->x86)
			return "only x86's TLB code raises tlb:tlb_flush: here it would never fire";
		return "no tlb:tlb_flush tracepoint in this kernel";
	case US_F_QUEUED:
	case US_F_QUEUED_PAGES:
	case US_F_QUEUED_TLBI:
		if (k->has[KS_FLUSH_TLB_MM_RANGE])
			return "not counted where flush_tlb_mm_range() is (x86): queuing "
			       "issues no TLBI there, the batch flushes at "
			       "arch_tlbbatch_flush() (deferred)";
		return "set_tlb_ubc_flush_pending() cannot be attached in this kernel "
		       "(inlined, or only an optimized .isra/.constprop copy)";
	case US_F_CONTPTE:
		if (k->x86)
			return "no contpte on x86";
		if (k->arm64)
			return "no __contpte_try_unfold() in this kernel (CONFIG_ARM64_CONTPTE=n)";
		return "no contpte on this architecture";
	default:
		return "no attach point for it in this kernel";
	}
}

/*
 * Which counters this kernel cannot provide, and why: those no attached
 * point feeds (none on this architecture, or its attach failed), and
 * those the attached ones cannot tell.
 */
static void fill_na(struct us_na *na, const struct point *pts, int n, const struct kern *k)
{
	char (*why)[US_NA_LEN] = na->why;
	bool fed;
	int f, i;

	memset(na, 0, sizeof(*na));
	for (f = 0; f < US_FIELDS; f++) {
		fed = false;
		for (i = 0; i < n && !why[f][0]; i++) {
			const struct point *p = &pts[i];

			if (!(p->fields & F(f)))
				continue;
			fed = true;
			if (p->kind == K_FUNC && !p->present)
				snprintf(why[f], US_NA_LEN, "no %s() in this kernel", p->what);
			else if (p->err)
				snprintf(why[f], US_NA_LEN, "%s not attached (%s)", p->what,
					 strerror(p->err > 0 ? p->err : -p->err));
		}
		if (!fed)
			snprintf(why[f], US_NA_LEN, "%s", why_absent(f, k));
	}
	if (!why[US_F_QUEUED_PAGES][0] && !k->queue_args)
		snprintf(why[US_F_QUEUED_PAGES], US_NA_LEN, "set_tlb_ubc_flush_pending() has "
			 "no BTF here that says whether it takes one address or a range");
	if (!why[US_F_QUEUED_TLBI][0]) {
		if (!k->arm64)
			snprintf(why[US_F_QUEUED_TLBI], US_NA_LEN,
				 "the TLBI estimate models arm64 6.12 only");
		else if (why[US_F_QUEUED_PAGES][0])
			memcpy(why[US_F_QUEUED_TLBI], why[US_F_QUEUED_PAGES], US_NA_LEN);
	}
}

/*
 * Offset of field @name in the tracefs format of @event ("/system/event"
 * under TRACEFS), or -1 if it has none: a classic tracepoint program reads
 * the raw record, so a field it was built for must be where it expects.
 */
static int tp_field_offset(const char *event, const char *name)
{
	char path[PATH_MAX], line[256], decl[128];
	size_t nl = strlen(name), dl;
	int off, ret = -1;
	FILE *f;

	snprintf(path, sizeof(path), TRACEFS "%s/format", event);
	f = fopen(path, "r");
	if (!f)
		return -1;
	/* "\tfield:unsigned int kind;\toffset:32;\tsize:4;\tsigned:0;" */
	while (ret < 0 && fgets(line, sizeof(line), f)) {
		if (sscanf(line, " field:%127[^;]; offset:%d;", decl, &off) != 2)
			continue;
		dl = strlen(decl);
		/* The name is the declaration's last word. */
		if (dl > nl && decl[dl - nl - 1] == ' ' && !strcmp(decl + dl - nl, name))
			ret = off;
	}
	fclose(f);
	return ret;
}

/* struct bu_batch_event's kind (unmapstat.bpf.c): after 8 + 8 + 4 * 4 bytes. */
#define BU_BATCH_KIND_OFF	32

struct loaded {
	struct unmapstat_bpf *skel;
	struct point pts[MAX_POINTS];
	struct us_attach att[MAX_POINTS];
	int npts;
	struct us_na na;	/* the counters this kernel cannot provide */
};

/* Open, choose attach points, load (falling back to kprobes), attach. */
static int load_and_attach(struct loaded *l)
{
	struct kern k;
	int i, err, pass;

	err = kern_probe(&k);
	if (err)
		return err;
	/* -p matches an mm to its process through mm->owner. */
	if (env.pid && !btf_has_member(k.btf, btf__find_by_name_kind(k.btf, "mm_struct",
								    BTF_KIND_STRUCT), "owner", 0)) {
		fprintf(stderr, "unmapstat: -p/--pid needs mm_struct.owner to tell whose "
			"memory an event is about, and this kernel has none (CONFIG_MEMCG=n)\n");
		err = -ENOENT;
		goto out;
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
		/*
		 * A module before 0.3.0 has no kind in batch_unmap:batch: it
		 * batched lazyfree folios only, which is what the program
		 * counts them as then.
		 */
		l->skel->rodata->batch_has_kind =
			tp_field_offset("/batch_unmap/batch", "kind") == BU_BATCH_KIND_OFF;
		l->skel->rodata->queue_range = k.queue_args == 4;
		l->skel->rodata->tlbi_model = k.arm64;
		l->skel->rodata->page_shift = __builtin_ctzl(k.page_size);
		/* MAX_DVM_OPS: PTRS_PER_PTE, 8-byte entries in a page. */
		l->skel->rodata->dvm_max_ops = k.page_size / 8;
		l->npts = setup_points(l->skel, &k, l->pts);
		choose(l->pts, l->npts, k.btf, pass == 1);
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
		l->npts = 0;
	}
	if (err)
		goto out;
	if (!attach(l->pts, l->npts, l->att)) {
		fprintf(stderr, "unmapstat: no attach point could be attached\n");
		err = -ENOENT;
		goto out;
	}
	fill_na(&l->na, l->pts, l->npts, &k);
	/* Without it, -p would silently miss all of kswapd's work. */
	for (i = 0; env.pid && i < l->npts; i++) {
		if (strcmp(l->att[i].what, UNMAP_POINT) || l->att[i].how)
			continue;
		fprintf(stderr, "unmapstat: -p/--pid needs %s() attached, to tell whose "
			"memory reclaim unmaps, and it cannot be: %s\n", UNMAP_POINT,
			strerror(-l->att[i].err));
		err = -ENOENT;
		goto out;
	}
out:
	btf__free(k.btf);
	return err;
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
		us_print_na(stdout, &l.na);
		if (env.pid)
			printf("counting only what happens to the memory of process %d, "
			       "whoever does it\n", env.pid);
		printf("counting every %us; Ctrl-C for the summary\n\n", env.interval);
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
		n++;
		if (env.json) {
			us_print_json(stdout, &delta, &l.na, t - t1, env.pid, NULL, 0);
		} else {
			snprintf(title, sizeof(title), "--- interval %u (%.1fs)", n, t - t1);
			us_print_table(stdout, &delta, &l.na, title);
			printf("\n");
		}
		fflush(stdout);
		prev = cur;
		t1 = t;
	}
	us_delta(&delta, &prev, &start);
	if (env.json) {
		us_print_json(stdout, &delta, &l.na, t1 - t0, env.pid, l.att, l.npts);
	} else {
		printf("=== summary over %.1fs\n", t1 - t0);
		us_print_table(stdout, &delta, &l.na, NULL);
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

/*
 * Where link @j of attach point @p is pinned ("link_<program>"), or false if
 * it has no link.
 */
static bool link_pin_path(const struct point *p, int j, char *buf, size_t len)
{
	char name[64];

	if (!p->links[j])
		return false;
	snprintf(name, sizeof(name), "link_%s",
		 bpf_program__name(p->use_fast ? p->fast[j] : p->slow[j]));
	pin_path(buf, len, name);
	return true;
}

/* @s quoted for a shell command line we suggest, if it needs quoting. */
static const char *shell_word(const char *s, char *buf, size_t len)
{
	size_t used = 0;

	if (!s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789/._-+,:=@%")])
		return s;
	used += snprintf(buf, len, "'");
	for (; *s && used < len; s++)
		used += snprintf(buf + used, len - used, *s == '\'' ? "'\\''" : "%c", *s);
	if (used < len)
		snprintf(buf + used, len - used, "'");
	return buf;
}

/*
 * " --pin-dir DIR" when not the default: the commands we suggest must act
 * on the same directory as the one that printed them.
 */
static const char *pin_dir_arg(void)
{
	static char buf[PATH_MAX + 32];
	char word[PATH_MAX + 16];

	if (!strcmp(env.pin_dir, US_PIN_DIR))
		return "";
	snprintf(buf, sizeof(buf), " --pin-dir %s",
		 shell_word(env.pin_dir, word, sizeof(word)));
	return buf;
}

static bool on_bpffs(const char *path)
{
	struct statfs st;

	return !statfs(path, &st) && st.f_type == BPF_FS_MAGIC;
}

/*
 * Pins live on a BPF filesystem.  If the pin directory is not on one, the
 * advice is to mount one on the pin directory itself (or on /sys/fs/bpf,
 * made for it): never on a parent, whose files the mount would hide
 * (/tmp for --pin-dir /tmp/pd).
 */
static int check_bpffs(void)
{
	char path[PATH_MAX], word[PATH_MAX + 16], *slash;
	const char *dir = shell_word(env.pin_dir, word, sizeof(word));
	struct statfs st;

	/* The directory, or the nearest ancestor that exists. */
	snprintf(path, sizeof(path), "%s", env.pin_dir);
	while (statfs(path, &st)) {
		if (errno != ENOENT || !strcmp(path, "/") || !strcmp(path, ".")) {
			fprintf(stderr, "unmapstat: %s: %s\n", path, strerror(errno));
			return -errno;
		}
		slash = strrchr(path, '/');
		if (!slash)
			snprintf(path, sizeof(path), ".");
		else if (slash == path)
			path[1] = 0;
		else
			*slash = 0;
	}
	if (st.f_type == BPF_FS_MAGIC)
		return 0;
	if (!strncmp(env.pin_dir, BPFFS "/", sizeof(BPFFS)) || !strcmp(env.pin_dir, BPFFS)) {
		fprintf(stderr, "unmapstat: %s is not on a BPF filesystem (bpffs): mount "
			"it at its usual place with: mount -t bpf bpf " BPFFS "\n", env.pin_dir);
		return -ENOENT;
	}
	fprintf(stderr, "unmapstat: %s is not on a BPF filesystem (bpffs): mount one on "
		"the pin directory itself with: mkdir -p %s && mount -t bpf bpf %s%s\n",
		env.pin_dir, dir, dir, on_bpffs(BPFFS) ? "; or pin under " BPFFS
		", which is one (the default --pin-dir is " US_PIN_DIR ")" : "");
	return -ENOENT;
}

static int run_pin(void)
{
	struct loaded l = { 0 };
	char path[PATH_MAX + 64];
	__u32 zero = 0;
	int i, j, err;

	err = check_bpffs();
	if (err)
		return err;
	pin_path(path, sizeof(path), "counters");
	if (access(path, F_OK) == 0) {
		printf("unmapstat: already pinned at %s and counting; "
		       "unmapstat --unpin%s first to start over\n", env.pin_dir, pin_dir_arg());
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
			if (!link_pin_path(&l.pts[i], j, path, sizeof(path)))
				continue;
			err = bpf_link__pin(l.pts[i].links[j], path);
			if (err)
				goto pin_fail;
		}
	/* What --dump prints as n/a, and why: what this kernel could not count. */
	pin_path(path, sizeof(path), "na");
	err = bpf_map__update_elem(l.skel->maps.na, &zero, sizeof(zero), &l.na,
				   sizeof(l.na), BPF_ANY);
	if (!err)
		err = bpf_map__pin(l.skel->maps.na, path);
	if (err)
		goto pin_fail;
	/* Last: the counters pinned mean a complete pin (see above). */
	pin_path(path, sizeof(path), "counters");
	err = bpf_map__pin(l.skel->maps.counters, path);
	if (err)
		goto pin_fail;
	printf("unmapstat: counting; maps and programs pinned under %s\n", env.pin_dir);
	if (env.pid)
		printf("counting only what happens to the memory of process %d, whoever "
		       "does it\n", env.pid);
	us_print_attach(stdout, l.att, l.npts);
	us_print_na(stdout, &l.na);
	printf("read with: unmapstat --dump%s, or bpftool map dump pinned %s/counters\n",
	       pin_dir_arg(), env.pin_dir);
	unload(&l);	/* the pinned links keep the programs attached */
	return 0;

pin_fail:
	fprintf(stderr, "unmapstat: pinning %s: %s\n", path, strerror(-err));
fail:
	/* Whatever was pinned already goes too: no half-pinned directory. */
	for (i = 0; i < l.npts; i++)
		for (j = 0; j < 2; j++)
			if (link_pin_path(&l.pts[i], j, path, sizeof(path)))
				unlink(path);
	pin_path(path, sizeof(path), "na");
	unlink(path);
	unload(&l);
	rmdir(env.pin_dir);	/* fails harmlessly on a bpffs mount point */
	return err;
}

static int run_unpin(void)
{
	struct dirent *de;
	char path[PATH_MAX + 64];
	int removed = 0, err = 0;
	DIR *dir;

	dir = opendir(env.pin_dir);
	if (!dir) {
		if (errno == ENOENT) {
			printf("unmapstat: nothing pinned at %s\n", env.pin_dir);
			return 0;
		}
		err = -errno;
		fprintf(stderr, "unmapstat: %s: %s%s\n", env.pin_dir, strerror(errno),
			errno == EACCES ? " (pinned by another user: unpin as that user "
			"or as root)" : "");
		return err;
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
	/* A bpffs mounted on the pin directory itself stays (EBUSY). */
	if (rmdir(env.pin_dir) && errno != EBUSY) {
		err = -errno;
		fprintf(stderr, "unmapstat: rmdir %s: %s\n", env.pin_dir, strerror(errno));
	}
	if (!err)
		printf("unmapstat: removed %d pinned objects; programs detached\n", removed);
	return err;
}

/*
 * The pinned "na" map: what the kernel --pin ran on could not count.  A
 * pin without it (or with another layout) is another version's.
 */
static int read_pinned_na(struct us_na *na)
{
	struct bpf_map_info info = { 0 };
	__u32 info_len = sizeof(info), zero = 0;
	char path[PATH_MAX + 64];
	int i, fd, err = 0;

	pin_path(path, sizeof(path), "na");
	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			fprintf(stderr, "unmapstat: %s is missing: the counters were pinned by "
				"another version of unmapstat: run unmapstat --unpin%s, then "
				"unmapstat --pin%s\n", path, pin_dir_arg(), pin_dir_arg());
		else
			fprintf(stderr, "unmapstat: cannot open %s: %s\n", path, strerror(errno));
		return err;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &info_len) || info.value_size != sizeof(*na)) {
		fprintf(stderr, "unmapstat: %s was pinned by another version of unmapstat: run "
			"unmapstat --unpin%s, then unmapstat --pin%s\n", path, pin_dir_arg(),
			pin_dir_arg());
		err = -EPROTO;
	} else if (bpf_map_lookup_elem(fd, &zero, na)) {
		err = -errno;
		fprintf(stderr, "unmapstat: reading %s: %s\n", path, strerror(errno));
	} else {
		/* Written by --pin, but a map anyone with CAP_BPF may update. */
		for (i = 0; i < US_FIELDS; i++)
			na->why[i][US_NA_LEN - 1] = 0;
	}
	close(fd);
	return err;
}

static int run_dump(void)
{
	struct bpf_map_info info = { 0 };
	__u32 info_len = sizeof(info);
	struct us_counters c;
	struct us_na na;
	char path[PATH_MAX + 64];
	int fd, err;

	pin_path(path, sizeof(path), "counters");
	/* Not pinned is told apart before bpf(2), which may fail otherwise. */
	if (access(path, F_OK) && errno == ENOENT) {
		fprintf(stderr, "unmapstat: no pinned counters at %s; run unmapstat "
			"--pin%s first\n", path, pin_dir_arg());
		return -ENOENT;
	}
	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "unmapstat: cannot open the pinned counters %s: %s\n",
			path, strerror(errno));
		return err;
	}
	/*
	 * Pinned by another unmapstat version: its per-CPU values have
	 * another size (and fields), which would be read as garbage.
	 */
	if (!bpf_obj_get_info_by_fd(fd, &info, &info_len) &&
	    info.value_size != sizeof(c)) {
		fprintf(stderr, "unmapstat: %s was pinned by another version of unmapstat "
			"(%u-byte counters, this one reads %zu): run unmapstat --unpin%s, then "
			"unmapstat --pin%s\n", path, info.value_size, sizeof(c), pin_dir_arg(),
			pin_dir_arg());
		close(fd);
		return -EPROTO;
	}
	err = read_counters(fd, &c);
	close(fd);
	if (err) {
		fprintf(stderr, "unmapstat: reading %s: %s\n", path, strerror(-err));
		return err;
	}
	err = read_pinned_na(&na);
	if (err)
		return err;
	if (env.json)
		us_print_json(stdout, &c, &na, -1, 0, NULL, 0);
	else
		us_print_table(stdout, &c, &na, NULL);
	return 0;
}

/*
 * What the kernel checks, not the uid: loading tracing programs and
 * creating maps needs CAP_BPF, attaching kprobes and tracepoints and
 * reading kernel memory CAP_PERFMON; CAP_SYS_ADMIN stands for both
 * (bpf_capable(), perfmon_capable()).  --dump only reads a map through
 * bpf(2), which unprivileged_bpf_disabled (Debian: 2) reserves to CAP_BPF;
 * --unpin only unlinks files.
 */
static int check_caps(void)
{
	bool admin = cli_has_cap(CAP_SYS_ADMIN) != 0;	/* -1: capget failed, let the kernel decide */
	bool bpf = admin || cli_has_cap(CAP_BPF) != 0;
	bool perfmon = admin || cli_has_cap(CAP_PERFMON) != 0;

	switch (env.mode) {
	case US_MODE_UNPIN:
		return 0;
	case US_MODE_DUMP:
		if (bpf)
			return 0;
		fprintf(stderr, "unmapstat: missing CAP_BPF: reading the pinned counters "
			"needs it (or CAP_SYS_ADMIN); run unmapstat --dump as root\n");
		return -EPERM;
	default:
		if (bpf && perfmon)
			return 0;
		fprintf(stderr, "unmapstat: missing %s%s%s: loading and attaching its "
			"tracing BPF programs needs CAP_BPF and CAP_PERFMON (or "
			"CAP_SYS_ADMIN); run unmapstat as root\n", bpf ? "" : "CAP_BPF",
			!bpf && !perfmon ? " and " : "", perfmon ? "" : "CAP_PERFMON");
		return -EPERM;
	}
}

/* -p PID must name a live process, not one of its threads: exit 2 if not. */
static int check_pid(void)
{
	char path[64], line[128];
	long tgid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", env.pid);
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "unmapstat: invalid PID %d for -p/--pid: no such process\n",
			env.pid);
		return -ESRCH;
	}
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %ld", &tgid) == 1)
			break;
	fclose(f);
	if (tgid > 0 && tgid != env.pid) {
		fprintf(stderr, "unmapstat: invalid PID %d for -p/--pid: it is a thread of "
			"process %ld, use -p %ld\n", env.pid, tgid, tgid);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char errbuf[512];
	int ret;

	ret = us_parse_args(argc, argv, &env, errbuf, sizeof(errbuf));
	if (ret > 0)
		return 0;
	if (ret < 0)
		return cli_usage_error("unmapstat", errbuf);
	if (env.pid && check_pid())
		return CLI_EXIT_USAGE;
	if (check_caps())
		return CLI_EXIT_RUNTIME;
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
	return ret ? CLI_EXIT_RUNTIME : 0;
}
