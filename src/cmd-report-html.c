/* cmd-report-html.c - dpt report --html OUT.html: the report as one self-contained page.
 *
 * 1. The output is reserved first as a hidden temporary file beside it (an unwritable place
 *    fails before the trace is read); it is renamed into place only when whole.
 * 2. One pass over the trace through dpt plot's reader (src/plot/data.c), which is
 *    report_compute() with a hook: the tables hold the same numbers as the text and --json.
 * 3. The figures (rate, N(t), heat map: those the trace allows) are drawn by gnuplot's svg
 *    terminal into its job directory, then copied inline into the page, each without its XML
 *    declaration, its ids prefixed with its kind (three inline SVGs share one id space). The
 *    heat map's raster is a data: URI inside its SVG.
 * The page is well-formed XML (it parses with xmllint --noout), has no script and refers to
 * nothing outside itself: the only URLs in it are the SVG namespace names.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd-report.h"
#include "dpt/log.h"
#include "plot/plot.h"

static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default:
			/* control characters are not allowed in XML 1.0 */
			fputc((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n' ? ' ' : *s, f);
		}
	}
}

static double pct(double part, double whole)
{
	return whole > 0 ? 100.0 * part / whole : 0;
}

/* A row of the key/value table: the value is printf'd, then escaped. */
static void kv(FILE *f, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void kv(FILE *f, const char *key, const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(f, "<tr><th>%s</th><td>", key);
	esc(f, buf);
	fputs("</td></tr>\n", f);
}

static void html_head(FILE *f, const struct report *rp)
{
	char when[64] = "?", why[256];
	time_t t = (time_t)(rp->h.wall_start_ns / 1000000000);
	struct tm tm;

	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	fputs("<h2>Trace</h2>\n<table class=\"kv\">\n", f);
	kv(f, "trace", "%s (%" PRIu64 " bytes, format %u.%u, %s)", rp->path, rp->file_size,
	   rp->major, rp->minor, rp->has_footer ? "ended cleanly" : "no footer: the recording "
	   "did not end cleanly");
	kv(f, "target", "%s", rp->h.target);
	kv(f, "tracker", "%s, %s%s", rp->h.tracker, rp->h.mode,
	   rp->h.flags & TRACE_COMPAT ? ", --compat" : "");
	kv(f, "host", "%s: %s; %s; dpt %s", rp->h.hostname, rp->h.kernel, rp->h.cpu,
	   rp->h.dpt_version);
	kv(f, "command", "%s", rp->h.command);
	kv(f, "started", "%s", when);
	kv(f, "intervals", "%" PRIu64 " recorded, every %.3g s asked, %" PRIu64 " session%s",
	   rp->recorded, (double)rp->h.interval_ns / 1e9, rp->sessions, rp->sessions == 1 ? "" : "s");
	kv(f, "counted", "%" PRIu64 " intervals, %.3f s to %.3f s (%.3f s of intervals, %.4g s each "
	   "on average)", rp->counted, rp->first_start, rp->last_end, rp->seconds,
	   report_interval_s(rp));
	if (rp->from > 0 || rp->to >= 0)
		kv(f, "cut", rp->to >= 0 ? "[%.3f s, %.3f s)" : "[%.3f s, end)", rp->from, rp->to);
	if (rp->outside || rp->synthetic || rp->lost || rp->no_set || rp->zero_length)
		kv(f, "left out", "%" PRIu64 " outside the cut, %" PRIu64 " synthetic all-dirty, %"
		   PRIu64 " lost, %" PRIu64 " without a set, %" PRIu64 " of zero length",
		   rp->outside, rp->synthetic, rp->lost, rp->no_set, rp->zero_length);
	kv(f, "pages", "%" PRIu64 " of %u bytes", rp->pages_max, rp->h.page_size);
	report_exactness(rp, why, sizeof(why));
	kv(f, "counts", "%s", why);
	if (rp->tail)
		kv(f, "end", "%" PRIu64 " bytes at the end ignored: the recording was killed",
		   rp->tail);
	fputs("</table>\n", f);
}

static void html_rates(FILE *f, const struct report *rp)
{
	const struct report_rates *r = &rp->rates;
	const char *names[] = {"mean", "stddev", "min", "p50", "p90", "p99", "max", "overall"};
	const double v[] = {r->mean, r->stddev, r->min, r->p50, r->p90, r->p99, r->max, r->overall};

	fprintf(f, "<h2>Dirty rate</h2>\n<p>Per interval, over its own measured length (%" PRIu64
		   " intervals); overall: all dirty pages over all the time.</p>\n<table>\n<tr><th></th>",
		r->n);
	for (unsigned i = 0; i < 8; i++)
		fprintf(f, "<th>%s</th>", names[i]);
	fputs("</tr>\n<tr><th>pages/s</th>", f);
	for (unsigned i = 0; i < 8; i++)
		fprintf(f, "<td>%.1f</td>", v[i]);
	fputs("</tr>\n<tr><th>MiB/s</th>", f);
	for (unsigned i = 0; i < 8; i++)
		fprintf(f, "<td>%.3f</td>", report_mib(rp, v[i]));
	fputs("</tr>\n</table>\n", f);
}

static void html_missing(FILE *f, const struct report *rp)
{
	fputs("<p class=\"note\">Cannot be computed: ", f);
	esc(f, report_sets_missing(rp));
	fputs(".</p>\n", f);
}

static void html_curve(FILE *f, const struct report *rp)
{
	const struct wss_curve *c = rp->curve;
	double dt = report_interval_s(rp);

	fputs("<h2>Working set N(t)</h2>\n<p>Distinct pages dirtied in a window of k consecutive "
	      "intervals (exact).</p>\n", f);
	if (report_sets_missing(rp))
		return html_missing(f, rp);
	fputs("<table>\n<tr><th>k</th><th>t (s)</th><th>windows</th><th>mean</th><th>max</th>"
	      "<th>max from (s)</th><th>MiB max</th></tr>\n", f);
	for (unsigned j = 0; j < c->nr_points; j++) {
		const struct wss_point *p = &c->points[j];
		fprintf(f, "<tr><td>%" PRIu64 "</td><td>%.3f</td><td>%" PRIu64 "</td><td>%.1f</td>"
			   "<td>%" PRIu64 "</td><td>%.3f</td><td>%.1f</td></tr>\n",
			p->k, (double)p->k * dt, p->windows, p->mean, p->max,
			rp->starts[p->max_start], report_mib(rp, (double)p->max));
	}
	fprintf(f, "</table>\n<p>Pages dirtied at least once: %" PRIu64 " of %" PRIu64
		   " (%.1f %%).</p>\n", c->distinct, c->pages,
		pct((double)c->distinct, (double)c->pages));
}

static void html_hot(FILE *f, const struct report *rp)
{
	fputs("<h2>Hot pages</h2>\n<p>Ranges of adjacent pages dirtied in a similar number of "
	      "intervals (within 2x), hottest first.</p>\n", f);
	if (report_sets_missing(rp))
		return html_missing(f, rp);
	fputs("<table>\n<tr><th>region</th><th>offset</th><th>pages</th><th>mean</th>"
	      "<th>min-max</th><th>share</th></tr>\n", f);
	for (unsigned i = 0; i < rp->nr_hot; i++) {
		const struct report_hot *h = &rp->hot[i];
		fputs("<tr><td>", f);
		esc(f, h->span->name[0] ? h->span->name : "(pages)");
		fprintf(f, "</td><td>0x%" PRIx64 "-0x%" PRIx64 "</td><td>%" PRIu64 "</td><td>%.2f"
			   "</td><td>%u-%u</td><td>%.1f %%</td></tr>\n",
			h->offset, h->offset + h->pages * rp->h.page_size - 1, h->pages, h->mean,
			h->min, h->max, pct((double)h->sum, (double)rp->curve->dirty));
	}
	fputs("</table>\n", f);
}

static void html_regions(FILE *f, const struct report *rp)
{
	fputs("<h2>Regions</h2>\n", f);
	if (report_sets_missing(rp))
		return html_missing(f, rp);
	fputs("<table>\n<tr><th>region</th><th>pages</th><th>dirtied</th><th>page-intervals</th>"
	      "<th>share</th></tr>\n", f);
	for (unsigned i = 0; i < rp->nr_regions; i++) {
		const struct report_region *r = &rp->regions[i];
		fputs("<tr><td>", f);
		esc(f, r->name[0] ? r->name : "(pages)");
		fprintf(f, "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td>"
			   "<td>%.1f %%</td></tr>\n", r->pages, r->distinct, r->dirty,
			pct((double)r->dirty, (double)rp->curve->dirty));
	}
	fputs("</table>\n", f);
}

static void html_vcpus_procs(FILE *f, const struct report *rp)
{
	if (rp->nr_vcpus) {
		fputs("<h2>Per vCPU</h2>\n<table>\n<tr><th>vCPU</th><th>dirty pages</th>"
		      "<th>share</th><th>pages/s</th><th>max/interval</th></tr>\n", f);
		for (unsigned v = 0; v < rp->nr_vcpus; v++)
			fprintf(f, "<tr><td>%u</td><td>%" PRIu64 "</td><td>%.1f %%</td><td>%.1f</td>"
				   "<td>%" PRIu64 "</td></tr>\n", v, rp->vcpu_dirty[v],
				pct((double)rp->vcpu_dirty[v], (double)rp->dirty),
				rp->seconds > 0 ? (double)rp->vcpu_dirty[v] / rp->seconds : 0,
				rp->vcpu_max[v]);
		fputs("</table>\n", f);
	}
	if (rp->nr_procs) {
		fputs("<h2>Per process</h2>\n<table>\n<tr><th>pid</th><th>ppid</th><th>comm</th>"
		      "<th>intervals</th><th>dirty pages</th><th>share</th><th>max/interval</th>"
		      "</tr>\n", f);
		for (unsigned i = 0; i < rp->nr_procs; i++) {
			const struct report_proc *p = &rp->procs[i];
			char comm[sizeof(p->comm) + 1];
			memcpy(comm, p->comm, sizeof(p->comm));
			comm[sizeof(p->comm)] = 0;
			fprintf(f, "<tr><td>%d</td><td>%d</td><td>", p->pid, p->ppid);
			esc(f, comm);
			fprintf(f, "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%.1f %%</td><td>%"
				   PRIu64 "</td></tr>\n", p->intervals, p->dirty,
				pct((double)p->dirty, (double)rp->dirty), p->max);
		}
		fputs("</table>\n", f);
	}
}

static void html_messages(FILE *f, const struct report *rp)
{
	if (!rp->nr_messages)
		return;
	fputs("<h2>What dpt said while recording</h2>\n<table>\n", f);
	for (unsigned i = 0; i < rp->nr_messages; i++) {
		fprintf(f, "<tr><td>%.3f s</td><td>", rp->messages[i].at);
		esc(f, rp->messages[i].text);
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
}

/* Copy an SVG file gnuplot wrote, from its <svg element on, its ids prefixed with pre-. */
static int html_svg(FILE *f, const char *dir, const char *name, const char *pre)
{
	static const char *const refs[] = {"id='", "id=\"", "href='#", "href=\"#", "url(#"};
	char path[4200], *buf = NULL;
	size_t len = 0;
	FILE *in;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(in = fopen(path, "r")))
		return dpt_fail(-errno, "%s: %s", path, strerror(errno));
	FILE *mem = open_memstream(&buf, &len);
	int c;
	while (mem && (c = fgetc(in)) != EOF)
		fputc(c, mem);
	fclose(in);
	if (!mem || fclose(mem))
		return dpt_fail(-ENOMEM, "out of memory reading %s", path);
	char *p = strstr(buf, "<svg");
	if (!p) {
		free(buf);
		return dpt_fail(-EIO, "%s: gnuplot wrote no <svg> element", path);
	}
	while (*p) {
		unsigned i, n = sizeof(refs) / sizeof(refs[0]);
		for (i = 0; i < n; i++)
			if (!strncmp(p, refs[i], strlen(refs[i])))
				break;
		if (i < n) {
			fprintf(f, "%s%s-", refs[i], pre);
			p += strlen(refs[i]);
		} else {
			fputc(*p++, f);
		}
	}
	free(buf);
	return 0;
}

static const char html_style[] =
	"body{font-family:sans-serif;margin:2em;color:#222;max-width:1100px}"
	"table{border-collapse:collapse;margin:0.5em 0 1em}"
	"th,td{border:1px solid #ccc;padding:0.2em 0.6em;text-align:right}"
	"table.kv th,table.kv td{text-align:left}"
	".note{color:#a33}figure{margin:1em 0}svg{max-width:100%;height:auto}";

static int html_page(FILE *f, const struct plot_data *d, const struct gnuplot_job *g)
{
	static const char *const kinds[] = {"rate", "wss", "heatmap"};
	static const char *const captions[] = {
		"The dirty rate of each interval over its own length; the dashed line is the mean.",
		"N(t), log-log: the mean and the most distinct pages dirtied within a window of t.",
		"Pages (down) over time (right): the share of each bin's page-intervals dirty; "
		"dashed lines where regions begin."};
	const struct report *rp = &d->rp;
	int err = 0;

	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>dpt "
	      "report: ", f);
	esc(f, rp->path);
	fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>dpt report: ", html_style);
	esc(f, rp->path);
	fputs("</h1>\n", f);
	html_head(f, rp);
	html_rates(f, rp);
	html_curve(f, rp);
	html_hot(f, rp);
	html_regions(f, rp);
	html_vcpus_procs(f, rp);
	html_messages(f, rp);
	fputs("<h2>Figures</h2>\n", f);
	if (d->dropped)
		fputs("<p class=\"note\">A trace of counts only: its rate is drawn; the working set "
		      "and the heat map need the dirty pages themselves.</p>\n", f);
	for (unsigned i = 0; !err && i < 3; i++) {
		char name[32];
		if (!(d->kinds & (1u << i)))
			continue;
		snprintf(name, sizeof(name), "%s.svg", kinds[i]);
		fprintf(f, "<figure id=\"fig-%s\">\n", kinds[i]);
		err = html_svg(f, g->dir, name, kinds[i]);
		fprintf(f, "\n<figcaption>%s</figcaption>\n</figure>\n", captions[i]);
	}
	fputs("<p>Written by dpt report --html.</p>\n</body>\n</html>\n", f);
	return err;
}

