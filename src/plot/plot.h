/* plot.h - dpt plot: pictures of a trace, in the terminal or through gnuplot.
 *
 * Three kinds, one file each (its mechanism at its top): rate.c (the dirty rate over time and
 * its mean), wss.c (the working-set curve N(t)), heatmap.c (pages × time, the share of each
 * bin dirty). Their data come from one pass over the trace (data.c, library code); each kind
 * then draws itself in the terminal (plain ASCII, or UTF-8 ramps) or writes its data files and
 * its part of a gnuplot script (gnuplot.c runs gnuplot as a child process).
 *
 *	struct plot_data d;
 *	plot_data_read(&d, "x.dpt", &opts);   one pass: rates, N(t), heat map bins
 *	plot_rate_term(&d, &term); ...        or plot_rate_gnuplot(&d, &job, output) ...
 *	plot_data_fini(&d);
 */
#ifndef DPT_PLOT_H
#define DPT_PLOT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "analysis/heatmap.h"
#include "analysis/predict.h"
#include "analysis/report.h"
#include "dpt/trace.h"

enum plot_kind {
	PLOT_RATE = 1 << 0,
	PLOT_WSS = 1 << 1,
	PLOT_HEATMAP = 1 << 2,
	PLOT_ALL = PLOT_RATE | PLOT_WSS | PLOT_HEATMAP,
	PLOT_SETS = PLOT_WSS | PLOT_HEATMAP, /* the kinds that need dirty sets */
};

/* Gnuplot's heat map: at most this many page bins (rows) and interval bins (columns). */
#define PLOT_HEAT_ROWS 1000
#define PLOT_HEAT_COLS 2000

struct plot_opts {
	unsigned kinds;		       /* enum plot_kind */
	int64_t from_ns, to_ns;	       /* the cut, as dpt report's (to_ns < 0: the end) */
	unsigned top;		       /* report's hot ranges (0: 10) */
	unsigned heat_rows, heat_cols; /* the heat map's most bins */
	bool what_it_can;	       /* draw the kinds the trace allows, drop the others */
};

/* One counted interval, as the rate plot draws it. */
struct plot_interval {
	uint64_t seq;
	double t_start, t_end; /* seconds since the trace's start (monotonic) */
	uint64_t dirty, total;
	unsigned flags;	       /* enum dpt_sample_flags */
};

struct plot_data {
	const char *path;
	struct report rp;	      /* dpt report's numbers: rates, N(t), numbering, regions */
	const struct trace_header *h; /* &rp.h */
	unsigned kinds;		      /* drawable */
	unsigned dropped;	      /* asked, but not drawable from this trace */
	struct plot_interval *iv;     /* report's counted intervals, in order */
	size_t nr_iv, cap_iv;
	struct heatmap hm;	      /* pages in report's trace-wide numbering */
};

/* One pass over the trace at path (report_compute()): the kinds asked, for the intervals of
 * the cut. On a counts-only trace, the kinds that need sets are dropped (what_it_can) or
 * refused with -EINVAL. -ENODATA when no interval is counted. On failure d is cleaned up. */
int plot_data_read(struct plot_data *d, const char *path, const struct plot_opts *o);
void plot_data_fini(struct plot_data *d);

/* Bytes to MiB, a rate in MiB/s of a count of pages over seconds. */
double plot_mib(const struct plot_data *d, double pages);

/* ---- the terminal ---- */

struct plot_term {
	FILE *f;
	unsigned width;	 /* columns of the terminal */
	unsigned height; /* rows of the heat map */
	bool utf8;	 /* block-character ramps */
};

/* A chart is PLOT_TERM_LEFT columns of labels, then its columns, then a border and labels. */
#define PLOT_TERM_LEFT	10
#define PLOT_TERM_RIGHT 14
#define PLOT_TERM_RIGHT_MIN 7 /* what a stretched chart leaves its right labels, at least */
#define PLOT_TERM_MAX_COLS 960
#define PLOT_TERM_RATE_ROWS 8 /* rows of the rate chart */

/* The character a level in [0, 1] is drawn with: ' ' for 0, then the ramp ".:-=+*#%@"
 * (ceil(9 level)); UTF-8: "░▒▓█" (ceil(4 level)); '?' for unknown (NaN). */
const char *plot_term_shade(const struct plot_term *t, double level);
/* Columns a chart may take in the terminal's width (PLOT_TERM_RIGHT left for its labels): at
 * most this many bins, one column each. */
