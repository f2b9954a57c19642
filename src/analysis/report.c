/* report.c - one pass over a trace feeding every analysis of dpt report.
 *
 * 1. Open the trace (include/dpt/trace.h) and keep its header.
 * 2. Read its records in order. An interval counts when its middle lies in the cut and it is
 *    neither the synthetic all-dirty one of --compat nor lost; a counted interval gives its
 *    rate (rates.c), its vCPU and process rows, and, with its dirty set, one step of the
 *    working-set pass (wss.c) in the trace-wide page numbering (numbering.c), which follows
 *    the region table in force. A sparse set (1 page in 16 or fewer) numbered as the trace
 *    does goes to the pass as a list of page indices, decoded by the reader straight into the
 *    pass's batch (no bitmap made, none copied) unless a hook wants it as a bitmap. Non-zero scans, messages and session starts in the cut are
 *    kept as they come.
 *    Every interval of the cut but the synthetic one is then handed to the caller's hook
 *    (report_opts.on_interval) with its set in that numbering: dpt plot draws from this pass.
 * 3. At the end: rate statistics, the N(t) curve, and from its per-page counts the hot ranges
 *    and the per-region figures (hot.c).
 * A malformed record stops the pass with the reader's reason; a torn tail only ends it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/report.h"
#include "dpt/log.h"

/* A set of at most 1 page in this many of the record goes to the working-set pass as a list
 * of page indices, a denser one as a bitmap (measured: docs/report.md, speed). */
#define REPORT_LIST_DENSITY 16

