/* ndjson-check: check dpt's -o ndjson: output (src/writers/ndjson.c) line by line.
 *
 *	ndjson-check FILE
 *
 * Every line must be one JSON object with a "type": run (first line, once), start, stop or
 * interval, holding exactly the documented keys with the documented types: no key missing, no
 * key unknown. Intervals: dirty_pages null exactly when flags hold "lost"; per-vCPU counts and
 * per-process rows add up to the interval's; region pages add up to total_pages; sessions
 * nest (start, intervals, stop). Prints "lines=N run=1 start=S stop=T intervals=I lost=L
 * vcpus=V regions=R processes=P" and exits 0, or "line N: why" and exits 1.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum kind { K_INT, K_REAL, K_STR, K_BOOL, K_ARRAY, K_OBJECT };

enum { REQ = 0, NUL = 1, OPT = 2 }; /* required, may be null, may be missing */

struct key {
	const char *name;
	enum kind kind;
	unsigned how;
};

static const struct key run_keys[] = {
	{"type", K_STR, REQ},	   {"interval_s", K_REAL, REQ}, {"tracker", K_STR, REQ},
	{"mode", K_STR, REQ},	   {"target", K_STR, REQ},	{"pid", K_INT, REQ},
	{"vcpus", K_INT, REQ},	   {"estimate", K_BOOL, REQ},	{"discards", K_BOOL, REQ},
	{"processes", K_BOOL, REQ}, {"compat", K_BOOL, REQ},	{"command", K_STR, REQ},
	{NULL, 0, 0},
};

static const struct key event_keys[] = {
	{"type", K_STR, REQ},
	{"time", K_REAL, NUL},
	{NULL, 0, 0},
};

static const struct key interval_keys[] = {
	{"type", K_STR, REQ},		{"seq", K_INT, REQ},
	{"start", K_REAL, REQ},		{"end", K_REAL, REQ},
	{"interval_s", K_REAL, REQ},	{"dirty_pages", K_INT, NUL},
	{"total_pages", K_INT, REQ},	{"discarded_pages", K_INT, NUL},
	{"mib_s", K_REAL, NUL},		{"flags", K_ARRAY, REQ},
	{"vcpus", K_ARRAY, OPT},	{"regions", K_ARRAY, OPT},
	{"processes", K_ARRAY, OPT},	{NULL, 0, 0},
};

static const struct key region_keys[] = {
	{"name", K_STR, REQ},	    {"start", K_INT, REQ},   {"pages", K_INT, REQ},
	{"first_page", K_INT, REQ}, {"granule", K_INT, REQ}, {NULL, 0, 0},
};

static const struct key proc_keys[] = {
	{"pid", K_INT, REQ},	     {"ppid", K_INT, REQ},
	{"comm", K_STR, REQ},	     {"dirty_pages", K_INT, REQ},
	{"total_pages", K_INT, REQ}, {"discarded_pages", K_INT, NUL},
	{"flags", K_ARRAY, REQ},     {NULL, 0, 0},
};

static const char *const sample_flags[] = {"estimate", "all",  "final",	    "partial",
					   "lost",     "huge", "untracked", NULL};
static const char *const proc_flags[] = {"born", "exec", "exited", "lost", "untracked", NULL};

static char why[512];

static bool kind_ok(json_t *v, enum kind k)
{
	switch (k) {
	case K_INT:
		return json_is_integer(v);
	case K_REAL: /* "0.100000000" parses as a real; a whole number of seconds is still one */
		return json_is_real(v);
	case K_STR:
		return json_is_string(v);
	case K_BOOL:
		return json_is_boolean(v);
	case K_ARRAY:
		return json_is_array(v);
	case K_OBJECT:
		return json_is_object(v);
	}
	return false;
}

/* o has exactly keys (optional ones may be missing), each of its kind (or null if allowed). */
static bool keys_ok(json_t *o, const struct key *keys, const char *what)
{
	const char *name;
	json_t *v;
	size_t n = 0;

	if (!json_is_object(o)) {
		snprintf(why, sizeof(why), "%s is not an object", what);
		return false;
	}
	for (const struct key *k = keys; k->name; k++) {
		v = json_object_get(o, k->name);
		if (!v && (k->how & OPT))
			continue;
		if (!v) {
			snprintf(why, sizeof(why), "%s without \"%s\"", what, k->name);
			return false;
		}
		n++;
		if (!(json_is_null(v) && (k->how & NUL)) && !kind_ok(v, k->kind)) {
			snprintf(why, sizeof(why), "%s: \"%s\" of the wrong type", what, k->name);
			return false;
		}
	}
	if (json_object_size(o) != n) {
		json_object_foreach(o, name, v) {
			const struct key *k = keys;
			while (k->name && strcmp(k->name, name))
				k++;
			if (!k->name) {
				snprintf(why, sizeof(why), "%s: unknown key \"%s\"", what, name);
				return false;
			}
		}
	}
	return true;
}

