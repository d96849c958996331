// SPDX-License-Identifier: GPL-2.0
/*
 * Command-line conventions shared by unmapstat and lazyfree-bench.
 *
 * Why not argp_parse() as libbpf-tools do: with its own error reporting
 * argp prints getopt's message itself and exits (64), and with
 * ARGP_NO_ERRS it only says that something was wrong, not what (the
 * getopt state that knows is private to argp).  So the argp table is kept
 * for the help text and getopt_long() parses, with ':' leading the short
 * options so that a missing argument is told apart from an unknown option.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/capability.h>

#include "cli.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON	38
#endif
#ifndef CAP_BPF
#define CAP_BPF		39
#endif

/* An argp entry that is an option (not a group header or the end). */
static bool is_option(const struct argp_option *o)
{
	return (o->name || o->key) && !(o->flags & OPTION_DOC);
}

static bool is_short(int key)
{
	return key > 0 && key < 128 && isalnum(key);
}

static const struct argp_option *find_key(const struct cli *c, int key)
{
	const struct argp_option *o;

	for (o = c->argp->options; o->name || o->key || o->doc; o++)
		if (is_option(o) && o->key == key)
			return o;
	return NULL;
}

void cli_init(struct cli *c, const char *prog, const struct argp *argp,
	      const struct cli_hint *hints, char *err, size_t errlen)
{
	const struct argp_option *o;
	char *s = c->shorts;
	int n = 0;

	c->prog = prog;
	c->argp = argp;
	c->hints = hints;
	c->err = err;
	c->errlen = errlen;
	err[0] = 0;
	*s++ = ':';		/* ':' for a missing argument, '?' for the rest */
	for (o = argp->options; o->name || o->key || o->doc; o++) {
		if (!is_option(o) || n == CLI_MAX_OPTS)
			continue;
		if (is_short(o->key)) {
			*s++ = o->key;
			if (o->arg)
				*s++ = ':';
		}
		if (o->name)
			c->lopts[n++] = (struct option){ o->name,
				o->arg ? required_argument : no_argument, NULL, o->key };
	}
	*s = 0;
	c->lopts[n] = (struct option){ 0 };
	/* 0, not 1: also forgets the state of an earlier parse (unit tests). */
	optind = 0;
	opterr = 0;
}

const char *cli_name(const struct cli *c, int key, char *buf, size_t len)
{
	const struct argp_option *o = find_key(c, key);

	if (o && o->name && is_short(key))
		snprintf(buf, len, "-%c/--%s", key, o->name);
	else if (o && o->name)
		snprintf(buf, len, "--%s", o->name);
	else
		snprintf(buf, len, "-%c", is_short(key) ? key : '?');
	return buf;
}

void cli_common(const struct cli *c, int key)
{
	if (key == 'V')
		cli_version(c, stdout);
	else
		cli_help(c, stdout);
}

int cli_label(struct cli *c, const char *name, const char *arg, const char **out)
{
	if (strpbrk(arg, "\",\\\n")) {
		cli_fail(c, "invalid label for %s: it must not contain quotes, commas, "
			 "backslashes or newlines", name);
		return -1;
	}
	*out = arg;
	return 0;
}

int cli_fail(struct cli *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return '?';
}

static const char *hint_for(const struct cli *c, const char *opt)
{
	const struct cli_hint *h;

	for (h = c->hints; h && h->opt; h++)
		if (!strcmp(h->opt, opt))
			return h->hint;
	return NULL;
}

/* An unknown option: say which, and what replaced it if it was renamed. */
static int unknown(struct cli *c, const char *opt)
{
	const char *hint = hint_for(c, opt);

	return cli_fail(c, "unknown option '%s'%s%s", opt, hint ? ": " : "",
			hint ? hint : "");
}

