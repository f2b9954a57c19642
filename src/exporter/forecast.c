/* forecast.c - dpt exporter's migration forecast, on a worker thread of its own.
 *
 * 1. Every few seconds the tracking loop hands the worker copies of each tracked target's
 *    last minute of dirty sets (exp_fc_submit; nothing if the worker is still busy).
 * 2. The worker writes them as a .dpt trace (lib/trace) into a memfd and runs dpt predict's
 *    replay of QEMU's precopy on it (predict_run on /proc/self/fd/N), at --bandwidth. Without a
 *    non-zero record the replay takes every page to hold data: an upper bound on time and
 *    bytes, said in dpt_migration_zero_pages_known. With --zero-scan-every, the round's
 *    non-zero scans (prepared by the loop, run here: they read the VM's memory through
 *    descriptors of their own, never the tracker's state) give that record, first in the
 *    trace: the pages found zero now are taken to be zero at the minute's start (a page written
 *    during the minute is non-zero now anyway).
 * 3. The results wait in the worker until the loop takes them (exp_fc_collect).
 * The worker never touches a tracker nor a target: a forecast costs dpt's CPU, not the VM's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "analysis/predict.h"
#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/trace.h"
#include "exporter/exporter.h"

#define FC_MIN_SETS 5 /* a forecast needs this many intervals at least */

struct fc_job {
	unsigned id;
	const struct dpt_tracker_ops *ops; /* its tracker's, for the non-zero scan */
	struct dpt_zscan *zs;		   /* the scan prepared, or NULL */
	char vm[128];
	uint64_t total;
	struct dpt_region *regions;
	unsigned nr_regions;
	unsigned nr; /* sets, oldest first */
	struct exp_set *sets;
};

struct fc_result {
	unsigned id;
	struct exp_forecast fc;
};

struct exp_fc_worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool busy, stop;
	struct fc_job *jobs;
	unsigned nr_jobs;
	struct fc_result *res;
	unsigned nr_res, cap_res;
	double bandwidth, downtime_limit;
	uint64_t interval_ns;
	char said[300];
};

static void job_free(struct fc_job *j)
{
	if (j->zs)
		j->ops->zscan_free(j->zs);
	j->zs = NULL;
	for (unsigned i = 0; i < j->nr; i++) {
		free(j->sets[i].idx);
		free(j->sets[i].bitmap);
	}
	free(j->sets);
	free(j->regions);
}

static int set_copy(struct exp_set *d, const struct exp_set *s, uint64_t total)
{
	*d = *s;
	d->idx = NULL;
	d->bitmap = NULL;
	if (s->idx && !(d->idx = malloc(s->count * sizeof(uint32_t) + 1)))
		return -ENOMEM;
	if (s->idx)
		memcpy(d->idx, s->idx, s->count * sizeof(uint32_t));
	if (s->bitmap && !(d->bitmap = malloc(bitmap_bytes(total))))
		return -ENOMEM;
	if (s->bitmap)
		memcpy(d->bitmap, s->bitmap, bitmap_bytes(total));
	return 0;
}

static int job_make(struct fc_job *j, struct exp_target *t, bool zscan)
{
	const struct exp_hist *h = &t->hist;
	unsigned n = (unsigned)(h->n < h->cap ? h->n : h->cap);

	memset(j, 0, sizeof(*j));
	j->id = t->id;
	snprintf(j->vm, sizeof(j->vm), "%s", t->vm);
	j->total = h->total;
	j->nr_regions = h->nr_regions;
	if (!(j->regions = malloc((h->nr_regions + 1) * sizeof(*j->regions))) ||
	    !(j->sets = calloc(n + 1, sizeof(*j->sets))))
		return -ENOMEM;
	memcpy(j->regions, h->regions, h->nr_regions * sizeof(*j->regions));
	j->ops = t->t.ops;
	if (zscan && j->ops->zscan_prepare && j->ops->zscan_prepare(&t->t, &j->zs)) {
		j->zs = NULL; /* no scan this round: every page holds data */
		dpt_clear_error();
	}
	for (unsigned i = 0; i < n; i++, j->nr++)
		if (set_copy(&j->sets[i], exp_hist_get(h, n - 1 - i), h->total))
			return -ENOMEM;
	return 0;
}

