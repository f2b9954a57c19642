/* cmd-plot.c - `dpt plot`: a trace drawn in the terminal, or into SVG, PNG or PDF files.
 *
 * 1. Options; an output's extension picks gnuplot's terminal (svg, pngcairo, pdfcairo).
 * 2. With -o, each file to write is first reserved as a hidden temporary file beside it
 *    (.NAME.XXXXXX): an unwritable place fails before the trace is read, and gnuplot never
 *    writes the real name. The files are renamed into place only once gnuplot succeeded;
 *    on any failure they are removed: no partial output.
 * 3. One pass over the trace (src/plot/data.c), then each kind draws itself (src/plot/).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "dpt/log.h"
#include "dpt/parse.h"
#include "plot/plot.h"

enum {
	OPT_FROM = OPT_RUN_LAST,
	OPT_TO,
	OPT_HEIGHT,
	OPT_UTF8,
	OPT_SIZE,
	OPT_KEEP,
	OPT_START,
	OPT_BWS,
	OPT_LIMITS,
};

static const struct option plot_longopts[] = {
	{"kind", required_argument, 0, 'k'},	{"output", required_argument, 0, 'o'},
	{"from", required_argument, 0, OPT_FROM}, {"to", required_argument, 0, OPT_TO},
	{"width", required_argument, 0, 'w'},	{"height", required_argument, 0, OPT_HEIGHT},
	{"utf8", no_argument, 0, OPT_UTF8},	{"size", required_argument, 0, OPT_SIZE},
	{"keep-data", required_argument, 0, OPT_KEEP}, {"help", no_argument, 0, 'h'},
	{"start", required_argument, 0, OPT_START}, {"bandwidths", required_argument, 0, OPT_BWS},
	{"limits", required_argument, 0, OPT_LIMITS},
	{0},
};

static const char plot_usage[] =
	"usage: dpt plot TRACE.dpt [--kind rate|wss|heatmap|all] [-o OUT.svg|OUT.png|OUT.pdf]\n"
	"                [--from T] [--to T] [--width N] [--height N] [--utf8]\n"
	"                [--size WxH] [--keep-data DIR]\n"
	"       dpt plot TRACE.dpt --kind predict [--start T] [--bandwidths LIST] [--limits LIST]\n"
	"                [-o OUT.svg|OUT.png|OUT.pdf]\n\n"
	"Draw a trace: its dirty rate over time, its working-set curve N(t), a page x time heat\n"
	"map. In the terminal by default (plain ASCII); into a file through gnuplot with -o.\n\n"
	"  -k, --kind K         rate | wss | heatmap | all (default all: every kind the trace\n"
	"                       allows; a trace of counts only has a rate, no pages) | predict\n"
	"                       (dpt predict --sweep's forecast: migration time by bandwidth,\n"
	"                       a line per downtime limit; with --start, --bandwidths, --limits\n"
	"                       as dpt predict takes them)\n"
	"  -o, --output FILE    draw into FILE with gnuplot, by its extension: .svg, .png, .pdf;\n"
	"                       with --kind all, a file per kind: OUT-rate.svg, OUT-wss.svg,\n"
	"                       OUT-heatmap.svg (OUT: FILE without its extension)\n"
	"      --from T         start of the cut: seconds from the trace's start (10, 1.5, 2m,\n"
	"                       500ms)\n"
	"      --to T           end of the cut, likewise; +D: D after --from (default: the end);\n"
	"                       an interval is drawn when its middle is in [from, to), as in\n"
	"                       dpt report\n"
	"  -w, --width N        terminal columns (default $COLUMNS, else 80)\n"
	"      --height N       rows of the terminal heat map (default 20)\n"
	"      --utf8           shades drawn with block characters\n"
	"      --size WxH       image size in pixels, PDF in points (default 900x560)\n"
	"      --keep-data DIR  keep gnuplot's data files, script and log in DIR\n"
	"  -h, --help           this text\n";

struct plot_cmd {
	const char *trace, *output, *keep, *to;
	const char *terminal;
	bool predict; /* --kind predict */
	double start, bws[CMD_PREDICT_MAX_LIST], limits[CMD_PREDICT_MAX_LIST];
	unsigned nr_bws, nr_limits;
	struct plot_opts po;
	struct plot_term term;
	unsigned width, height; /* image */
	char *tmp[3], *final[3]; /* per kind: the reserved temporary file, the name to give it */
};

static const char *const plot_kind_names[] = {"rate", "wss", "heatmap"};

