/* predict.c - how long dpt predict takes on one hour of a 64 GiB VM at 1 s intervals with 5 %
 * of its pages dirty each interval (the trace `bench/trace gen` writes: 16.7 M pages x 3600),
 * against the targets: a forecast under 5 s, a sweep of 20 bandwidths x 4 limits under 60 s.
 *
 *	build/bench/predict [FILE]     (default $TMPDIR/gen.dpt, made by build/bench/trace gen
 *	                                when missing: about a minute and 1.3 GB)
 *
 * Prints, for each case, the seconds it took and its ratio to the target (< 1: met):
 *  - one forecast at 10 GiB/s (converges in a few passes), 1 GiB/s and 128 MiB/s (QEMU's
 *    default; neither converges: 5 % of 64 GiB a second is 3.2 GiB/s), predict_run() alone;
 *  - the whole `dpt predict` command at 1 GiB/s, which then also finds the bandwidth and the
 *    downtime limit at which it would converge (two more sweeps of 32 runs);
 *  - `dpt predict --sweep` with its default 20 bandwidths x 4 limits.
 */
#include <errno.h>
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
	snprintf(cmd, sizeof(cmd), "'%s' predict '%s' --bandwidth 1G >/dev/null", dpt, path);
	double t0 = now();
	int rc = system(cmd);
	row("dpt predict --bandwidth 1G (and where it converges)", now() - t0, 5,
	    rc ? "FAILED" : "ok");
	snprintf(cmd, sizeof(cmd), "'%s' predict '%s' --sweep >/dev/null", dpt, path);
	t0 = now();
	rc = system(cmd);
	row("dpt predict --sweep (20 bandwidths x 4 limits)", now() - t0, 60, rc ? "FAILED" : "ok");
	return 0;
}
