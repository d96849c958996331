// SPDX-License-Identifier: GPL-2.0
/*
 * unmapstat: argument parsing and output formatting.
 */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "unmapstat_fmt.h"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static const char *const tlb_reason_names[US_TLB_REASONS] = US_TLB_REASON_NAMES;
static const char *const outcome_names[US_OUTCOMES] = {
	"discard", "restore_dirty", "restore_refs",
};
static const char *const flush_names[US_FLUSHES] = {
	"deferred", "range", "none",
};

/* --- arguments ---------------------------------------------------------------- */

enum { OPT_PIN = 1000, OPT_DUMP, OPT_UNPIN, OPT_PIN_DIR };

static const struct argp_option opts[] = {
	{ "interval", 'i', "SEC", 0, "Print every SEC seconds (default 1)", 0 },
	{ "count", 'c', "N", 0, "Stop after N intervals (default: until Ctrl-C)", 0 },
	{ "pid", 'p', "PID", 0, "Only count process PID", 0 },
	{ "json", 'j', NULL, 0, "JSON output", 0 },
	{ "verbose", 'v', NULL, 0, "Show libbpf debug output", 0 },
	{ "pin", OPT_PIN, NULL, 0, "Attach, pin maps and programs under the pin directory, exit", 0 },
	{ "dump", OPT_DUMP, NULL, 0, "Print the pinned counters", 0 },
	{ "unpin", OPT_UNPIN, NULL, 0, "Detach and remove the pinned counters", 0 },
	{ "pin-dir", OPT_PIN_DIR, "DIR", 0, "Pin directory (default " US_PIN_DIR ")", 0 },
	{ "help", 'h', NULL, 0, "Show this help", 0 },
	{},
};

static const char doc[] =
"Count deferred splits and per-PTE vs per-batch TLB flushes during reclaim.\n"
"\n"
"USAGE: unmapstat [-i SEC] [-c N] [-p PID] [-j] [-v]\n"
"       unmapstat --pin [-p PID] | --dump [-j] | --unpin\n"
"\n"
"EXAMPLES:\n"
"    unmapstat              # table every second, summary on Ctrl-C\n"
"    unmapstat -i 5 -c 3 -j # three 5-second intervals as JSON\n"
"    unmapstat --pin        # leave counters running; then:\n"
"    bpftool map dump pinned " US_PIN_DIR "/counters\n";