static int plot_parse_kind(const char *arg, unsigned *kinds)
{
	if (!strcmp(arg, "all")) {
		*kinds = PLOT_ALL;
		return 0;
	}
	if (!strcmp(arg, "predict")) {
		*kinds = PLOT_RATE; /* one output file */
		return 1;
	}
	for (unsigned i = 0; i < 3; i++)
		if (!strcmp(arg, plot_kind_names[i])) {
			*kinds = 1u << i;
			return 0;
		}
	return -EINVAL;
}

/* A time of the cut, as dpt report's: seconds or a duration ("1.5", "2m", "500ms"). */
static int plot_parse_time(const char *arg, int64_t *ns)
{
	uint64_t v;

	if (parse_duration_ns(arg, &v) || v > INT64_MAX)
		return -EINVAL;
	*ns = (int64_t)v;
	return 0;
}

static int plot_parse_size(const char *arg, unsigned *w, unsigned *h)
{
	char x;

	if (sscanf(arg, "%u%c%u", w, &x, h) != 3 || (x != 'x' && x != 'X') || *w < 100 ||
	    *h < 100 || *w > 10000 || *h > 10000)
		return -EINVAL;
	return 0;
}

/* The value of an option, or a usage error: 0, or the exit status. */
static int plot_option(struct plot_cmd *pc, int opt, const char *arg)
{
	uint64_t v;

	switch (opt) {
	case 'k':
		if ((v = (uint64_t)plot_parse_kind(arg, &pc->po.kinds)) > 1)
			return cmd_usage_error("plot", "--kind: '%s' is not rate, wss, heatmap, all "
						       "or predict", arg);
		pc->predict = v == 1;
		pc->po.what_it_can = pc->po.kinds == PLOT_ALL;
		return 0;
	case 'o':
		pc->output = arg;
		if (!(pc->terminal = gnuplot_terminal(arg)))
			return cmd_usage_error("plot", "-o %s: which format? end it with .svg, .png "
						       "or .pdf", arg);
		return 0;
	case OPT_FROM:
		if (plot_parse_time(arg, &pc->po.from_ns))
			return cmd_usage_error("plot", "--from: '%s' is not a time (seconds, or 500ms, "
						       "2m, 1h)", arg);
		return 0;
	case OPT_TO:
		pc->to = arg;
		return 0;
	case 'w':
	case OPT_HEIGHT:
		if (parse_uint(arg, opt == 'w' ? 40 : 2, opt == 'w' ? 1000 : 500, &v))
			return cmd_usage_error("plot", "%s: '%s' is not a number of %s",
					       opt == 'w' ? "--width" : "--height", arg,
					       opt == 'w' ? "columns from 40 to 1000"
							  : "rows from 2 to 500");
		*(opt == 'w' ? &pc->term.width : &pc->term.height) = (unsigned)v;
		return 0;
	case OPT_UTF8:
		pc->term.utf8 = true;
		return 0;
	case OPT_SIZE:
		if (plot_parse_size(arg, &pc->width, &pc->height))
			return cmd_usage_error("plot", "--size: '%s' is not WxH, from 100x100 to "
						       "10000x10000", arg);
		return 0;
	case OPT_KEEP:
		pc->keep = arg;
		return 0;
	case OPT_START:
	case OPT_BWS:
	case OPT_LIMITS:
		if (cmd_predict_arg(opt == OPT_START ? "--start" : opt == OPT_BWS ? "--bandwidths"
										  : "--limits",
				    arg, opt == OPT_START ? &pc->start : opt == OPT_BWS ? pc->bws
											 : pc->limits,
				    opt == OPT_START ? NULL : opt == OPT_BWS ? &pc->nr_bws
									     : &pc->nr_limits,
				    opt == OPT_BWS)) {
			int e = cmd_usage_error("plot", "%s", dpt_last_error());
			dpt_clear_error();
			return e;
		}
		return 0;
	}
	return cmd_usage_error("plot", "unknown option '%s' or missing its value", arg);
}

static unsigned plot_env_width(void)
{
	const char *c = getenv("COLUMNS");
	uint64_t v;

	return c && !parse_uint(c, 40, 1000, &v) ? (unsigned)v : 80;
}

