/* ndjson.c - -o ndjson:FILE, one JSON object per line, for jq, pandas and log shippers.
 *
 *	{"type":"run","interval_s":0.100000000,"tracker":"kvm","mode":"bitmap","target":"...",
 *	 "pid":4242,"vcpus":0,"estimate":false,"discards":true,"processes":false,"compat":false,
 *	 "command":"dpt vm ..."}
 *	{"type":"start","time":1795924400.328878907}
 *	{"type":"interval","seq":1,"start":1795924400.328878907,"end":1795924400.428943510,
 *	 "interval_s":0.100064603,"dirty_pages":208,"total_pages":16384,"discarded_pages":0,
 *	 "mib_s":8.12,"flags":[],"regions":[{"name":"ram","start":0,"pages":16384,
 *	 "first_page":0,"granule":0}]}
 *	{"type":"stop","time":1795924402.338001022}
 *
 * Times are wall-clock Unix seconds, written with exactly nine decimals (nanoseconds, exact in
 * the text; a parser reading them as doubles keeps about 0.1 us). interval_s is the monotonic
 * length of the interval, and mib_s has three decimals, as in the CSV. Unknown values are
 * null: dirty_pages and mib_s of a lost interval (the target took its writes along), mib_s of
 * an interval of no length (Qemu-DPT's all-dirty one), discarded_pages when the tracker
 * cannot count discards or nothing was measured (lost, all-dirty). An interval has "vcpus" when
 * per-vCPU counts are known, "regions" when its region table differs from the last one
 * written, and "processes" (one object per process, as in FILE.procs.csv) when following a
 * tree. flags are the names the CSV uses.
 *
 * A session's "start" line waits for its first interval and takes that interval's start (the
 * moment tracking began); "stop" takes the end of its last interval. So every time on a line
 * is the loop's own, and dpt export of a trace writes the lines the live run wrote. A line is
 * flushed as soon as it is written: a killed run loses at most the line being written.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dpt/log.h"
#include "dpt/writer.h"

struct ndjson {
	FILE *f;
	char *path;
	bool discards;
	bool per_process;
	bool start_pending; /* a session started: its line waits for its first interval */
	bool have_end;	    /* the session's last interval ended at last_end */
	struct timespec last_end;
	struct dpt_region *regions; /* the table last written */
	unsigned nr_regions;
};

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* Seconds with nine decimals: "1795924400.328878907", "-0.000000001". */
static void nd_secs(char *buf, size_t len, int64_t ns)
{
	uint64_t a = ns < 0 ? -(uint64_t)ns : (uint64_t)ns;

	snprintf(buf, len, "%s%llu.%09llu", ns < 0 ? "-" : "", (unsigned long long)(a / 1000000000),
		 (unsigned long long)(a % 1000000000));
}

