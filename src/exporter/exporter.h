/* exporter.h - dpt exporter's parts: which processes to track (sources), one tracked target
 * each (the pid tracker, a history of its last minute of dirty sets), the Prometheus text built
 * from them, the HTTP server that serves it, and the migration forecast's worker.
 *
 * Threads: the tracking loop (cmd-exporter.c) owns every target and is the only thread that
 * touches a tracker; it builds the whole exposition text after each interval and publishes it
 * (exp_text_publish). The HTTP server's thread (http.c) only copies the text last published.
 * The forecast worker (forecast.c) gets copies of the histories and hands results back.
 * See docs/exporter.md.
 */
#ifndef DPT_EXPORTER_H
#define DPT_EXPORTER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "dpt/tracker.h"
#include "trackers/pid/pid.h"

/* ---- sources: which processes to track, and their names ---------------------------------- */

/* One process a source wants tracked. */
struct exp_want {
	pid_t pid;	/* 0: a target named that has no process now (error says why) */
	char name[128]; /* the vm label; "" lets the exporter name it (QEMU -name, else the pid) */
	char error[300]; /* pid 0: why it cannot be tracked ("libvirt domain 'x' is not running") */
	/* QEMU's QMP for its layout and migration state: a socket path, or another way
	 * (libvirt's passthrough, struct pid_qmp_via); none by default. What they point to
	 * must live as long as the source lists the pid, and until the list() after that (the
	 * exporter drops the target at that discovery). */
	struct pid_qemu_qmp qmp;
};

struct exp_wants {
	struct exp_want *v;
	unsigned nr, cap;
};

/* Add one (a pid already wanted is not added twice); qmp may be NULL. 0 or -ENOMEM. */
int exp_wants_add(struct exp_wants *w, pid_t pid, const char *name,
		  const struct pid_qemu_qmp *qmp);
/* A target named (the vm label) that cannot be tracked now, and why: served as a target error
 * (pid ""), said once. 0 or -ENOMEM. */
int exp_wants_add_error(struct exp_wants *w, const char *name, const char *error);
void exp_wants_fini(struct exp_wants *w);

/* A source names processes to track: --pid (fixed pids), --all-qemu (every QEMU in /proc),
 * --domain (libvirt domains by name: its list() adds each running domain's QEMU pid, with the
 * domain's name and its QMP through libvirt, and each domain it cannot track now as an error).
 * list() adds what it wants now; it is called at every discovery (each interval). */
struct exp_source {
	const char *name;
	int (*list)(struct exp_source *s, struct exp_wants *out);
	void (*fini)(struct exp_source *s);
	void *priv;
};

/* --pid PID (repeatable): those processes while they live (a pid reused by another process
 * after it ended is not taken). */
int exp_source_pids(struct exp_source *s, const pid_t *pids, unsigned nr);
/* --all-qemu: every qemu-system-* process in /proc. */
int exp_source_all_qemu(struct exp_source *s);
/* --domain NAME (repeatable) [--connect URI]: those libvirt domains' QEMU while they run,
 * each picked up when it starts, dropped when it stops, the new QEMU of one restarted taken;
 * one that cannot be tracked is a target error (no such domain, not running, no libvirt). The
 * connection is made at the first list(), and made again when lost (1 s, 2 s ... 30 s apart),
 * the domains tracked meanwhile kept. names must live as long as the source. 0 or -ENOMEM. */
int exp_source_domains(struct exp_source *s, const char *const *names, unsigned nr,
		       const char *uri);
/* /proc/PID/stat's starttime (clock ticks after boot), to tell a reused pid; 0 if gone. */
unsigned long long exp_start_time(pid_t pid);
/* The field-th number (from 0) of a file of numbers (/proc/uptime, /proc/self/statm), or 0. */
double exp_proc_field(const char *path, unsigned field);
/* Seconds since a process with that starttime started. */
double exp_age(unsigned long long start_time);

/* ---- a tracked target's history: its last intervals' dirty sets ------------------------- */

/* One interval's dirty set, stored as page indices or as a bitmap, whichever is smaller. */
struct exp_set {
	uint64_t count;
	uint32_t *idx;	  /* count indices, or NULL */
	uint64_t *bitmap; /* or a bitmap of the history's total pages */
	struct timespec mono_start, mono_end, wall_start, wall_end;
};

/* The last `cap` intervals (the forecast's minute) and the working set over the last
 * `short_k` and `long_k` intervals (10 s and 60 s), kept exact and incrementally: last[p] is
 * the interval (mod 65535) that last dirtied page p within the long window, or EXP_NEVER. */
struct exp_hist {
	uint64_t total;	    /* pages in the numbering */
	unsigned cap;	    /* ring size (>= long_k) */
	unsigned short_k, long_k;
	struct exp_set *ring;
	uint64_t n;	    /* intervals added since the last reset */
	uint16_t *last;
	uint64_t distinct_short, distinct_long;
	struct dpt_region *regions; /* the layout the sets are numbered in */
	unsigned nr_regions;
};

int exp_hist_init(struct exp_hist *h, unsigned short_k, unsigned long_k, unsigned cap);
/* Add one interval's set (s->bitmap of s->total pages); a new layout (regions_changed, another
 * total) starts the history afresh. 0 or -ENOMEM (the history is then reset). */
