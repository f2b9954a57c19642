/* qmp-util.h - shared by the qmp tracker's tests: drive the tracker as the loop does, start
 * helper processes, read logs. Static functions only (each test is one program).
 *
 * qmp_track(): open, start, then collect at start + k x interval (k = 1..n) on an absolute
 * schedule, like src/loop.c, recording every sample and the first error; close.
 */
#ifndef DPT_TEST_QMP_UTIL_H
#define DPT_TEST_QMP_UTIL_H

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dpt/log.h"
#include "dpt/tracker.h"
#include "trackers/qmp.h"

#define QT_MAX 16

struct qt_run {
	int err;	   /* first failure, 0 if none */
	const char *where; /* "open", "start", "collect" */
	char error[512];   /* dpt_last_error() then */
	unsigned n;	   /* samples collected */
	uint64_t dirty[QT_MAX], total[QT_MAX];
	double secs[QT_MAX];
	double interval; /* the interval asked for, seconds */
	unsigned flags[QT_MAX];
	unsigned nr_vcpus[QT_MAX];
	uint64_t vcpu[QT_MAX][4];
	char mode[32];
	bool estimate;
	unsigned t_nr_vcpus;
	char desc[128];
	double elapsed;	 /* seconds, open to close */
	double max_late; /* longest collect() call, seconds */
};

static inline double qt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void qt_sleep_until(double t)
{
	double d = t - qt_now();

	if (d > 0) {
		struct timespec ts = {(time_t)d, (long)((d - (time_t)d) * 1e9)};
		nanosleep(&ts, NULL);
	}
}

static inline int qt_fail(struct qt_run *r, int err, const char *where)
{
	r->err = err;
	r->where = where;
	snprintf(r->error, sizeof(r->error), "%s", dpt_last_error() ? dpt_last_error() : "");
	return err;
}

static inline void qt_take(struct qt_run *r, const struct dpt_sample *s, double secs)
{
	unsigned i = r->n++;

	r->dirty[i] = s->dirty;
	r->total[i] = s->total;
	r->secs[i] = secs;
	r->flags[i] = s->flags;
	r->nr_vcpus[i] = s->nr_vcpus;
	for (unsigned v = 0; v < s->nr_vcpus && v < 4; v++)
		r->vcpu[i][v] = s->vcpu_dirty[v];
}

/* Run the tracker on a QMP socket for n intervals. */
static inline int qt_track(const char *sock, const char *mode, const struct qmp_tracker_opts *x,
			   unsigned n, struct qt_run *r)
{
	struct dpt_target target = {.kind = DPT_TARGET_QMP, .qmp_path = sock};
	struct dpt_tracker_opts opts = {.mode = mode, .extra = x};
	struct dpt_tracker t = {.ops = &qmp_tracker_ops, .end_fd = -1};
	double t0 = qt_now(), interval = x && x->interval_ns ? x->interval_ns / 1e9 : 1.0;
	int err;

	memset(r, 0, sizeof(*r));
	r->interval = interval;
	dpt_clear_error();
	err = t.ops->open(&t, &target, &opts);
	if (err) {
		qt_fail(r, err, "open");
		goto out;
	}
	snprintf(r->mode, sizeof(r->mode), "%s", t.mode);
	snprintf(r->desc, sizeof(r->desc), "%s", t.target_desc);
	r->estimate = t.estimate;
	r->t_nr_vcpus = t.nr_vcpus;
	err = t.ops->start(&t);
	if (err) {
		qt_fail(r, err, "start");
		goto out_close;
	}
	double start = qt_now(), prev = start;
	for (unsigned k = 1; k <= n && k <= QT_MAX; k++) {
		struct dpt_sample s = {0};
		qt_sleep_until(start + k * interval);
		double now = qt_now();
		err = t.ops->collect(&t, &s);
		double after = qt_now();
		if (after - now > r->max_late)
			r->max_late = after - now;
		if (err) {
			qt_fail(r, err, "collect");
			break;
		}
		qt_take(r, &s, now - prev);
		prev = now;
	}
out_close:
	t.ops->close(&t);
	t.ops->close(&t); /* twice: must be harmless */
out:
	r->elapsed = qt_now() - t0;
	return err;
}

/* Start argv as a child with stdout on a pipe; wait (up to 10 s) for a line containing
 * ready. Returns the pid, or -1. */
static inline pid_t qt_spawn(char *const argv[], const char *ready)
{
	int p[2];
	char line[256];

	if (pipe(p))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive a test that crashed */
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[1]);
	FILE *f = fdopen(p[0], "r");
	bool ok = false;
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, ready)) {
			ok = true;
			break;
		}
	if (f)
		fclose(f);
	if (!ok && pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

static inline void qt_reap(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Our build directory's helper: <dir of this program>/../helpers/name. */
static inline void qt_helper(const char *name, char *out, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	exe[n > 0 ? n : 0] = 0;
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = 0;
	if (snprintf(out, size, "%.3800s/../helpers/%s", exe, name) >= (int)size)
		out[0] = 0;
}

/* The whole file, NUL-terminated (malloc'd), or an empty string. */
static inline char *qt_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s = NULL;
	size_t n = 0;

	if (f) {
		fseek(f, 0, SEEK_END);
		long len = ftell(f);
		rewind(f);
		s = malloc((size_t)(len > 0 ? len : 0) + 1);
		n = s ? fread(s, 1, (size_t)(len > 0 ? len : 0), f) : 0;
		fclose(f);
	}
	if (!s)
		s = malloc(1);
	s[n] = 0;
	return s;
}

static inline unsigned qt_count(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

#endif