struct parse_state {
	struct us_env *env;
	char *err;
	size_t errlen;
	int modes;
};

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct parse_state *ps = state->input;
	struct us_env *env = ps->env;
	unsigned long v;

	switch (key) {
	case 'i':
		if (parse_uint(arg, 86400, &v) || v == 0) {
			snprintf(ps->err, ps->errlen,
				 "invalid interval '%s': want 1..86400 seconds", arg);
			return EINVAL;
		}
		env->interval = v;
		break;
	case 'c':
		if (parse_uint(arg, UINT_MAX, &v) || v == 0) {
			snprintf(ps->err, ps->errlen,
				 "invalid count '%s': want a positive number", arg);
			return EINVAL;
		}
		env->count = v;
		break;
	case 'p':
		if (parse_uint(arg, INT_MAX, &v) || v == 0) {
			snprintf(ps->err, ps->errlen, "invalid pid '%s'", arg);
			return EINVAL;
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
		env->mode = US_MODE_PIN;
		ps->modes++;
		break;
	case OPT_DUMP:
		env->mode = US_MODE_DUMP;
		ps->modes++;
		break;
	case OPT_UNPIN:
		env->mode = US_MODE_UNPIN;
		ps->modes++;
		break;
	case OPT_PIN_DIR:
		if (!arg || !*arg) {
			snprintf(ps->err, ps->errlen, "empty --pin-dir");
			return EINVAL;
		}
		env->pin_dir = arg;
		break;
	case 'h':
		argp_help(state->root_argp, stdout, ARGP_HELP_STD_HELP, state->name);
		return ECANCELED;
	case ARGP_KEY_ARG:
		snprintf(ps->err, ps->errlen, "unexpected argument '%s'", arg);
		return EINVAL;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

int us_parse_args(int argc, char **argv, struct us_env *env, char *err,
		  size_t errlen)
{
	static const struct argp argp = { .options = opts, .parser = parse_opt, .doc = doc };
	struct parse_state ps = { .env = env, .err = err, .errlen = errlen };
	int idx, ret;

	memset(env, 0, sizeof(*env));
	env->interval = 1;
	env->pin_dir = US_PIN_DIR;
	err[0] = 0;
	ret = argp_parse(&argp, argc, argv, ARGP_NO_EXIT | ARGP_NO_HELP | ARGP_SILENT,
			 &idx, &ps);
	if (ret == ECANCELED)
		return 1;
	if (ret) {
		if (!err[0])
			snprintf(err, errlen, "invalid option (try --help)");
		return -1;
	}
	if (ps.modes > 1) {
		snprintf(err, errlen, "--pin, --dump and --unpin exclude each other");
		return -1;
	}
	if (env->mode != US_MODE_LIVE && (env->count || env->interval != 1)) {
		snprintf(err, errlen, "-i and -c only apply to live mode");
		return -1;
	}
	if ((env->mode == US_MODE_DUMP || env->mode == US_MODE_UNPIN) && env->pid) {
		snprintf(err, errlen, "-p is set when pinning, not with --dump/--unpin");
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

static void print_flush_row(FILE *f, const char *name, const struct us_flushes *fl)
{
	fprintf(f, "  %-8s %10llu %10llu %12llu %8llu %10llu %12llu\n", name,
		(unsigned long long)fl->single, (unsigned long long)fl->range,
		(unsigned long long)fl->range_pages, (unsigned long long)fl->full,
		(unsigned long long)fl->deferred,
		(unsigned long long)fl->ptep_clear_flush);
}

void us_print_table(FILE *f, const struct us_counters *c, const char *title)
{
	int r;

	if (title)
		fprintf(f, "%s\n", title);
	fprintf(f, "reclaim passes (shrink_folio_list): %llu\n",
		(unsigned long long)c->reclaim_calls);
	fprintf(f, "deferred splits, partially mapped:  %llu",
		(unsigned long long)sum_array(c->split_partial, US_ORDERS));
	print_orders(f, c->split_partial);
	fprintf(f, "deferred splits, other (THP fault): %llu",
		(unsigned long long)sum_array(c->split_other, US_ORDERS));
	print_orders(f, c->split_other);
	fprintf(f, "TLB flushes  %10s %10s %12s %8s %10s %12s\n", "1-page", "range",
		"range-pages", "full", "deferred", "per-PTE-clr");
	print_flush_row(f, "reclaim", &c->reclaim);
	print_flush_row(f, "other", &c->other);
	fprintf(f, "tlb:tlb_flush events (pages), reclaim:");
	for (r = 0; r < US_TLB_REASONS; r++)
		if (c->reclaim.tlb_events[r])
			fprintf(f, " %s=%llu(%llu)", tlb_reason_names[r],
				(unsigned long long)c->reclaim.tlb_events[r],
				(unsigned long long)c->reclaim.tlb_pages[r]);
	fprintf(f, "\ntlb:tlb_flush events (pages), other:  ");
	for (r = 0; r < US_TLB_REASONS; r++)
		if (c->other.tlb_events[r])
			fprintf(f, " %s=%llu(%llu)", tlb_reason_names[r],
				(unsigned long long)c->other.tlb_events[r],
				(unsigned long long)c->other.tlb_pages[r]);
	fprintf(f, "\nbatch_unmap batches: %llu (%llu pages):",
		(unsigned long long)sum_array(c->batches, US_OUTCOMES),
		(unsigned long long)c->batch_pages);
	for (r = 0; r < US_OUTCOMES; r++)
		fprintf(f, " %s=%llu", outcome_names[r], (unsigned long long)c->batches[r]);
	fprintf(f, "; flush");
	for (r = 0; r < US_FLUSHES; r++)
		fprintf(f, " %s=%llu", flush_names[r], (unsigned long long)c->batch_flush[r]);
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

/* --- JSON ------------------------------------------------------------------------ */

static void json_array(FILE *f, const char *key, const __u64 *a, int n)
{
	int i;

	fprintf(f, "\"%s\":[", key);
	for (i = 0; i < n; i++)
		fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)a[i]);
	fprintf(f, "]");
}

static void json_flushes(FILE *f, const char *key, const struct us_flushes *fl)
{
	fprintf(f, "\"%s\":{\"single\":%llu,\"range\":%llu,\"range_pages\":%llu,"
		"\"full\":%llu,\"deferred\":%llu,\"ptep_clear_flush\":%llu,", key,
		(unsigned long long)fl->single, (unsigned long long)fl->range,
		(unsigned long long)fl->range_pages, (unsigned long long)fl->full,
		(unsigned long long)fl->deferred,
		(unsigned long long)fl->ptep_clear_flush);
	json_array(f, "tlb_events", fl->tlb_events, US_TLB_REASONS);
	fprintf(f, ",");
	json_array(f, "tlb_pages", fl->tlb_pages, US_TLB_REASONS);
	fprintf(f, "}");
}

void us_print_json(FILE *f, const struct us_counters *c, double seconds,
		   const struct us_attach *att, int natt)
{
	int i;

	fprintf(f, "{");
	if (seconds >= 0)
		fprintf(f, "\"seconds\":%.3f,", seconds);
	fprintf(f, "\"counters\":{\"reclaim_calls\":%llu,",
		(unsigned long long)c->reclaim_calls);
	json_array(f, "split_partial", c->split_partial, US_ORDERS);
	fprintf(f, ",");
	json_array(f, "split_other", c->split_other, US_ORDERS);
	fprintf(f, ",");
	json_flushes(f, "reclaim", &c->reclaim);
	fprintf(f, ",");
	json_flushes(f, "other", &c->other);
	fprintf(f, ",");
	json_array(f, "batches", c->batches, US_OUTCOMES);
	fprintf(f, ",\"batch_pages\":%llu,", (unsigned long long)c->batch_pages);
	json_array(f, "batch_flush", c->batch_flush, US_FLUSHES);
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
