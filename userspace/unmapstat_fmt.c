// SPDX-License-Identifier: GPL-2.0
/*
 * unmapstat: argument parsing and output formatting.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "batch_unmap.h"
#include "cli.h"
#include "unmapstat_fmt.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * Names in the table and the JSON keys: enum tlb_flush_reason, and the
 * enums of include/batch_unmap.h in lower case without their prefix (a
 * value added there without a name here shows as "outcome<N>"/"flush<N>"/
 * "kind<N>").
 */
static const char *const tlb_reason_names[US_TLB_REASONS] = US_TLB_REASON_NAMES;
static const char *const outcome_names[US_OUTCOMES] = {
	[BU_OUTCOME_DISCARD] = "discard",
	[BU_OUTCOME_RESTORE_DIRTY] = "restore_dirty",
	[BU_OUTCOME_RESTORE_REFS] = "restore_refs",
	[BU_OUTCOME_UNMAP] = "unmap",
};
static const char *const flush_names[US_FLUSHES] = {
	[BU_FLUSH_DEFERRED] = "deferred",
	[BU_FLUSH_RANGE] = "range",
	[BU_FLUSH_NONE] = "none",
};
static const char *const bu_kind_names[US_BU_KINDS] = {
	[BU_KIND_LAZYFREE] = "lazyfree",
	[BU_KIND_FILE] = "file",
};
/* unmapstat's own folio kinds (include/unmapstat.h), not the module's. */
static const char *const kind_names[US_KINDS] = US_KIND_NAMES;

/* @names[i], or "<prefix><i>" in @buf for a value without a name yet. */
static const char *name_of(const char *const *names, int i, const char *prefix,
			   char *buf, size_t len)
{
	if (names && names[i])
		return names[i];
	snprintf(buf, len, "%s%d", prefix, i);
	return buf;
}

/* --- arguments ---------------------------------------------------------------- */

enum { OPT_PIN = 1000, OPT_DUMP, OPT_UNPIN, OPT_PIN_DIR };

static const struct argp_option opts[] = {
	{ "interval", 'i', "SEC", 0, "Print every SEC seconds (default 1; the same as "
	  "the interval operand)", 0 },
	{ "count", 'c', "N", 0, "Stop after N intervals (default: at Ctrl-C; the same "
	  "as the count operand)", 0 },
	{ "pid", 'p', "PID", 0, "Only count what happens to the memory of process PID "
	  "(its mm), whoever does it: kswapd's reclaim of it too", 0 },
	{ "json", 'j', NULL, 0, "JSON output, one object per line", 0 },
	{ "verbose", 'v', NULL, 0, "Show libbpf debug output", 0 },
	{ NULL, 0, NULL, 0, "Pinned counters (no live output):", 1 },
	{ "pin", OPT_PIN, NULL, 0, "Attach, pin the counters and programs in the pin "
	  "directory, exit", 1 },
	{ "dump", OPT_DUMP, NULL, 0, "Print the pinned counters", 1 },
	{ "unpin", OPT_UNPIN, NULL, 0, "Detach and remove the pinned counters", 1 },
	{ "pin-dir", OPT_PIN_DIR, "DIR", 0, "Pin directory, on a BPF filesystem "
	  "(default " US_PIN_DIR ")", 1 },
	CLI_OPTS_COMMON,
	{},
};

static const char doc[] =
"Count deferred splits, per-PTE vs per-batch TLB flushes and the folios\n"
"unmapped (file, anon, lazyfree, shmem) during reclaim.\n"
"\n"
"USAGE: unmapstat [-hVvj] [-p PID] [-i SEC] [-c N] [interval [count]]\n"
"       unmapstat --pin [-v] [-p PID] [--pin-dir DIR]\n"
"       unmapstat --dump [-j] [--pin-dir DIR]\n"
"       unmapstat --unpin [--pin-dir DIR]\n"
"\n"
"EXAMPLES:\n"
"    unmapstat             # a table every second, the summary at Ctrl-C\n"
"    unmapstat 5 3 -j      # three 5-second intervals and the summary, as JSON\n"
"    unmapstat -p 1234     # only what happens to process 1234's memory\n"
"    unmapstat --pin       # leave the counters running, then read them:\n"
"    unmapstat --dump -j   # (bpftool map dump pinned DIR/counters also works)\n"
"    unmapstat --unpin     # detach and remove them\n"
"\n"
"Needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN); --dump needs CAP_BPF.\n"
"Exit status: 0 ok, 1 could not attach or read the counters, 2 bad usage.\n";

