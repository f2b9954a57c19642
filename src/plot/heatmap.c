/* heatmap.c - pages × time: which part of memory is written when.
 *
 * The bins come from src/analysis/heatmap.c (one pass, at most rows × columns cells): a row is
 * P consecutive pages, a column W consecutive intervals, a cell's value the share of its
 * page-intervals that were dirty. Pages go down, time goes right, as in DAMON's heat maps.
 * 1. Terminal: a character a cell from a ramp scaled to the most dirty cell (' ' none,
 *    ".:-=+*#%@" up to the most, '?' not tracked: a lost interval), so that a hot band shows
 *    even when every share is small; each row labelled with its first page on the left and
 *    with the regions that begin in it on the right, the time axis below. With fewer
 *    intervals than columns, each interval takes the same whole number of columns
 *    (plot_term_stretch()); the rows are the same either way.
 * 2. gnuplot: heatmap.dat, a matrix (a line per row, a value per column, NaN where nothing
 *    was tracked) drawn as an image, colour = share, from 0 to the most dirty cell's share
 *    (the colour box says which); heatmap-cols.dat, each column's
 *    intervals and times (the x axis is labelled with them, so sessions apart in time stay
 *    side by side); region boundaries as dashed lines with their names.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "dpt/log.h"
#include "plot/plot.h"

/* Regions (spans of report's trace-wide numbering) beginning in row r: the first one's name,
 * and how many there are. */
static unsigned plot_heat_regions(const struct plot_data *d, unsigned r, const char **name)
{
	const struct numbering *nb = &d->rp.nb;
	uint64_t a = heatmap_row_first(&d->hm, r), b = a + d->hm.pages_per_row;
	unsigned n = 0;

	for (unsigned i = 0; i < nb->nr_spans; i++) {
		uint64_t p = nb->spans[i].first;
		if (p < a || p >= b || !nb->spans[i].pages)
			continue;
		if (!n++)
			*name = nb->spans[i].name[0] ? nb->spans[i].name : "(pages)";
	}
	return n;
}

/* The share of the most dirty cell. */
static double plot_heat_top(const struct heatmap *hm)
{
	double top = 0;

	for (unsigned r = 0; r < hm->rows; r++)
		for (unsigned c = 0; c < hm->cols; c++) {
			double v = heatmap_share(hm, r, c);
			top = v > top ? v : top; /* NaN compares false */
		}
	return top;
}

static void plot_heat_legend(const struct plot_data *d, const struct plot_term *t, double top,
			     unsigned per)
{
	const struct heatmap *hm = &d->hm;

	fprintf(t->f, "dirty pages, page x time: a row = %llu page%s, ",
		(unsigned long long)hm->pages_per_row, hm->pages_per_row > 1 ? "s" : "");
	if (per > 1)
		fprintf(t->f, "an interval = %u columns", per);
	else
		fprintf(t->f, "a column = %llu interval%s", (unsigned long long)hm->intervals_per_col,
			hm->intervals_per_col > 1 ? "s" : "");
	fprintf(t->f, "; the share of each bin dirty:\n");
	fprintf(t->f, "' ' none, then ");
	for (int i = 1; i <= (t->utf8 ? 4 : 9); i++)
		fputs(plot_term_shade(t, i / (t->utf8 ? 4.0 : 9.0)), t->f);
	fprintf(t->f, " up to the most dirty bin (%.3g %% of its page-intervals), '?' not "
		      "tracked\n",
		100 * top);
}

void plot_heatmap_term(const struct plot_data *d, const struct plot_term *t)
{
	const struct heatmap *hm = &d->hm;
	double t0[PLOT_TERM_MAX_COLS];
	double top = plot_heat_top(hm);
	unsigned per = plot_term_stretch(t, hm->cols, hm->intervals_per_col);
	int room = (int)plot_term_right(t, hm->cols * per, per);
	char num[32];

	plot_heat_legend(d, t, top, per);
	fprintf(t->f, "%*s +", PLOT_TERM_LEFT, "page");
	for (unsigned c = 0; c < hm->cols * per; c++)
		fputc('-', t->f);
	fprintf(t->f, "+\n");
	for (unsigned r = 0; r < hm->rows; r++) {
		const char *name = NULL;
		unsigned n = plot_heat_regions(d, r, &name);
		plot_term_num(num, sizeof(num), (double)heatmap_row_first(hm, r), PLOT_TERM_LEFT);
		fprintf(t->f, "%*s |", PLOT_TERM_LEFT, num);
		for (unsigned c = 0; c < hm->cols; c++) {
			const char *s = plot_term_shade(t, top > 0 ? heatmap_share(hm, r, c) / top : 0);
			for (unsigned i = 0; i < per; i++)
				fputs(s, t->f);
		}
		fprintf(t->f, "|");
		if (n == 1)
			fprintf(t->f, " %.*s", room - 1, name);
		else if (n > 1)
			fprintf(t->f, " %.*s +%u", room - 6, name, n - 1);
		fprintf(t->f, "\n");
	}
	for (unsigned c = 0; c < hm->cols && c < PLOT_TERM_MAX_COLS; c++)
		t0[c] = hm->col[c].t_start;
	plot_term_time_axis(t, t0, hm->cols, per, hm->col[hm->cols - 1].t_end);
	if (d->rp.nb.changes)
		fprintf(t->f, "(the region table changed %u times: pages are known by region name "
			      "and address, a new region's pages come after the others)\n",
			d->rp.nb.changes);
}

