/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Command-line conventions shared by unmapstat and lazyfree-bench (bcc's
 * libbpf-tools and perf): an argp option table gives the --help text
 * (USAGE line, description, EXAMPLES, option list), getopt_long parses
 * with it, and every error names the option and the reason in a buffer
 * (so that host unit tests can check it); the tools print it to stderr
 * and exit 2.  -h/--help, -V/--version and the letters the two tools
 * share mean the same in both.
 */
#ifndef BU_CLI_H
#define BU_CLI_H

#include <argp.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "bu_version.h"

#define CLI_MAX_OPTS	32

/* Exit statuses shared by both tools. */
#define CLI_EXIT_RUNTIME	1	/* could not do it (rights, kernel, syscall) */
#define CLI_EXIT_USAGE		2	/* bad command line */

/* An option that was renamed or removed, and what to use instead. */
struct cli_hint {
	const char *opt;	/* "-c" or "--format" */
	const char *hint;	/* "the CPU is -C/--cpu now" */
};

struct cli {
	const char *prog;
	const struct argp *argp;	/* options and help text */
	const struct cli_hint *hints;	/* NULL-terminated, or NULL */
	char *err;
	size_t errlen;
	struct option lopts[CLI_MAX_OPTS + 1];
	char shorts[3 * CLI_MAX_OPTS + 2];
};

/* Prepare to parse (resets getopt's state: parsing can run again). */
void cli_init(struct cli *c, const char *prog, const struct argp *argp,
	      const struct cli_hint *hints, char *err, size_t errlen);
/*
 * The next option's key (optarg holds its argument), -1 when there are no
 * more (operands start at optind), or '?' on an error, described in err.
 */
int cli_next(struct cli *c, int argc, char **argv);
/* "-i/--interval", "--pin" or "-x": how to name an option in a message. */
const char *cli_name(const struct cli *c, int key, char *buf, size_t len);
/* Describe an error in err; returns '?' (the error key of cli_next()). */
int cli_fail(struct cli *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The -h/--help and -V/--version entries of every tool's option table. */
#define CLI_OPTS_COMMON							\
	{ "help", 'h', NULL, 0, "Show this help", -1 },			\
	{ "version", 'V', NULL, 0, "Print the version", -1 }

/* -h or -V: print the help or the version to stdout (the tool exits 0). */
void cli_common(const struct cli *c, int key);
/*
 * -l TEXT: a label written as is into JSON and CSV, so without quotes,
 * commas, backslashes or newlines.  0, or -1 with the error described.
 */
int cli_label(struct cli *c, const char *name, const char *arg, const char **out);
/* The --help text, argp style. */
void cli_help(const struct cli *c, FILE *f);
/* "<prog> <BU_VERSION>" */
void cli_version(const struct cli *c, FILE *f);
/* Print "<prog>: <err>" and the --help hint to stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *prog, const char *err);

/*
 * Parse a size: digits with an optional K, M or G suffix (binary; a
 * trailing B is allowed).  On error returns -1 and says why in @why.
 */
int cli_parse_size(const char *s, unsigned long long *out, char *why, size_t len);
/* Parse a decimal number in [min, max]; -1 if it is not one. */
int cli_parse_ulong(const char *s, unsigned long min, unsigned long max,
		    unsigned long *out);

/*
 * Does this process have capability @cap in its effective set?  capget(2)
 * directly: no libcap dependency.  -1 if capget fails.
 */
int cli_has_cap(int cap);
/* "CAP_BPF", "CAP_PERFMON", "CAP_SYS_ADMIN", ... */
const char *cli_cap_name(int cap);

#endif /* BU_CLI_H */