static const struct argp argp = {
	.options = opts,
	.args_doc = "[interval [count]]",
	.doc = doc,
};

#define M_LIVE	(1U << US_MODE_LIVE)
#define M_PIN	(1U << US_MODE_PIN)
#define M_DUMP	(1U << US_MODE_DUMP)
#define M_UNPIN	(1U << US_MODE_UNPIN)

/*
 * The modes each option means something in; any other is an error.  The
 * first two are also set by the interval and count operands.
 */
enum { SCOPE_INTERVAL, SCOPE_COUNT };
static const struct {
	int key;
	unsigned int modes;
} scope[] = {
	[SCOPE_INTERVAL] = { 'i', M_LIVE },
	[SCOPE_COUNT] = { 'c', M_LIVE },
	{ 'p', M_LIVE | M_PIN },
	{ 'j', M_LIVE | M_DUMP },
	{ 'v', M_LIVE | M_PIN },	/* the others load no BPF object */
	{ OPT_PIN_DIR, M_PIN | M_DUMP | M_UNPIN },
};

static const char *const mode_names[] = {
	[US_MODE_LIVE] = "live mode (without --pin, --dump or --unpin)",
	[US_MODE_PIN] = "--pin",
	[US_MODE_DUMP] = "--dump",
	[US_MODE_UNPIN] = "--unpin",
};

static const char *const mode_opts[] = {
	[US_MODE_LIVE] = "live mode", [US_MODE_PIN] = "--pin",
	[US_MODE_DUMP] = "--dump", [US_MODE_UNPIN] = "--unpin",
};

/* "live mode", "--pin and --dump", "--pin, --dump and --unpin" */
static void list_modes(char *buf, size_t len, unsigned int modes)
{
	int m, n = 0, total = __builtin_popcount(modes);
	size_t used = 0;

	buf[0] = 0;
	for (m = US_MODE_LIVE; m <= US_MODE_UNPIN; m++) {
		if (!(modes & (1U << m)))
			continue;
		n++;
		used += snprintf(buf + used, used < len ? len - used : 0, "%s%s",
				 n == 1 ? "" : n == total ? " and " : ", ", mode_opts[m]);
	}
}

static int set_interval(struct cli *c, struct us_env *env, const char *arg,
			const char *from)
{
	unsigned long v;

	if (cli_parse_ulong(arg, 1, 86400, &v))
		return cli_fail(c, "invalid interval '%s' for %s: want 1..86400 seconds",
				arg, from);
	env->interval = v;
	return 0;
}

static int set_count(struct cli *c, struct us_env *env, const char *arg,
		     const char *from)
{
	unsigned long v;

	if (cli_parse_ulong(arg, 1, UINT_MAX, &v))
		return cli_fail(c, "invalid count '%s' for %s: want a positive number "
				"of intervals", arg, from);
	env->count = v;
	return 0;
}

