/* pid-keeper.c - what launch mode's keeper costs the launched program, side by side.
 *
 * The keeper (src/trackers/pid-keeper.c) traces a launched program for its whole run, so that
 * dpt can read its last partial interval at its exit. Tracing costs the program a round trip
 * through the keeper at each signal it receives and each thread it creates; memory accesses and
 * system calls cost nothing more. This bench launches the same workload (this binary, --work)
 * plainly and through pid_spawn() (keeper, no tracker: the keeper's cost alone), alternately,
 * ROUNDS times, and prints per-operation times and the ratio keeper / plain (medians):
 *   signal   kill(getpid(), SIGUSR1) with a handler
 *   thread   pthread_create + pthread_join of an empty thread
 *   syscall  getppid(), for contrast (not stopped by the keeper)
 *
 *	build/bench/pid-keeper
 */
#include <pthread.h>

#include <sys/syscall.h>

#include "../tests/integration/pid-util.h"
#include "trackers/pid/inject.h"

#define ROUNDS	 5
#define SIGNALS	 20000
#define THREADS	 2000
#define SYSCALLS 200000

static volatile sig_atomic_t got;

static void on_usr1(int sig)
{
	got++;
}

static void *empty(void *arg)
{
	return arg;
}

/* The workload: ns per signal, per thread, per syscall, on stdout. */
static int work(void)
{
	struct sigaction sa = {.sa_handler = on_usr1};
	uint64_t t0, t1, t2, t3;
	pthread_t t;

	sigaction(SIGUSR1, &sa, NULL);
	t0 = tgt_now_ns();
	for (unsigned i = 0; i < SIGNALS; i++)
		kill(getpid(), SIGUSR1);
	t1 = tgt_now_ns();
	for (unsigned i = 0; i < THREADS; i++)
		if (pthread_create(&t, NULL, empty, NULL) || pthread_join(t, NULL))
			return 1;
	t2 = tgt_now_ns();
	for (unsigned i = 0; i < SYSCALLS; i++)
		syscall(SYS_getppid);
	t3 = tgt_now_ns();
	printf("%.1f %.1f %.1f %d\n", (double)(t1 - t0) / SIGNALS, (double)(t2 - t1) / THREADS,
	       (double)(t3 - t2) / SYSCALLS, (int)got);
	return got != SIGNALS;
}

/* Run the workload, plainly or with a keeper; its three times in v[]. */
static int run(bool keeper, double v[3])
{
	const char *argv[] = {"/proc/self/exe", "--work", NULL};
	char line[256];
	struct pid_spawn sp;
	int in, out, got_n, status = -1;

	if (keeper) {
		if (pid_test_spawn_piped(argv, &sp, &in, &out) || pid_spawn_resume(&sp))
			return -1;
	} else {
		int pout[2];
		pid_t c;

		if (pipe(pout))
			return -1;
		c = fork();
		if (!c) {
			dup2(pout[1], 1);
			execv(argv[0], (char *const *)argv);
			_exit(127);
		}
		close(pout[1]);
		out = pout[0];
		in = -1;
		sp.pid = c;
	}
	got_n = tgt_line(out, line, sizeof(line)) ? 0
						   : sscanf(line, "%lf %lf %lf", &v[0], &v[1], &v[2]);
	if (keeper)
		pid_keeper_release(sp.pid); /* what the tracker's close() does */
	waitpid(sp.pid, &status, 0);
	close(out);
	if (in >= 0)
		close(in);
	return got_n == 3 && WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	static const char *const what[] = {"signal", "thread", "syscall"};
	double plain[3][ROUNDS], kept[3][ROUNDS], v[3];

	if (argc == 2 && !strcmp(argv[1], "--work"))
		return work();
	for (unsigned r = 0; r < ROUNDS; r++) {
		if (run(false, v))
			return fprintf(stderr, "pid-keeper: the plain run failed\n"), 1;
		for (unsigned i = 0; i < 3; i++)
			plain[i][r] = v[i];
		if (run(true, v))
			return fprintf(stderr, "pid-keeper: the run with a keeper failed: %s\n",
				       dpt_last_error() ? dpt_last_error() : "?"),
			       1;
		for (unsigned i = 0; i < 3; i++)
			kept[i][r] = v[i];
	}
	printf("launch mode's keeper, medians of %d alternating runs (ns per operation):\n",
	       ROUNDS);
	printf("%-8s %10s %10s %8s\n", "op", "plain", "keeper", "ratio");
	for (unsigned i = 0; i < 3; i++) {
		qsort(plain[i], ROUNDS, sizeof(double), cmp_double);
		qsort(kept[i], ROUNDS, sizeof(double), cmp_double);
		printf("%-8s %10.1f %10.1f %8.2f\n", what[i], plain[i][ROUNDS / 2],
		       kept[i][ROUNDS / 2], kept[i][ROUNDS / 2] / plain[i][ROUNDS / 2]);
	}
	return 0;
}
