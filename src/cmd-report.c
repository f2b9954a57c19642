/* cmd-report.c - `dpt report FILE.dpt`: what a trace says, for people or (--json) scripts.
 *
 * 1. Parse the options: the cut (--from, --to: seconds from the trace's start, or durations;
 *    --to +D is D after --from), --top, --json.
 * 2. report_compute() (src/analysis/report.h) reads the trace once and computes every figure;
 *    a malformed trace is one "dpt: ..." line and exit 1 (a torn tail is not an error).
 * 3. Print: text (this file) or JSON (cmd-report-json.c), the same numbers; docs/report.md
 *    says what each one means.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/report.h"
#include "cmd.h"
#include "cmd-report.h"
#include "dpt/log.h"
#include "dpt/parse.h"

static const char usage_text[] =
	"usage: dpt report [--json | --html OUT.html] [--from T] [--to T] [--top N] FILE.dpt\n"
	"\n"
	"What a trace recorded with -o trace:FILE says: when and how it was recorded, dirty rate\n"
	"statistics, the working-set curve N(t), hot pages, and per region, vCPU and process.\n"
	"\n"
	"  --from T     start of the cut: seconds from the trace's start (10, 1.5, 2m, 500ms)\n"
	"  --to T       end of the cut, likewise; +D: D after --from (default: the end)\n"
	"               an interval is in the cut when its middle is in [from, to)\n"
	"  --top N      hot page ranges and processes shown (default 10)\n"
	"  --json       one JSON object (keys in docs/report.md)\n"
	"  --html OUT   one self-contained HTML page: the tables, and the figures of dpt plot\n"
	"               inline as SVG (needs gnuplot: package gnuplot-nox)\n"
	"  -h, --help   this text\n";

enum { OPT_JSON = 0x100, OPT_FROM, OPT_TO, OPT_TOP, OPT_HTML };

static const struct option report_longopts[] = {
	{"json", no_argument, 0, OPT_JSON}, {"from", required_argument, 0, OPT_FROM},
	{"to", required_argument, 0, OPT_TO}, {"top", required_argument, 0, OPT_TOP},
	{"html", required_argument, 0, OPT_HTML}, {"help", no_argument, 0, 'h'},
	{0, 0, 0, 0},
};

/* ---- text ---- */

static double pct(double part, double whole)
{
	return whole > 0 ? 100.0 * part / whole : 0;
}

static void text_head(const struct report *rp)
{
	char b1[32], b2[32], why[256], when[64] = "?";
	time_t t = (time_t)(rp->h.wall_start_ns / 1000000000);
	struct tm tm;

	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	printf("trace      %s (%s, format %u.%u, %s)\n", rp->path,
	       cmd_human((double)rp->file_size, b1, sizeof(b1)), rp->major, rp->minor,
	       rp->has_footer ? "ended cleanly" : "no footer: the recording did not end cleanly");
	printf("target     %s\n", rp->h.target);
	printf("tracker    %s, %s%s%s\n", rp->h.tracker, rp->h.mode,
	       rp->h.flags & TRACE_COMPAT ? ", --compat" : "",
	       rp->h.flags & TRACE_IMPORTED ? ", imported from Qemu-DPT bitmap files" : "");
	printf("host       %s: %s; %s; dpt %s\n", rp->h.hostname, rp->h.kernel, rp->h.cpu,
	       rp->h.dpt_version);
	printf("command    %s\n", rp->h.command);
	printf("started    %s\n", when);
	printf("intervals  %" PRIu64 " recorded, every %.3g s asked", rp->recorded,
	       (double)rp->h.interval_ns / 1e9);
	if (rp->sessions > 1)
		printf(", in %" PRIu64 " sessions", rp->sessions);
	printf("\n");
	printf("counted    %" PRIu64 " intervals, %.3f s to %.3f s (%.3f s of intervals, %.4g s "
	       "each on average)",
	       rp->counted, rp->counted ? rp->first_start : 0, rp->counted ? rp->last_end : 0,
	       rp->seconds, report_interval_s(rp));
	if (rp->from > 0 || rp->to >= 0) {
		printf("; cut [%.3f s, ", rp->from);
		rp->to >= 0 ? printf("%.3f s)", rp->to) : printf("end)");
	}
	printf("\n");
	if (rp->outside || rp->synthetic || rp->lost || rp->no_set || rp->zero_length)
		printf("left out   %" PRIu64 " outside the cut, %" PRIu64 " synthetic all-dirty "
		       "(--compat seq 0), %" PRIu64 " lost (pages unknown), %" PRIu64 " without a "
		       "set (rates only), %" PRIu64 " of zero length (no rate)\n",
		       rp->outside, rp->synthetic, rp->lost, rp->no_set, rp->zero_length);
	printf("pages      %" PRIu64, rp->pages_max);
	if (rp->pages_min != rp->pages_max)
		printf(" (at least %" PRIu64 ")", rp->pages_min);
	printf(" of %u bytes: %s\n", rp->h.page_size,
	       cmd_human((double)rp->pages_max * rp->h.page_size, b2, sizeof(b2)));
	report_exactness(rp, why, sizeof(why));
	printf("counts     %s\n", why);
}