/* 0, 1 for --help, or the exit status of a usage error (2). */
static int plot_parse(int argc, char **argv, struct plot_cmd *pc)
{
	int opt, err;

	pc->po.kinds = PLOT_ALL;
	pc->po.what_it_can = true;
	pc->po.to_ns = -1;
	pc->term = (struct plot_term){.f = stdout, .width = plot_env_width(), .height = 20};
	pc->width = 900;
	pc->height = 560;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "k:o:w:h", plot_longopts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(plot_usage, stdout);
			return 1;
		}
		if ((err = plot_option(pc, opt, opt == '?' ? argv[optind - 1] : optarg)))
			return err;
	}
	if (optind == argc)
		return cmd_usage_error("plot", "which trace? dpt plot TRACE.dpt ...");
	if (optind < argc - 1)
		return cmd_usage_error("plot", "one trace at a time: '%s' is one too many",
				       argv[optind + 1]);
	pc->trace = argv[optind];
	if (pc->to && plot_parse_time(pc->to + (pc->to[0] == '+'), &pc->po.to_ns))
		return cmd_usage_error("plot", "--to: '%s' is not a time (seconds, or 500ms, 2m, "
					       "1h; +D: D after --from)", pc->to);
	if (pc->to && pc->to[0] == '+')
		pc->po.to_ns += pc->po.from_ns;
	if (pc->to && pc->po.to_ns <= pc->po.from_ns)
		return cmd_usage_error("plot", "--to must be after --from");
	if (!pc->predict && (pc->start > 0 || pc->nr_bws || pc->nr_limits))
		return cmd_usage_error("plot", "--start, --bandwidths and --limits go with --kind "
					       "predict");
	return 0;
}

/* OUT.ext, or OUT-KIND.ext with several kinds. */
static char *plot_output_name(const char *out, const char *kind, bool several)
{
	const char *dot = strrchr(out, '.');
	char *s;

	if (!several)
		return strdup(out);
	if (asprintf(&s, "%.*s-%s%s", (int)(dot - out), out, kind, dot) < 0)
		return NULL;
	return s;
}

static int plot_reserve_all(struct plot_cmd *pc)
{
	bool several = pc->po.kinds == PLOT_ALL;
	int err;

	for (unsigned i = 0; i < 3; i++) {
		if (!(pc->po.kinds & (1u << i)))
			continue;
		pc->final[i] = plot_output_name(pc->output, plot_kind_names[i], several);
		if (!pc->final[i])
			return -ENOMEM;
		if ((err = plot_reserve_output(pc->final[i], &pc->tmp[i])))
			return err;
	}
	return 0;
}

/* Remove the temporary files left (all of them on failure). */
static void plot_release(struct plot_cmd *pc)
{
	for (unsigned i = 0; i < 3; i++) {
		if (pc->tmp[i])
			unlink(pc->tmp[i]);
		free(pc->tmp[i]);
		free(pc->final[i]);
		pc->tmp[i] = pc->final[i] = NULL;
	}
}

/* gnuplot wrote something into tmp (the file that becomes final): 0, or -EIO. */
static int plot_written(const char *tmp, const char *final)
{
	struct stat st;

	if (stat(tmp, &st) || st.st_size == 0)
		return dpt_fail(-EIO, "gnuplot wrote nothing into %s", final);
	return 0;
}

/* tmp renamed into place as final, and said on stdout: "final: what". */
static int plot_publish(const char *tmp, const char *final, const char *what)
{
	if (rename(tmp, final))
		return dpt_fail(-errno, "%s: %s", final, strerror(errno));
	printf("%s: %s\n", final, what);
	return 0;
}

static int plot_files(struct plot_cmd *pc, const struct plot_data *d)
{
	int (*const draw[3])(const struct plot_data *, struct gnuplot_job *, const char *) = {
		plot_rate_gnuplot, plot_wss_gnuplot, plot_heatmap_gnuplot};
	static const char *const what[3] = {"the dirty rate", "the working set N(t)",
					    "the heat map"};
	struct gnuplot_job g;
	int err = gnuplot_job_init(&g, pc->keep, pc->terminal, pc->width, pc->height);

	for (unsigned i = 0; !err && i < 3; i++)
		if (d->kinds & (1u << i))
			err = draw[i](d, &g, pc->tmp[i]);
	if (!err)
		err = gnuplot_job_run(&g);
	for (unsigned i = 0; !err && i < 3; i++) /* every file written before any is renamed */
		if (d->kinds & (1u << i))
			err = plot_written(pc->tmp[i], pc->final[i]);
	for (unsigned i = 0; !err && i < 3; i++)
		if (d->kinds & (1u << i))
			err = plot_publish(pc->tmp[i], pc->final[i], what[i]);
	gnuplot_job_fini(&g);
	return err;
}

