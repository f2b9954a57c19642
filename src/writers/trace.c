/* trace.c - -o trace:FILE, the run recorded as a .dpt trace (docs/trace-format.md) for
 * dpt report, plot, export and the forecasts.
 *
 * 1. open: create FILE and write its header (the run, the host, the command line), so a bad
 *    path fails before tracking starts.
 * 2. every event (session start and stop, interval, non-zero set, a line dpt says) is copied
 *    into a queue on the loop's thread: a memcpy of its bitmaps, nothing more;
 * 3. a thread of the writer's own encodes and appends each record (lib/trace/write.c): the
 *    loop never waits on compression or the disk, unless the queue holds more than
 *    QUEUE_MAX bytes (a disk far slower than the target), and then it waits rather than drop.
 * 4. close: drain the queue, write the footer (index), close. A write error is returned at the
 *    next event, which ends the run with the file's name and the reason.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/trace.h"
#include "dpt/version.h"
#include "dpt/writer.h"

#define QUEUE_MAX (256u << 20)

enum job_kind { J_SAMPLE, J_NONZERO, J_START, J_STOP, J_MESSAGE };

struct job {
	enum job_kind kind;
	struct job *next;
	size_t bytes;
	struct dpt_sample s;
	struct dpt_nonzero z;
	struct timespec mono, wall;
	char *text;
	void *mem; /* one block holding every copied array */
};

struct trace_out {
	struct trace_writer *tw;
	pthread_t thread;
	bool thread_ok;
	pthread_mutex_t lock;
	pthread_cond_t more, room;
	struct job *head, *tail;
	size_t queued;
	bool closing;
	int err;
	char why[512];
	bool hooked;
	char *path;
	uint64_t intervals, nonzero;
};

/* ---- copying an event ---- */

/* Room for n items of size sz in the job's block, at *off. */
static void *take(char *mem, size_t *off, size_t n, size_t sz)
{
	void *p = mem + *off;
	*off += (n * sz + 15) & ~(size_t)15;
	return p;
}

/* A job of kind with need bytes of its own memory (j->mem) for the copies. */
static struct job *job_alloc(enum job_kind kind, size_t need)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	if (!(j->mem = malloc(need))) {
		free(j);
		return NULL;
	}
	j->kind = kind;
	j->bytes = need;
	return j;
}

static struct job *copy_sample(const struct dpt_sample *s)
{
	size_t bm = s->bitmap ? bitmap_bytes(s->total) : 0;
	size_t dbm = s->discarded_bitmap ? bitmap_bytes(s->total) : 0;
	size_t need = bm + dbm + s->nr_vcpus * sizeof(uint64_t) + s->nr_procs * sizeof(*s->procs) +
		      s->nr_regions * sizeof(*s->regions) + 5 * 16;
	struct job *j = job_alloc(J_SAMPLE, need);
	size_t off = 0;

	if (!j)
		return NULL;
	char *mem = j->mem;
	j->s = *s;
	if (bm)
		j->s.bitmap = memcpy(take(mem, &off, bm, 1), s->bitmap, bm);
	if (dbm)
		j->s.discarded_bitmap = memcpy(take(mem, &off, dbm, 1), s->discarded_bitmap, dbm);
	if (s->nr_vcpus)
		j->s.vcpu_dirty = memcpy(take(mem, &off, s->nr_vcpus, sizeof(uint64_t)),
					 s->vcpu_dirty, s->nr_vcpus * sizeof(uint64_t));
	if (s->nr_procs)
		j->s.procs = memcpy(take(mem, &off, s->nr_procs, sizeof(*s->procs)), s->procs,
				    s->nr_procs * sizeof(*s->procs));
	if (s->nr_regions)
		j->s.regions = memcpy(take(mem, &off, s->nr_regions, sizeof(*s->regions)),
				      s->regions, s->nr_regions * sizeof(*s->regions));
	return j;
}

static struct job *copy_nonzero(const struct dpt_nonzero *z)
{
	size_t bm = bitmap_bytes(z->total);
	size_t need = bm + z->nr_regions * sizeof(*z->regions) + 2 * 16;
	struct job *j = job_alloc(J_NONZERO, need);
	size_t off = 0;

