/* cmd-report-json.c - dpt report --json: the report as one JSON object (jansson), the same
 * numbers as the text. Keys are listed in docs/report.md; a section that needs dirty sets is
 * {"available": false, "reason": "..."} when the trace has none.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include "cmd-json.h"
#include "cmd-report.h"
#include "dpt/log.h"

static json_t *num(double v)
{
	return json_real(v);
}

static json_t *u64(uint64_t v)
{
	return json_integer((json_int_t)v);
}

static json_t *j_file(const struct report *rp)
{
	json_t *o = json_object();
	char fmt[16];

	snprintf(fmt, sizeof(fmt), "%u.%u", rp->major, rp->minor);
	json_put(o, "path", json_string(rp->path));
	json_put(o, "bytes", u64(rp->file_size));
	json_put(o, "format", json_string(fmt));
	json_put(o, "footer", json_boolean(rp->has_footer));
	json_put(o, "torn_tail_bytes", u64(rp->tail));
	return o;
}

static json_t *j_header(const struct report *rp)
{
	static const char *const flag_names[] = {"estimate", "has_sets", "discarded_known",
						 "per_process", "compat", "imported"};
	const struct trace_header *h = &rp->h;
	json_t *o = json_object(), *flags = json_array();
	char iso[32] = "";
	time_t t = (time_t)(h->wall_start_ns / 1000000000);
	struct tm tm;

	if (gmtime_r(&t, &tm))
		strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_put(o, "target", json_string(h->target));
	json_put(o, "tracker", json_string(h->tracker));
	json_put(o, "mode", json_string(h->mode));
	json_put(o, "hostname", json_string(h->hostname));
	json_put(o, "kernel", json_string(h->kernel));
	json_put(o, "cpu", json_string(h->cpu));
	json_put(o, "dpt_version", json_string(h->dpt_version));
	json_put(o, "command", json_string(h->command));
	json_put(o, "interval_s", num((double)h->interval_ns / 1e9));
	json_put(o, "zero_scan_s", num((double)h->zero_scan_ns / 1e9));
	json_put(o, "page_size", u64(h->page_size));
	json_put(o, "vcpus", u64(h->nr_vcpus));
	json_put(o, "owner_pid", json_integer(h->owner_pid));
	json_put(o, "wall_start_s", num((double)h->wall_start_ns / 1e9));
	json_put(o, "wall_start", json_string(iso));
	json_put(o, "mono_start_ns", json_integer(h->mono_start_ns));
	for (unsigned b = 0; b < 6; b++)
		if (h->flags & (1u << b) && flags)
			json_array_append_new(flags, json_string(flag_names[b]));
	json_put(o, "flags", flags);
	return o;
}

static json_t *j_intervals(const struct report *rp)
{
	static const char *const names[] = DPT_SAMPLE_FLAG_NAMES;
	json_t *o = json_object(), *f = json_object();

	json_put(o, "recorded", u64(rp->recorded));
	json_put(o, "counted", u64(rp->counted));
	json_put(o, "outside_cut", u64(rp->outside));
	json_put(o, "synthetic", u64(rp->synthetic));
	json_put(o, "lost", u64(rp->lost));
	json_put(o, "partial", u64(rp->partial));
	json_put(o, "without_set", u64(rp->no_set));
	json_put(o, "zero_length", u64(rp->zero_length));
	json_put(o, "sessions", u64(rp->sessions));
	json_put(o, "first_start_s", num(rp->counted ? rp->first_start : 0));
	json_put(o, "last_end_s", num(rp->counted ? rp->last_end : 0));
	json_put(o, "seconds", num(rp->seconds));
	json_put(o, "mean_interval_s", num(report_interval_s(rp)));
	json_put(o, "pages_min", u64(rp->pages_min));
	json_put(o, "pages_max", u64(rp->pages_max));
	json_put(o, "dirty_pages", u64(rp->dirty));
	json_put(o, "discarded_pages", u64(rp->discarded));
	for (unsigned b = 0; b < DPT_SAMPLE_NR_FLAGS; b++)
		json_put(f, names[b], u64(rp->flagged[b]));
	json_put(o, "flags", f);
	return o;
}

static json_t *j_stats(const struct report *rp, double scale)
{
	const struct report_rates *r = &rp->rates;
	const char *keys[] = {"mean", "stddev", "min", "p50", "p90", "p99", "max", "overall"};
	const double v[] = {r->mean, r->stddev, r->min, r->p50, r->p90, r->p99, r->max, r->overall};
	json_t *o = json_object();

	for (unsigned i = 0; i < 8; i++)
		json_put(o, keys[i], num(v[i] * scale));
	return o;
}

static json_t *j_rates(const struct report *rp)
{
	json_t *o = json_object();

	json_put(o, "intervals", u64(rp->rates.n));
	json_put(o, "pages_per_s", j_stats(rp, 1));
	json_put(o, "mib_per_s", j_stats(rp, report_mib(rp, 1)));
	return o;
}

/* {"available": false, "reason": ...} when the figures need sets the trace lacks. */
static json_t *j_unavailable(const struct report *rp)
{
	json_t *o = json_object();

	json_put(o, "available", json_false());
	json_put(o, "reason", json_string(report_sets_missing(rp)));
	return o;
}