/* "--pi": unknown, or the prefix of more than one long option? */
static int unknown_long(struct cli *c, const char *arg)
{
	char opt[64], list[256] = "";
	int i, n = 0, matches = 0;
	size_t len, used = 0;

	snprintf(opt, sizeof(opt), "%.*s", (int)strcspn(arg, "="), arg);
	len = strlen(opt + 2);
	for (i = 0; c->lopts[i].name; i++)
		matches += !strncmp(c->lopts[i].name, opt + 2, len);
	if (matches < 2)
		return unknown(c, opt);
	for (i = 0; c->lopts[i].name; i++) {
		if (strncmp(c->lopts[i].name, opt + 2, len))
			continue;
		n++;
		used += snprintf(list + used, used < sizeof(list) ? sizeof(list) - used : 0,
				 "%s--%s", n == 1 ? "" : n == matches ? " or " : ", ",
				 c->lopts[i].name);
	}
	return cli_fail(c, "ambiguous option '%s': it could be %s", opt, list);
}

int cli_next(struct cli *c, int argc, char **argv)
{
	const struct argp_option *o;
	char name[64], opt[8];
	int key;

	optopt = 0;
	key = getopt_long(argc, argv, c->shorts, c->lopts, NULL);
	switch (key) {
	case ':':
		o = find_key(c, optopt);
		return cli_fail(c, "option %s needs an argument: %s is missing",
				cli_name(c, optopt, name, sizeof(name)),
				o && o->arg ? o->arg : "the value");
	case '?':
		/* getopt sets optopt to a long option's key if it got "=value". */
		o = optopt ? find_key(c, optopt) : NULL;
		if (o && o->name)
			return cli_fail(c, "option --%s takes no argument", o->name);
		if (optopt) {
			snprintf(opt, sizeof(opt), "-%c",
				 optopt > 0 && optopt < 128 && isprint(optopt) ? optopt : '?');
			return unknown(c, opt);
		}
		return unknown_long(c, optind > 0 && optind <= argc ? argv[optind - 1] : "--?");
	}
	return key;
}

void cli_help(const struct cli *c, FILE *f)
{
	argp_help(c->argp, f, ARGP_HELP_STD_HELP, (char *)c->prog);
}

void cli_version(const struct cli *c, FILE *f)
{
	fprintf(f, "%s %s\n", c->prog, BU_VERSION);
}

int cli_usage_error(const char *prog, const char *err)
{
	fprintf(stderr, "%s: %s\nTry '%s --help' for more information.\n", prog,
		err[0] ? err : "invalid command line", prog);
	return CLI_EXIT_USAGE;
}

int cli_parse_size(const char *s, unsigned long long *out, char *why, size_t len)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || *s < '0' || *s > '9') {
		snprintf(why, len, "want a number of bytes with an optional K, M or G "
			 "suffix, e.g. 64M");
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE) {
		snprintf(why, len, "too large: does not fit in 64 bits");
		return -1;
	}
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end) {
		if (strchr("tTpPeE", *end) && end[1] == 0)
			snprintf(why, len, "unknown suffix '%c': the suffixes are K, M and "
				 "G (1K = 1024)", *end);
		else
			snprintf(why, len, "unexpected '%s' after the number: the "
				 "suffixes are K, M and G", end);
		return -1;
	}
	/* 17179869185G must not wrap around to 1G. */
	if (v > ULLONG_MAX >> shift) {
		snprintf(why, len, "too large: does not fit in 64 bits");
		return -1;
	}
	v <<= shift;
	if (!v) {
		snprintf(why, len, "must be more than 0");
		return -1;
	}
	*out = v;
	return 0;
}

int cli_parse_ulong(const char *s, unsigned long min, unsigned long max,
		    unsigned long *out)
{
	unsigned long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int cli_has_cap(int cap)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { 0 };

	if (cap < 0 || cap >= 32 * _LINUX_CAPABILITY_U32S_3)
		return 0;
	if (syscall(SYS_capget, &hdr, data))
		return -1;
	return !!(data[cap / 32].effective & (1U << (cap % 32)));
}

const char *cli_cap_name(int cap)
{
	switch (cap) {
	case CAP_DAC_OVERRIDE:
		return "CAP_DAC_OVERRIDE";
	case CAP_SYS_ADMIN:
		return "CAP_SYS_ADMIN";
	case CAP_PERFMON:
		return "CAP_PERFMON";
	case CAP_BPF:
		return "CAP_BPF";
	}
	return "a capability";
}