static void text_rates(const struct report *rp)
{
	const struct report_rates *r = &rp->rates;
	const double v[] = {r->mean, r->stddev, r->min, r->p50, r->p90, r->p99, r->max};

	printf("\ndirty rate: per interval, over its own measured length (%" PRIu64 " intervals%s)\n",
	       r->n, rp->partial ? ", partial ones included" : "");
	if (!r->n)
		return;
	printf("  %-8s %10s %10s %10s %10s %10s %10s %10s\n", "", "mean", "stddev", "min", "p50",
	       "p90", "p99", "max");
	printf("  %-8s", "pages/s");
	for (unsigned i = 0; i < 7; i++)
		printf(" %10.1f", v[i]);
	printf("\n  %-8s", "MiB/s");
	for (unsigned i = 0; i < 7; i++)
		printf(" %10.3f", report_mib(rp, v[i]));
	printf("\n  overall  %.1f pages/s (%.3f MiB/s): %" PRIu64 " dirty page-intervals in %.3f s\n",
	       r->overall, report_mib(rp, r->overall), rp->dirty, rp->seconds);
}

static void text_curve(const struct report *rp)
{
	const struct wss_curve *c = rp->curve;
	const char *missing = report_sets_missing(rp);
	double dt = report_interval_s(rp);

	printf("\nworking set N(t): distinct pages dirtied in a window of k consecutive intervals\n");
	if (missing) {
		printf("  cannot be computed: %s\n", missing);
		return;
	}
	printf("  (exact; every window of k counted intervals, t = k x %.4g s)\n", dt);
	printf("  %8s %10s %8s %14s %12s %10s %10s\n", "k", "t (s)", "windows", "mean", "max",
	       "max from", "MiB max");
	for (unsigned j = 0; j < c->nr_points; j++) {
		const struct wss_point *p = &c->points[j];
		printf("  %8" PRIu64 " %10.3f %8" PRIu64 " %14.1f %12" PRIu64 " %8.3f s %10.1f\n",
		       p->k, (double)p->k * dt, p->windows, p->mean, p->max,
		       rp->starts[p->max_start], report_mib(rp, (double)p->max));
	}
	printf("  pages dirtied at least once: %" PRIu64 " of %" PRIu64 " (%.1f %%)\n",
	       c->distinct, c->pages, pct((double)c->distinct, (double)c->pages));
	if (rp->sessions > 1 || rp->lost || rp->no_set)
		printf("  windows count intervals: they run across the pauses between %" PRIu64
		       " sessions and over %" PRIu64 " intervals left out\n",
		       rp->sessions, rp->lost + rp->no_set);
	if (rp->nb.changes)
		printf("  the region table changed %u times%s: pages are known by region name and "
		       "address, %" PRIu64 " in all\n",
		       rp->nb.changes, rp->nb.renumbered ? " and renumbered pages" : "",
		       rp->nb.pages);
}

static void text_hot(const struct report *rp)
{
	char range[48];

	printf("\nhot pages: ranges of adjacent pages dirtied in a similar number of intervals "
	       "(within 2x), hottest first\n");
	if (report_sets_missing(rp)) {
		printf("  cannot be computed: %s\n", report_sets_missing(rp));
		return;
	}
	printf("  %u of %" PRIu64 " ranges; intervals dirty per page, of %" PRIu64 "\n",
	       rp->nr_hot, rp->nr_ranges, rp->curve->intervals);
	printf("  %-16s %-25s %10s %10s %13s %8s\n", "region", "offset", "pages", "mean",
	       "min-max", "share");
	for (unsigned i = 0; i < rp->nr_hot; i++) {
		const struct report_hot *h = &rp->hot[i];
		char mm[32];
		snprintf(range, sizeof(range), "0x%" PRIx64 "-0x%" PRIx64, h->offset,
			 h->offset + h->pages * rp->h.page_size - 1);
		snprintf(mm, sizeof(mm), "%u-%u", h->min, h->max);
		printf("  %-16s %-25s %10" PRIu64 " %10.2f %13s %7.1f%%\n",
		       h->span->name[0] ? h->span->name : "(pages)", range, h->pages, h->mean, mm,
		       pct((double)h->sum, (double)rp->curve->dirty));
	}
}