/* A JSON string of s; bytes that are not UTF-8 (a comm, a path) become '?'. */
static json_t *nd_string(const char *s)
{
	json_t *j = json_string(s ? s : "");

	if (j || !s)
		return j;
	char *copy = strdup(s);
	if (!copy)
		return NULL;
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

/* o[key] = v (stolen); *oom set if either is missing. */
static void nd_set(json_t *o, const char *key, json_t *v, bool *oom)
{
	if (!o || !v || json_object_set_new(o, key, v))
		*oom = true;
}

static json_t *nd_flags(unsigned flags, const char *const *names, unsigned n)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < n; i++)
		if ((flags & (1u << i)) && json_array_append_new(a, json_string(names[i]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/*
 * Write one line: '{', head (members formatted here: numbers jansson cannot print exactly),
 * then the members of rest (may be NULL; its reference is taken), '}'. Flushed.
 */
static int nd_line(struct ndjson *nd, const char *head, json_t *rest, bool oom)
{
	char *body = NULL;

	if (rest && !oom)
		body = json_dumps(rest, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(rest);
	if (oom || (rest && !body)) {
		free(body);
		return dpt_fail(-ENOMEM, "%s: out of memory", nd->path);
	}
	size_t n = body ? strlen(body) - 2 : 0; /* members only, without the braces */
	fprintf(nd->f, "{%s%s%.*s}\n", head, n ? "," : "", (int)n, body ? body + 1 : "");
	free(body);
	if (fflush(nd->f) || ferror(nd->f))
		return dpt_fail(-EIO, "%s: write error", nd->path);
	return 0;
}

static int ndjson_close(struct dpt_writer *w)
{
	struct ndjson *nd = w->priv;
	int err = 0;

	if (!nd)
		return 0;
	if (nd->f && fclose(nd->f))
		err = dpt_fail(-errno, "%s: %s", nd->path, strerror(errno));
	if (w->discard && nd->f && strcmp(nd->path, "-"))
		unlink(nd->path);
	free(nd->path);
	free(nd->regions);
	free(nd);
	w->priv = NULL;
	return err;
}

static int ndjson_run_line(struct ndjson *nd, const struct dpt_run_info *info)
{
	json_t *o = json_object();
	char head[80], secs[32];
	bool oom = false;

	nd_secs(secs, sizeof(secs), (int64_t)info->interval_ns);
	snprintf(head, sizeof(head), "\"type\":\"run\",\"interval_s\":%s", secs);
	nd_set(o, "tracker", nd_string(info->tracker), &oom);
	nd_set(o, "mode", nd_string(info->mode), &oom);
	nd_set(o, "target", nd_string(info->target_desc), &oom);
	nd_set(o, "pid", json_integer(info->owner_pid), &oom);
	nd_set(o, "vcpus", json_integer(info->nr_vcpus), &oom);
	nd_set(o, "estimate", json_boolean(info->estimate), &oom);
	nd_set(o, "discards", json_boolean(info->counts_discarded), &oom);
	nd_set(o, "processes", json_boolean(info->per_process), &oom);
	nd_set(o, "compat", json_boolean(info->compat), &oom);
	nd_set(o, "command", nd_string(info->command), &oom);
	return nd_line(nd, head, o, oom);
}

static int ndjson_open(struct dpt_writer *w, const char *arg, const struct dpt_run_info *info)
{
	struct ndjson *nd = calloc(1, sizeof(*nd));
	int err;

	if (!nd)
		return -ENOMEM;
	w->priv = nd;
	if (!arg || !*arg) {
		ndjson_close(w);
		return dpt_fail(-EINVAL, "ndjson output needs a file name: -o ndjson:FILE");
	}
	nd->path = strdup(arg);
	nd->discards = info->counts_discarded;
	nd->per_process = info->per_process;
	nd->f = strcmp(arg, "-") ? fopen(arg, "we") : fdopen(dup(1), "w");
	if (!nd->f || !nd->path) {
		err = dpt_fail(-errno, "%s: %s", arg, strerror(errno));
		ndjson_close(w);
		return err;
	}
	err = ndjson_run_line(nd, info);
	if (err) {
		w->discard = true;
		ndjson_close(w);
	}
	return err;
}

/* A session's start or stop line, at this wall-clock time (NULL: unknown). */
static int ndjson_event(struct ndjson *nd, const char *type, const struct timespec *t)
{
	char head[96], secs[32] = "null";

	if (t)
		nd_secs(secs, sizeof(secs), ts_ns(t));
	snprintf(head, sizeof(head), "\"type\":\"%s\",\"time\":%s", type, secs);
	return nd_line(nd, head, NULL, false);
}

static int ndjson_start(struct dpt_writer *w)
{
	struct ndjson *nd = w->priv;

	nd->start_pending = true;
	nd->have_end = false;
	return 0;
}

static int ndjson_stop(struct dpt_writer *w)
{
	struct ndjson *nd = w->priv;
	int err = 0;

	if (nd->start_pending) /* a session without an interval: its times are unknown */
		err = ndjson_event(nd, "start", NULL);
	nd->start_pending = false;
	if (!err)
		err = ndjson_event(nd, "stop", nd->have_end ? &nd->last_end : NULL);
	nd->have_end = false;
	return err;
}

static bool regions_equal(const struct ndjson *nd, const struct dpt_sample *s)
{
	if (s->nr_regions != nd->nr_regions)
		return false;
	for (unsigned i = 0; i < s->nr_regions; i++) {
		const struct dpt_region *a = &s->regions[i], *b = &nd->regions[i];

		if (a->start != b->start || a->pages != b->pages ||
		    a->first_page != b->first_page || a->granule != b->granule ||
		    strncmp(a->name, b->name, sizeof(a->name)))
			return false;
	}
	return true;
}

/* The sample's region table, if it differs from the last one written (a sample without
 * regions, Qemu-DPT's all-dirty one, neither prints nor changes it). */
static json_t *nd_regions(struct ndjson *nd, const struct dpt_sample *s, bool *oom)
{
	if (!s->nr_regions || regions_equal(nd, s))
		return NULL;
	struct dpt_region *copy = malloc(s->nr_regions * sizeof(*copy));
	json_t *a = json_array();
	if (!copy || !a) {
		free(copy);
		json_decref(a);
		*oom = true;
		return NULL;
	}
	for (unsigned i = 0; i < s->nr_regions; i++) {
		const struct dpt_region *r = &s->regions[i];
		json_t *o = json_object();
		char name[sizeof(r->name) + 1];

		snprintf(name, sizeof(name), "%.*s", (int)sizeof(r->name), r->name);
		nd_set(o, "name", nd_string(name), oom);
		nd_set(o, "start", json_integer((json_int_t)r->start), oom);
		nd_set(o, "pages", json_integer((json_int_t)r->pages), oom);
		nd_set(o, "first_page", json_integer((json_int_t)r->first_page), oom);
		nd_set(o, "granule", json_integer(r->granule), oom);
		if (json_array_append_new(a, o))
			*oom = true;
	}
	memcpy(copy, s->regions, s->nr_regions * sizeof(*copy));
	free(nd->regions);
	nd->regions = copy;
	nd->nr_regions = s->nr_regions;
	return a;
}

static json_t *nd_procs(struct ndjson *nd, const struct dpt_sample *s, bool *oom)
{
	static const char *const names[] = DPT_PROC_FLAG_NAMES;
	json_t *a = json_array();

	for (unsigned i = 0; a && i < s->nr_procs; i++) {
		const struct dpt_proc *p = &s->procs[i];
		json_t *o = json_object();
		char comm[sizeof(p->comm) + 1];

		snprintf(comm, sizeof(comm), "%.*s", (int)sizeof(p->comm), p->comm);
		nd_set(o, "pid", json_integer(p->pid), oom);
		nd_set(o, "ppid", json_integer(p->ppid), oom);
		nd_set(o, "comm", nd_string(comm), oom);
		nd_set(o, "dirty_pages", json_integer((json_int_t)p->dirty), oom);
		nd_set(o, "total_pages", json_integer((json_int_t)p->total), oom);
		nd_set(o, "discarded_pages",
		       nd->discards ? json_integer((json_int_t)p->discarded) : json_null(), oom);
		nd_set(o, "flags", nd_flags(p->flags, names, DPT_PROC_NR_FLAGS), oom);
		if (json_array_append_new(a, o))
			*oom = true;
	}
	if (!a)
		*oom = true;
	return a;
}

static json_t *nd_vcpus(const struct dpt_sample *s, bool *oom)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < s->nr_vcpus; i++)
		if (json_array_append_new(a, json_integer((json_int_t)s->vcpu_dirty[i])))
			*oom = true;
	if (!a)
		*oom = true;
	return a;
}

static int ndjson_sample(struct dpt_writer *w, const struct dpt_sample *s)
{
	static const char *const names[] = DPT_SAMPLE_FLAG_NAMES;
	struct ndjson *nd = w->priv;
	bool lost = s->flags & DPT_SAMPLE_LOST, oom = false;
	bool measured = !(s->flags & (DPT_SAMPLE_LOST | DPT_SAMPLE_ALL));
	char head[200], start[32], end[32], secs[32];
	json_t *o = json_object(), *regions;
	int err;

	if (nd->start_pending) {
		nd->start_pending = false;
		if ((err = ndjson_event(nd, "start", &s->wall_start))) {
			json_decref(o);
			return err;
		}
	}
	nd->have_end = true;
	nd->last_end = s->wall_end;
	nd_secs(start, sizeof(start), ts_ns(&s->wall_start));
	nd_secs(end, sizeof(end), ts_ns(&s->wall_end));
	nd_secs(secs, sizeof(secs), ts_ns(&s->mono_end) - ts_ns(&s->mono_start));
	snprintf(head, sizeof(head),
		 "\"type\":\"interval\",\"seq\":%llu,\"start\":%s,\"end\":%s,\"interval_s\":%s",
		 (unsigned long long)s->seq, start, end, secs);
	nd_set(o, "dirty_pages", lost ? json_null() : json_integer((json_int_t)s->dirty), &oom);
	nd_set(o, "total_pages", json_integer((json_int_t)s->total), &oom);
	nd_set(o, "discarded_pages",
	       nd->discards && measured ? json_integer((json_int_t)s->discarded) : json_null(),
	       &oom);
	nd_set(o, "mib_s",
	       lost || sample_seconds(s) <= 0 ? json_null()
					      : json_real(round(sample_mib_per_s(s) * 1000) / 1000),
	       &oom);
	nd_set(o, "flags", nd_flags(s->flags, names, DPT_SAMPLE_NR_FLAGS), &oom);
	if (s->nr_vcpus && s->vcpu_dirty)
		nd_set(o, "vcpus", nd_vcpus(s, &oom), &oom);
	if ((regions = nd_regions(nd, s, &oom)))
		nd_set(o, "regions", regions, &oom);
	if (nd->per_process)
		nd_set(o, "processes", nd_procs(nd, s, &oom), &oom);
	return nd_line(nd, head, o, oom);
}

const struct dpt_writer_ops ndjson_writer_ops = {
	.name = "ndjson",
	.open = ndjson_open,
	.start = ndjson_start,
	.sample = ndjson_sample,
	.stop = ndjson_stop,
	.close = ndjson_close,
};