static json_t *j_curve(const struct report *rp)
{
	const struct wss_curve *c = rp->curve;
	json_t *o, *pts;
	double dt = report_interval_s(rp);

	if (report_sets_missing(rp))
		return j_unavailable(rp);
	o = json_object();
	pts = json_array();
	json_put(o, "available", json_true());
	json_put(o, "intervals", u64(c->intervals));
	json_put(o, "pages", u64(c->pages));
	json_put(o, "distinct", u64(c->distinct));
	json_put(o, "dirty_page_intervals", u64(c->dirty));
	json_put(o, "interval_s", num(dt));
	json_put(o, "table_changes", u64(rp->nb.changes));
	json_put(o, "renumbered", json_boolean(rp->nb.renumbered));
	for (unsigned j = 0; j < c->nr_points && pts; j++) {
		const struct wss_point *p = &c->points[j];
		json_t *e = json_object();
		json_put(e, "k", u64(p->k));
		json_put(e, "t_s", num((double)p->k * dt));
		json_put(e, "windows", u64(p->windows));
		json_put(e, "mean", num(p->mean));
		json_put(e, "max", u64(p->max));
		json_put(e, "max_start", u64(p->max_start));
		json_put(e, "max_start_s", num(rp->starts[p->max_start]));
		json_array_append_new(pts, e);
	}
	json_put(o, "points", pts);
	return o;
}

static json_t *j_hot(const struct report *rp)
{
	json_t *o, *a;

	if (report_sets_missing(rp))
		return j_unavailable(rp);
	o = json_object();
	a = json_array();
	json_put(o, "available", json_true());
	json_put(o, "ranges_found", u64(rp->nr_ranges));
	for (unsigned i = 0; i < rp->nr_hot && a; i++) {
		const struct report_hot *h = &rp->hot[i];
		json_t *e = json_object();
		json_put(e, "region", json_string(h->span->name));
		json_put(e, "offset", u64(h->offset));
		json_put(e, "page", u64(h->offset / rp->h.page_size));
		json_put(e, "address", u64(h->address));
		json_put(e, "pages", u64(h->pages));
		json_put(e, "mean", num(h->mean));
		json_put(e, "min", u64(h->min));
		json_put(e, "max", u64(h->max));
		json_put(e, "dirty_page_intervals", u64(h->sum));
		json_put(e, "share", num(rp->curve->dirty ? (double)h->sum / (double)rp->curve->dirty : 0));
		json_array_append_new(a, e);
	}
	json_put(o, "ranges", a);
	return o;
}

static json_t *j_regions(const struct report *rp)
{
	json_t *o, *a;

	if (report_sets_missing(rp))
		return j_unavailable(rp);
	o = json_object();
	a = json_array();
	json_put(o, "available", json_true());
	for (unsigned i = 0; i < rp->nr_regions && a; i++) {
		const struct report_region *r = &rp->regions[i];
		json_t *e = json_object();
		json_put(e, "name", json_string(r->name));
		json_put(e, "pages", u64(r->pages));
		json_put(e, "distinct", u64(r->distinct));
		json_put(e, "dirty_page_intervals", u64(r->dirty));
		json_put(e, "share", num(rp->curve->dirty ? (double)r->dirty / (double)rp->curve->dirty : 0));
		json_array_append_new(a, e);
	}
	json_put(o, "regions", a);
	return o;
}