static void set_bit(void *arg, uint64_t p)
{
	bitmap_set(arg, p);
}

/* The job's sets as a trace in the memfd fd. */
static int write_trace(struct exp_fc_worker *w, const struct fc_job *j, const char *path)
{
	struct trace_header h = {
	    .page_size = 4096, .dpt_version = "exporter", .tracker = "pid", .mode = "",
	    .target = j->vm, .command = "dpt exporter", .interval_ns = w->interval_ns,
	    .wall_start_ns = (int64_t)j->sets[0].wall_start.tv_sec * 1000000000 +
			     j->sets[0].wall_start.tv_nsec,
	    .mono_start_ns = (int64_t)j->sets[0].mono_start.tv_sec * 1000000000 +
			     j->sets[0].mono_start.tv_nsec,
	    .flags = TRACE_HAS_SETS, .nr_regions = j->nr_regions, .regions = j->regions,
	};
	struct trace_writer *tw = NULL;
	uint64_t *bm = malloc(bitmap_bytes(j->total) + 8);
	int err = bm ? trace_writer_open(&tw, path, true, &h) : -ENOMEM;

	if (!err && j->zs) {
		struct dpt_nonzero z = {0};
		clock_gettime(CLOCK_MONOTONIC, &z.mono_start);
		clock_gettime(CLOCK_REALTIME, &z.wall_start);
		int e = j->ops->zscan_run(j->zs, &z);
		clock_gettime(CLOCK_MONOTONIC, &z.mono_end);
		clock_gettime(CLOCK_REALTIME, &z.wall_end);
		/* the same numbering as the sets, or none (the layout changed meanwhile) */
		if (!e && z.total == j->total)
			err = trace_writer_nonzero(tw, &z);
		dpt_clear_error();
	}
	for (unsigned i = 0; !err && i < j->nr; i++) {
		const struct exp_set *s = &j->sets[i];
		memset(bm, 0, bitmap_bytes(j->total));
		exp_set_foreach(s, j->total, set_bit, bm);
		struct dpt_sample smp = {
		    .seq = i + 1, .mono_start = s->mono_start, .mono_end = s->mono_end,
		    .wall_start = s->wall_start, .wall_end = s->wall_end, .dirty = s->count,
		    .total = j->total, .page_size = 4096, .bitmap = bm,
		    .nr_regions = j->nr_regions, .regions = j->regions, .regions_changed = i == 0,
		};
		err = trace_writer_sample(tw, &smp);
	}
	if (bm && !err)
		err = trace_writer_close(tw, true, false);
	else if (bm && tw)
		trace_writer_close(tw, false, false);
	free(bm);
	return err;
}

static int run_job(struct exp_fc_worker *w, const struct fc_job *j, struct exp_forecast *fc)
{
	char path[64];
	struct predict_opts o = predict_defaults();
	struct predict_result res;
	int fd = memfd_create("dpt-forecast", MFD_CLOEXEC), err;

	if (fd < 0)
		return dpt_fail(-errno, "memfd_create: %s", strerror(errno));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	err = write_trace(w, j, path);
	o.bandwidth = w->bandwidth;
	o.link = w->bandwidth; /* the link runs at BW too: each page's time on the wire counts */
	if (w->downtime_limit > 0)
		o.downtime_limit = w->downtime_limit;
	memset(&res, 0, sizeof(res));
	if (!err)
		err = predict_run(path, &o, &res);
	close(fd);
	if (err)
		return err;
	memset(fc, 0, sizeof(*fc));
	fc->valid = true;
	fc->converges = res.status == PREDICT_CONVERGED;
	fc->total_time = res.total_time;
	fc->downtime = res.downtime;
	fc->transferred = res.transferred;
	fc->zero_known = res.zero_known;
	fc->history_s = ts_diff(&j->sets[j->nr - 1].mono_end, &j->sets[0].mono_start);
	clock_gettime(CLOCK_REALTIME, &fc->made);
	predict_result_fini(&res);
	return 0;
}

