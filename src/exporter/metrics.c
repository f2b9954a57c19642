/* metrics.c - the Prometheus text exposition format (version 0.0.4) of dpt exporter: every
 * family with its HELP and TYPE lines, the targets' series labelled vm and pid; and the
 * published copy that scrapes read.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "exporter/exporter.h"

void exp_buf_printf(struct exp_buf *b, const char *fmt, ...)
{
	va_list ap;

	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		int n = b->p ? vsnprintf(b->p + b->len, room, fmt, ap) : -1;
		va_end(ap);
		if (n >= 0 && (size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? 2 * b->cap : 16384;
		while (n >= 0 && cap < b->len + (size_t)n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

void exp_buf_fini(struct exp_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void exp_label_escape(char *dst, size_t size, const char *src)
{
	size_t o = 0;

	for (; *src && o + 3 < size; src++) {
		if (*src == '\\' || *src == '"') {
			dst[o++] = '\\';
			dst[o++] = *src;
		} else if (*src == '\n') {
			dst[o++] = '\\';
			dst[o++] = 'n';
		} else {
			dst[o++] = *src;
		}
	}
	dst[o] = 0;
}

static void family(struct exp_buf *b, const char *name, const char *type, const char *help)
{
	exp_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void labels(char *dst, size_t size, const struct exp_target *t)
{
	char vm[300];

	exp_label_escape(vm, sizeof(vm), t->vm);
	if (t->pid)
		snprintf(dst, size, "vm=\"%s\",pid=\"%d\"", vm, t->pid);
	else /* named, without a process (a libvirt domain not running) */
		snprintf(dst, size, "vm=\"%s\",pid=\"\"", vm);
}

static double v_dirtied(const struct exp_target *t)
{
	return (double)t->dirtied_pages_total * 4096;
}

static double v_discarded(const struct exp_target *t)
{
	return (double)t->discarded_pages_total * 4096;
}

static double v_rate(const struct exp_target *t)
{
	return t->last_seconds > 0 ? (double)t->last_dirty * 4096 / t->last_seconds : 0;
}

static double v_tracked(const struct exp_target *t)
{
	return (double)t->total_pages * 4096;
}

static double v_ws_short(const struct exp_target *t)
{
	return (double)t->hist.distinct_short * 4096;
}

static double v_ws_long(const struct exp_target *t)
{
	return (double)t->hist.distinct_long * 4096;
}

static double v_hist_s(const struct exp_target *t)
{
	uint64_t n = t->hist.n < t->hist.long_k ? t->hist.n : t->hist.long_k;
	if (!n)
		return 0;
	const struct exp_set *last = exp_hist_get(&t->hist, 0);
	const struct exp_set *first = exp_hist_get(&t->hist, (unsigned)n - 1);
	return ts_diff(&last->mono_end, &first->mono_start);
}

static double v_up(const struct exp_target *t)
{
	return t->state == EXP_TRACKED;
}

static double v_intervals(const struct exp_target *t)
{
	return (double)t->intervals;
}

static double v_collect(const struct exp_target *t)
{
	return t->last_collect_s;
}

static double v_last_s(const struct exp_target *t)
{
	return t->last_seconds;
}

static bool has_interval(const struct exp_target *t)
{
	return t->intervals > 0;
}

static bool has_fc(const struct exp_target *t)
{
	return t->state == EXP_TRACKED && t->fc.valid;
}

static bool has_fc_time(const struct exp_target *t)
{
	return has_fc(t) && t->fc.converges;
}

static double v_fc_conv(const struct exp_target *t)
{
	return t->fc.converges;
}

static double v_fc_time(const struct exp_target *t)
{
	return t->fc.total_time;
}

static double v_fc_down(const struct exp_target *t)
{
	return t->fc.downtime;
}

static double v_fc_bytes(const struct exp_target *t)
{
	return (double)t->fc.transferred;
}

static double v_fc_zero(const struct exp_target *t)
{
	return t->fc.zero_known;
}

