/* report.h - everything dpt report says about a trace, computed in one pass over it.
 *
 *	struct report rp;
 *	struct report_opts o = {.to_ns = -1, .top = 10};
 *	report_compute(&rp, "run.dpt", &o);      then read rp: rates, curve, hot, regions, ...
 *	report_fini(&rp);
 *
 * Which intervals count: those whose middle lies in the cut [from, to) (times from the trace's
 * start), except the synthetic all-dirty interval of --compat (seq 0) and lost intervals (their
 * pages are unknown); both are counted and said. Window lengths are in intervals, over the
 * counted intervals in order, across the pauses between sessions. Figures that need dirty sets
 * are absent (has_sets false) for a counts-only trace. Mechanisms: rates.c, hot.c, wss.c,
 * numbering.c; docs/report.md explains every figure.
 *
 * Library code: 0 or -errno with the reason recorded, never exits.
 */
#ifndef DPT_ANALYSIS_REPORT_H
#define DPT_ANALYSIS_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis/numbering.h"
#include "analysis/wss.h"
#include "dpt/trace.h"

struct report;

/* One interval of the cut (not the synthetic one), as report_compute() saw it: handed to
 * report_opts.on_interval, for the pictures of dpt plot drawn from the same pass. */
struct report_step {
	const struct dpt_sample *s;
	double start, end;	 /* s from the trace's start */
	bool counted;		 /* false: lost (its pages unknown, not in any figure) */
	const uint64_t *bitmap;	 /* its dirty set in the trace-wide numbering (rp->nb), bits
				    bits; NULL: lost, no set, or a counts-only trace */
	uint64_t bits;
};

struct report_opts {
	int64_t from_ns; /* the cut, in ns from the trace's start */
	int64_t to_ns;	 /* < 0: to the end */
	unsigned top;	 /* hot ranges and processes kept (0: 10) */
	/* called for every interval of the cut but the synthetic one, in order, after it was
	 * counted; a non-zero return stops the pass with that error */
	int (*on_interval)(void *arg, const struct report *rp, const struct report_step *st);
	void *arg;
};

/* Statistics of the intervals' rates, each over its own measured length, in pages/s. */
struct report_rates {
	uint64_t n;		/* intervals (with a positive length) */
	double mean, stddev;	/* of the per-interval rates (stddev over n) */
	double min, p50, p90, p99, max; /* nearest rank: the smallest rate >= that share */
	double overall;		/* all dirty pages / all seconds */
};

/* A range of adjacent pages dirtied in a similar number of intervals (hot.c). */
struct report_hot {
	const struct numbering_span *span; /* its region */
	uint64_t first, pages;		   /* trace-wide pages */
	uint64_t offset;		   /* bytes from its region's start */
	uint64_t address;		   /* of its first page */
	uint64_t sum;			   /* dirty page-intervals */
	uint32_t min, max;		   /* intervals dirty, per page */
	double mean;
};

/* Pages of one region name (all its spans). */
struct report_region {
	char name[64];
	uint64_t pages, distinct, dirty; /* tracked, dirtied at least once, page-intervals */
};

struct report_proc {
	int pid, ppid;
	char comm[16];
	uint64_t intervals, dirty, max, discarded, total; /* total: its last */
	unsigned flags; /* every DPT_PROC_* seen */
};

struct report_nonzero {
	double at, scan_s;   /* start of the scan (s from the trace's start), its length */
	uint64_t after_seq, total, count, unknown, bytes_read;
};

struct report_message {
	double at;
	char *text;
};

struct report {
	/* the file */
	const char *path;
	uint64_t file_size, tail; /* tail: bytes ignored at the end (a torn last record) */
	bool has_footer;
	uint16_t major, minor;
	struct trace_header h; /* strings owned by the report */
	/* the cut and the intervals */
	double from, to;		   /* the cut asked for (to < 0: the end) */
	double first_start, last_end;	   /* of the counted intervals, s from the start */
	uint64_t recorded;		   /* interval records in the file */
	uint64_t outside;		   /* not in the cut */
	uint64_t counted;		   /* counted: in the cut, not synthetic, not lost */
	uint64_t synthetic, lost, partial, no_set, zero_length;
	uint64_t flagged[DPT_SAMPLE_NR_FLAGS]; /* counted intervals with each flag */
	uint64_t sessions;		   /* session starts in the cut */
	uint64_t pages_min, pages_max;	   /* pages tracked (per interval) */
	uint64_t dirty, discarded;	   /* sums over the counted intervals */
	double seconds;			   /* their lengths added */
	struct report_rates rates;
	/* from the dirty sets (has_sets false: a counts-only trace, or none in the cut) */
	bool has_sets;
	const struct wss_curve *curve;
	double *starts; /* start of each interval of the curve, s from the trace's start */
	struct wss *wss;
	struct numbering nb;
	struct report_hot *hot;
	unsigned nr_hot;
	uint64_t nr_ranges; /* ranges found, of which nr_hot kept */
	struct report_region *regions;
	unsigned nr_regions;
	/* per vCPU (nr_vcpus 0: no counts), per process (nr_procs 0: no rows) */
	unsigned nr_vcpus;
	uint64_t *vcpu_dirty, *vcpu_max;
	struct report_proc *procs;
	unsigned nr_procs, cap_procs;
	/* non-zero scans, messages and session marks in the cut */
	struct report_nonzero *nonzero;
	unsigned nr_nonzero;
	struct report_message *messages;
	unsigned nr_messages;
	uint64_t messages_dropped; /* beyond REPORT_MAX_MESSAGES */
	/* internal */
	double *rate_v;
	uint64_t nr_rate_v, cap_rate_v, curve_n, cap_starts;
};

#define REPORT_MAX_MESSAGES 1000

/* Read the trace at path once and compute everything. On error the report holds what it
 * read (report_fini() it all the same); a torn tail is not an error. */
int report_compute(struct report *rp, const char *path, const struct report_opts *o);
void report_fini(struct report *rp);

/* rates.c: the statistics of n rates (sorted in place). */
void report_rates_compute(struct report_rates *r, double *v, uint64_t n, uint64_t dirty,
			  double seconds);
/* hot.c: the top ranges and the per-region figures from the per-page counts. */
int report_hot_compute(struct report *rp, unsigned top);

/* Why the figures that need dirty sets are missing, or NULL when they are there. */
const char *report_sets_missing(const struct report *rp);
/* Whether the counts are exact, and a sentence saying why (or why not) into buf. */
bool report_exactness(const struct report *rp, char *buf, size_t len);
/* pages (or pages/s) in MiB (MiB/s). */
double report_mib(const struct report *rp, double pages);
/* The mean measured length of the counted intervals (s), else the one asked for. */
double report_interval_s(const struct report *rp);

#endif