int report_html(const char *path, const struct report_opts *o, const char *out)
{
	int (*const draw[3])(const struct plot_data *, struct gnuplot_job *, const char *) = {
		plot_rate_gnuplot, plot_wss_gnuplot, plot_heatmap_gnuplot};
	static const char *const names[] = {"rate.svg", "wss.svg", "heatmap.svg"};
	struct plot_opts po = {.kinds = PLOT_ALL, .from_ns = o->from_ns, .to_ns = o->to_ns,
			       .top = o->top, .heat_rows = 400, .heat_cols = 800,
			       .what_it_can = true};
	struct gnuplot_job g = {0};
	struct plot_data d;
	char *tmp = NULL;
	FILE *f = NULL;
	int err;

	if ((err = plot_reserve_output(out, &tmp)))
		return err;
	if ((err = plot_data_read(&d, path, &po)))
		goto out;
	if (d.rp.tail)
		dpt_warn("%s: a torn last record (%" PRIu64 " bytes) left out", path, d.rp.tail);
	err = gnuplot_job_init(&g, NULL, gnuplot_terminal(".svg"), 900, 520);
	for (unsigned i = 0; !err && i < 3; i++)
		if (d.kinds & (1u << i))
			err = draw[i](&d, &g, names[i]);
	if (!err)
		err = gnuplot_job_run(&g);
	if (!err && !(f = fopen(tmp, "w")))
		err = dpt_fail(-errno, "%s: %s", out, strerror(errno));
	if (!err)
		err = html_page(f, &d, &g);
	if (f && (fclose(f) && !err))
		err = dpt_fail(-errno, "%s: %s", out, strerror(errno));
	if (!err && rename(tmp, out))
		err = dpt_fail(-errno, "%s: %s", out, strerror(errno));
	gnuplot_job_fini(&g);
	plot_data_fini(&d);
out:
	if (err)
		unlink(tmp);
	free(tmp);
	return err;
}
