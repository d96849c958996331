// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests for unmapstat's argument parsing and output formatting.
 * Prints "ok - name" / "not ok - name" lines (tests/run.sh numbers them).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "unmapstat_fmt.h"

static int failed;

static void result(int pass, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", pass ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass)
		failed++;
}

/* Parse a space-separated command line. */
static int parse(const char *line, struct us_env *env, char *err, size_t errlen)
{
	char buf[256], *argv[32], *tok, *save = NULL;
	int argc = 0;

	snprintf(buf, sizeof(buf), "unmapstat %s", line);
	for (tok = strtok_r(buf, " ", &save); tok && argc < 31;
	     tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	return us_parse_args(argc, argv, env, err, errlen);
}

static void test_args(void)
{
	/* A bad command line, and what its error must name. */
	static const struct {
		const char *line;
		const char *says[2];
	} bad[] = {
		{ "-i 0", { "-i/--interval", "1..86400" } },
		{ "-i -1", { "-i/--interval", "'-1'" } },
		{ "-i abc", { "invalid interval 'abc'", "-i/--interval" } },
		{ "-i 99999999", { "-i/--interval", "1..86400" } },
		{ "-c 0", { "-c/--count", "positive" } },
		{ "-c x", { "invalid count 'x'", "-c/--count" } },
		{ "-p 0", { "-p/--pid", "process ID" } },
		{ "-p -5", { "-p/--pid", "'-5'" } },
		{ "-p 12a", { "-p/--pid", "'12a'" } },
		{ "--pin --dump", { "--pin and --dump", "exclude each other" } },
		{ "--dump --unpin", { "--dump and --unpin", "exclude each other" } },
		{ "--pin -i 5", { "-i/--interval", "--pin" } },
		{ "--pin -i 1", { "-i/--interval", "--pin" } },
		{ "--dump -c 2", { "-c/--count", "--dump" } },
		{ "--dump -p 1", { "-p/--pid", "--dump" } },
		{ "--unpin -j", { "-j/--json", "--unpin" } },
		{ "--unpin -v", { "-v/--verbose", "--unpin" } },
		{ "--pin -j", { "-j/--json", "--pin" } },
		{ "--pin 5", { "interval operand", "--pin" } },
		{ "--pin-dir /x", { "--pin-dir", "live mode" } },
		{ "--bogus", { "unknown option", "'--bogus'" } },
		{ "--bogus=1", { "unknown option", "'--bogus'" } },
		{ "-x", { "unknown option", "'-x'" } },
		{ "-jx", { "unknown option", "'-x'" } },
		{ "-i", { "-i/--interval", "needs an argument" } },
		{ "-j -c", { "-c/--count", "needs an argument" } },
		{ "--pin --pin-dir", { "--pin-dir", "needs an argument" } },
		{ "--json=yes", { "--json", "takes no argument" } },
		{ "--pi", { "ambiguous", "--pin-dir" } },
		{ "1 2 3", { "unexpected argument '3'", "[interval [count]]" } },
		{ "0", { "invalid interval '0'", "operand" } },
		{ "x", { "invalid interval 'x'", "operand" } },
		{ "1 0", { "invalid count '0'", "operand" } },
		{ "-i 2 3", { "interval is given twice", "'3'" } },
		{ "-c 2 3 4", { "count is given twice", "'4'" } },
		{ "--dump 5", { "interval operand", "--dump" } },
	};
	struct us_env env;
	char err[512];
	unsigned int i;
	int ret;

	ret = parse("", &env, err, sizeof(err));
	result(ret == 0 && env.mode == US_MODE_LIVE && env.interval == 1 &&
	       env.count == 0 && env.pid == 0 && !env.json &&
	       !strcmp(env.pin_dir, US_PIN_DIR), "args_defaults");

	ret = parse("-i 5 -c 3 -p 42 -j -v", &env, err, sizeof(err));
	result(ret == 0 && env.interval == 5 && env.count == 3 && env.pid == 42 &&
	       env.json && env.verbose, "args_live_options");
	ret = parse("--interval 5 --count 3 --pid 42 --json --verbose", &env, err,
		    sizeof(err));
	result(ret == 0 && env.interval == 5 && env.count == 3 && env.pid == 42 &&
	       env.json && env.verbose, "args_live_long_options");

	/* bcc's positional interval and count, options before or after. */
	ret = parse("5 3 -j", &env, err, sizeof(err));
	result(ret == 0 && env.interval == 5 && env.count == 3 && env.json,
	       "args_positional_interval_count");
	ret = parse("-j 2", &env, err, sizeof(err));
	result(ret == 0 && env.interval == 2 && env.count == 0,
	       "args_positional_interval_only");
	ret = parse("-c 4 7", &env, err, sizeof(err));
	result(ret == 0 && env.interval == 7 && env.count == 4,
	       "args_positional_interval_with_count_option");

	ret = parse("--pin -p 7", &env, err, sizeof(err));
	result(ret == 0 && env.mode == US_MODE_PIN && env.pid == 7, "args_pin");
	ret = parse("--pin -v --pin-dir /sys/fs/bpf/y", &env, err, sizeof(err));
	result(ret == 0 && env.mode == US_MODE_PIN && env.verbose &&
	       !strcmp(env.pin_dir, "/sys/fs/bpf/y"), "args_pin_verbose_dir");
	ret = parse("--dump -j", &env, err, sizeof(err));
	result(ret == 0 && env.mode == US_MODE_DUMP && env.json, "args_dump_json");
	ret = parse("--unpin --pin-dir /sys/fs/bpf/x", &env, err, sizeof(err));
	result(ret == 0 && env.mode == US_MODE_UNPIN &&
	       !strcmp(env.pin_dir, "/sys/fs/bpf/x"), "args_unpin_dir");
	ret = parse("--pin --pin", &env, err, sizeof(err));
	result(ret == 0 && env.mode == US_MODE_PIN, "args_same_mode_twice");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ret = parse(bad[i].line, &env, err, sizeof(err));
		result(ret == -1 && strstr(err, bad[i].says[0]) && strstr(err, bad[i].says[1]),
		       "args_reject '%s' (%s)", bad[i].line, err);
	}
}

