/* rate.c - the dirty rate over time, and its mean.
 *
 * The rate of an interval is its dirty pages × the page size over its own measured length
 * (MiB/s, as Qemu-DPT's lines); its statistics are dpt report's (src/analysis/rates.c): the
 * mean is the mean of the intervals' rates, "overall" all their pages over all their time.
 * 1. Terminal: the intervals binned into the chart's columns (W consecutive intervals a
 *    column, W = ceil(n / columns); a column's rate is its pages over its time), drawn as bars
 *    from 0 up to the most of a column, PLOT_TERM_RATE_ROWS rows; the row holding the mean is
 *    drawn with '-' where no bar reaches it, and labelled with it; under it a sparkline of the
 *    same columns, shaded from the least column's rate to the most's (the ramp of term.c),
 *    labelled with the least on the left and "to" the most on the right ("to" dropped where
 *    the right labels have less room than 9 characters). With fewer intervals than columns,
 *    each interval takes the same whole number of columns (plot_term_stretch()).
 * 2. gnuplot: rate.dat holds one line per counted interval of positive length (seq, start,
 *    end, dirty, total, pages/s, MiB/s: exact, not binned); each interval is a box over its
 *    own time span, the mean a dashed line.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/log.h"
#include "plot/plot.h"

/* The intervals in cols columns of w each: rate[c], t_start[c]; returns the columns used. */
static unsigned plot_rate_bins(const struct plot_data *d, unsigned cols, double *rate,
			       double *t_start)
{
	uint64_t w = (d->nr_iv + cols - 1) / cols;
	unsigned n = (unsigned)((d->nr_iv + w - 1) / w);

	for (unsigned c = 0; c < n; c++) {
		double pages = 0, secs = 0;
		for (uint64_t i = c * w; i < (c + 1) * w && i < d->nr_iv; i++) {
			pages += (double)d->iv[i].dirty;
			secs += d->iv[i].t_end - d->iv[i].t_start;
		}
		rate[c] = secs > 0 ? plot_mib(d, pages) / secs : 0;
		t_start[c] = d->iv[c * w].t_start;
	}
	return n;
}

/* One cell of a bar of height v (in rows) at row k from the bottom. */
static const char *plot_rate_cell(const struct plot_term *t, double v, unsigned k, bool mean)
{
	static const char *const blocks[] = {"\u2581", "\u2582", "\u2583", "\u2584",
					     "\u2585", "\u2586", "\u2587", "\u2588"};
	double f = v - k;

	if (t->utf8 && f > 0)
		return f >= 1 ? blocks[7] : blocks[(int)ceil(f * 8) - 1];
	if (!t->utf8 && f >= 0.5)
		return "#";
	return mean ? "-" : " ";
}

/* A column's bar or shade, per times. */
static void plot_rate_put(const struct plot_term *t, const char *s, unsigned per)
{
	for (unsigned i = 0; i < per; i++)
		fputs(s, t->f);
}

