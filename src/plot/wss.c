/* wss.c - the working-set curve N(t): distinct pages dirtied within a window of length t.
 *
 * The curve is dpt report's (src/analysis/wss.c, exact, one pass): for windows of k = 1, 2,
 * 4, ... and n intervals, the mean and the most distinct pages dirtied in a window of k
 * consecutive counted intervals. t is k times the mean measured interval, as report says.
 * 1. Terminal: a table, a line per k: t, k, windows, mean and most pages, the mean in MiB,
 *    and a bar of the mean scaled to the largest most.
 * 2. gnuplot: wss.dat, a line per k; the mean and the most against t on log-log axes (a
 *    straight line of slope 1 is a working set that keeps growing: no reuse).
 */
#include <errno.h>
#include <string.h>

#include "analysis/wss.h"
#include "dpt/log.h"
#include "plot/plot.h"

/* Window length in seconds of k intervals: k times the mean measured interval, as dpt
 * report says it. */
static double plot_wss_t(const struct plot_data *d, uint64_t k)
{
	return (double)k * report_interval_s(&d->rp);
}

void plot_wss_term(const struct plot_data *d, const struct plot_term *t)
{
	const struct wss_curve *cv = d->rp.curve;
	unsigned bar = t->width > 70 ? t->width - 70 : 8;
	double top = 0;

	fprintf(t->f, "working set N(t): distinct pages dirtied within t (k intervals); %llu "
		      "intervals, %llu distinct pages of %llu\n",
		(unsigned long long)cv->intervals, (unsigned long long)cv->distinct,
		(unsigned long long)cv->pages);
	fprintf(t->f, "%10s %8s %8s %12s %10s %9s  mean\n", "t (s)", "k", "windows", "mean pages",
		"most", "mean MiB");
	for (unsigned i = 0; i < cv->nr_points; i++)
		top = (double)cv->points[i].max > top ? (double)cv->points[i].max : top;
	for (unsigned i = 0; i < cv->nr_points; i++) {
		const struct wss_point *p = &cv->points[i];
		fprintf(t->f, "%10.4g %8llu %8llu %12.1f %10llu %9.2f  |", plot_wss_t(d, p->k),
			(unsigned long long)p->k, (unsigned long long)p->windows, p->mean,
			(unsigned long long)p->max, plot_mib(d, p->mean));
		unsigned n = top > 0 ? (unsigned)(p->mean / top * bar + 0.5) : 0;
		for (unsigned j = 0; j < n; j++)
			fputs(t->utf8 ? "\u2588" : "#", t->f);
		fprintf(t->f, "\n");
	}
}

static int plot_wss_data(const struct plot_data *d, struct gnuplot_job *g)
{
	const struct wss_curve *cv = d->rp.curve;
	FILE *f;
	int err = gnuplot_job_file(g, "wss.dat", &f);

	if (err)
		return err;
	fprintf(f, "# dpt plot: the working-set curve N(t) of %s: distinct pages dirtied in a "
		   "window of k intervals\n",
		d->path);
	fprintf(f, "# intervals %llu pages %llu distinct %llu\n", (unsigned long long)cv->intervals,
		(unsigned long long)cv->pages, (unsigned long long)cv->distinct);
	fprintf(f, "# k t_s windows mean_pages max_pages\n");
	for (unsigned i = 0; i < cv->nr_points; i++) {
		const struct wss_point *p = &cv->points[i];
		fprintf(f, "%llu %.17g %llu %.17g %llu\n", (unsigned long long)p->k,
			plot_wss_t(d, p->k), (unsigned long long)p->windows, p->mean,
			(unsigned long long)p->max);
	}
	if (fclose(f))
		return dpt_fail(-errno, "%s/wss.dat: %s", g->dir, strerror(errno));
	return 0;
}

int plot_wss_gnuplot(const struct plot_data *d, struct gnuplot_job *g, const char *output)
{
	char desc[512], title[600];
	FILE *s = g->script;
	int err = plot_wss_data(d, g);

	if (err)
		return err;
	plot_describe(d, desc, sizeof(desc));
	snprintf(title, sizeof(title), "working set N(t): %s", desc);
	gnuplot_job_page(g, output, title);
	fprintf(s, "set logscale xy\n");
	fprintf(s, "set xlabel 'window t (s)'\n");
	fprintf(s, "set ylabel 'distinct pages dirtied within t (%u bytes each)'\n",
		d->h->page_size);
	fprintf(s, "set grid xtics ytics mxtics mytics\n");
	fprintf(s, "set key top left opaque\n");
	fprintf(s, "set format y '%%.0f'\n");
	fprintf(s, "plot 'wss.dat' using 2:5 with linespoints pt 7 ps 0.6 lc rgb '#c02828' "
		   "title 'most', \\\n");
	fprintf(s, "     '' using 2:4 with linespoints pt 5 ps 0.6 lc rgb '#4a78b0' "
		   "title 'mean'\n");
	return 0;
}