static double v_fc_hist(const struct exp_target *t)
{
	return t->fc.history_s;
}

static double v_fc_at(const struct exp_target *t)
{
	return (double)t->fc.made.tv_sec + (double)t->fc.made.tv_nsec / 1e9;
}

/* A family of per-target series: one line per target (tracked ones, or all). */
struct fam {
	const char *name, *type, *help;
	const char *extra; /* more labels, ",window=\"10s\"" */
	double (*value)(const struct exp_target *t);
	bool (*has)(const struct exp_target *t); /* NULL: every tracked target */
	bool all;	 /* failed targets too */
	bool same;	 /* the same family as the previous entry (no HELP, TYPE) */
};

static const struct fam target_fams[] = {
    {"dpt_dirtied_bytes_total", "counter",
     "Bytes of guest memory written (distinct 4 KiB pages per interval, summed).", NULL,
     v_dirtied, NULL, false, false},
    {"dpt_dirty_rate_bytes_per_second", "gauge",
     "Distinct bytes dirtied in the last interval over its length.", NULL, v_rate, has_interval,
     false, false},
    {"dpt_discarded_bytes_total", "counter",
     "Bytes of guest memory discarded (zapped without a write: balloon, free page reporting).",
     NULL, v_discarded, NULL, false, false},
    {"dpt_tracked_bytes", "gauge", "Guest memory tracked (every RAM block), bytes.", NULL,
     v_tracked, NULL, false, false},
    {"dpt_working_set_bytes", "gauge",
     "Distinct bytes dirtied over the last window (10s, 60s); over the history there is while "
     "it is shorter (dpt_history_seconds).",
     ",window=\"10s\"", v_ws_short, NULL, false, false},
    {"dpt_working_set_bytes", NULL, NULL, ",window=\"60s\"", v_ws_long, .same = true},
    {"dpt_history_seconds", "gauge",
     "Seconds of dirty sets the 60s working set covers (less after a start or a change of the "
     "memory layout).",
     NULL, v_hist_s, NULL, false, false},
    {"dpt_target_up", "gauge", "1 if the target is tracked, 0 if it cannot be.", NULL, v_up,
     .all = true},
    {"dpt_target_intervals_total", "counter", "Intervals collected from the target.", NULL,
     v_intervals, NULL, false, false},
    {"dpt_target_interval_seconds", "gauge", "Length of the target's last interval.", NULL,
     v_last_s, has_interval, false, false},
    {"dpt_target_collect_seconds", "gauge", "Time the last collect of the target took (dpt's "
     "cost).", NULL, v_collect, has_interval, false, false},
};

static const struct fam forecast_fams[] = {
    {"dpt_migration_converges", "gauge",
     "1 if a QEMU precopy migration at that bandwidth would complete, replaying the last "
     "minute of dirty sets; 0 if not (or not within the forecast's horizon).",
     NULL, v_fc_conv, has_fc, false, false},
    {"dpt_migration_predicted_seconds", "gauge",
     "Predicted total time of the migration, when it converges.", NULL, v_fc_time, has_fc_time, false, false},
    {"dpt_migration_predicted_downtime_seconds", "gauge",
     "Predicted downtime of the migration, when it converges.", NULL, v_fc_down, has_fc_time, false, false},
    {"dpt_migration_predicted_transferred_bytes", "gauge",
     "Predicted RAM bytes sent (QEMU's ram.transferred), when it converges.", NULL, v_fc_bytes,
     has_fc_time, false, false},
    {"dpt_migration_zero_pages_known", "gauge",
     "1 if the forecast knew which pages hold zeros; 0: it assumed every page holds data (an "
     "upper bound on time and bytes).",
     NULL, v_fc_zero, has_fc, false, false},
    {"dpt_migration_forecast_history_seconds", "gauge",
     "Seconds of dirty sets the forecast replayed.", NULL, v_fc_hist, has_fc, false, false},
    {"dpt_migration_forecast_timestamp_seconds", "gauge", "When the forecast was made (Unix "
     "time).", NULL, v_fc_at, has_fc, false, false},
};