unsigned plot_term_cols(const struct plot_term *t);
/* Columns each of bins bins of per_bin intervals is drawn with: 1, unless a bin is one
 * interval and they are fewer than plot_term_cols(); then each gets the same whole number
 * of columns, floor(avail / bins), avail the width less the left labels, the borders and
 * PLOT_TERM_RIGHT_MIN. */
unsigned plot_term_stretch(const struct plot_term *t, unsigned bins, uint64_t per_bin);
/* Room for the labels right of a chart of cols columns (after its '|'): PLOT_TERM_RIGHT, or
 * when stretched (per > 1) what the width leaves, between PLOT_TERM_RIGHT_MIN and that. */
unsigned plot_term_right(const struct plot_term *t, unsigned cols, unsigned per);
/* The bottom border and the time axis under a chart of bins bins of per columns each, bin c
 * starting at t_start[c] (seconds), the last one ending at t_end: labels every few bins
 * (1, 2, 5, 10, 20, 50, ...), each under its bin's first column, and the end's under the
 * closing border; times with decimals enough for the span. */
void plot_term_time_axis(const struct plot_term *t, const double *t_start, unsigned bins,
			 unsigned per, double t_end);
/* A number in at most width characters ("%.*g", shortest that fits). */
void plot_term_num(char *buf, size_t len, double v, unsigned width);

void plot_rate_term(const struct plot_data *d, const struct plot_term *t);
void plot_wss_term(const struct plot_data *d, const struct plot_term *t);
void plot_heatmap_term(const struct plot_data *d, const struct plot_term *t);

/* ---- gnuplot ---- */

struct gnuplot_job {
	char dir[4096];	 /* the data files and the script */
	bool keep;	 /* a directory the user named: left in place */
	FILE *script;	 /* dir/plot.gp */
	const char *terminal; /* set terminal ... (without the size) */
	unsigned width, height; /* pixels (PDF: points) */
};

/* The terminal for an output file's extension (.svg, .png, .pdf), or NULL. */
const char *gnuplot_terminal(const char *path);
/* A job writing into keep_dir (created if needed), or into a fresh temporary directory. */
int gnuplot_job_init(struct gnuplot_job *g, const char *keep_dir, const char *terminal,
		     unsigned width, unsigned height);
/* Create dir/name for writing (the caller closes it). */
int gnuplot_job_file(struct gnuplot_job *g, const char *name, FILE **f);
/* Start a plot in the script: terminal, size, output (a path, quoted here), title. */
void gnuplot_job_page(struct gnuplot_job *g, const char *output, const char *title);
/* Run gnuplot on the script; 0 when it exited 0. */
int gnuplot_job_run(struct gnuplot_job *g);
/* Remove the temporary directory (not a kept one). Safe on a half-built job. */
void gnuplot_job_fini(struct gnuplot_job *g);
/* Write s as a gnuplot string literal (double quotes, escaped). */
void gnuplot_quote(FILE *f, const char *s);

int plot_rate_gnuplot(const struct plot_data *d, struct gnuplot_job *g, const char *output);
int plot_wss_gnuplot(const struct plot_data *d, struct gnuplot_job *g, const char *output);
int plot_heatmap_gnuplot(const struct plot_data *d, struct gnuplot_job *g, const char *output);

/* A forecast sweep (dpt plot --kind predict): res[i * nr_limits + j] for bws[i], limits[j]. */
struct plot_sweep {
	const char *path, *desc; /* the trace, and its description for titles */
	double start;		 /* the migration's start, s from the trace's start */
	const double *bws, *limits;
	unsigned nr_bws, nr_limits;
	const struct predict_result *res;
};

void plot_predict_term(const struct plot_sweep *sw, const struct plot_term *t);
int plot_predict_gnuplot(const struct plot_sweep *sw, struct gnuplot_job *g, const char *output);

/* Reserve a hidden temporary file .NAME.XXXXXX beside name (an absolute path into *tmp, to
 * free), with the mode a new file would get: the output is written there and renamed into
 * place when whole, so no half-written file is ever left under its name. An unwritable
 * place fails here, before any work. */
int plot_reserve_output(const char *name, char **tmp);

/* A one-line description of the trace for titles: target, tracker and mode. */
void plot_describe(const struct plot_data *d, char *buf, size_t len);

#endif