int exp_hist_add(struct exp_hist *h, const struct dpt_sample *s);
void exp_hist_reset(struct exp_hist *h);
void exp_hist_fini(struct exp_hist *h);
/* The i-th most recent set (0 = the last), i < min(n, cap). */
const struct exp_set *exp_hist_get(const struct exp_hist *h, unsigned i);
/* Visit every page of a set. */
void exp_set_foreach(const struct exp_set *s, uint64_t total, void (*fn)(void *arg, uint64_t page),
		     void *arg);

/* ---- the migration forecast (forecast.c) -------------------------------------------------- */

struct exp_forecast {
	bool valid;	   /* a forecast was made */
	bool converges;
	double total_time; /* s, when it converges */
	double downtime;   /* s, when it converges */
	uint64_t transferred;
	bool zero_known;   /* a non-zero record was used (else every page holds data) */
	double history_s;  /* seconds of dirty sets it replayed */
	struct timespec made; /* CLOCK_REALTIME */
};

/* ---- a target ------------------------------------------------------------------------------ */

enum exp_state {
	EXP_TRACKED, /* up */
	EXP_FAILED,  /* could not be tracked (error[]); retried later */
};

struct exp_target {
	pid_t pid;
	char vm[128];		 /* the vm label */
	char error[300];	 /* why it is not tracked (EXP_FAILED) */
	bool said;		 /* ... and a line said so */
	enum exp_state state;
	unsigned long long start_time; /* /proc/PID/stat starttime, to tell a reused pid */
	struct dpt_tracker t;
	bool open;
	bool seen;		 /* wanted at the last discovery */
	bool fresh;		 /* opened in this interval: collected from the next one */
	double retry_at;	 /* EXP_FAILED: monotonic s of the next attempt */
	double backoff;
	struct timespec prev_mono, prev_wall;
	/* figures of the last interval and running totals */
	uint64_t dirtied_pages_total, discarded_pages_total, intervals;
	uint64_t last_dirty, total_pages;
	double last_seconds, last_collect_s;
	struct exp_hist hist;
	struct exp_forecast fc;
	unsigned id;		 /* unique over the run, for the forecast's results */
};

/* ---- the exposition text (metrics.c) -------------------------------------------------------- */

struct exp_buf {
	char *p;
	size_t len, cap;
	bool oom;
};

void exp_buf_printf(struct exp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void exp_buf_fini(struct exp_buf *b);

/* Exporter-wide figures for the text. */
struct exp_stats {
	double interval_s;
	uint64_t intervals, overruns;
	uint64_t lost_exited, lost_failed;
	double collect_s;	     /* the last interval's collect of every target */
	uint64_t collect_hist[12];   /* histogram of collect_s, cumulative at build */
	double collect_sum;
	double collect_cpu;	     /* CPU time the collects took (the pid tracker's work) */
	uint64_t collect_count;
	double discovery_s;
	double bandwidth, downtime_limit; /* the forecast's, 0 = no forecast */
	double start_wall;
};

#define EXP_COLLECT_BUCKETS {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

/* Build the whole text (every family with HELP and TYPE) for these targets into b. */
void exp_metrics_build(struct exp_buf *b, struct exp_target *const *t, unsigned nr,
		       const struct exp_stats *st);
/* A label value escaped for the text format (backslash, quote, newline) into dst. */
void exp_label_escape(char *dst, size_t size, const char *src);

/* The published text: the tracking loop swaps a new one in after each interval; a scrape
 * copies the current one (a short critical section: a memcpy). */
struct exp_text {
	pthread_mutex_t lock;
	char *p;
	size_t len;
	uint64_t scrapes;
};

void exp_text_init(struct exp_text *x);
/* Take b's text (b is emptied). */
void exp_text_publish(struct exp_text *x, struct exp_buf *b);
/* A copy of the current text plus the scrape counter's family, counting this scrape;
 * malloc'd (the caller frees), NULL when out of memory. */
char *exp_text_scrape(struct exp_text *x, size_t *len);
void exp_text_fini(struct exp_text *x);

/* ---- HTTP (http.c, libmicrohttpd) ----------------------------------------------------------- */

struct exp_http;

/* Parse ADDR:PORT, ADDR an IP address (127.0.0.1:9901, [::1]:9901; :9901 for every address) and bind a listening
 * socket: its fd, or -errno with the reason ("address already in use"). -EINVAL: malformed. */
int exp_listen(const char *addr);
/* Serve /metrics from x on the listening socket fd (taken over). 0 or -errno. */
int exp_http_start(struct exp_http **hp, int fd, struct exp_text *x);
void exp_http_stop(struct exp_http *h);
/* Was the exporter built with libmicrohttpd? */
bool exp_http_available(void);

/* ---- the forecast's worker (forecast.c) ------------------------------------------------------ */

struct exp_fc_worker;

/* bandwidth in bytes/s, downtime limit in s. */
int exp_fc_start(struct exp_fc_worker **wp, double bandwidth, double downtime_limit,
		 uint64_t interval_ns);
/* Hand the worker copies of these targets' histories, if it is idle (else nothing: the next
 * round will); 1 if it took them. With zscan, a non-zero scan of each is prepared here (the
 * loop's thread: the tracker's zscan_prepare) and run by the worker, which then knows which
 * pages hold zeros. */
int exp_fc_submit(struct exp_fc_worker *w, struct exp_target *const *t, unsigned nr, bool zscan);
/* Copy the results made since the last call into the targets (matched by id). */
void exp_fc_collect(struct exp_fc_worker *w, struct exp_target *const *t, unsigned nr);
void exp_fc_stop(struct exp_fc_worker *w);

#endif