static void test_sum_delta(void)
{
	struct us_counters percpu[3], sum, later, delta;

	memset(percpu, 0, sizeof(percpu));
	percpu[0].split_partial[4] = 5;
	percpu[2].split_partial[4] = 7;
	percpu[1].reclaim.single = 3;
	percpu[2].other.tlb_pages[5] = 11;
	percpu[0].batch_flush[2] = 1;
	/* The fields appended last, up to the struct's last __u64. */
	percpu[0].unmaps[US_KIND_FILE][4] = 2;
	percpu[1].unmaps[US_KIND_FILE][4] = 3;
	percpu[2].referenced[US_BU_KINDS - 1].pages = 16;
	percpu[1].referenced[US_BU_KINDS - 1].pages = 1;
	percpu[0].reclaim_ext.queued = 16;
	percpu[1].reclaim_ext.queued = 16;
	percpu[2].other_ext.contpte_unfolds = 4;
	percpu[0].other_ext.contpte_unfolds = 1;
	us_sum(&sum, percpu, 3);
	result(sum.split_partial[4] == 12 && sum.reclaim.single == 3 &&
	       sum.other.tlb_pages[5] == 11 && sum.batch_flush[2] == 1 &&
	       sum.unmaps[US_KIND_FILE][4] == 5 && sum.unmaps[US_KIND_ANON][4] == 0 &&
	       sum.referenced[US_BU_KINDS - 1].pages == 17 &&
	       sum.reclaim_ext.queued == 32 && sum.other_ext.contpte_unfolds == 5 &&
	       sum.reclaim_calls == 0, "sum_over_cpus");

	later = sum;
	later.split_partial[4] += 4;
	later.batch_pages += 16;
	later.batch_kinds[BU_KIND_LAZYFREE].batches += 1;
	later.referenced[US_BU_KINDS - 1].young += 2;
	later.other_ext.contpte_unfolds += 3;
	us_delta(&delta, &later, &sum);
	result(delta.split_partial[4] == 4 && delta.batch_pages == 16 &&
	       delta.other_ext.contpte_unfolds == 3 && delta.reclaim_ext.queued == 0 &&
	       delta.batch_kinds[BU_KIND_LAZYFREE].batches == 1 &&
	       delta.referenced[US_BU_KINDS - 1].young == 2 &&
	       delta.unmaps[US_KIND_FILE][4] == 0 &&
	       delta.reclaim.single == 0, "delta_between_reads");
}