static void text_regions(const struct report *rp)
{
	printf("\nregions: dirty page-intervals and distinct pages per region\n");
	if (report_sets_missing(rp)) {
		printf("  cannot be computed: %s\n", report_sets_missing(rp));
		return;
	}
	printf("  %-24s %12s %12s %16s %8s\n", "region", "pages", "dirtied",
	       "page-intervals", "share");
	for (unsigned i = 0; i < rp->nr_regions; i++) {
		const struct report_region *r = &rp->regions[i];
		printf("  %-24s %12" PRIu64 " %12" PRIu64 " %16" PRIu64 " %7.1f%%\n",
		       r->name[0] ? r->name : "(pages)", r->pages, r->distinct, r->dirty,
		       pct((double)r->dirty, (double)rp->curve->dirty));
	}
}

static void text_vcpus(const struct report *rp)
{
	if (!rp->nr_vcpus)
		return;
	printf("\nper vCPU\n  %-6s %16s %8s %14s %14s\n", "vcpu", "dirty pages", "share",
	       "pages/s", "max/interval");
	for (unsigned v = 0; v < rp->nr_vcpus; v++)
		printf("  %-6u %16" PRIu64 " %7.1f%% %14.1f %14" PRIu64 "\n", v, rp->vcpu_dirty[v],
		       pct((double)rp->vcpu_dirty[v], (double)rp->dirty),
		       rp->seconds > 0 ? (double)rp->vcpu_dirty[v] / rp->seconds : 0,
		       rp->vcpu_max[v]);
}

/* The processes ranked by dirty pages (indices into rp->procs, at most top). */
static unsigned procs_ranked(const struct report *rp, unsigned top, unsigned *idx)
{
	unsigned n = 0;

	for (unsigned i = 0, j; i < rp->nr_procs; i++) {
		if (n < top)
			j = n++;
		else if (rp->procs[i].dirty > rp->procs[idx[top - 1]].dirty)
			j = top - 1;
		else
			continue;
		for (; j && rp->procs[i].dirty > rp->procs[idx[j - 1]].dirty; j--)
			idx[j] = idx[j - 1];
		idx[j] = i;
	}
	return n;
}

static void text_procs(const struct report *rp, unsigned top)
{
	static const char *const names[] = DPT_PROC_FLAG_NAMES;
	unsigned idx[top], n;

	if (!rp->nr_procs)
		return;
	n = procs_ranked(rp, top, idx);
	printf("\nper process: %u of %u, most dirty pages first\n  %8s %8s %-16s %10s %14s %8s "
	       "%12s  %s\n",
	       n, rp->nr_procs, "pid", "ppid", "comm", "intervals", "dirty pages", "share",
	       "max/interval", "seen");
	for (unsigned i = 0; i < n; i++) {
		const struct report_proc *p = &rp->procs[idx[i]];
		printf("  %8d %8d %-16s %10" PRIu64 " %14" PRIu64 " %7.1f%% %12" PRIu64 " ", p->pid,
		       p->ppid, p->comm, p->intervals, p->dirty,
		       pct((double)p->dirty, (double)rp->dirty), p->max);
		for (unsigned b = 0, any = 0; b < DPT_PROC_NR_FLAGS; b++)
			if (p->flags & (1u << b))
				printf("%s%s", any++ ? "," : " ", names[b]);
		printf("\n");
	}
}

static void text_nonzero(const struct report *rp)
{
	if (!rp->nr_nonzero)
		return;
	printf("\nnon-zero pages (content scans: pages not all zeros): %u scans\n",
	       rp->nr_nonzero);
	for (unsigned i = 0; i < rp->nr_nonzero; i++) {
		const struct report_nonzero *z = &rp->nonzero[i];
		if (i && i + 1 < rp->nr_nonzero)
			continue; /* the first and the last */
		printf("  %-5s at %.3f s (after interval %" PRIu64 "): %" PRIu64 " of %" PRIu64
		       " pages (%.1f %%), %" PRIu64 " unreadable counted non-zero; scan took "
		       "%.3f s\n",
		       i ? "last" : "first", z->at, z->after_seq, z->count, z->total,
		       pct((double)z->count, (double)z->total), z->unknown, z->scan_s);
	}
}