int us_parse_args(int argc, char **argv, struct us_env *env, char *err,
		  size_t errlen)
{
	bool seen[ARRAY_SIZE(scope)] = { 0 }, ival_opt = false, count_opt = false;
	const char *mode_opt = NULL;
	char name[64], where[96];
	unsigned long v;
	struct cli c;
	size_t i;
	int key, nops;

	memset(env, 0, sizeof(*env));
	env->interval = 1;
	env->pin_dir = US_PIN_DIR;
	cli_init(&c, "unmapstat", &argp, NULL, err, errlen);
	while ((key = cli_next(&c, argc, argv)) != -1) {
		enum us_mode mode = US_MODE_LIVE;

		cli_name(&c, key, name, sizeof(name));
		for (i = 0; i < ARRAY_SIZE(scope); i++)
			if (scope[i].key == key)
				seen[i] = true;
		switch (key) {
		case 'i':
			if (set_interval(&c, env, optarg, name))
				return -1;
			ival_opt = true;
			break;
		case 'c':
			if (set_count(&c, env, optarg, name))
				return -1;
			count_opt = true;
			break;
		case 'p':
			if (cli_parse_ulong(optarg, 1, INT_MAX, &v)) {
				cli_fail(&c, "invalid PID '%s' for %s: want a process ID "
					 "(a positive number)", optarg, name);
				return -1;
			}
			env->pid = v;
			break;
		case 'j':
			env->json = true;
			break;
		case 'v':
			env->verbose = true;
			break;
		case OPT_PIN:
			mode = US_MODE_PIN;
			break;
		case OPT_DUMP:
			mode = US_MODE_DUMP;
			break;
		case OPT_UNPIN:
			mode = US_MODE_UNPIN;
			break;
		case OPT_PIN_DIR:
			if (!*optarg) {
				cli_fail(&c, "--pin-dir needs a directory, not ''");
				return -1;
			}
			env->pin_dir = optarg;
			break;
		case 'h':
		case 'V':
			cli_common(&c, key);
			return 1;
		default:	/* '?': cli_next() said what */
			return -1;
		}
		if (mode == US_MODE_LIVE)
			continue;
		if (mode_opt && env->mode != mode) {
			cli_fail(&c, "%s and %s exclude each other", mode_opt, name);
			return -1;
		}
		env->mode = mode;
		mode_opt = mode_names[mode];
	}

	/* bcc's positional [interval [count]], as -i and -c. */
	nops = argc - optind;
	if (nops > 2) {
		cli_fail(&c, "unexpected argument '%s': the operands are [interval [count]]",
			 argv[optind + 2]);
		return -1;
	}
	if (nops >= 1) {
		if (ival_opt) {
			cli_fail(&c, "the interval is given twice: by -i/--interval and by "
				 "the operand '%s'", argv[optind]);
			return -1;
		}
		if (set_interval(&c, env, argv[optind], "the interval operand"))
			return -1;
		seen[SCOPE_INTERVAL] = true;
	}
	if (nops == 2) {
		if (count_opt) {
			cli_fail(&c, "the count is given twice: by -c/--count and by the "
				 "operand '%s'", argv[optind + 1]);
			return -1;
		}
		if (set_count(&c, env, argv[optind + 1], "the count operand"))
			return -1;
		seen[SCOPE_COUNT] = true;
	}

	/* An option that means nothing in this mode is a mistake: say so. */
	for (i = 0; i < ARRAY_SIZE(scope); i++) {
		if (!seen[i] || (scope[i].modes & (1U << env->mode)))
			continue;
		if (i == SCOPE_INTERVAL && !ival_opt)
			snprintf(name, sizeof(name), "an interval operand");
		else if (i == SCOPE_COUNT && !count_opt)
			snprintf(name, sizeof(name), "a count operand");
		else
			cli_name(&c, scope[i].key, name, sizeof(name));
		list_modes(where, sizeof(where), scope[i].modes);
		cli_fail(&c, "%s has no meaning %s %s: it applies to %s only", name,
			 env->mode == US_MODE_LIVE ? "in" : "with", mode_names[env->mode],
			 where);
		return -1;
	}
	return 0;
}

/* --- arithmetic ------------------------------------------------------------------- */

#define US_NR_U64	(sizeof(struct us_counters) / sizeof(__u64))

_Static_assert(sizeof(struct us_counters) % sizeof(__u64) == 0,
	       "us_counters must be made of __u64 only");

void us_sum(struct us_counters *out, const struct us_counters *percpu, int ncpu)
{
	__u64 *o = (__u64 *)out;
	int cpu;
	size_t i;

	memset(out, 0, sizeof(*out));
	for (cpu = 0; cpu < ncpu; cpu++) {
		const __u64 *v = (const __u64 *)&percpu[cpu];

		for (i = 0; i < US_NR_U64; i++)
			o[i] += v[i];
	}
}

void us_delta(struct us_counters *out, const struct us_counters *now,
	      const struct us_counters *before)
{
	const __u64 *n = (const __u64 *)now, *b = (const __u64 *)before;
	__u64 *o = (__u64 *)out;
	size_t i;

	for (i = 0; i < US_NR_U64; i++)
		o[i] = n[i] - b[i];
}