static char *capture(void (*fn)(FILE *, const struct us_counters *),
		     const struct us_counters *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fn(f, c);
	fclose(f);
	return buf;
}

static void json_plain(FILE *f, const struct us_counters *c)
{
	us_print_json(f, c, NULL, -1, 0, NULL, 0);
}

static void table_plain(FILE *f, const struct us_counters *c)
{
	us_print_table(f, c, NULL, "title");
}

static void test_output(void)
{
	struct us_counters c;
	struct us_attach att[2] = {
		{ "deferred_split_folio", "fentry", 0 },
		{ "batch_unmap:batch", NULL, -2 },
	};
	char *s, *buf = NULL;
	size_t len = 0;
	FILE *f;

	memset(&c, 0, sizeof(c));
	c.reclaim_calls = 2;
	c.split_partial[4] = 2048;
	c.reclaim.single = 12;
	c.reclaim.range = 3;
	c.reclaim.range_pages = 48;
	c.other.tlb_events[1] = 9;
	c.batches[0] = 64;
	c.batch_pages = 1024;
	c.unmaps[US_KIND_LAZYFREE][4] = 64;
	c.unmaps[US_KIND_FILE][0] = 7;
	c.unmaps[US_KIND_FILE][2] = 5;
	c.unmaps[US_KIND_FILE][9] = 1;
	c.unmaps[US_KIND_SHMEM][9] = 3;
	c.batch_kinds[BU_KIND_LAZYFREE].batches = 64;
	c.batch_kinds[BU_KIND_LAZYFREE].pages = 1024;
	c.batch_kinds[BU_KIND_FILE].batches = 6;
	c.batch_kinds[BU_KIND_FILE].pages = 96;
	c.referenced[BU_KIND_FILE].runs = 10;
	c.referenced[BU_KIND_FILE].young = 4;
	c.referenced[BU_KIND_FILE].pages = 160;

	s = capture(json_plain, &c);
	result(!strncmp(s, "{\"schema\":2,\"counters\":{", 24) &&
	       strstr(s, "\"split_partial\":{\"order0\":0,\"order1\":0,\"order2\":0,"
		      "\"order3\":0,\"order4\":2048,\"order5\":0,") &&
	       strstr(s, "\"order9\":0}") &&
	       strstr(s, "\"reclaim\":{\"single\":12,\"range\":3,\"range_pages\":48,") &&
	       strstr(s, "\"other\":{") &&
	       strstr(s, "\"tlb_events\":{\"task_switch\":0,\"remote_shootdown\":9,"
		      "\"local_shootdown\":0,\"local_mm_shootdown\":0,"
		      "\"remote_send_ipi\":0,\"reason5\":0}") &&
	       strstr(s, "\"batches\":{\"discard\":64,\"restore_dirty\":0,"
		      "\"restore_refs\":0,\"unmap\":0}") && strstr(s, "\"batch_pages\":1024") &&
	       strstr(s, "\"batch_flush\":{\"deferred\":0,\"range\":0,\"none\":0}") &&
	       !strstr(s, "\"seconds\"") && !strstr(s, "\"pid\"") && !strchr(s, '[') &&
	       s[strlen(s) - 2] == '}', "json_has_schema_and_only_named_fields");
	free(s);

	/* The fields by folio kind, each array an object (docs/unmapstat.md). */
	s = capture(json_plain, &c);
	result(strstr(s, "\"batch_flush\":{\"deferred\":0,\"range\":0,\"none\":0},"
		      "\"unmaps\":{\"anon\":{\"order0\":0,") &&
	       strstr(s, "\"lazyfree\":{\"order0\":0,\"order1\":0,\"order2\":0,"
		      "\"order3\":0,\"order4\":64,\"order5\":0,") &&
	       strstr(s, "\"file\":{\"order0\":7,\"order1\":0,\"order2\":5,\"order3\":0,"
		      "\"order4\":0,\"order5\":0,\"order6\":0,\"order7\":0,\"order8\":0,"
		      "\"order9\":1},\"shmem\":{\"order0\":0,") &&
	       strstr(s, "\"order8\":0,\"order9\":3}},\"batch_kinds\":{") &&
	       strstr(s, "\"batch_kinds\":{\"lazyfree\":{\"batches\":64,\"pages\":1024},"
		      "\"file\":{\"batches\":6,\"pages\":96}},") &&
	       strstr(s, "\"referenced\":{\"lazyfree\":{\"runs\":0,\"young\":0,\"pages\":0},"
		      "\"file\":{\"runs\":10,\"young\":4,\"pages\":160}}},"
		      "\"unavailable\":{}}\n"),
	       "json_counts_by_folio_kind");
	free(s);

	f = open_memstream(&buf, &len);
	us_print_json(f, &c, NULL, 1.5, 42, att, 2);
	fclose(f);
	result(strstr(buf, "\"seconds\":1.500") && strstr(buf, "\"pid\":42,") &&
	       strstr(buf, "{\"what\":\"deferred_split_folio\",\"how\":\"fentry\"}") &&
	       strstr(buf, "{\"what\":\"batch_unmap:batch\",\"how\":null}"),
	       "json_reports_attach_points");
	free(buf);

	s = capture(table_plain, &c);
	result(strstr(s, "title\n") && strstr(s, "partially mapped:  2048  (64K:2048)") &&
	       strstr(s, "reclaim") && strstr(s, "discard=64"),
	       "table_shows_splits_by_size_and_batches");
	/* Only the orders that occurred, aligned with the lines above. */
	result(strstr(s, "\nreclaim unmaps, anon folios:        0\n") &&
	       strstr(s, "\nreclaim unmaps, lazyfree folios:    64  (64K:64)\n") &&
	       strstr(s, "\nreclaim unmaps, file folios:        13  (4K:7 16K:5 2048K:1)\n") &&
	       strstr(s, "\nreclaim unmaps, shmem folios:       3  (2048K:3)\n") &&
	       strstr(s, "\nbatch_unmap batches by kind (pages): lazyfree=64(1024) file=6(96)\n") &&
	       strstr(s, "\nbatch_unmap referenced runs (young, pages): lazyfree=0(0,0) "
		      "file=10(4,160)\n"),
	       "table_shows_counts_by_folio_kind");
	free(s);

	buf = NULL;
	f = open_memstream(&buf, &len);
	us_print_attach(f, att, 2);
	fclose(f);
	result(strstr(buf, "fentry") && strstr(buf, "not attached (No such file or directory)"),
	       "attach_report_names_missing_points");
	free(buf);
}

