/* pid-follow.c - what following a process tree costs it, side by side.
 *
 * dpt track --follow holds every process of the tree at its birth (until dpt has armed it:
 * an injection, a registration), at the end of each execve (until dpt has attached to the new
 * program) and at its exit (until dpt has read its last writes). This bench runs the same
 * shell loop of N `/bin/true` -- a fork, an exec and an exit each -- plainly and under
 * `dpt track -q -f` (1 s intervals), alternately, ROUNDS times, and prints the time per
 * process and the ratio followed / plain (medians); and the same for a loop of N `(:)`
 * subshells (a fork and an exit, no exec).
 *
 *	build/bench/pid-follow          (uses $DPT, else build/dpt)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 5
#define N      200

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Seconds to run argv to its end; -1 if it failed. */
static double run(char *const argv[])
{
	double t0 = now_s();
	int status;
	pid_t c = fork();

	if (c < 0)
		return -1;
	if (!c) {
		if (!freopen("/dev/null", "w", stderr)) /* dpt's closing line */
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(c, &status, 0) != c || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	return now_s() - t0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void bench(const char *dpt, const char *name, const char *loop)
{
	char *plain[] = {"sh", "-c", (char *)loop, NULL};
	char *followed[] = {(char *)dpt, "track", "-q", "-f", "-i", "1s", "--", "sh", "-c",
			    (char *)loop, NULL};
	double p[ROUNDS], f[ROUNDS];

	for (int r = 0; r < ROUNDS; r++) {
		p[r] = run(plain);
		f[r] = run(followed);
		if (p[r] < 0 || f[r] < 0) {
			printf("%-10s failed (round %d)\n", name, r);
			return;
		}
	}
	qsort(p, ROUNDS, sizeof(p[0]), cmp);
	qsort(f, ROUNDS, sizeof(f[0]), cmp);
	printf("%-10s %10.1f %10.1f %8.2f\n", name, p[ROUNDS / 2] / N * 1e6, f[ROUNDS / 2] / N * 1e6,
	       f[ROUNDS / 2] / p[ROUNDS / 2]);
}

int main(void)
{
	const char *dpt = getenv("DPT") ? getenv("DPT") : "build/dpt";
	char loop[256];

	if (access(dpt, X_OK)) {
		fprintf(stderr, "pid-follow: no %s (make, or set DPT)\n", dpt);
		return 1;
	}
	printf("per process, us (median of %d rounds of %d, plain and under dpt track -f)\n", ROUNDS,
	       N);
	printf("%-10s %10s %10s %8s\n", "op", "plain", "followed", "ratio");
	snprintf(loop, sizeof(loop), "i=0; while [ $i -lt %d ]; do /bin/true; i=$((i + 1)); done",
		 N);
	bench(dpt, "fork+exec", loop);
	snprintf(loop, sizeof(loop), "i=0; while [ $i -lt %d ]; do (:); i=$((i + 1)); done", N);
	bench(dpt, "fork", loop);
	return 0;
}