static __u64 sum_array(const __u64 *a, size_t n)
{
	__u64 s = 0;
	size_t i;

	for (i = 0; i < n; i++)
		s += a[i];
	return s;
}

/* --- n/a ------------------------------------------------------------------------- */

/*
 * The names of the counters each enum us_field covers: the JSON keys (of
 * "counters", or of "counters.reclaim" and "counters.other"), in order.
 */
#define US_FIELD_KEYS	4
static const char *const field_keys[US_FIELDS][US_FIELD_KEYS] = {
	[US_F_RECLAIM_CALLS] = { "reclaim_calls" },
	[US_F_SPLITS] = { "split_partial", "split_other" },
	[US_F_UNMAPS] = { "unmaps" },
	[US_F_MM_RANGE] = { "single", "range", "range_pages", "full" },
	[US_F_DEFERRED] = { "deferred" },
	[US_F_PTEP_CLEAR_FLUSH] = { "ptep_clear_flush" },
	[US_F_TLB_EVENTS] = { "tlb_events", "tlb_pages" },
	[US_F_QUEUED] = { "queued" },
	[US_F_QUEUED_PAGES] = { "queued_pages" },
	[US_F_QUEUED_TLBI] = { "queued_tlbi_est" },
	[US_F_CONTPTE] = { "contpte_unfolds" },
};

const char *us_na_why(const struct us_na *na, int field)
{
	if (!na || field < 0 || field >= US_FIELDS || !na->why[field][0])
		return NULL;
	return na->why[field];
}

/* @v, or n/a: right-aligned in @width after a space. */
static void print_cell(FILE *f, int width, const struct us_na *na, int field, __u64 v)
{
	if (us_na_why(na, field))
		fprintf(f, " %*s", width, "n/a");
	else
		fprintf(f, " %*llu", width, (unsigned long long)v);
}

/* If this kernel cannot count @field: "<label>n/a (<reason>)", and true. */
static bool print_na_line(FILE *f, const char *label, const struct us_na *na, int field)
{
	const char *why = us_na_why(na, field);

	if (!why)
		return false;
	fprintf(f, "%sn/a (%s)\n", label, why);
	return true;
}

/* --- table --------------------------------------------------------------------- */

static void print_orders(FILE *f, const __u64 *by_order)
{
	bool any = false;
	int o;

	for (o = 0; o < US_ORDERS; o++) {
		if (!by_order[o])
			continue;
		fprintf(f, "%s%dK:%llu", any ? " " : "  (", 4 << o,
			(unsigned long long)by_order[o]);
		any = true;
	}
	fprintf(f, "%s\n", any ? ")" : "");
}

#define TBL_COLS	6

/* A table of counters split by where they happened: inside reclaim or not. */
struct split_table {
	const char *title;
	int ncol;
	struct {
		const char *head;	/* column heading */
		int width;
		int field;		/* enum us_field */
		__u64 val[2];		/* reclaim, other */
	} col[TBL_COLS];
};

/*
 * @t with n/a in the columns this kernel cannot count, and their reasons
 * below it, once per reason; a table of nothing but n/a is only the
 * reasons, after its title.
 */
static void print_split_table(FILE *f, const struct split_table *t, const struct us_na *na)
{
	static const char *const rows[2] = { "reclaim", "other" };
	bool all_na = true, done[TBL_COLS] = { 0 };
	int i, j, r;

	for (i = 0; i < t->ncol; i++)
		all_na &= us_na_why(na, t->col[i].field) != NULL;
	if (!all_na) {
		fprintf(f, "%-12s", t->title);
		for (i = 0; i < t->ncol; i++)
			fprintf(f, " %*s", t->col[i].width, t->col[i].head);
		fprintf(f, "\n");
		for (r = 0; r < 2; r++) {
			fprintf(f, "  %-10s", rows[r]);
			for (i = 0; i < t->ncol; i++)
				print_cell(f, t->col[i].width, na, t->col[i].field,
					   t->col[i].val[r]);
			fprintf(f, "\n");
		}
	}
	/* Columns n/a for the same reason: one line for them. */
	for (i = 0; i < t->ncol; i++) {
		const char *why = us_na_why(na, t->col[i].field), *why_j;
		const char *sep = "";

		if (!why || done[i])
			continue;
		if (all_na)
			fprintf(f, "%s (", t->title);
		else
			fprintf(f, "  ");
		for (j = i; j < t->ncol; j++) {
			why_j = us_na_why(na, t->col[j].field);
			if (!why_j || strcmp(why_j, why))
				continue;
			fprintf(f, "%s%s", sep, t->col[j].head);
			sep = ", ";
			done[j] = true;
		}
		fprintf(f, "%s: n/a (%s)\n", all_na ? ")" : "", why);
	}
}