/* Capture one output function's text. */
#define CAPTURE(buf, call)						\
	do {								\
		size_t len_ = 0;					\
		FILE *f = open_memstream(&(buf), &len_);		\
									\
		call;							\
		fclose(f);						\
	} while (0)

#define WHY_MM_RANGE	"no flush_tlb_mm_range() in this kernel: arm64 flushes the TLB inline"
#define WHY_TLB_EVENTS	"no tlb:tlb_flush tracepoint: it is x86's"
#define WHY_QUEUED	"not counted where flush_tlb_mm_range() is (x86)"
#define WHY_CONTPTE	"no contpte on x86"

/*
 * A counter the kernel cannot provide is n/a with its reason (text) or
 * null with its reason under "unavailable" (JSON), never 0; the others
 * are printed as ever.
 */
static void test_na(void)
{
	struct us_na arm64 = { 0 }, x86 = { 0 }, broken = { 0 };
	struct us_counters c;
	char *s = NULL;

	/* arm64: the flushes are inline; the queue and the unfolds count. */
	snprintf(arm64.why[US_F_MM_RANGE], US_NA_LEN, "%s", WHY_MM_RANGE);
	snprintf(arm64.why[US_F_TLB_EVENTS], US_NA_LEN, "%s", WHY_TLB_EVENTS);
	/* x86: no contpte; its flushes are counted where they happen. */
	snprintf(x86.why[US_F_QUEUED], US_NA_LEN, "%s", WHY_QUEUED);
	snprintf(x86.why[US_F_QUEUED_PAGES], US_NA_LEN, "%s", WHY_QUEUED);
	snprintf(x86.why[US_F_QUEUED_TLBI], US_NA_LEN, "%s", WHY_QUEUED);
	snprintf(x86.why[US_F_CONTPTE], US_NA_LEN, "%s", WHY_CONTPTE);
	/* Attach failures, and a reason JSON must escape. */
	snprintf(broken.why[US_F_SPLITS], US_NA_LEN, "deferred_split_folio not attached (x)");
	snprintf(broken.why[US_F_UNMAPS], US_NA_LEN, "a \"quoted\" \\ reason");
	snprintf(broken.why[US_F_RECLAIM_CALLS], US_NA_LEN, "shrink_folio_list gone");

	/* 64 lazyfree 64K folios reclaimed on arm64, stock path. */
	memset(&c, 0, sizeof(c));
	c.reclaim_calls = 1;
	c.split_partial[4] = 64;
	c.unmaps[US_KIND_LAZYFREE][4] = 64;
	c.reclaim.single = 99;	/* what the kernel cannot have counted: never shown */
	c.reclaim.deferred = 5;
	c.other.ptep_clear_flush = 14;
	c.reclaim_ext.queued = 1024;
	c.reclaim_ext.queued_pages = 1024;
	c.reclaim_ext.queued_tlbi_est = 1024;
	c.reclaim_ext.contpte_unfolds = 64;
	c.other_ext.contpte_unfolds = 3;

	CAPTURE(s, us_print_json(f, &c, &arm64, -1, 0, NULL, 0));
	result(strstr(s, "\"reclaim\":{\"single\":null,\"range\":null,\"range_pages\":null,"
		      "\"full\":null,\"deferred\":5,\"ptep_clear_flush\":0,\"tlb_events\":null,"
		      "\"tlb_pages\":null,\"queued\":1024,\"queued_pages\":1024,"
		      "\"queued_tlbi_est\":1024,\"contpte_unfolds\":64}") &&
	       strstr(s, "\"other\":{\"single\":null,") &&
	       strstr(s, "\"ptep_clear_flush\":14,\"tlb_events\":null,") &&
	       strstr(s, "\"contpte_unfolds\":3},\"batches\":{") &&
	       strstr(s, "}},\"unavailable\":{\"single\":\"" WHY_MM_RANGE "\",\"range\":\""
		      WHY_MM_RANGE "\",\"range_pages\":\"" WHY_MM_RANGE "\",\"full\":\""
		      WHY_MM_RANGE "\",\"tlb_events\":\"" WHY_TLB_EVENTS "\",\"tlb_pages\":\""
		      WHY_TLB_EVENTS "\"}}\n") && !strstr(s, "99"),
	       "json_na_counters_are_null_with_a_reason_arm64");
	free(s);

	CAPTURE(s, us_print_json(f, &c, &x86, -1, 0, NULL, 0));
	result(strstr(s, "\"reclaim\":{\"single\":99,\"range\":0,\"range_pages\":0,"
		      "\"full\":0,\"deferred\":5,\"ptep_clear_flush\":0,\"tlb_events\":{") &&
	       strstr(s, "\"queued\":null,\"queued_pages\":null,\"queued_tlbi_est\":null,"
		      "\"contpte_unfolds\":null}") &&
	       strstr(s, "\"unavailable\":{\"queued\":\"" WHY_QUEUED "\",\"queued_pages\":\""
		      WHY_QUEUED "\",\"queued_tlbi_est\":\"" WHY_QUEUED "\",\"contpte_unfolds\":\""
		      WHY_CONTPTE "\"}}\n") && !strstr(s, "1024"),
	       "json_na_counters_are_null_with_a_reason_x86");
	free(s);

	CAPTURE(s, us_print_json(f, &c, &broken, -1, 0, NULL, 0));
	result(strstr(s, "\"counters\":{\"reclaim_calls\":null,\"split_partial\":null,"
		      "\"split_other\":null,\"reclaim\":{") &&
	       strstr(s, "\"unmaps\":null,\"batch_kinds\":{") &&
	       strstr(s, "\"unavailable\":{\"reclaim_calls\":\"shrink_folio_list gone\","
		      "\"split_partial\":\"deferred_split_folio not attached (x)\","
		      "\"split_other\":\"deferred_split_folio not attached (x)\","
		      "\"unmaps\":\"a \\\"quoted\\\" \\\\ reason\"}}\n"),
	       "json_na_whole_groups_and_escaped_reasons");
	free(s);

	CAPTURE(s, us_print_table(f, &c, &arm64, NULL));
	result(strstr(s, "\nTLB flushes      1-page      range  range-pages     full   deferred"
		      "  per-PTE-clr\n"
		      "  reclaim           n/a        n/a          n/a      n/a          5"
		      "            0\n"
		      "  other             n/a        n/a          n/a      n/a          0"
		      "           14\n"
		      "  1-page, range, range-pages, full: n/a (" WHY_MM_RANGE ")\n"
		      "tlb:tlb_flush events (pages): n/a (" WHY_TLB_EVENTS ")\n"
		      "TLB queue        queued queued-pages   TLBI-est contpte-unfolds\n"
		      "  reclaim          1024         1024       1024              64\n"
		      "  other               0            0          0               3\n"
		      "per reclaim unmap (64): deferred=0.08 per-PTE-clr=0.00 queued=16.00 "
		      "TLBI-est=16.00 contpte-unfolds=1.00\nbatch_unmap batches: ") &&
	       !strstr(s, "99"), "table_na_columns_and_reasons_arm64");
	free(s);

	CAPTURE(s, us_print_table(f, &c, &x86, NULL));
	result(strstr(s, "\n  reclaim            99          0            0        0          5"
		      "            0\n") &&
	       strstr(s, "\ntlb:tlb_flush events (pages), reclaim:\n"
		      "tlb:tlb_flush events (pages), other:  \n"
		      "TLB queue (queued, queued-pages, TLBI-est): n/a (" WHY_QUEUED ")\n"
		      "TLB queue (contpte-unfolds): n/a (" WHY_CONTPTE ")\n"
		      "per reclaim unmap (64): 1-page=1.55 range=0.00 full=0.00 deferred=0.08 "
		      "per-PTE-clr=0.00\n") && !strstr(s, "1024"),
	       "table_na_tables_and_reasons_x86");
	free(s);

	CAPTURE(s, us_print_table(f, &c, &broken, NULL));
	result(strstr(s, "reclaim passes (shrink_folio_list): n/a (shrink_folio_list gone)\n"
		      "deferred splits, partially mapped:  n/a (deferred_split_folio not "
		      "attached (x))\n"
		      "reclaim unmaps:                     n/a (a \"quoted\" \\ reason)\n"
		      "TLB flushes") &&
	       !strstr(s, "per reclaim unmap"), "table_na_whole_groups");
	free(s);

	CAPTURE(s, us_print_na(f, &arm64));
	result(!strcmp(s, "counters n/a on this kernel:\n"
		       "  single, range, range_pages, full: " WHY_MM_RANGE "\n"
		       "  tlb_events, tlb_pages: " WHY_TLB_EVENTS "\n"),
	       "na_report_names_counters_and_reasons");
	free(s);
	CAPTURE(s, us_print_na(f, NULL); us_print_na(f, &(struct us_na){ 0 }));
	result(!strcmp(s, ""), "na_report_empty_when_all_count");
	free(s);
	result(us_na_why(NULL, US_F_CONTPTE) == NULL && us_na_why(&x86, US_F_MM_RANGE) == NULL &&
	       !strcmp(us_na_why(&x86, US_F_CONTPTE), WHY_CONTPTE) &&
	       us_na_why(&x86, US_FIELDS) == NULL && us_na_why(&x86, -1) == NULL,
	       "na_why_lookup");
}

int main(void)
{
	test_args();
	test_sum_delta();
	test_output();
	test_na();
	return failed ? 1 : 0;
}