void plot_rate_term(const struct plot_data *d, const struct plot_term *t)
{
	unsigned cols = plot_term_cols(t), rows = PLOT_TERM_RATE_ROWS;
	double *rate = calloc(cols, sizeof(double)), *t0 = calloc(cols, sizeof(double)), top = 0;
	char num[32], label[64];

	if (!rate || !t0)
		goto out;
	unsigned n = plot_rate_bins(d, cols, rate, t0);
	for (unsigned c = 0; c < n; c++)
		top = rate[c] > top ? rate[c] : top;
	uint64_t w = (d->nr_iv + cols - 1) / cols;
	unsigned per = plot_term_stretch(t, n, w);
	unsigned room = plot_term_right(t, n * per, per);
	const struct report_rates *r = &d->rp.rates;
	double mean = plot_mib(d, r->mean);

	fprintf(t->f, "dirty rate, MiB/s: mean %.4g, least %.4g, most %.4g, overall %.4g over %llu "
		      "intervals%s",
		mean, plot_mib(d, r->min), plot_mib(d, r->max), plot_mib(d, r->overall),
		(unsigned long long)r->n, d->h->flags & TRACE_ESTIMATE ? " (estimates)" : "");
	if (per > 1)
		fprintf(t->f, "; an interval: %u columns (its pages over its time)\n", per);
	else
		fprintf(t->f, "; a column: %llu interval%s (its pages over its time)\n",
			(unsigned long long)w, w > 1 ? "s" : "");
	unsigned mean_row = top > 0 ? (unsigned)fmin(rows - 1, floor(mean / top * rows))
				    : 0;
	for (unsigned k = rows; k-- > 0;) {
		label[0] = 0;
		if (k == mean_row) {
			plot_term_num(num, sizeof(num), mean, PLOT_TERM_LEFT - 5);
			snprintf(label, sizeof(label), "mean %s", num);
		} else if (k == rows - 1) {
			plot_term_num(label, sizeof(label), top, PLOT_TERM_LEFT);
		}
		fprintf(t->f, "%*s |", PLOT_TERM_LEFT, label);
		for (unsigned c = 0; c < n; c++) {
			double v = top > 0 ? rate[c] / top * rows : 0;
			plot_rate_put(t, plot_rate_cell(t, v, k, k == mean_row), per);
		}
		fprintf(t->f, "|\n");
	}
	/* the sparkline: the same columns, shaded from the least column (".") to the most ("@"),
	 * so that variations a bar from 0 hides show */
	double lo = top;
	for (unsigned c = 0; c < n; c++)
		lo = rate[c] < lo ? rate[c] : lo;
	plot_term_num(num, sizeof(num), lo, PLOT_TERM_LEFT);
	fprintf(t->f, "%*s |", PLOT_TERM_LEFT, num);
	for (unsigned c = 0; c < n; c++)
		plot_rate_put(t, plot_term_shade(t, top > lo ? 0.01 + 0.99 * (rate[c] - lo) /
								     (top - lo)
							   : 1),
			      per);
	/* " to " and 5 characters, which any number fits in; else the number alone */
	bool to = room >= 4 + 5;
	plot_term_num(num, sizeof(num), top, room - (to ? 4 : 1));
	fprintf(t->f, "|%s%s\n", to ? " to " : " ", num);
	plot_term_time_axis(t, t0, n, per, d->iv[d->nr_iv - 1].t_end);
out:
	free(rate);
	free(t0);
}

static int plot_rate_data(const struct plot_data *d, struct gnuplot_job *g)
{
	FILE *f;
	int err = gnuplot_job_file(g, "rate.dat", &f);

	if (err)
		return err;
	const struct report_rates *r = &d->rp.rates;

	fprintf(f, "# dpt plot: the dirty rate of %s: dpt report's counted intervals of positive "
		   "length, one a line\n", d->path);
	fprintf(f, "# intervals %llu mean %.17g overall %.17g pages/s, page size %u\n",
		(unsigned long long)r->n, r->mean, r->overall, d->h->page_size);
	fprintf(f, "# seq t_start_s t_end_s dirty_pages total_pages pages_per_s mib_per_s\n");
	for (size_t i = 0; i < d->nr_iv; i++) {
		const struct plot_interval *v = &d->iv[i];
		double len = v->t_end - v->t_start;
		if (len <= 0)
			continue;
		fprintf(f, "%llu %.9f %.9f %llu %llu %.17g %.17g\n", (unsigned long long)v->seq,
			v->t_start, v->t_end, (unsigned long long)v->dirty,
			(unsigned long long)v->total, (double)v->dirty / len,
			plot_mib(d, (double)v->dirty / len));
	}
	if (fclose(f))
		return dpt_fail(-errno, "%s/rate.dat: %s", g->dir, strerror(errno));
	return 0;
}

int plot_rate_gnuplot(const struct plot_data *d, struct gnuplot_job *g, const char *output)
{
	char desc[512], title[600];
	FILE *s = g->script;
	int err = plot_rate_data(d, g);

	if (err)
		return err;
	plot_describe(d, desc, sizeof(desc));
	snprintf(title, sizeof(title), "dirty rate: %s", desc);
	gnuplot_job_page(g, output, title);
	fprintf(s, "set xlabel 'time (s)'\n");
	fprintf(s, "set ylabel 'dirty rate (MiB/s)'\n");
	fprintf(s, "set xrange [%.9f:%.9f]\n", d->iv[0].t_start, d->iv[d->nr_iv - 1].t_end);
	fprintf(s, "set yrange [0:*]\n");
	fprintf(s, "set grid ytics\n");
	fprintf(s, "set key below\n");
	fprintf(s, "set style fill solid 0.7 noborder\n");
	fprintf(s, "plot 'rate.dat' using (($2+$3)/2):7:($3-$2) with boxes lc rgb '#4a78b0' "
		   "title 'per interval', \\\n");
	fprintf(s, "     %.9g with lines dt 2 lw 2 lc rgb '#c02828' title 'mean %.4g MiB/s'\n",
		plot_mib(d, d->rp.rates.mean), plot_mib(d, d->rp.rates.mean));
	return 0;
}
