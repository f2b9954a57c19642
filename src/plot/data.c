/* data.c - what dpt plot draws, from dpt report's own pass over a trace.
 *
 * The numbers are dpt report's: report_compute() (src/analysis/report.c) reads the trace once
 * and computes the rate statistics and the working-set curve N(t); the intervals it selects
 * (middle in the cut [--from, --to), neither the synthetic one of --compat nor lost) are the
 * intervals drawn. Its per-interval hook gives this file, in the same pass:
 * 1. each counted interval's count and times (40 bytes each), for the rate over time;
 * 2. each interval's dirty set in report's trace-wide page numbering (pages known by region
 *    name and address across region table changes) for the heat map, whose memory is bounded
 *    by its bins (src/analysis/heatmap.c); a lost interval, or one without a set, takes its
 *    column, untracked.
 * Before that pass, the trace's index sizes the heat map's columns, and a counts-only trace is
 * told apart (the kinds that need dirty sets are dropped, or refused when asked alone).
 * Library code: 0 or -errno with the reason recorded (dpt_fail), never exits.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/log.h"
#include "plot/plot.h"

double plot_mib(const struct plot_data *d, double pages)
{
	return report_mib(&d->rp, pages);
}

/* How many intervals the cut may hold, from the trace's index: sizes the heat map. */
static uint64_t plot_hint(const struct trace_info *in, const struct plot_opts *o)
{
	uint64_t n = in->nr_intervals, ns = in->h.interval_ns;

	if (!n || !ns || (!o->from_ns && o->to_ns < 0))
		return n;
	uint64_t to = o->to_ns >= 0 ? (uint64_t)o->to_ns : n * ns;
	uint64_t est = to > (uint64_t)o->from_ns ? (to - (uint64_t)o->from_ns) / ns + 2 : 2;
	return est < n ? est : n;
}

static int plot_keep_interval(struct plot_data *d, const struct report_step *st)
{
	if (d->nr_iv == d->cap_iv) {
		size_t cap = d->cap_iv ? 2 * d->cap_iv : 1024;
		struct plot_interval *p = realloc(d->iv, cap * sizeof(*p));
		if (!p)
			return dpt_fail(-ENOMEM, "plot: no memory for %zu intervals", cap);
		d->iv = p;
		d->cap_iv = cap;
	}
	d->iv[d->nr_iv++] = (struct plot_interval){
		.seq = st->s->seq,
		.t_start = st->start,
		.t_end = st->end,
		.dirty = st->s->dirty,
		.total = st->s->total,
		.flags = st->s->flags,
	};
	return 0;
}

/* report_compute()'s hook: every interval of the cut, in order. */
static int plot_step(void *arg, const struct report *rp, const struct report_step *st)
{
	struct plot_data *d = arg;
	int err;

	if (st->counted && (err = plot_keep_interval(d, st)))
		return err;
	if (!(d->kinds & PLOT_HEATMAP) || !(rp->h.flags & TRACE_HAS_SETS))
		return 0;
	struct heatmap_set hs = {.total = st->bits, .bitmap = st->bitmap, .lost = !st->bitmap};
	return heatmap_add(&d->hm, &hs, st->start, st->end);
}

/* Before the pass: the index (the heat map's columns) and whether the trace has sets. */
static int plot_peek(struct plot_data *d, const struct plot_opts *o, bool *has_sets)
{
	struct trace_reader *r;
	int err = trace_reader_open(&r, d->path);

	if (err)
		return err;
	const struct trace_info *in = trace_reader_info(r);
	*has_sets = in->h.flags & TRACE_HAS_SETS;
	if ((o->kinds & PLOT_HEATMAP) && *has_sets)
		err = heatmap_init(&d->hm, o->heat_rows, o->heat_cols, plot_hint(in, o));
	trace_reader_close(r);
	return err;
}

int plot_data_read(struct plot_data *d, const char *path, const struct plot_opts *o)
{
	struct report_opts ro = {.from_ns = o->from_ns, .to_ns = o->to_ns, .top = o->top,
				 .on_interval = plot_step, .arg = d};
	const char *missing;
	bool has_sets;
	int err;

	memset(d, 0, sizeof(*d));
	d->path = path;
	d->kinds = o->kinds;
	if ((err = plot_peek(d, o, &has_sets)))
		goto fail;
	if ((o->kinds & PLOT_SETS) && !has_sets) {
		if (!o->what_it_can) {
			err = dpt_fail(-EINVAL, "%s: the %s cannot be drawn from a trace of counts "
				       "only (its tracker records how many pages, not which); its "
				       "rate can (--kind rate)",
				       path, o->kinds & PLOT_HEATMAP ? "heat map" : "working set");
			goto fail;
		}
		d->dropped = o->kinds & PLOT_SETS;
		d->kinds &= ~PLOT_SETS;
	}
	if ((err = report_compute(&d->rp, path, &ro)))
		goto fail;
	d->h = &d->rp.h;
	if (!d->rp.counted || !d->nr_iv) {
		err = dpt_fail(-ENODATA, "%s: no interval %s", path,
			       o->from_ns || o->to_ns >= 0 ? "within --from/--to" : "recorded");
		goto fail;
	}
	if ((d->kinds & PLOT_SETS) && (missing = report_sets_missing(&d->rp))) {
		if (!o->what_it_can) {
			err = dpt_fail(-ENODATA, "%s: no %s: %s", path,
				       o->kinds & PLOT_HEATMAP ? "heat map" : "working set",
				       missing);
			goto fail;
		}
		d->dropped |= d->kinds & PLOT_SETS;
		d->kinds &= ~PLOT_SETS;
	}
	return 0;
fail:
	plot_data_fini(d);
	return err;
}

void plot_data_fini(struct plot_data *d)
{
	heatmap_fini(&d->hm);
	report_fini(&d->rp);
	free(d->iv);
	memset(d, 0, sizeof(*d));
}

void plot_describe(const struct plot_data *d, char *buf, size_t len)
{
	const struct trace_header *h = d->h;

	snprintf(buf, len, "%s (%s%s%s%s)", h->target && *h->target ? h->target : d->path,
		 h->tracker ? h->tracker : "?", h->mode && *h->mode ? " " : "",
		 h->mode ? h->mode : "", h->flags & TRACE_ESTIMATE ? ", estimates" : "");
}