static void print_tlb_events(FILE *f, const char *label, const struct us_flushes *fl)
{
	int r;

	fprintf(f, "%s", label);
	for (r = 0; r < US_TLB_REASONS; r++)
		if (fl->tlb_events[r])
			fprintf(f, " %s=%llu(%llu)", tlb_reason_names[r],
				(unsigned long long)fl->tlb_events[r],
				(unsigned long long)fl->tlb_pages[r]);
	fprintf(f, "\n");
}

/*
 * What reclaim's TLB work came to per folio unmapped: the counters this
 * kernel has, divided by the reclaim unmaps (one per folio when each
 * folio has one mapping).
 */
static void print_per_unmap(FILE *f, const struct us_counters *c, const struct us_na *na)
{
	const struct {
		const char *name;
		int field;
		__u64 v;
	} per[] = {
		{ "1-page", US_F_MM_RANGE, c->reclaim.single },
		{ "range", US_F_MM_RANGE, c->reclaim.range },
		{ "full", US_F_MM_RANGE, c->reclaim.full },
		{ "deferred", US_F_DEFERRED, c->reclaim.deferred },
		{ "per-PTE-clr", US_F_PTEP_CLEAR_FLUSH, c->reclaim.ptep_clear_flush },
		{ "queued", US_F_QUEUED, c->reclaim_ext.queued },
		{ "TLBI-est", US_F_QUEUED_TLBI, c->reclaim_ext.queued_tlbi_est },
		{ "contpte-unfolds", US_F_CONTPTE, c->reclaim_ext.contpte_unfolds },
	};
	__u64 unmaps = 0;
	size_t i;
	int k;

	if (us_na_why(na, US_F_UNMAPS))
		return;
	for (k = 0; k < US_KINDS; k++)
		unmaps += sum_array(c->unmaps[k], US_ORDERS);
	if (!unmaps)
		return;
	fprintf(f, "per reclaim unmap (%llu):", (unsigned long long)unmaps);
	for (i = 0; i < ARRAY_SIZE(per); i++)
		if (!us_na_why(na, per[i].field))
			fprintf(f, " %s=%.2f", per[i].name, (double)per[i].v / unmaps);
	fprintf(f, "\n");
}

