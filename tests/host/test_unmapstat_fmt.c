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
	static const char *const bad[] = {
		"-i 0", "-i -1", "-i abc", "-i 99999999", "-c 0", "-c x",
		"-p 0", "-p -5", "-p 12a", "--pin --dump", "--dump --unpin",
		"--pin -i 5", "--dump -c 2", "--dump -p 1", "extra", "--bogus",
	};
	struct us_env env;
	char err[256];
	unsigned int i;
	int ret;

	ret = parse("", &env, err, sizeof(err));
	result(ret == 0 && env.mode == US_MODE_LIVE && env.interval == 1 &&
	       env.count == 0 && env.pid == 0 && !env.json &&
	       !strcmp(env.pin_dir, US_PIN_DIR), "args_defaults");

	ret = parse("-i 5 -c 3 -p 42 -j -v", &env, err, sizeof(err));
	result(ret == 0 && env.interval == 5 && env.count == 3 && env.pid == 42 &&
	       env.json && env.verbose, "args_live_options");

	ret = parse("--pin -p 7", &env, err, sizeof(err));
	result(ret == 0 && env.mode == US_MODE_PIN && env.pid == 7, "args_pin");
	ret = parse("--dump -j", &env, err, sizeof(err));
	result(ret == 0 && env.mode == US_MODE_DUMP && env.json, "args_dump_json");
	ret = parse("--unpin --pin-dir /sys/fs/bpf/x", &env, err, sizeof(err));
	result(ret == 0 && env.mode == US_MODE_UNPIN &&
	       !strcmp(env.pin_dir, "/sys/fs/bpf/x"), "args_unpin_dir");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ret = parse(bad[i], &env, err, sizeof(err));
		result(ret == -1 && err[0], "args_reject '%s' (%s)", bad[i], err);
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
	us_sum(&sum, percpu, 3);
	result(sum.split_partial[4] == 12 && sum.reclaim.single == 3 &&
	       sum.other.tlb_pages[5] == 11 && sum.batch_flush[2] == 1 &&
	       sum.reclaim_calls == 0, "sum_over_cpus");

	later = sum;
	later.split_partial[4] += 4;
	later.batch_pages += 16;
	us_delta(&delta, &later, &sum);
	result(delta.split_partial[4] == 4 && delta.batch_pages == 16 &&
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
	us_print_json(f, c, -1, NULL, 0);
}

static void table_plain(FILE *f, const struct us_counters *c)
{
	us_print_table(f, c, "title");
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

	s = capture(json_plain, &c);
	result(strstr(s, "\"split_partial\":[0,0,0,0,2048,0,0,0,0,0]") &&
	       strstr(s, "\"reclaim\":{\"single\":12,\"range\":3,\"range_pages\":48,") &&
	       strstr(s, "\"other\":{") && strstr(s, "\"tlb_events\":[0,9,0,0,0,0]") &&
	       strstr(s, "\"batches\":[64,0,0]") && strstr(s, "\"batch_pages\":1024") &&
	       !strstr(s, "\"seconds\"") && s[0] == '{' && s[strlen(s) - 2] == '}',
	       "json_has_named_fields");
	free(s);

	f = open_memstream(&buf, &len);
	us_print_json(f, &c, 1.5, att, 2);
	fclose(f);
	result(strstr(buf, "\"seconds\":1.500") &&
	       strstr(buf, "{\"what\":\"deferred_split_folio\",\"how\":\"fentry\"}") &&
	       strstr(buf, "{\"what\":\"batch_unmap:batch\",\"how\":null}"),
	       "json_reports_attach_points");
	free(buf);

	s = capture(table_plain, &c);
	result(strstr(s, "title\n") && strstr(s, "partially mapped:  2048  (64K:2048)") &&
	       strstr(s, "reclaim") && strstr(s, "discard=64"),
	       "table_shows_splits_by_size_and_batches");
	free(s);

	buf = NULL;
	f = open_memstream(&buf, &len);
	us_print_attach(f, att, 2);
	fclose(f);
	result(strstr(buf, "fentry") && strstr(buf, "not attached (No such file or directory)"),
	       "attach_report_names_missing_points");
	free(buf);
}

int main(void)
{
	test_args();
	test_sum_delta();
	test_output();
	return failed ? 1 : 0;
}