	if (!j)
		return NULL;
	char *mem = j->mem;
	j->z = *z;
	j->z.bitmap = memcpy(take(mem, &off, bm, 1), z->bitmap, bm);
	if (z->nr_regions)
		j->z.regions = memcpy(take(mem, &off, z->nr_regions, sizeof(*z->regions)),
				      z->regions, z->nr_regions * sizeof(*z->regions));
	return j;
}

static struct job *event_job(enum job_kind kind, const char *text)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->kind = kind;
	clock_gettime(CLOCK_MONOTONIC, &j->mono);
	clock_gettime(CLOCK_REALTIME, &j->wall);
	if (text && !(j->text = strdup(text))) {
		free(j);
		return NULL;
	}
	return j;
}

static void job_free(struct job *j)
{
	free(j->mem);
	free(j->text);
	free(j);
}

/* ---- the queue and its thread ---- */

static int run_job(struct trace_writer *tw, const struct job *j)
{
	switch (j->kind) {
	case J_SAMPLE:
		return trace_writer_sample(tw, &j->s);
	case J_NONZERO:
		return trace_writer_nonzero(tw, &j->z);
	case J_START:
	case J_STOP:
		return trace_writer_session(tw, j->kind == J_START, &j->mono, &j->wall);
	case J_MESSAGE:
		return trace_writer_message(tw, &j->mono, &j->wall, j->text);
	}
	return 0;
}

static void *writer_thread(void *arg)
{
	struct trace_out *t = arg;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		while (!t->head && !t->closing)
			pthread_cond_wait(&t->more, &t->lock);
		struct job *j = t->head;
		if (!j)
			break; /* closing, and nothing left */
		t->head = j->next;
		if (!t->head)
			t->tail = NULL;
		pthread_mutex_unlock(&t->lock);
		int err = t->err ? 0 : run_job(t->tw, j);
		pthread_mutex_lock(&t->lock);
		if (err && !t->err) {
			t->err = err;
			snprintf(t->why, sizeof(t->why), "%s",
				 dpt_last_error() ? dpt_last_error() : strerror(-err));
		}
		t->queued -= j->bytes;
		pthread_cond_broadcast(&t->room);
		job_free(j);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* Queue j (NULL: out of memory); the writer's first error, if any. */
static int enqueue(struct trace_out *t, struct job *j)
{
	int err;

	if (!j)
		return -ENOMEM;
	pthread_mutex_lock(&t->lock);
	while (t->queued && t->queued + j->bytes > QUEUE_MAX && !t->err)
		pthread_cond_wait(&t->room, &t->lock);
	err = t->err;
	if (!err) {
		j->next = NULL;
		if (t->tail)
			t->tail->next = j;
		else
			t->head = j;
		t->tail = j;
		t->queued += j->bytes;
		pthread_cond_signal(&t->more);
		j = NULL;
	}
	pthread_mutex_unlock(&t->lock);
	if (j)
		job_free(j);
	return err ? dpt_fail(err, "%s", t->why) : 0;
}

/* Every warning and info line dpt says goes into the trace too. */
static void on_log(void *arg, const char *line)
{
	struct trace_out *t = arg;

	enqueue(t, event_job(J_MESSAGE, line));
	dpt_clear_error();
}

/* ---- the run's description ---- */

static void host_cpu(char *buf, size_t len)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[512], model[256] = "";
	unsigned n = 0;

	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (!strncmp(line, "processor", 9))
			n++;
		if (!model[0] && colon && !strncmp(line, "model name", 10)) {
			snprintf(model, sizeof(model), "%s", colon + 2);
			model[strcspn(model, "\n")] = 0;
		}
	}
	if (f)
		fclose(f);
	snprintf(buf, len, "%s, %u CPU%s", model[0] ? model : "unknown", n, n == 1 ? "" : "s");
}

static int trace_close(struct dpt_writer *w);