static void plot_terminal(struct plot_cmd *pc, const struct plot_data *d)
{
	char desc[600];

	plot_describe(d, desc, sizeof(desc));
	printf("%s: %s\n", d->path, desc);
	printf("%zu intervals from %.4g s to %.4g s", d->nr_iv, d->iv[0].t_start,
	       d->iv[d->nr_iv - 1].t_end);
	if (d->rp.lost || d->rp.synthetic || d->rp.no_set)
		printf(" (left out: %llu lost, %llu synthetic all-dirty, %llu without a set)",
		       (unsigned long long)d->rp.lost, (unsigned long long)d->rp.synthetic,
		       (unsigned long long)d->rp.no_set);
	printf("; pages of %u bytes\n", d->h->page_size);
	if (d->kinds & PLOT_RATE) {
		printf("\n");
		plot_rate_term(d, &pc->term);
	}
	if (d->kinds & PLOT_WSS) {
		printf("\n");
		plot_wss_term(d, &pc->term);
	}
	if (d->kinds & PLOT_HEATMAP) {
		printf("\n");
		plot_heatmap_term(d, &pc->term);
	}
}

/* --kind predict: the sweep, drawn. */
static int plot_predict(struct plot_cmd *pc)
{
	size_t n;
	struct predict_opts base = predict_defaults();
	struct predict_result *r = NULL;
	struct trace_reader *tr;
	char desc[300] = "";
	int err;

	cmd_predict_defaults(pc->bws, &pc->nr_bws, pc->limits, &pc->nr_limits);
	n = (size_t)pc->nr_bws * pc->nr_limits;
	if (pc->output && (err = plot_reserve_output(pc->output, &pc->tmp[0])))
		return err;
	if (!trace_reader_open(&tr, pc->trace)) { /* the target, for the title */
		snprintf(desc, sizeof(desc), "%s", trace_reader_info(tr)->h.target);
		trace_reader_close(tr);
	}
	if (!(r = calloc(n, sizeof(*r)))) {
		err = dpt_fail(-ENOMEM, "out of memory");
		goto out;
	}
	base.start = pc->start;
	if ((err = predict_grid(pc->trace, &base, pc->bws, pc->nr_bws, pc->limits, pc->nr_limits,
				r)))
		goto out;
	struct plot_sweep sw = {.path = pc->trace, .desc = desc, .start = pc->start,
				.bws = pc->bws, .limits = pc->limits, .nr_bws = pc->nr_bws,
				.nr_limits = pc->nr_limits, .res = r};
	if (!pc->output) {
		plot_predict_term(&sw, &pc->term);
	} else {
		struct gnuplot_job g;
		err = gnuplot_job_init(&g, pc->keep, pc->terminal, pc->width, pc->height);
		if (!err)
			err = plot_predict_gnuplot(&sw, &g, pc->tmp[0]);
		if (!err)
			err = gnuplot_job_run(&g);
		if (!err)
			err = plot_written(pc->tmp[0], pc->output);
		if (!err)
			err = plot_publish(pc->tmp[0], pc->output, "the migration forecast");
		gnuplot_job_fini(&g);
	}
out:
	for (size_t k = 0; r && k < n; k++)
		predict_result_fini(&r[k]);
	free(r);
	return err;
}

int cmd_plot(int argc, char **argv)
{
	struct plot_cmd pc = {0};
	struct plot_data d;
	int err = plot_parse(argc, argv, &pc);

	if (err)
		return err == 1 ? 0 : err;
	if (pc.predict) {
		err = plot_predict(&pc);
		goto out;
	}
	pc.po.heat_rows = pc.output ? PLOT_HEAT_ROWS : pc.term.height;
	pc.po.heat_cols = pc.output ? PLOT_HEAT_COLS : plot_term_cols(&pc.term);
	if (pc.output && (err = plot_reserve_all(&pc)))
		goto out;
	if ((err = plot_data_read(&d, pc.trace, &pc.po)))
		goto out;
	if (d.rp.tail)
		dpt_warn("%s: a torn last record (%llu bytes) left out", pc.trace,
			 (unsigned long long)d.rp.tail);
	if (d.dropped)
		dpt_info("%s: a trace of counts only: no %s", pc.trace,
			 d.dropped == PLOT_SETS ? "working set nor heat map" : "pages");
	if (pc.output)
		err = plot_files(&pc, &d);
	else
		plot_terminal(&pc, &d);
	plot_data_fini(&d);
out:
	plot_release(&pc);
	if (err)
		return cmd_error(err == -ENOMEM ? "out of memory" : "plot failed");
	return fflush(stdout) ? 1 : 0;
}