static void fams(struct exp_buf *b, const struct fam *f, unsigned nf, struct exp_target *const *t,
		 unsigned nr)
{
	char l[400];

	for (unsigned k = 0; k < nf; k++) {
		if (!f[k].same)
			family(b, f[k].name, f[k].type, f[k].help);
		for (unsigned i = 0; i < nr; i++) {
			if ((!f[k].all && t[i]->state != EXP_TRACKED) ||
			    (f[k].has && !f[k].has(t[i])))
				continue;
			labels(l, sizeof(l), t[i]);
			exp_buf_printf(b, "%s{%s%s} %.17g\n", f[k].name, l,
				       f[k].extra ? f[k].extra : "", f[k].value(t[i]));
		}
	}
}

/* Families of one sample per target with a label of its own (error, method). */
static void info_fam(struct exp_buf *b, struct exp_target *const *t, unsigned nr, bool failed)
{
	char l[400], v[700];

	if (failed)
		family(b, "dpt_target_error_info", "gauge",
		       "Why a target cannot be tracked (value 1).");
	else
		family(b, "dpt_target_info", "gauge",
		       "The tracking method of a tracked target (value 1).");
	for (unsigned i = 0; i < nr; i++) {
		if ((t[i]->state != EXP_TRACKED) != failed)
			continue;
		labels(l, sizeof(l), t[i]);
		exp_label_escape(v, sizeof(v), failed ? t[i]->error : t[i]->t.mode);
		exp_buf_printf(b, "%s{%s,%s=\"%s\"} 1\n",
			       failed ? "dpt_target_error_info" : "dpt_target_info", l,
			       failed ? "error" : "method", v);
	}
}

static void forecast_families(struct exp_buf *b, struct exp_target *const *t, unsigned nr,
			      const struct exp_stats *st)
{
	if (!st->bandwidth)
		return;
	family(b, "dpt_migration_bandwidth_bytes_per_second", "gauge",
	       "The bandwidth the forecast assumes (--bandwidth).");
	exp_buf_printf(b, "dpt_migration_bandwidth_bytes_per_second %.17g\n", st->bandwidth);
	family(b, "dpt_migration_downtime_limit_seconds", "gauge",
	       "The downtime limit the forecast assumes.");
	exp_buf_printf(b, "dpt_migration_downtime_limit_seconds %.17g\n", st->downtime_limit);
	fams(b, forecast_fams, sizeof(forecast_fams) / sizeof(forecast_fams[0]), t, nr);
}