static int plot_heat_data(const struct plot_data *d, struct gnuplot_job *g)
{
	const struct heatmap *hm = &d->hm;
	FILE *f, *cf;
	int err;

	if ((err = gnuplot_job_file(g, "heatmap.dat", &f)))
		return err;
	fprintf(f, "# dpt plot: heat map of %s: the share of each bin's page-intervals dirty\n",
		d->path);
	fprintf(f, "# rows %u cols %u pages_per_row %llu intervals_per_col %llu pages %llu "
		   "intervals %llu\n",
		hm->rows, hm->cols, (unsigned long long)hm->pages_per_row,
		(unsigned long long)hm->intervals_per_col, (unsigned long long)hm->pages,
		(unsigned long long)hm->intervals);
	fprintf(f, "# a line per row (pages from row * pages_per_row), a value per column "
		   "(intervals from col * intervals_per_col); NaN: no page tracked\n");
	for (unsigned r = 0; r < hm->rows; r++)
		for (unsigned c = 0; c < hm->cols; c++)
			fprintf(f, "%.9g%c", heatmap_share(hm, r, c), c + 1 < hm->cols ? ' ' : '\n');
	if (fclose(f))
		return dpt_fail(-errno, "%s/heatmap.dat: %s", g->dir, strerror(errno));
	if ((err = gnuplot_job_file(g, "heatmap-cols.dat", &cf)))
		return err;
	fprintf(cf, "# col first_interval intervals t_start_s t_end_s\n");
	for (unsigned c = 0; c < hm->cols; c++)
		fprintf(cf, "%u %llu %llu %.9f %.9f\n", c, (unsigned long long)hm->col[c].first,
			(unsigned long long)hm->col[c].intervals, hm->col[c].t_start,
			hm->col[c].t_end);
	if (fclose(cf))
		return dpt_fail(-errno, "%s/heatmap-cols.dat: %s", g->dir, strerror(errno));
	return 0;
}

/* Time labels at about 8 column boundaries, none too close to the end's, and the end; with
 * decimals enough for the span. */
static void plot_heat_xtics(const struct plot_data *d, FILE *s)
{
	const struct heatmap *hm = &d->hm;
	unsigned step = hm->cols > 8 ? (hm->cols + 7) / 8 : 1;
	double span = hm->col[hm->cols - 1].t_end - hm->col[0].t_start;
	int dec = span > 0 ? 2 - (int)floor(log10(span)) : 3;

	dec = dec < 0 ? 0 : dec > 6 ? 6 : dec;
	fprintf(s, "set xtics (");
	for (unsigned c = 0; c < hm->cols && (!c || c + step / 2 < hm->cols); c += step)
		fprintf(s, "\"%.*f\" %u, ", dec, hm->col[c].t_start, c);
	fprintf(s, "\"%.*f\" %u)\n", dec, hm->col[hm->cols - 1].t_end, hm->cols);
}

/* Dashed lines where regions begin, names where there is room for them. */
static void plot_heat_regions_gnuplot(const struct plot_data *d, FILE *s)
{
	const struct numbering *nb = &d->rp.nb;
	unsigned lines = 0, labels = 0;

	for (unsigned i = 0; i < nb->nr_spans && lines < 200; i++) {
		const struct numbering_span *rg = &nb->spans[i];
		if (rg->first) {
			fprintf(s, "set arrow from graph 0, first %llu to graph 1, first %llu nohead "
				   "front lc rgb '#1f5fbf' dt 2 lw 1\n",
				(unsigned long long)rg->first, (unsigned long long)rg->first);
			lines++;
		}
		/* a region that grew has more spans: its name once */
		if (labels < 40 && rg->name[0] && rg->pages * 40 >= d->hm.pages &&
		    (!i || strcmp(nb->spans[i - 1].name, rg->name))) {
			fprintf(s, "set label ");
			gnuplot_quote(s, rg->name);
			fprintf(s, " at graph 0.005, first %llu offset 0,-0.8 front tc rgb '#1f5fbf'\n",
				(unsigned long long)rg->first);
			labels++;
		}
	}
}

int plot_heatmap_gnuplot(const struct plot_data *d, struct gnuplot_job *g, const char *output)
{
	const struct heatmap *hm = &d->hm;
	char desc[512], title[600];
	FILE *s = g->script;
	double top = plot_heat_top(hm);
	int err = plot_heat_data(d, g);

	if (err)
		return err;
	plot_describe(d, desc, sizeof(desc));
	snprintf(title, sizeof(title), "dirty pages: %s", desc);
	gnuplot_job_page(g, output, title);
	fprintf(s, "set xlabel 'time (s); a column = %llu interval%s'\n",
		(unsigned long long)hm->intervals_per_col, hm->intervals_per_col > 1 ? "s" : "");
	fprintf(s, "set ylabel 'page (a row = %llu page%s)'\n",
		(unsigned long long)hm->pages_per_row, hm->pages_per_row > 1 ? "s" : "");
	fprintf(s, "set cblabel 'share of the bin dirty'\n");
	fprintf(s, "set cbrange [0:%.9g]\n", top > 0 ? top : 1);
	fprintf(s, "set palette defined (0 '#ffffff', 0.0001 '#fff7bc', 0.25 '#fec44f', "
		   "0.5 '#ec7014', 0.75 '#b3340b', 1 '#4a0c02')\n");
	fprintf(s, "set xrange [0:%u]\n", hm->cols);
	fprintf(s, "set yrange [%llu:0]\n", (unsigned long long)hm->pages);
	fprintf(s, "set format y '%%.0f'\n");
	fprintf(s, "set tics out\n");
	plot_heat_xtics(d, s);
	plot_heat_regions_gnuplot(d, s);
	fprintf(s, "plot 'heatmap.dat' matrix using ($1+0.5):(($2+0.5)*%llu):3 with image "
		   "notitle\n",
		(unsigned long long)hm->pages_per_row);
	return 0;
}