static int trace_open(struct dpt_writer *w, const char *arg, const struct dpt_run_info *info)
{
	struct trace_out *t = calloc(1, sizeof(*t));
	struct utsname u;
	struct timespec mono, wall;
	char kernel[400] = "", cpu[300], host[256] = "";
	int err;

	if (!t)
		return -ENOMEM;
	w->priv = t;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->more, NULL);
	pthread_cond_init(&t->room, NULL);
	if (!arg || !*arg) {
		err = dpt_fail(-EINVAL, "-o trace:FILE needs a file name");
		goto fail;
	}
	if (!uname(&u))
		snprintf(kernel, sizeof(kernel), "%s %s %s %s", u.sysname, u.release, u.version,
			 u.machine);
	host_cpu(cpu, sizeof(cpu));
	gethostname(host, sizeof(host) - 1);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &wall);
	struct trace_header h = {
		.page_size = 4096,
		.dpt_version = DPT_VERSION,
		.kernel = kernel,
		.cpu = cpu,
		.hostname = host,
		.tracker = info->tracker,
		.mode = info->mode,
		.target = info->target_desc,
		.command = info->command,
		.interval_ns = info->interval_ns,
		.zero_scan_ns = info->zero_scan_ns,
		.wall_start_ns = (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec,
		.mono_start_ns = (int64_t)mono.tv_sec * 1000000000 + mono.tv_nsec,
		.flags = (info->estimate ? TRACE_ESTIMATE : 0) |
			 (info->has_bitmap ? TRACE_HAS_SETS : 0) |
			 (info->counts_discarded ? TRACE_COUNTS_DISCARDED : 0) |
			 (info->per_process ? TRACE_PER_PROCESS : 0) |
			 (info->compat ? TRACE_COMPAT : 0),
		.nr_vcpus = info->nr_vcpus,
		.owner_pid = info->owner_pid,
	};
	if (!(t->path = strdup(arg))) {
		err = -ENOMEM;
		goto fail;
	}
	if ((err = trace_writer_open(&t->tw, arg, true, &h)))
		goto fail;
	if ((err = -pthread_create(&t->thread, NULL, writer_thread, t))) {
		err = dpt_fail(err, "trace output: cannot start its thread: %s", strerror(-err));
		goto fail;
	}
	t->thread_ok = true;
	if (!dpt_log_hook) {
		dpt_log_hook_arg = t;
		dpt_log_hook = on_log;
		t->hooked = true;
	}
	return 0;
fail:
	w->discard = true;
	trace_close(w);
	return err;
}

static int trace_close(struct dpt_writer *w)
{
	struct trace_out *t = w->priv;
	int err = 0;

	if (!t)
		return 0;
	if (t->hooked) {
		dpt_log_hook = NULL;
		dpt_log_hook_arg = NULL;
	}
	if (t->thread_ok) {
		pthread_mutex_lock(&t->lock);
		t->closing = true;
		pthread_cond_signal(&t->more);
		pthread_mutex_unlock(&t->lock);
		pthread_join(t->thread, NULL);
	}
	if (t->err)
		err = dpt_fail(t->err, "%s", t->why);
	if (t->tw) {
		uint64_t bytes = trace_writer_bytes(t->tw);
		int e = trace_writer_close(t->tw, true, w->discard);
		if (e && !err)
			err = e;
		if (!err && !w->discard)
			dpt_info("trace %s: %llu intervals, %llu non-zero sets, %.1f KiB", t->path,
				 (unsigned long long)t->intervals, (unsigned long long)t->nonzero,
				 (double)bytes / 1024.0);
	}
	free(t->path);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->more);
	pthread_cond_destroy(&t->room);
	free(t);
	w->priv = NULL;
	return err;
}

static int trace_start(struct dpt_writer *w)
{
	return enqueue(w->priv, event_job(J_START, NULL));
}

static int trace_stop(struct dpt_writer *w)
{
	return enqueue(w->priv, event_job(J_STOP, NULL));
}

static int trace_sample(struct dpt_writer *w, const struct dpt_sample *s)
{
	struct trace_out *t = w->priv;

	t->intervals++;
	return enqueue(t, copy_sample(s));
}

static int trace_nonzero(struct dpt_writer *w, const struct dpt_nonzero *z)
{
	struct trace_out *t = w->priv;

	t->nonzero++;
	return enqueue(t, copy_nonzero(z));
}

const struct dpt_writer_ops trace_writer_ops = {
	.name = "trace",
	.open = trace_open,
	.start = trace_start,
	.sample = trace_sample,
	.stop = trace_stop,
	.nonzero = trace_nonzero,
	.close = trace_close,
};