static bool flags_ok(json_t *a, const char *const *names, const char *what, bool *lost)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v) {
		unsigned f = 0;
		while (names[f] && (!json_is_string(v) || strcmp(names[f], json_string_value(v))))
			f++;
		if (!names[f]) {
			snprintf(why, sizeof(why), "%s: unknown flag", what);
			return false;
		}
		if (lost && !strcmp(names[f], "lost"))
			*lost = true;
	}
	return true;
}

struct counts {
	unsigned lines, run, start, stop, intervals, lost, vcpus, regions, processes;
	bool in_session;
};

static bool interval_ok(json_t *o, struct counts *c)
{
	json_t *dirty = json_object_get(o, "dirty_pages"), *a, *v;
	json_int_t total = json_integer_value(json_object_get(o, "total_pages")), sum;
	bool lost = false;
	size_t i;

	if (!keys_ok(o, interval_keys, "interval") ||
	    !flags_ok(json_object_get(o, "flags"), sample_flags, "interval", &lost))
		return false;
	if (lost != json_is_null(dirty)) {
		snprintf(why, sizeof(why), "dirty_pages null but not lost, or lost with a count");
		return false;
	}
	if (json_real_value(json_object_get(o, "end")) < json_real_value(json_object_get(o, "start"))) {
		snprintf(why, sizeof(why), "an interval that ends before it starts");
		return false;
	}
	c->lost += lost;
	if ((a = json_object_get(o, "vcpus"))) {
		sum = 0;
		c->vcpus++;
		json_array_foreach(a, i, v) sum += json_integer_value(v);
		if (!lost && sum != json_integer_value(dirty)) {
			snprintf(why, sizeof(why), "vcpus add up to %lld, not dirty_pages", sum);
			return false;
		}
	}
	if ((a = json_object_get(o, "regions"))) {
		sum = 0;
		c->regions++;
		json_array_foreach(a, i, v) {
			if (!keys_ok(v, region_keys, "region"))
				return false;
			sum += json_integer_value(json_object_get(v, "pages"));
		}
		if (sum != total) {
			snprintf(why, sizeof(why), "regions hold %lld pages, total_pages %lld", sum,
				 total);
			return false;
		}
	}
	if ((a = json_object_get(o, "processes"))) {
		sum = 0;
		c->processes++;
		json_array_foreach(a, i, v) {
			if (!keys_ok(v, proc_keys, "process") ||
			    !flags_ok(json_object_get(v, "flags"), proc_flags, "process", NULL))
				return false;
			sum += json_integer_value(json_object_get(v, "dirty_pages"));
		}
		if (!lost && json_array_size(a) && sum != json_integer_value(dirty)) {
			snprintf(why, sizeof(why), "processes add up to %lld, not dirty_pages", sum);
			return false;
		}
	}
	c->intervals++;
	return true;
}

static bool line_ok(json_t *o, struct counts *c)
{
	const char *type = json_string_value(json_object_get(o, "type"));

	if (!type) {
		snprintf(why, sizeof(why), "no \"type\" string");
		return false;
	}
	if (!strcmp(type, "run")) {
		if (c->lines != 1) {
			snprintf(why, sizeof(why), "a run line that is not the first");
			return false;
		}
		c->run++;
		return keys_ok(o, run_keys, "run");
	}
	if (c->lines == 1) {
		snprintf(why, sizeof(why), "the first line is not the run line");
		return false;
	}
	if (!strcmp(type, "start") || !strcmp(type, "stop")) {
		bool start = type[2] == 'a';
		if (start == c->in_session) {
			snprintf(why, sizeof(why), "%s %s a session", type,
				 start ? "inside" : "outside");
			return false;
		}
		c->in_session = start;
		start ? c->start++ : c->stop++;
		return keys_ok(o, event_keys, type);
	}
	if (!strcmp(type, "interval")) {
		if (!c->in_session) {
			snprintf(why, sizeof(why), "an interval outside a session");
			return false;
		}
		return interval_ok(o, c);
	}
	snprintf(why, sizeof(why), "unknown type \"%s\"", type);
	return false;
}

int main(int argc, char **argv)
{
	struct counts c = {0};
	char buf[1 << 16];

	if (argc != 2) {
		fprintf(stderr, "usage: ndjson-check FILE\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	while (fgets(buf, sizeof(buf), f)) {
		json_error_t e;
		c.lines++;
		if (!strchr(buf, '\n')) {
			printf("line %u: too long or without its newline\n", c.lines);
			return 1;
		}
		json_t *o = json_loads(buf, JSON_REJECT_DUPLICATES, &e);
		if (!o) {
			printf("line %u: not JSON: %s\n", c.lines, e.text);
			return 1;
		}
		bool ok = line_ok(o, &c);
		json_decref(o);
		if (!ok) {
			printf("line %u: %s\n", c.lines, why);
			return 1;
		}
	}
	fclose(f);
	printf("lines=%u run=%u start=%u stop=%u intervals=%u lost=%u vcpus=%u regions=%u "
	       "processes=%u\n",
	       c.lines, c.run, c.start, c.stop, c.intervals, c.lost, c.vcpus, c.regions,
	       c.processes);
	return c.run == 1 ? 0 : 1;
}