static json_t *j_vcpus(const struct report *rp)
{
	json_t *a;

	if (!rp->nr_vcpus)
		return json_null();
	a = json_array();
	for (unsigned v = 0; v < rp->nr_vcpus && a; v++) {
		json_t *e = json_object();
		json_put(e, "vcpu", u64(v));
		json_put(e, "dirty_pages", u64(rp->vcpu_dirty[v]));
		json_put(e, "share", num(rp->dirty ? (double)rp->vcpu_dirty[v] / (double)rp->dirty : 0));
		json_put(e, "pages_per_s", num(rp->seconds > 0 ? (double)rp->vcpu_dirty[v] / rp->seconds : 0));
		json_put(e, "max", u64(rp->vcpu_max[v]));
		json_array_append_new(a, e);
	}
	return a;
}

static json_t *j_procs(const struct report *rp)
{
	static const char *const names[] = DPT_PROC_FLAG_NAMES;
	json_t *a;

	if (!rp->nr_procs)
		return json_null();
	a = json_array();
	for (unsigned i = 0; i < rp->nr_procs && a; i++) {
		const struct report_proc *p = &rp->procs[i];
		json_t *e = json_object(), *f = json_array();
		json_put(e, "pid", json_integer(p->pid));
		json_put(e, "ppid", json_integer(p->ppid));
		json_put(e, "comm", json_string(p->comm));
		json_put(e, "intervals", u64(p->intervals));
		json_put(e, "dirty_pages", u64(p->dirty));
		json_put(e, "max", u64(p->max));
		json_put(e, "discarded_pages", u64(p->discarded));
		json_put(e, "pages", u64(p->total));
		for (unsigned b = 0; b < DPT_PROC_NR_FLAGS && f; b++)
			if (p->flags & (1u << b))
				json_array_append_new(f, json_string(names[b]));
		json_put(e, "seen", f);
		json_array_append_new(a, e);
	}
	return a;
}

static json_t *j_nonzero(const struct report *rp)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < rp->nr_nonzero && a; i++) {
		const struct report_nonzero *z = &rp->nonzero[i];
		json_t *e = json_object();
		json_put(e, "at_s", num(z->at));
		json_put(e, "scan_s", num(z->scan_s));
		json_put(e, "after_seq", u64(z->after_seq));
		json_put(e, "count", u64(z->count));
		json_put(e, "total", u64(z->total));
		json_put(e, "unknown", u64(z->unknown));
		json_put(e, "bytes_read", u64(z->bytes_read));
		json_array_append_new(a, e);
	}
	return a;
}

static json_t *j_messages(const struct report *rp)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < rp->nr_messages && a; i++) {
		json_t *e = json_object();
		json_put(e, "at_s", num(rp->messages[i].at));
		json_put(e, "text", json_string(rp->messages[i].text));
		json_array_append_new(a, e);
	}
	return a;
}

int report_json(const struct report *rp)
{
	json_t *o = json_object(), *cut = json_object();
	char why[256];
	int err = 0;

	json_put(cut, "from_s", num(rp->from));
	json_put(cut, "to_s", rp->to >= 0 ? num(rp->to) : json_null());
	json_put(o, "file", j_file(rp));
	json_put(o, "header", j_header(rp));
	json_put(o, "cut", cut);
	json_put(o, "intervals", j_intervals(rp));
	json_put(o, "exact", json_boolean(report_exactness(rp, why, sizeof(why))));
	json_put(o, "exactness", json_string(why));
	json_put(o, "rates", j_rates(rp));
	json_put(o, "working_set", j_curve(rp));
	json_put(o, "hot", j_hot(rp));
	json_put(o, "regions", j_regions(rp));
	json_put(o, "vcpus", j_vcpus(rp));
	json_put(o, "processes", j_procs(rp));
	json_put(o, "nonzero", j_nonzero(rp));
	json_put(o, "messages", j_messages(rp));
	json_put(o, "messages_dropped", u64(rp->messages_dropped));
	if (!o || json_dumpf(o, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(12)) ||
	    putchar('\n') == EOF)
		err = dpt_fail(-EIO, "cannot write the report");
	json_decref(o);
	return err;
}