static void process_families(struct exp_buf *b, const struct exp_stats *st)
{
	struct rusage ru;
	double rss_pages = exp_proc_field("/proc/self/statm", 1);

	getrusage(RUSAGE_SELF, &ru);
	family(b, "process_cpu_seconds_total", "counter",
	       "User and system CPU time dpt exporter spent, in seconds.");
	exp_buf_printf(b, "process_cpu_seconds_total %.6f\n",
		       (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	exp_buf_printf(b, "process_resident_memory_bytes %.0f\n", rss_pages * (double)sysconf(_SC_PAGESIZE));
	family(b, "process_start_time_seconds", "gauge",
	       "Start time of the process since the Unix epoch in seconds.");
	exp_buf_printf(b, "process_start_time_seconds %.3f\n", st->start_wall);
}

void exp_metrics_build(struct exp_buf *b, struct exp_target *const *t, unsigned nr,
		       const struct exp_stats *st)
{
	static const double le[] = EXP_COLLECT_BUCKETS;
	unsigned up = 0;

	for (unsigned i = 0; i < nr; i++)
		up += t[i]->state == EXP_TRACKED;
	fams(b, target_fams, sizeof(target_fams) / sizeof(target_fams[0]), t, nr);
	info_fam(b, t, nr, true);
	info_fam(b, t, nr, false);
	forecast_families(b, t, nr, st);
	family(b, "dpt_targets", "gauge", "Targets tracked now (up), and known but untracked.");
	exp_buf_printf(b, "dpt_targets{state=\"up\"} %u\ndpt_targets{state=\"failed\"} %u\n", up,
		       nr - up);
	family(b, "dpt_targets_lost_total", "counter",
	       "Tracked targets dropped: the process exited, or tracking it failed.");
	exp_buf_printf(b, "dpt_targets_lost_total{reason=\"exited\"} %llu\n",
		       (unsigned long long)st->lost_exited);
	exp_buf_printf(b, "dpt_targets_lost_total{reason=\"failed\"} %llu\n",
		       (unsigned long long)st->lost_failed);
	family(b, "dpt_interval_seconds", "gauge", "The interval asked for (--interval).");
	exp_buf_printf(b, "dpt_interval_seconds %.17g\n", st->interval_s);
	family(b, "dpt_intervals_total", "counter", "Intervals the tracking loop ran.");
	exp_buf_printf(b, "dpt_intervals_total %llu\n", (unsigned long long)st->intervals);
	family(b, "dpt_interval_overruns_total", "counter",
	       "Interval boundaries skipped because collecting took longer than the interval.");
	exp_buf_printf(b, "dpt_interval_overruns_total %llu\n", (unsigned long long)st->overruns);
	family(b, "dpt_collect_duration_seconds", "histogram",
	       "Time to collect every target at an interval's end.");
	for (unsigned i = 0; i < sizeof(le) / sizeof(le[0]); i++)
		exp_buf_printf(b, "dpt_collect_duration_seconds_bucket{le=\"%g\"} %llu\n", le[i],
			       (unsigned long long)st->collect_hist[i]);
	exp_buf_printf(b, "dpt_collect_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
		       (unsigned long long)st->collect_count);
	exp_buf_printf(b, "dpt_collect_duration_seconds_sum %.9f\n", st->collect_sum);
	exp_buf_printf(b, "dpt_collect_duration_seconds_count %llu\n",
		       (unsigned long long)st->collect_count);
	family(b, "dpt_collect_cpu_seconds_total", "counter",
	       "CPU time the collects took (the pid tracker's part of dpt's cost).");
	exp_buf_printf(b, "dpt_collect_cpu_seconds_total %.9f\n", st->collect_cpu);
	family(b, "dpt_discovery_duration_seconds", "gauge",
	       "Time the last look for targets took (/proc).");
	exp_buf_printf(b, "dpt_discovery_duration_seconds %.9f\n", st->discovery_s);
	process_families(b, st);
}

/* ---- the published text ---- */

void exp_text_init(struct exp_text *x)
{
	memset(x, 0, sizeof(*x));
	pthread_mutex_init(&x->lock, NULL);
}

void exp_text_publish(struct exp_text *x, struct exp_buf *b)
{
	pthread_mutex_lock(&x->lock);
	char *old = x->p;
	x->p = b->p;
	x->len = b->len;
	pthread_mutex_unlock(&x->lock);
	free(old);
	memset(b, 0, sizeof(*b));
}

char *exp_text_scrape(struct exp_text *x, size_t *len)
{
	static const char fam[] = "# HELP dpt_scrapes_total Requests of /metrics served.\n"
				  "# TYPE dpt_scrapes_total counter\n"
				  "dpt_scrapes_total %llu\n";
	char tail[sizeof(fam) + 24];
	char *out;

	pthread_mutex_lock(&x->lock);
	unsigned long long n = ++x->scrapes;
	int tl = snprintf(tail, sizeof(tail), fam, n);
	out = malloc(x->len + (size_t)tl + 1);
	if (out) {
		if (x->len)
			memcpy(out, x->p, x->len);
		memcpy(out + x->len, tail, (size_t)tl + 1);
		*len = x->len + (size_t)tl;
	}
	pthread_mutex_unlock(&x->lock);
	return out;
}

void exp_text_fini(struct exp_text *x)
{
	free(x->p);
	pthread_mutex_destroy(&x->lock);
}