static int64_t ns_of(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* Seconds from the trace's start. */
static double rel_s(const struct report *rp, const struct timespec *t)
{
	return (double)(ns_of(t) - rp->h.mono_start_ns) / 1e9;
}

/* ns: an interval's time from the trace's start (trace_interval_middle) */
static bool in_cut(const struct report_opts *o, int64_t ns)
{
	return ns >= o->from_ns && (o->to_ns < 0 || ns < o->to_ns);
}

static int keep_header(struct report *rp, const struct trace_info *in)
{
	const char **s[] = {&rp->h.dpt_version, &rp->h.kernel, &rp->h.cpu, &rp->h.hostname,
			    &rp->h.tracker, &rp->h.mode, &rp->h.target, &rp->h.command};
	const char *from[] = {in->h.dpt_version, in->h.kernel, in->h.cpu, in->h.hostname,
			      in->h.tracker, in->h.mode, in->h.target, in->h.command};

	rp->h = in->h;
	rp->h.regions = NULL;
	rp->major = in->major;
	rp->minor = in->minor;
	rp->has_footer = in->has_footer;
	rp->file_size = in->file_size;
	for (unsigned i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		*s[i] = NULL;
	for (unsigned i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		if (!(*s[i] = strdup(from[i] ? from[i] : "")))
			return -ENOMEM;
	return 0;
}

static int add_rate(struct report *rp, double v)
{
	if (rp->nr_rate_v == rp->cap_rate_v) {
		uint64_t cap = rp->cap_rate_v ? rp->cap_rate_v * 2 : 1024;
		double *p = realloc(rp->rate_v, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		rp->rate_v = p;
		rp->cap_rate_v = cap;
	}
	rp->rate_v[rp->nr_rate_v++] = v;
	return 0;
}

static int add_vcpus(struct report *rp, const struct dpt_sample *s)
{
	if (s->nr_vcpus > rp->nr_vcpus) {
		uint64_t *d = realloc(rp->vcpu_dirty, s->nr_vcpus * sizeof(*d));
		if (d)
			rp->vcpu_dirty = d;
		uint64_t *m = realloc(rp->vcpu_max, s->nr_vcpus * sizeof(*m));
		if (m)
			rp->vcpu_max = m;
		if (!d || !m)
			return -ENOMEM;
		for (unsigned v = rp->nr_vcpus; v < s->nr_vcpus; v++)
			rp->vcpu_dirty[v] = rp->vcpu_max[v] = 0;
		rp->nr_vcpus = s->nr_vcpus;
	}
	for (unsigned v = 0; v < s->nr_vcpus; v++) {
		rp->vcpu_dirty[v] += s->vcpu_dirty[v];
		if (s->vcpu_dirty[v] > rp->vcpu_max[v])
			rp->vcpu_max[v] = s->vcpu_dirty[v];
	}
	return 0;
}

/* The row of pid, added (sorted by pid) if new. */
static struct report_proc *proc_of(struct report *rp, int pid)
{
	unsigned lo = 0, hi = rp->nr_procs;

	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (rp->procs[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < rp->nr_procs && rp->procs[lo].pid == pid)
		return &rp->procs[lo];
	if (rp->nr_procs == rp->cap_procs) {
		unsigned cap = rp->cap_procs ? rp->cap_procs * 2 : 16;
		struct report_proc *p = realloc(rp->procs, cap * sizeof(*p));
		if (!p)
			return NULL;
		rp->procs = p;
		rp->cap_procs = cap;
	}
	memmove(rp->procs + lo + 1, rp->procs + lo, (rp->nr_procs - lo) * sizeof(*rp->procs));
	rp->nr_procs++;
	memset(&rp->procs[lo], 0, sizeof(rp->procs[lo]));
	rp->procs[lo].pid = pid;
	return &rp->procs[lo];
}

static int add_procs(struct report *rp, const struct dpt_sample *s)
{
	for (unsigned i = 0; i < s->nr_procs; i++) {
		const struct dpt_proc *p = &s->procs[i];
		struct report_proc *r = proc_of(rp, p->pid);
		if (!r)
			return -ENOMEM;
		r->ppid = p->ppid;
		memcpy(r->comm, p->comm, sizeof(r->comm));
		r->intervals++;
		r->dirty += p->dirty;
		r->discarded += p->discarded;
		r->max = p->dirty > r->max ? p->dirty : r->max;
		r->total = p->total;
		r->flags |= p->flags;
	}
	return 0;
}

/* The interval's dirty set into the working-set pass, in the trace-wide numbering. */
static int add_set(struct report *rp, struct trace_reader *r, const struct dpt_sample *s,
		   bool *table_pending, struct report_step *st, bool list)
{
	const uint64_t *bm, *mapped;
	uint64_t bits;
	int err;

	if (*table_pending || s->total != rp->nb.total) {
		if ((err = numbering_table(&rp->nb, s->regions, s->nr_regions, s->total)))
			return err;
		*table_pending = false;
	}
	if (rp->curve_n == rp->cap_starts) {
		uint64_t cap = rp->cap_starts ? rp->cap_starts * 2 : 1024;
		double *p = realloc(rp->starts, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		rp->starts = p;
		rp->cap_starts = cap;
	}
	rp->starts[rp->curve_n++] = rel_s(rp, &s->mono_start);
	if (list && rp->nb.identity && s->dirty <= s->total / REPORT_LIST_DENSITY) {
		/* a sparse set numbered as the trace does: its pages decoded straight into
		 * the pass's memory, no bitmap made */
		uint32_t *list;
		size_t n;
		if ((err = wss_list_room(rp->wss, rp->nb.total, s->dirty, &list)) ||
		    (err = trace_reader_indices(r, 0, list, s->dirty, &n)))
			return err;
		return wss_add_list(rp->wss, rp->nb.total, n);
	}
	if ((err = trace_reader_bitmap(r, 0, &bm)) ||
	    (err = numbering_map(&rp->nb, bm, &mapped, &bits)))
		return err;
	st->bitmap = mapped;
	st->bits = bits;
	return wss_add(rp->wss, mapped, bits);
}

static int step(struct report *rp, const struct report_opts *o, struct report_step *st)
{
	return o->on_interval ? o->on_interval(o->arg, rp, st) : 0;
}

static int on_interval(struct report *rp, struct trace_reader *r, const struct trace_record *rec,
		       const struct report_opts *o, bool *table_pending)
{
	const struct dpt_sample *s = &rec->s;
	double start = rel_s(rp, &s->mono_start), end = rel_s(rp, &s->mono_end);
	struct report_step st = {.s = s, .start = start, .end = end};
	int err;

	rp->recorded++;
	if (s->regions_changed)
		*table_pending = true;
	if (!in_cut(o, trace_interval_middle(rp->h.mono_start_ns, s))) {
		rp->outside++;
		return 0;
	}
	if (s->flags & DPT_SAMPLE_ALL) {
		rp->synthetic++;
		return 0;
	}
	if (s->flags & DPT_SAMPLE_LOST) {
		rp->lost++;
		return step(rp, o, &st);
	}
	st.counted = true;
	if (!rp->counted++ || start < rp->first_start)
		rp->first_start = start;
	rp->last_end = end > rp->last_end ? end : rp->last_end;
	for (unsigned b = 0; b < DPT_SAMPLE_NR_FLAGS; b++)
		rp->flagged[b] += (s->flags >> b) & 1;
	rp->partial += !!(s->flags & DPT_SAMPLE_PARTIAL);
	if (!rp->pages_max || s->total < rp->pages_min)
		rp->pages_min = s->total;
	rp->pages_max = s->total > rp->pages_max ? s->total : rp->pages_max;
	rp->dirty += s->dirty;
	rp->discarded += s->discarded;
	if (end > start) {
		rp->seconds += end - start;
		if ((err = add_rate(rp, (double)s->dirty / (end - start))))
			return err;
	} else {
		rp->zero_length++;
	}
	if ((err = add_vcpus(rp, s)) || (err = add_procs(rp, s)))
		return err;
	if (!rp->wss)
		return step(rp, o, &st);
	if (!rec->has_set) {
		rp->no_set++;
		return step(rp, o, &st);
	}
	/* a list where no hook wants the set as a bitmap */
	if ((err = add_set(rp, r, s, table_pending, &st, !o->on_interval)))
		return err;
	return step(rp, o, &st);
}

static int on_nonzero(struct report *rp, const struct dpt_nonzero *z, const struct report_opts *o)
{
	if (!in_cut(o, ns_of(&z->mono_start) - rp->h.mono_start_ns))
		return 0;
	struct report_nonzero *n = realloc(rp->nonzero, (rp->nr_nonzero + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	rp->nonzero = n;
	rp->nonzero[rp->nr_nonzero++] = (struct report_nonzero){
		.at = rel_s(rp, &z->mono_start),
		.scan_s = ts_diff(&z->mono_end, &z->mono_start),
		.after_seq = z->after_seq, .total = z->total, .count = z->count,
		.unknown = z->unknown, .bytes_read = z->bytes_read,
	};
	return 0;
}

static int on_message(struct report *rp, const struct trace_record *rec,
		      const struct report_opts *o)
{
	if (!in_cut(o, ns_of(&rec->mono) - rp->h.mono_start_ns))
		return 0;
	if (rp->nr_messages == REPORT_MAX_MESSAGES) {
		rp->messages_dropped++;
		return 0;
	}
	if (!(rp->nr_messages & (rp->nr_messages - 1))) { /* 0, 1, 2, 4, ...: double */
		unsigned cap = rp->nr_messages ? rp->nr_messages * 2 : 1;
		struct report_message *m = realloc(rp->messages, cap * sizeof(*m));
		if (!m)
			return -ENOMEM;
		rp->messages = m;
	}
	struct report_message *m = &rp->messages[rp->nr_messages];
	if (!(m->text = strdup(rec->text)))
		return -ENOMEM;
	m->at = rel_s(rp, &rec->mono);
	rp->nr_messages++;
	return 0;
}

static int pass(struct report *rp, struct trace_reader *r, const struct report_opts *o)
{
	struct trace_record rec;
	bool table_pending = true;
	int got, err = 0;

	while (!err && (got = trace_reader_next(r, &rec)) > 0) {
		switch (rec.type) {
		case TRACE_REC_INTERVAL:
			err = on_interval(rp, r, &rec, o, &table_pending);
			break;
		case TRACE_REC_NONZERO:
			err = on_nonzero(rp, &rec.nz, o);
			break;
		case TRACE_REC_START:
			rp->sessions += in_cut(o, ns_of(&rec.mono) - rp->h.mono_start_ns);
			break;
		case TRACE_REC_MESSAGE:
			err = on_message(rp, &rec, o);
			break;
		default:
			break;
		}
	}
	if (err)
		return err;
	if (got < 0)
		return got;
	rp->tail = trace_reader_tail(r);
	return 0;
}

int report_compute(struct report *rp, const char *path, const struct report_opts *o)
{
	struct trace_reader *r;
	int err;

	memset(rp, 0, sizeof(*rp));
	rp->path = path;
	rp->from = (double)o->from_ns / 1e9;
	rp->to = o->to_ns < 0 ? -1 : (double)o->to_ns / 1e9;
	if ((err = trace_reader_open(&r, path)))
		return err;
	const struct trace_info *in = trace_reader_info(r);
	if ((err = keep_header(rp, in)) || (err = numbering_init(&rp->nb, in->h.page_size)))
		goto out;
	if ((in->h.flags & TRACE_HAS_SETS) && (err = wss_init(&rp->wss)))
		goto out;
	if ((err = pass(rp, r, o)))
		goto out;
	report_rates_compute(&rp->rates, rp->rate_v, rp->nr_rate_v, rp->dirty, rp->seconds);
	if (rp->wss) {
		if ((err = wss_finish(rp->wss, &rp->curve)))
			goto out;
		rp->has_sets = true;
		err = report_hot_compute(rp, o->top);
	}
out:
	trace_reader_close(r);
	if (err == -ENOMEM)
		dpt_fail(err, "out of memory");
	return err;
}

void report_fini(struct report *rp)
{
	const char *s[] = {rp->h.dpt_version, rp->h.kernel, rp->h.cpu, rp->h.hostname,
			   rp->h.tracker, rp->h.mode, rp->h.target, rp->h.command};

	for (unsigned i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		free((char *)s[i]);
	wss_free(rp->wss);
	numbering_fini(&rp->nb);
	free(rp->hot);
	free(rp->regions);
	free(rp->vcpu_dirty);
	free(rp->vcpu_max);
	free(rp->procs);
	free(rp->nonzero);
	for (unsigned i = 0; i < rp->nr_messages; i++)
		free(rp->messages[i].text);
	free(rp->messages);
	free(rp->rate_v);
	free(rp->starts);
	memset(rp, 0, sizeof(*rp));
}

/* ---- what every output says ---- */

const char *report_sets_missing(const struct report *rp)
{
	if (!(rp->h.flags & TRACE_HAS_SETS))
		return "a counts-only trace (the tracker gives counts, not pages) has no dirty sets";
	if (!rp->curve || !rp->curve->intervals)
		return "no counted interval with a dirty set in the cut";
	return NULL;
}

bool report_exactness(const struct report *rp, char *buf, size_t len)
{
	const uint64_t *f = rp->flagged;

	if ((rp->h.flags & TRACE_ESTIMATE) || f[0])
		snprintf(buf, len, "estimate: the %s tracker's %s mode estimates counts from sampled "
			 "pages", rp->h.tracker, rp->h.mode);
	else if (!(rp->h.flags & TRACE_HAS_SETS))
		snprintf(buf, len, "exact counts, no pages: the %s tracker (%s) reports how many "
			 "pages, not which", rp->h.tracker, rp->h.mode);
	else if (f[5] || f[6])
		snprintf(buf, len, "not exact: %" PRIu64 " intervals had memory tracked per huge "
			 "page (a write counts all its pages), %" PRIu64 " had memory not tracked",
			 f[5], f[6]);
	else
		snprintf(buf, len, "exact: every page written in a counted interval is in its "
			 "dirty set (%s tracker, %s)", rp->h.tracker, rp->h.mode);
	return !((rp->h.flags & TRACE_ESTIMATE) || f[0] || f[5] || f[6]);
}

double report_mib(const struct report *rp, double pages)
{
	return pages * rp->h.page_size / (1024.0 * 1024.0);
}

/* Mean measured interval length of the counted intervals (s), else the one asked for. */
double report_interval_s(const struct report *rp)
{
	if (rp->counted && rp->seconds > 0)
		return rp->seconds / (double)rp->counted;
	return (double)rp->h.interval_ns / 1e9;
}