void us_print_table(FILE *f, const struct us_counters *c, const struct us_na *na,
		    const char *title)
{
	const struct split_table flushes = {
		.title = "TLB flushes", .ncol = 6, .col = {
			{ "1-page", 10, US_F_MM_RANGE, { c->reclaim.single, c->other.single } },
			{ "range", 10, US_F_MM_RANGE, { c->reclaim.range, c->other.range } },
			{ "range-pages", 12, US_F_MM_RANGE,
			  { c->reclaim.range_pages, c->other.range_pages } },
			{ "full", 8, US_F_MM_RANGE, { c->reclaim.full, c->other.full } },
			{ "deferred", 10, US_F_DEFERRED,
			  { c->reclaim.deferred, c->other.deferred } },
			{ "per-PTE-clr", 12, US_F_PTEP_CLEAR_FLUSH,
			  { c->reclaim.ptep_clear_flush, c->other.ptep_clear_flush } },
		},
	};
	const struct split_table queue = {
		.title = "TLB queue", .ncol = 4, .col = {
			{ "queued", 10, US_F_QUEUED,
			  { c->reclaim_ext.queued, c->other_ext.queued } },
			{ "queued-pages", 12, US_F_QUEUED_PAGES,
			  { c->reclaim_ext.queued_pages, c->other_ext.queued_pages } },
			{ "TLBI-est", 10, US_F_QUEUED_TLBI,
			  { c->reclaim_ext.queued_tlbi_est, c->other_ext.queued_tlbi_est } },
			{ "contpte-unfolds", 15, US_F_CONTPTE,
			  { c->reclaim_ext.contpte_unfolds, c->other_ext.contpte_unfolds } },
		},
	};
	char buf[48];
	int r;

	if (title)
		fprintf(f, "%s\n", title);
	if (!print_na_line(f, "reclaim passes (shrink_folio_list): ", na, US_F_RECLAIM_CALLS))
		fprintf(f, "reclaim passes (shrink_folio_list): %llu\n",
			(unsigned long long)c->reclaim_calls);
	if (!print_na_line(f, "deferred splits, partially mapped:  ", na, US_F_SPLITS)) {
		fprintf(f, "deferred splits, partially mapped:  %llu",
			(unsigned long long)sum_array(c->split_partial, US_ORDERS));
		print_orders(f, c->split_partial);
		fprintf(f, "deferred splits, other (THP fault): %llu",
			(unsigned long long)sum_array(c->split_other, US_ORDERS));
		print_orders(f, c->split_other);
	}
	/* try_to_unmap_one() calls: one per folio and VMA reclaim visits. */
	if (!print_na_line(f, "reclaim unmaps:                     ", na, US_F_UNMAPS)) {
		for (r = 0; r < US_KINDS; r++) {
			snprintf(buf, sizeof(buf), "reclaim unmaps, %s folios:", kind_names[r]);
			fprintf(f, "%-36s%llu", buf,
				(unsigned long long)sum_array(c->unmaps[r], US_ORDERS));
			print_orders(f, c->unmaps[r]);
		}
	}
	print_split_table(f, &flushes, na);
	if (!print_na_line(f, "tlb:tlb_flush events (pages): ", na, US_F_TLB_EVENTS)) {
		print_tlb_events(f, "tlb:tlb_flush events (pages), reclaim:", &c->reclaim);
		print_tlb_events(f, "tlb:tlb_flush events (pages), other:  ", &c->other);
	}
	print_split_table(f, &queue, na);
	print_per_unmap(f, c, na);
	fprintf(f, "batch_unmap batches: %llu (%llu pages):",
		(unsigned long long)sum_array(c->batches, US_OUTCOMES),
		(unsigned long long)c->batch_pages);
	for (r = 0; r < US_OUTCOMES; r++)
		fprintf(f, " %s=%llu", name_of(outcome_names, r, "outcome", buf, sizeof(buf)),
			(unsigned long long)c->batches[r]);
	fprintf(f, "; flush");
	for (r = 0; r < US_FLUSHES; r++)
		fprintf(f, " %s=%llu", name_of(flush_names, r, "flush", buf, sizeof(buf)),
			(unsigned long long)c->batch_flush[r]);
	fprintf(f, "\nbatch_unmap batches by kind (pages):");
	for (r = 0; r < US_BU_KINDS; r++)
		fprintf(f, " %s=%llu(%llu)", name_of(bu_kind_names, r, "kind", buf, sizeof(buf)),
			(unsigned long long)c->batch_kinds[r].batches,
			(unsigned long long)c->batch_kinds[r].pages);
	fprintf(f, "\nbatch_unmap referenced runs (young, pages):");
	for (r = 0; r < US_BU_KINDS; r++)
		fprintf(f, " %s=%llu(%llu,%llu)",
			name_of(bu_kind_names, r, "kind", buf, sizeof(buf)),
			(unsigned long long)c->referenced[r].runs,
			(unsigned long long)c->referenced[r].young,
			(unsigned long long)c->referenced[r].pages);
	fprintf(f, "\n");
}

void us_print_attach(FILE *f, const struct us_attach *att, int natt)
{
	int i;

	for (i = 0; i < natt; i++) {
		if (att[i].how)
			fprintf(f, "  %-28s %s\n", att[i].what, att[i].how);
		else
			fprintf(f, "  %-28s not attached (%s)\n", att[i].what,
				strerror(att[i].err > 0 ? att[i].err : -att[i].err));
	}
}

