/* predict.c - dpt plot --kind predict: the migration forecast over bandwidths x downtime
 * limits (the table of dpt predict --sweep) as a picture.
 *
 * The sweep is predict_sweep()'s (src/analysis/predict.c), one replay per cell in one read of
 * the trace. In the terminal: per downtime limit, a bar per bandwidth whose length is the
 * total time on a log scale, the time and downtime beside it, "does not converge" where it
 * does not. Through gnuplot: total time against bandwidth, both axes logarithmic, one line per
 * limit; a cell that does not converge leaves a gap, and the key says so.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/log.h"
#include "plot/plot.h"

static double mib(double b)
{
	return b / 1048576.0;
}

void plot_predict_term(const struct plot_sweep *sw, const struct plot_term *t)
{
	double lo = INFINITY, hi = 0;
	unsigned label = 16, text = 26;
	unsigned bar = t->width > label + text + 10 ? t->width - label - text - 2 : 8;

	for (unsigned k = 0; k < sw->nr_bws * sw->nr_limits; k++)
		if (sw->res[k].status == PREDICT_CONVERGED && sw->res[k].total_time > 0) {
			lo = fmin(lo, sw->res[k].total_time);
			hi = fmax(hi, sw->res[k].total_time);
		}
	fprintf(t->f, "migration forecast: total time by max-bandwidth (QEMU 7.2 precopy, from "
		       "%.3f s of the trace; bars on a log scale)\n", sw->start);
	for (unsigned j = 0; j < sw->nr_limits; j++) {
		fprintf(t->f, "\ndowntime limit %.0f ms\n", sw->limits[j] * 1000);
		for (unsigned i = 0; i < sw->nr_bws; i++) {
			const struct predict_result *r = &sw->res[i * sw->nr_limits + j];
			char lab[32];
			snprintf(lab, sizeof(lab), "%.4g MiB/s", mib(sw->bws[i]));
			fprintf(t->f, "  %-*s", label - 2, lab);
			if (r->status != PREDICT_CONVERGED) {
				fprintf(t->f, "%s\n", r->status == PREDICT_DIVERGES
							      ? "does not converge"
							      : "not decided");
				continue;
			}
			unsigned n = 1;
			if (hi > lo && r->total_time > 0)
				n += (unsigned)((bar - 1) * log(r->total_time / lo) / log(hi / lo));
			for (unsigned c = 0; c < n; c++)
				fputs(t->utf8 ? "\u2588" : "#", t->f);
			fprintf(t->f, "%*s %9.3f s, down %.3f s\n", (int)(bar - n), "", r->total_time,
				r->downtime);
		}
	}
}

int plot_predict_gnuplot(const struct plot_sweep *sw, struct gnuplot_job *g, const char *output)
{
	FILE *f, *s = g->script;
	char title[600];
	int err = gnuplot_job_file(g, "predict.dat", &f);

	if (err)
		return err;
	fprintf(f, "# dpt plot: migration forecast for %s from %.3f s: total time (s) and downtime "
		   "(s) per downtime limit, NaN where it does not converge\n# bandwidth_mib_s",
		sw->path, sw->start);
	for (unsigned j = 0; j < sw->nr_limits; j++)
		fprintf(f, " total_%gms down_%gms", sw->limits[j] * 1000, sw->limits[j] * 1000);
	fprintf(f, "\n");
	bool any = false, gaps = false;
	for (unsigned i = 0; i < sw->nr_bws; i++) {
		fprintf(f, "%.9g", mib(sw->bws[i]));
		for (unsigned j = 0; j < sw->nr_limits; j++) {
			const struct predict_result *r = &sw->res[i * sw->nr_limits + j];
			if (r->status == PREDICT_CONVERGED && r->total_time > 0) {
				fprintf(f, " %.9g %.9g", r->total_time, r->downtime);
				any = true;
			} else {
				fprintf(f, " NaN NaN");
				gaps = true;
			}
		}
		fprintf(f, "\n");
	}
	if (fclose(f))
		return dpt_fail(-errno, "%s/predict.dat: %s", g->dir, strerror(errno));
	snprintf(title, sizeof(title), "migration forecast from %.1f s: %.80s", sw->start, sw->desc);
	gnuplot_job_page(g, output, title);
	fprintf(s, "set xlabel 'max-bandwidth (MiB/s), QEMU 7.2 precopy%s'\n",
		gaps ? "; a gap: does not converge" : "");
	fprintf(s, "set xrange [%g:%g]\n", mib(sw->bws[0]) * 0.9,
		mib(sw->bws[sw->nr_bws - 1]) * 1.1);
	fprintf(s, "set ylabel 'total migration time (s)'\n");
	fprintf(s, "set logscale xy\n");
	fprintf(s, "set grid xtics ytics\n");
	fprintf(s, "set key below\n");
	fprintf(s, "set datafile missing 'NaN'\n");
	if (!any) { /* nothing converges: an empty frame over the bandwidths, and a key saying so */
		fprintf(s, "set yrange [1:10]\n");
		fprintf(s, "plot 1/0 title 'does not converge at any bandwidth and limit here'\n");
		return 0;
	}
	fprintf(s, "plot ");
	for (unsigned j = 0; j < sw->nr_limits; j++)
		fprintf(s, "%s'predict.dat' using 1:%u with linespoints lw 2 title 'downtime limit "
			   "%g ms'",
			j ? ", \\\n     " : "", 2 + 2 * j, sw->limits[j] * 1000);
	fprintf(s, "\n");
	return 0;
}
