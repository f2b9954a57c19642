/* parse.c - command-line values: sizes, durations, rates (see include/dpt/parse.h). */
#include <errno.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dpt/parse.h"

/* Parse a non-negative decimal number at the start of s; *end points past it. */
static int parse_number(const char *s, double *out, const char **end)
{
	char *e;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	double v = strtod(s, &e);
	if (e == s || errno || !isfinite(v) || v < 0)
		return -EINVAL;
	/* strtod accepts hex floats, inf and nan: allow only plain decimals */
	for (const char *p = s; p < e; p++)
		if (!(*p >= '0' && *p <= '9') && *p != '.')
			return -EINVAL;
	*out = v;
	*end = e;
	return 0;
}

/* The index of the unit named u in a table of n entries of size bytes each whose first
 * member is the name (const char *) at first, or -1. */
static int unit_index(const char *u, const char *const *first, size_t size, size_t n, bool nocase)
{
	for (size_t i = 0; i < n; i++) {
		const char *name = *(const char *const *)((const char *)first + i * size);
		if (nocase ? !strcasecmp(u, name) : !strcmp(u, name))
			return (int)i;
	}
	return -1;
}

static int unit_shift(const char *u, unsigned *shift)
{
	static const struct {
		const char *names[4];
		unsigned shift;
	} units[] = {
		{{"", "B", NULL}, 0},
		{{"K", "KiB", "KB", "k"}, 10},
		{{"M", "MiB", "MB", "m"}, 20},
		{{"G", "GiB", "GB", "g"}, 30},
		{{"T", "TiB", "TB", "t"}, 40},
	};
	for (unsigned i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		for (unsigned j = 0; j < 4 && units[i].names[j]; j++)
			if (!strcmp(u, units[i].names[j])) {
				*shift = units[i].shift;
				return 0;
			}
	return -EINVAL;
}

int parse_size(const char *s, uint64_t *out)
{
	const char *end;
	unsigned shift;
	double v;

	if (parse_number(s, &v, &end) || unit_shift(end, &shift))
		return -EINVAL;
	v = ldexp(v, (int)shift);
	if (v >= 18446744073709551615.0 || v != floor(v))
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}

int parse_duration_ns(const char *s, uint64_t *out)
{
	static const struct {
		const char *name;
		double ns;
	} units[] = {
		{"", 1e9}, {"s", 1e9}, {"ms", 1e6}, {"us", 1e3}, {"ns", 1}, {"m", 60e9}, {"min", 60e9},
		{"h", 3600e9},
	};
	const char *end;
	double v;

	if (parse_number(s, &v, &end))
		return -EINVAL;
	for (unsigned i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(end, units[i].name)) {
			double ns = v * units[i].ns;
			if (ns >= 1e19)
				return -EINVAL;
			*out = (uint64_t)llround(ns);
			return 0;
		}
	return -EINVAL;
}

int parse_rate_pages(const char *s, double *out)
{
	static const struct {
		const char *name;
		double pages; /* pages per second for 1 unit */
	} units[] = {
		{"", 256},        {"M", 256},      {"MiB/s", 256},    {"MB/s", 256},
		{"M/s", 256},     {"K", 0.25},     {"KiB/s", 0.25},   {"KB/s", 0.25},
		{"K/s", 0.25},    {"G", 262144},   {"GiB/s", 262144}, {"GB/s", 262144},
		{"p", 1},         {"pages/s", 1},  {"pps", 1},        {"p/s", 1},
	};
	const char *end;
	double v;
	int i;

	if (parse_number(s, &v, &end))
		return -EINVAL;
	if ((i = unit_index(end, &units[0].name, sizeof(units[0]), sizeof(units) / sizeof(units[0]),
			    true)) < 0)
		return -EINVAL;
	*out = v * units[i].pages;
	return 0;
}

int parse_bandwidth(const char *s, double *out)
{
	static const struct {
		const char *name;
		double bytes; /* bytes per second for 1 unit */
	} units[] = {
		{"", 1048576},	      {"M", 1048576},	   {"MiB/s", 1048576}, {"MB/s", 1048576},
		{"M/s", 1048576},     {"K", 1024},	   {"KiB/s", 1024},    {"KB/s", 1024},
		{"K/s", 1024},	      {"G", 1073741824},   {"GiB/s", 1073741824},
		{"GB/s", 1073741824}, {"G/s", 1073741824}, {"B/s", 1},	       {"bytes/s", 1},
		{"Gbit", 125e6},      {"Gbit/s", 125e6},   {"Gb/s", 125e6},    {"Gbps", 125e6},
		{"Mbit", 125e3},      {"Mbit/s", 125e3},   {"Mb/s", 125e3},    {"Mbps", 125e3},
	};
	const char *end;
	double v;
	int i;

	if (parse_number(s, &v, &end) || !(v >= 0))
		return -EINVAL;
	if ((i = unit_index(end, &units[0].name, sizeof(units[0]), sizeof(units) / sizeof(units[0]),
			    false)) < 0)
		return -EINVAL;
	v *= units[i].bytes;
	if (!(v <= 1e15)) /* a petabyte per second: not a link */
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *e;

	if (!s || !*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &e, 10);
	if (errno || *e || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

const char *format_size(uint64_t bytes, char *buf, unsigned len)
{
	static const char suffix[] = "KMGT";
	int i = -1;

	while (bytes && i < 3 && bytes % 1024 == 0) {
		bytes /= 1024;
		i++;
	}
	if (i < 0)
		snprintf(buf, len, "%llu", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)bytes, suffix[i]);
	return buf;
}