/* "a, b, c": the names of the counters of @field. */
static void print_keys(FILE *f, int field, const char *sep)
{
	int k;

	for (k = 0; k < US_FIELD_KEYS && field_keys[field][k]; k++)
		fprintf(f, "%s%s", k ? sep : "", field_keys[field][k]);
}

void us_print_na(FILE *f, const struct us_na *na)
{
	bool done[US_FIELDS] = { 0 }, any = false;
	const char *why;
	int i, j;

	for (i = 0; i < US_FIELDS; i++) {
		why = us_na_why(na, i);
		if (!why || done[i])
			continue;
		if (!any)
			fprintf(f, "counters n/a on this kernel:\n");
		any = true;
		fprintf(f, "  ");
		/* The counters n/a for the same reason, on one line. */
		for (j = i; j < US_FIELDS; j++) {
			if (!us_na_why(na, j) || strcmp(na->why[j], why))
				continue;
			if (j > i)
				fprintf(f, ", ");
			print_keys(f, j, ", ");
			done[j] = true;
		}
		fprintf(f, ": %s\n", why);
	}
}

/* --- JSON ------------------------------------------------------------------------ */

/* @s as a JSON string. */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* "key":v, or "key":null if this kernel cannot count @field. */
static void json_u64(FILE *f, const char *key, __u64 v, const struct us_na *na, int field)
{
	if (us_na_why(na, field))
		fprintf(f, "\"%s\":null", key);
	else
		fprintf(f, "\"%s\":%llu", key, (unsigned long long)v);
}

/*
 * Every array of the counters struct becomes an object with named keys
 * (docs/unmapstat.md has the schema): @names, else "<prefix><index>"
 * ("order4" for folio orders).
 */
static void json_named(FILE *f, const char *key, const __u64 *a,
		       const char *const *names, const char *prefix, int n)
{
	char buf[32];
	int i;

	fprintf(f, "\"%s\":{", key);
	for (i = 0; i < n; i++)
		fprintf(f, "%s\"%s\":%llu", i ? "," : "",
			name_of(names, i, prefix, buf, sizeof(buf)),
			(unsigned long long)a[i]);
	fprintf(f, "}");
}

/* json_named(), or "key":null if this kernel cannot count @field. */
static void json_named_or_null(FILE *f, const char *key, const __u64 *a,
			       const char *const *names, const char *prefix, int n,
			       const struct us_na *na, int field)
{
	if (us_na_why(na, field))
		fprintf(f, "\"%s\":null", key);
	else
		json_named(f, key, a, names, prefix, n);
}

/* One place's flushes: struct us_flushes and struct us_flushes_ext in one object. */
static void json_flushes(FILE *f, const char *key, const struct us_flushes *fl,
			 const struct us_flushes_ext *x, const struct us_na *na)
{
	fprintf(f, "\"%s\":{", key);
	json_u64(f, "single", fl->single, na, US_F_MM_RANGE);
	fprintf(f, ",");
	json_u64(f, "range", fl->range, na, US_F_MM_RANGE);
	fprintf(f, ",");
	json_u64(f, "range_pages", fl->range_pages, na, US_F_MM_RANGE);
	fprintf(f, ",");
	json_u64(f, "full", fl->full, na, US_F_MM_RANGE);
	fprintf(f, ",");
	json_u64(f, "deferred", fl->deferred, na, US_F_DEFERRED);
	fprintf(f, ",");
	json_u64(f, "ptep_clear_flush", fl->ptep_clear_flush, na, US_F_PTEP_CLEAR_FLUSH);
	fprintf(f, ",");
	json_named_or_null(f, "tlb_events", fl->tlb_events, tlb_reason_names, "reason",
			   US_TLB_REASONS, na, US_F_TLB_EVENTS);
	fprintf(f, ",");
	json_named_or_null(f, "tlb_pages", fl->tlb_pages, tlb_reason_names, "reason",
			   US_TLB_REASONS, na, US_F_TLB_EVENTS);
	fprintf(f, ",");
	json_u64(f, "queued", x->queued, na, US_F_QUEUED);
	fprintf(f, ",");
	json_u64(f, "queued_pages", x->queued_pages, na, US_F_QUEUED_PAGES);
	fprintf(f, ",");
	json_u64(f, "queued_tlbi_est", x->queued_tlbi_est, na, US_F_QUEUED_TLBI);
	fprintf(f, ",");
	json_u64(f, "contpte_unfolds", x->contpte_unfolds, na, US_F_CONTPTE);
	fprintf(f, "}");
}

