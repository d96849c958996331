/* SPDX-License-Identifier: GPL-2.0 */
/*
 * unmapstat: argument parsing and output formatting, kept apart from the
 * BPF loading so that host unit tests can exercise them.
 */
#ifndef UNMAPSTAT_FMT_H
#define UNMAPSTAT_FMT_H

#include <stdbool.h>
#include <stdio.h>
#include <linux/types.h>

#include "unmapstat.h"

#define US_PIN_DIR	"/sys/fs/bpf/unmapstat"
/*
 * Bumped when a JSON field is renamed, removed or changes meaning.  2: a
 * counter this kernel cannot provide is null, with its reason in
 * "unavailable".
 */
#define US_JSON_SCHEMA	2

enum us_mode {
	US_MODE_LIVE = 0,	/* attach, print per interval, summary on exit */
	US_MODE_PIN,		/* attach, pin maps and links, exit */
	US_MODE_DUMP,		/* read the pinned counters */
	US_MODE_UNPIN,		/* remove the pinned counters and programs */
};

struct us_env {
	enum us_mode mode;
	unsigned int interval;	/* seconds */
	unsigned int count;	/* intervals, 0 = until interrupted */
	int pid;		/* 0 = all processes */
	bool json;
	bool verbose;
	const char *pin_dir;
};

/*
 * Parse the command line into @env.  Returns 0, 1 if --help or --version
 * was printed (exit 0), or -1 on error (message in @err, naming the option
 * and the reason: print it and exit 2).
 */
int us_parse_args(int argc, char **argv, struct us_env *env, char *err,
		  size_t errlen);

/* One attach point's state, for reports. */
struct us_attach {
	const char *what;	/* kernel symbol or tracepoint */
	const char *how;	/* "fentry", "kprobe", ... or NULL if missing */
	int err;		/* why it is missing */
};

void us_sum(struct us_counters *out, const struct us_counters *percpu, int ncpu);
void us_delta(struct us_counters *out, const struct us_counters *now,
	      const struct us_counters *before);
/* Why counter @field (enum us_field) is n/a, or NULL if it counts (@na NULL: all do). */
const char *us_na_why(const struct us_na *na, int field);
/* The table; a counter @na names prints as n/a with its reason. */
void us_print_table(FILE *f, const struct us_counters *c, const struct us_na *na,
		    const char *title);
/*
 * One JSON object on one line (schema in docs/unmapstat.md): a counter @na
 * names is null, its reason under "unavailable"; @seconds < 0 leaves
 * "seconds" out (--dump), @pid 0 leaves "pid" out, @att the attach points
 * (the summary).
 */
void us_print_json(FILE *f, const struct us_counters *c, const struct us_na *na,
		   double seconds, int pid, const struct us_attach *att, int natt);
void us_print_attach(FILE *f, const struct us_attach *att, int natt);
/* The counters @na names, with their reasons (nothing if none). */
void us_print_na(FILE *f, const struct us_na *na);

#endif /* UNMAPSTAT_FMT_H */