static void post(struct exp_fc_worker *w, unsigned id, const struct exp_forecast *fc)
{
	pthread_mutex_lock(&w->lock);
	if (w->nr_res == w->cap_res) {
		unsigned cap = w->cap_res ? 2 * w->cap_res : 16;
		struct fc_result *v = realloc(w->res, cap * sizeof(*v));
		if (!v) {
			pthread_mutex_unlock(&w->lock);
			return;
		}
		w->res = v;
		w->cap_res = cap;
	}
	w->res[w->nr_res++] = (struct fc_result){.id = id, .fc = *fc};
	pthread_mutex_unlock(&w->lock);
}

static void *worker(void *arg)
{
	struct exp_fc_worker *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->stop && !w->busy)
			pthread_cond_wait(&w->wake, &w->lock);
		if (w->stop)
			break;
		struct fc_job *jobs = w->jobs;
		unsigned nr = w->nr_jobs;
		pthread_mutex_unlock(&w->lock);
		for (unsigned i = 0; i < nr; i++) {
			struct exp_forecast fc;
			pthread_mutex_lock(&w->lock);
			bool stop = w->stop; /* dpt is stopping: the rest of the round is dropped */
			pthread_mutex_unlock(&w->lock);
			if (stop) {
				job_free(&jobs[i]);
				continue;
			}
			dpt_clear_error();
			if (!run_job(w, &jobs[i], &fc)) {
				post(w, jobs[i].id, &fc);
			} else if (strcmp(w->said, dpt_last_error() ? dpt_last_error() : "")) {
				snprintf(w->said, sizeof(w->said), "%s",
					 dpt_last_error() ? dpt_last_error() : "");
				dpt_warn("vm %s: no migration forecast: %s", jobs[i].vm, w->said);
			}
			job_free(&jobs[i]);
		}
		free(jobs);
		pthread_mutex_lock(&w->lock);
		w->jobs = NULL;
		w->nr_jobs = 0;
		w->busy = false;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int exp_fc_start(struct exp_fc_worker **wp, double bandwidth, double downtime_limit,
		 uint64_t interval_ns)
{
	struct exp_fc_worker *w = calloc(1, sizeof(*w));

	if (!w)
		return dpt_fail(-ENOMEM, "out of memory");
	w->bandwidth = bandwidth;
	w->downtime_limit = downtime_limit;
	w->interval_ns = interval_ns;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	int err = pthread_create(&w->thread, NULL, worker, w);
	if (err) {
		free(w);
		return dpt_fail(-err, "cannot start the forecast's thread: %s", strerror(err));
	}
	*wp = w;
	return 0;
}

int exp_fc_submit(struct exp_fc_worker *w, struct exp_target *const *t, unsigned nr, bool zscan)
{
	pthread_mutex_lock(&w->lock);
	bool busy = w->busy;
	pthread_mutex_unlock(&w->lock);
	if (busy)
		return 0;
	struct fc_job *jobs = calloc(nr + 1, sizeof(*jobs));
	unsigned n = 0;
	for (unsigned i = 0; jobs && i < nr; i++) {
		if (t[i]->state != EXP_TRACKED || t[i]->hist.n < FC_MIN_SETS || !t[i]->hist.total)
			continue;
		if (job_make(&jobs[n], t[i], zscan)) {
			job_free(&jobs[n]);
			continue;
		}
		n++;
	}
	if (!n) {
		free(jobs);
		return 0;
	}
	pthread_mutex_lock(&w->lock);
	w->jobs = jobs;
	w->nr_jobs = n;
	w->busy = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	return 1;
}

void exp_fc_collect(struct exp_fc_worker *w, struct exp_target *const *t, unsigned nr)
{
	pthread_mutex_lock(&w->lock);
	for (unsigned r = 0; r < w->nr_res; r++)
		for (unsigned i = 0; i < nr; i++)
			if (t[i]->id == w->res[r].id)
				t[i]->fc = w->res[r].fc;
	w->nr_res = 0;
	pthread_mutex_unlock(&w->lock);
}

void exp_fc_stop(struct exp_fc_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	for (unsigned i = 0; i < w->nr_jobs; i++)
		job_free(&w->jobs[i]);
	free(w->jobs);
	free(w->res);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->wake);
	free(w);
}
