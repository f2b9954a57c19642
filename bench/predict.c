/* predict.c - how long dpt predict takes on one hour of a 64 GiB VM at 1 s intervals with 5 %
 * of its pages dirty each interval (the trace `bench/trace gen` writes: 16.7 M pages x 3600),
 * against the targets: a forecast under 5 s, a sweep of 20 bandwidths x 4 limits under 60 s.
 *
 *	build/bench/predict [FILE]     (default $TMPDIR/gen.dpt, made by build/bench/trace gen
 *	                                when missing: about a minute and 2.2 GB)
 *	DPT_OLD=path/to/old/dpt build/bench/predict [FILE]
 *
 * With DPT_OLD, each `dpt predict` command also runs with that binary, the two alternately, 3
 * times each, and the row says both medians and their ratio: on a shared, noisy machine the
 * ratio measured side by side is the figure to trust, not either time alone.
 *
 * Prints, for each case, the seconds it took and its ratio to the target (< 1: met):
 *  - one forecast at 10 GiB/s (converges in a few passes), 1 GiB/s and 128 MiB/s (QEMU's
 *    default; neither converges: 5 % of 64 GiB a second is 3.2 GiB/s), predict_run() alone;
 *  - the whole `dpt predict` command at 1 GiB/s, which then also finds the bandwidth and the
 *    downtime limit at which it would converge (two more sweeps of 32 runs);
 *  - `dpt predict --sweep` with its default 20 bandwidths x 4 limits.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "analysis/predict.h"
#include "dpt/log.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void row(const char *what, double secs, double target, const char *result)
{
	printf("%-52s %8.2f s  target %4.0f s  ratio %.2f  %s\n", what, secs, target,
	       secs / target, result);
	fflush(stdout);
}

static const char *status(const struct predict_result *r, char *buf, size_t len)
{
	if (r->status == PREDICT_CONVERGED)
		snprintf(buf, len, "converges: %.1f s, %u passes", r->total_time, r->nr_passes - 1);
	else if (r->status == PREDICT_DIVERGES)
		snprintf(buf, len, "does not converge: clear after %u passes, %.0f s",
			 r->clear_after, r->total_time);
	else
		snprintf(buf, len, "not decided in %.0f s", r->total_time);
	return buf;
}

/* Seconds `BIN predict PATH ARGS` took, < 0 if it failed. */
static double run_cmd(const char *bin, const char *path, const char *args)
{
	char cmd[8192];

	snprintf(cmd, sizeof(cmd), "'%s' predict '%s' %s >/dev/null", bin, path, args);
	double t0 = now();
	int rc = system(cmd);
	return rc ? -1 : now() - t0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* One `dpt predict` command against its target; with old, alternately with that binary. */
static void command(const char *dpt, const char *old, const char *path, const char *args,
		    const char *what, double target)
{
	enum { RUNS = 3 };
	double t[RUNS], o[RUNS];
	char res[160];
	bool failed = false;

	if (!old || !*old) {
		t[0] = run_cmd(dpt, path, args);
		row(what, t[0], target, t[0] < 0 ? "FAILED" : "ok");
		return;
	}
	for (int i = 0; i < RUNS; i++) {
		o[i] = run_cmd(old, path, args);
		t[i] = run_cmd(dpt, path, args);
		failed |= o[i] < 0 || t[i] < 0;
	}
	qsort(t, RUNS, sizeof(*t), cmp_double);
	qsort(o, RUNS, sizeof(*o), cmp_double);
	snprintf(res, sizeof(res), "%s; DPT_OLD %.2f s: new/old %.2f (medians of %d, alternately)",
		 failed ? "FAILED" : "ok", o[RUNS / 2], t[RUNS / 2] / o[RUNS / 2], RUNS);
	row(what, t[RUNS / 2], target, res);
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	const char *dpt = getenv("DPT") ? getenv("DPT") : "build/dpt";
	char path[2048], cmd[8192], dir[2048], buf[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/gen.dpt", tmp);
	if (argc > 1)
		snprintf(path, sizeof(path), "%s", argv[1]);
	if (stat(path, &st)) {
		snprintf(dir, sizeof(dir), "%s", argv[0]);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = 0;
		snprintf(cmd, sizeof(cmd), "'%s/trace' gen '%s' >/dev/null", slash ? dir : ".", path);
		printf("writing %s (one hour of a 64 GiB VM, 5 %% dirty a second)\n", path);
		fflush(stdout);
		if (system(cmd) || stat(path, &st)) {
			fprintf(stderr, "bench/predict: cannot make %s\n", path);
			return 1;
		}
	}
	printf("trace %s: %.2f GB\n", path, st.st_size / 1e9);

	const double bws[] = {10.0 * 1073741824, 1.0 * 1073741824, 128.0 * 1048576};
	const char *names[] = {"forecast at 10 GiB/s (predict_run)", "forecast at 1 GiB/s (predict_run)",
			       "forecast at 128 MiB/s (predict_run)"};
	for (int i = 0; i < 3; i++) {
		struct predict_opts o = predict_defaults();
		struct predict_result r;
		o.bandwidth = bws[i];
		double t0 = now();
		if (predict_run(path, &o, &r)) {
			fprintf(stderr, "bench/predict: %s\n", dpt_last_error());
			return 1;
		}
		row(names[i], now() - t0, 5, status(&r, buf, sizeof(buf)));
		predict_result_fini(&r);
	}
	command(dpt, getenv("DPT_OLD"), path, "--bandwidth 1G",
		"dpt predict --bandwidth 1G (and where it converges)", 5);
	command(dpt, getenv("DPT_OLD"), path, "--sweep",
		"dpt predict --sweep (20 bandwidths x 4 limits)", 60);
	return 0;
}