static void text_messages(const struct report *rp)
{
	if (!rp->nr_messages)
		return;
	printf("\nwhat dpt said while recording\n");
	for (unsigned i = 0; i < rp->nr_messages; i++)
		printf("  %10.3f s  %s\n", rp->messages[i].at, rp->messages[i].text);
	if (rp->messages_dropped)
		printf("  ... and %" PRIu64 " more\n", rp->messages_dropped);
}

static void text_flags(const struct report *rp)
{
	static const char *const names[] = DPT_SAMPLE_FLAG_NAMES;
	bool any = false;

	printf("\nflags      ");
	for (unsigned b = 0; b < DPT_SAMPLE_NR_FLAGS; b++)
		if (rp->flagged[b]) {
			printf("%s%s %" PRIu64, any ? ", " : "", names[b], rp->flagged[b]);
			any = true;
		}
	if (rp->lost)
		printf("%slost %" PRIu64, any ? ", " : "", rp->lost), any = true;
	printf("%s\n", any ? " (counted intervals with each flag)" : "none");
	if (rp->tail)
		printf("end        %" PRIu64 " bytes at the end ignored: the recording was killed\n",
		       rp->tail);
}

static void report_text(const struct report *rp, unsigned top)
{
	text_head(rp);
	text_rates(rp);
	text_curve(rp);
	text_hot(rp);
	text_regions(rp);
	text_vcpus(rp);
	text_procs(rp, top);
	text_nonzero(rp);
	text_messages(rp);
	text_flags(rp);
}

/* A time of the cut: seconds or a duration ("1.5", "2m", "500ms"). */
static int parse_time(const char *opt, const char *arg, int64_t *ns)
{
	uint64_t v;

	if (parse_duration_ns(arg, &v) || v > INT64_MAX)
		return dpt_fail(-EINVAL, "%s: '%s' is not a time (seconds, or 500ms, 2m, 1h)", opt,
				arg);
	*ns = (int64_t)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct report_opts *o, bool *json,
		      const char **html, const char **path)
{
	const char *to = NULL;
	uint64_t top;
	int opt;

	*o = (struct report_opts){.to_ns = -1, .top = 10};
	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", report_longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_JSON:
			*json = true;
			break;
		case OPT_HTML:
			*html = optarg;
			break;
		case OPT_FROM:
			if (parse_time("--from", optarg, &o->from_ns))
				return -EINVAL;
			break;
		case OPT_TO:
			to = optarg;
			break;
		case OPT_TOP:
			if (parse_uint(optarg, 1, 100000, &top))
				return dpt_fail(-EINVAL, "--top: '%s' is not a number from 1 to 100000",
						optarg);
			o->top = (unsigned)top;
			break;
		case 'h':
			return 1;
		default:
			return dpt_fail(-EINVAL, "unknown option '%s' or missing its value",
					argv[optind - 1]);
		}
	}
	if (to && parse_time("--to", to + (to[0] == '+'), &o->to_ns))
		return -EINVAL;
	if (to && to[0] == '+')
		o->to_ns += o->from_ns;
	if (to && o->to_ns <= o->from_ns)
		return dpt_fail(-EINVAL, "--to must be after --from");
	if (*json && *html)
		return dpt_fail(-EINVAL, "--json or --html, not both");
	if (optind != argc - 1)
		return dpt_fail(-EINVAL, optind == argc ? "which trace? (FILE.dpt)"
							 : "one trace at a time");
	*path = argv[optind];
	return 0;
}

int cmd_report(int argc, char **argv)
{
	struct report_opts o;
	struct report rp;
	const char *path = NULL, *html = NULL;
	bool json = false;
	int err;

	opterr = 0;
	err = parse_args(argc, argv, &o, &json, &html, &path);
	if (err > 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (err) {
		err = cmd_usage_error("report", "%s", dpt_last_error());
		dpt_clear_error();
		return err;
	}
	if (html)
		return report_html(path, &o, html) ? cmd_error("cannot write the report") : 0;
	if ((err = report_compute(&rp, path, &o))) {
		report_fini(&rp);
		return cmd_error("cannot read the trace");
	}
	err = json ? report_json(&rp) : (report_text(&rp, o.top), 0);
	report_fini(&rp);
	if (fflush(stdout) || ferror(stdout))
		return cmd_error("cannot write the report");
	return err ? cmd_error("cannot write the report") : 0;
}