void us_print_json(FILE *f, const struct us_counters *c, const struct us_na *na,
		   double seconds, int pid, const struct us_attach *att, int natt)
{
	const char *sep = "";
	char buf[32];
	int i, k;

	fprintf(f, "{\"schema\":%d,", US_JSON_SCHEMA);
	if (seconds >= 0)
		fprintf(f, "\"seconds\":%.3f,", seconds);
	if (pid)
		fprintf(f, "\"pid\":%d,", pid);
	fprintf(f, "\"counters\":{");
	json_u64(f, "reclaim_calls", c->reclaim_calls, na, US_F_RECLAIM_CALLS);
	fprintf(f, ",");
	json_named_or_null(f, "split_partial", c->split_partial, NULL, "order", US_ORDERS,
			   na, US_F_SPLITS);
	fprintf(f, ",");
	json_named_or_null(f, "split_other", c->split_other, NULL, "order", US_ORDERS,
			   na, US_F_SPLITS);
	fprintf(f, ",");
	json_flushes(f, "reclaim", &c->reclaim, &c->reclaim_ext, na);
	fprintf(f, ",");
	json_flushes(f, "other", &c->other, &c->other_ext, na);
	fprintf(f, ",");
	json_named(f, "batches", c->batches, outcome_names, "outcome", US_OUTCOMES);
	fprintf(f, ",\"batch_pages\":%llu,", (unsigned long long)c->batch_pages);
	json_named(f, "batch_flush", c->batch_flush, flush_names, "flush", US_FLUSHES);
	if (us_na_why(na, US_F_UNMAPS)) {
		fprintf(f, ",\"unmaps\":null");
	} else {
		fprintf(f, ",\"unmaps\":{");
		for (i = 0; i < US_KINDS; i++) {
			fprintf(f, "%s", i ? "," : "");
			json_named(f, kind_names[i], c->unmaps[i], NULL, "order", US_ORDERS);
		}
		fprintf(f, "}");
	}
	fprintf(f, ",\"batch_kinds\":{");
	for (i = 0; i < US_BU_KINDS; i++)
		fprintf(f, "%s\"%s\":{\"batches\":%llu,\"pages\":%llu}", i ? "," : "",
			name_of(bu_kind_names, i, "kind", buf, sizeof(buf)),
			(unsigned long long)c->batch_kinds[i].batches,
			(unsigned long long)c->batch_kinds[i].pages);
	fprintf(f, "},\"referenced\":{");
	for (i = 0; i < US_BU_KINDS; i++)
		fprintf(f, "%s\"%s\":{\"runs\":%llu,\"young\":%llu,\"pages\":%llu}",
			i ? "," : "", name_of(bu_kind_names, i, "kind", buf, sizeof(buf)),
			(unsigned long long)c->referenced[i].runs,
			(unsigned long long)c->referenced[i].young,
			(unsigned long long)c->referenced[i].pages);
	fprintf(f, "}}");
	/* Every null above, by the name of its counter: why. */
	fprintf(f, ",\"unavailable\":{");
	for (i = 0; i < US_FIELDS; i++) {
		if (!us_na_why(na, i))
			continue;
		for (k = 0; k < US_FIELD_KEYS && field_keys[i][k]; k++) {
			fprintf(f, "%s\"%s\":", sep, field_keys[i][k]);
			json_str(f, na->why[i]);
			sep = ",";
		}
	}
	fprintf(f, "}");
	if (att && natt) {
		fprintf(f, ",\"attach\":[");
		for (i = 0; i < natt; i++)
			fprintf(f, "%s{\"what\":\"%s\",\"how\":%s%s%s}", i ? "," : "",
				att[i].what, att[i].how ? "\"" : "",
				att[i].how ? att[i].how : "null", att[i].how ? "\"" : "");
		fprintf(f, "]");
	}
	fprintf(f, "}\n");
}
