/*
 * writer: a memory writer with a known working set, rate and pattern, the workload of the
 * tracker tests (on the host, and inside the test VM where it runs as a static binary).
 *
 * 1. mmap an anonymous private working set of --wss bytes, THP off unless --thp, and write
 *    every page once so that all of it is present before anyone starts tracking.
 * 2. Print the ready line, wait --delay seconds.
 * 3. Each of --threads threads writes its own contiguous slice of the working set, one 8-byte
 *    store at the start of a page per "page write": the page's counter + 1, or with --stamp a
 *    stamp ((thread + 1) << 48 | that thread's write number, from 1). Order: --pattern seq
 *    (round robin through the slice), random (uniform, xorshift64*, --seed) or hotcold (with
 *    probability --hot-share % a uniform page among the first --hot-fraction % of the slice,
 *    else a uniform page among the rest, as the micro-VM guest's hotcold).
 * 4. Pacing: an absolute schedule on CLOCK_MONOTONIC (clock_nanosleep TIMER_ABSTIME, ticks of
 *    1/rate s clamped to [1 ms, 100 ms]). After t seconds exactly floor(rate * t) page writes are
 *    due in total, split over the threads; a thread that falls behind catches up at full speed.
 *    --rate 0 writes as fast as possible. Stops after --duration s (0: at SIGINT/SIGTERM).
 *    --phase S:R: a phase change, from S seconds after the start on, rate R instead; the
 *    schedule goes on from where it got to: floor(rate * S) + floor(R * (t - S)) by time t.
 * 5. Print the done line with the exact number of page writes and exit 0.
 * --free-at S: S seconds after the start, every thread stops writing the upper half of its
 *    slice, and the writer discards it (madvise MADV_DONTNEED: it reads as zeros from then on)
 *    and prints "writer freed pages=N"; the threads go on in the lower halves, at the rate.
 * --hugetlb: the working set is MAP_HUGETLB memory (2 MiB pages; /proc/sys/vm/nr_hugepages
 *    must allow it); --file PATH: a file (created, sized to --wss) mapped shared instead, e.g.
 *    on a hugetlbfs mount.
 * --verify: each thread keeps what it wrote last in each page and, at the end, checks that
 *    every page of its slice holds it (0 for a freed page); the done line says verified=N
 *    bad=M (the number of pages checked, and of pages that did not hold their value).
 *
 * Output, stdout, line-buffered, space-separated key=value after two words:
 *   writer ready pid=N addr=0xADDR pages=N page_size=N threads=N rate=N pattern=P duration=S
 *   writer done writes=N target=N distinct=N seconds=S rate=R [verified=N bad=M]
 * target: writes the schedule asked for (writes < target: the writer could not keep up; with
 * --rate 0 target = writes). distinct: pages written at least once. Errors: "writer: ..." on
 * stderr, exit 2 for usage, 1 otherwise.
 *
 * vmkit-static: self-contained on purpose (no dpt library); tests/vmkit/helpers.sh builds it
 * with gcc -static -O2 -pthread for the test VM.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define NSEC 1000000000ull

struct writer_opts {
	uint64_t wss;
	uint64_t rate; /* page writes per second, all threads; 0 = as fast as possible */
	int pattern;   /* PAT_* */
	uint64_t hot_fraction, hot_share; /* hotcold: percent of the slice, of the writes */
	double phase_at;		  /* --phase: seconds after the start; < 0: none */
	uint64_t phase_rate;
	double duration; /* seconds; 0 = until a signal */
	double delay;
	unsigned threads;
	int stamp;
	int thp;
	int hugetlb;
	const char *file;
	int verify;
	double free_at; /* seconds after the start; < 0: never */
	uint64_t seed;
};

enum { PAT_SEQ, PAT_RANDOM, PAT_HOTCOLD };
static const char *const pattern_names[] = { "seq", "random", "hotcold" };

struct writer_thread {
	pthread_t tid;
	unsigned index;
	uint64_t first, npages; /* its slice of the working set, in pages */
	uint64_t writes;
	uint64_t target;
	uint64_t distinct;
	uint64_t verified, bad;
	volatile int halved; /* it writes only the lower half of its slice now (--free-at) */
	int err;
};

static struct writer_opts opts = {
	.wss = 64ull << 20, .threads = 1, .duration = 10, .seed = 1, .free_at = -1,
	.hot_fraction = 10, .hot_share = 90, .phase_at = -1,
};
static volatile int freeing; /* --free-at: the threads are to stop writing their upper halves */
static char *base;
static long page_size;
static uint64_t start_ns, end_ns; /* end_ns = 0: no end */
static volatile sig_atomic_t stop;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC + ts.tv_nsec;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Writes due, all threads together, t_ns after the start. */
static uint64_t due_total(uint64_t t_ns)
{
	uint64_t at;

	if (opts.phase_at < 0 || t_ns < (at = (uint64_t)(opts.phase_at * NSEC)))
		return (uint64_t)((unsigned __int128)opts.rate * t_ns / NSEC);
	return (uint64_t)((unsigned __int128)opts.rate * at / NSEC) +
	       (uint64_t)((unsigned __int128)opts.phase_rate * (t_ns - at) / NSEC);
}

/* Sleep between batches: 1/rate of one thread, clamped to [1 ms, 100 ms]. */
static uint64_t tick_for(uint64_t rate)
{
	uint64_t tick = NSEC / (rate / opts.threads ? rate / opts.threads : 1);

	return tick < NSEC / 1000 ? NSEC / 1000 : tick > NSEC / 10 ? NSEC / 10 : tick;
}

/* This thread's share of the first `total` writes: write k belongs to thread k % threads. */
static uint64_t due_mine(const struct writer_thread *w, uint64_t total)
{
	if (total <= w->index)
		return 0;
	return (total - w->index + opts.threads - 1) / opts.threads;
}

static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* --verify: does every page of the thread's slice hold what it wrote there last? */
static void verify(struct writer_thread *w, const uint64_t *last)
{
	for (uint64_t i = 0; i < w->npages; i++) {
		uint64_t want = w->halved && i >= w->npages / 2 ? 0 : last[i];

		w->verified++;
		w->bad += *(volatile uint64_t *)(base + (w->first + i) * page_size) != want;
	}
}

static void *writer_run(void *arg)
{
	struct writer_thread *w = arg;
	uint8_t *seen = calloc((w->npages + 7) / 8, 1);
	uint64_t *last = opts.verify ? calloc(w->npages, sizeof(*last)) : NULL;
	uint64_t rng = opts.seed * 0x9e3779b97f4a7c15ull + w->index + 1;
	uint64_t pos = 0, tick = 0, k = 0, npages = w->npages;

	if (!seen || (opts.verify && !last)) {
		w->err = ENOMEM;
		return NULL;
	}
	if (opts.rate) {
		tick = tick_for(opts.rate);
		if (opts.phase_at >= 0 && tick_for(opts.phase_rate) < tick)
			tick = tick_for(opts.phase_rate);
	}
	while (!stop) {
		uint64_t goal, now = now_ns();

		if (end_ns && now >= end_ns) {
			/* The schedule's last batch is still due when the clock passed it late. */
			if (!opts.rate || w->writes >= due_mine(w, due_total(end_ns - start_ns)))
				break;
			now = end_ns;
		}
		if (opts.rate) {
			goal = due_mine(w, due_total(now - start_ns));
			w->target = goal;
		} else {
			goal = w->writes + 64;
		}
		if (freeing && !w->halved) {
			npages = w->npages / 2 ? w->npages / 2 : 1;
			__atomic_store_n(&w->halved, 1, __ATOMIC_RELEASE);
		}
		while (w->writes < goal && !stop) {
			uint64_t page, hot = npages * opts.hot_fraction / 100;

			if (opts.pattern == PAT_SEQ)
				page = pos++ % npages;
			else if (opts.pattern == PAT_RANDOM)
				page = next_rand(&rng) % npages;
			else if (hot == npages || (hot && next_rand(&rng) % 100 < opts.hot_share))
				page = next_rand(&rng) % (hot ? hot : 1);
			else
				page = hot + next_rand(&rng) % (npages - hot);
			volatile uint64_t *p = (uint64_t *)(base + (w->first + page) * page_size);

			w->writes++;
			if (opts.stamp)
				*p = (uint64_t)(w->index + 1) << 48 | w->writes;
			else
				*p = *p + 1;
			if (last)
				last[page] = *p;
			seen[page / 8] |= 1 << (page % 8);
		}
		if (opts.rate && !stop) {
			uint64_t at;
			struct timespec ts;

			k++;
			at = start_ns + k * tick;
			if (end_ns && at > end_ns)
				at = end_ns;
			if (at > now_ns()) {
				ts.tv_sec = at / NSEC;
				ts.tv_nsec = at % NSEC;
				while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR &&
				       !stop)
					;
			} else {
				k = (now_ns() - start_ns) / tick; /* behind: resume the schedule from now */
			}
		}
	}
	if (!opts.rate)
		w->target = w->writes;
	for (uint64_t i = 0; i < (w->npages + 7) / 8; i++)
		w->distinct += __builtin_popcount(seen[i]);
	if (last)
		verify(w, last);
	free(seen);
	free(last);
	return NULL;
}

/* --free-at: once every thread writes only its lower half, discard the upper halves. */
static void free_upper_halves(struct writer_thread *w)
{
	struct timespec ts, pause = {0, 1000000};
	uint64_t at = start_ns + (uint64_t)(opts.free_at * NSEC), freed = 0;

	ts.tv_sec = at / NSEC;
	ts.tv_nsec = at % NSEC;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop)
		;
	if (stop || (end_ns && now_ns() >= end_ns))
		return;
	freeing = 1;
	for (unsigned i = 0; i < opts.threads; i++)
		while (!__atomic_load_n(&w[i].halved, __ATOMIC_ACQUIRE) && !stop)
			nanosleep(&pause, NULL);
	for (unsigned i = 0; i < opts.threads && !stop; i++) {
		uint64_t keep = w[i].npages / 2 ? w[i].npages / 2 : 1;

		if (madvise(base + (w[i].first + keep) * page_size, (w[i].npages - keep) * page_size,
			    MADV_DONTNEED)) {
			fprintf(stderr, "writer: madvise: %s\n", strerror(errno));
			exit(1);
		}
		freed += w[i].npages - keep;
	}
	printf("writer freed pages=%" PRIu64 "\n", freed);
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static int parse_seconds(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	if (errno || end == s || *out < 0 || *out > 1e9)
		return -1;
	if (*end == 's')
		end++;
	return *end ? -1 : 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: writer [--wss BYTES] [--rate PAGES_PER_S] [--pattern seq|random|hotcold]\n"
		"              [--duration SECONDS] [--threads N] [--stamp] [--seed N]\n"
		"              [--delay SECONDS] [--thp] [--hugetlb | --file PATH] [--free-at SECONDS]\n"
		"              [--verify] [--hot-fraction PCT] [--hot-share PCT] [--phase S:RATE]\n"
		"  --pattern seq|random|hotcold; hotcold: --hot-share %% of the writes go to the\n"
		"  first --hot-fraction %% of the pages (defaults 90, 10); --phase S:RATE: rate RATE\n"
		"  from S seconds after the start on (needs a --rate)\n"
		"  defaults: --wss 64M --rate 0 (as fast as possible) --pattern seq --duration 10\n"
		"  (0 = until SIGINT/SIGTERM) --threads 1; sizes take K, M, G suffixes\n");
	exit(2);
}

static int is_valued_option(const char *a)
{
	static const char *const names[] = { "--wss",  "--rate",    "--duration", "--delay",
					     "--seed", "--threads", "--free-at",  "--file",
					     "--pattern", "--hot-fraction", "--hot-share",
					     "--phase" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(a, names[i]))
			return 1;
	return 0;
}

static void parse_args(int argc, char **argv)
{
	uint64_t v;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;

		if (!strcmp(a, "--stamp")) {
			opts.stamp = 1;
			continue;
		} else if (!strcmp(a, "--thp")) {
			opts.thp = 1;
			continue;
		} else if (!strcmp(a, "--verify")) {
			opts.verify = 1;
			continue;
		} else if (!strcmp(a, "--hugetlb")) {
			opts.hugetlb = 1;
			continue;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage();
		}
		if (!is_valued_option(a)) {
			fprintf(stderr, "writer: unknown option %s\n", a);
			usage();
		}
		if (!val) {
			fprintf(stderr, "writer: %s needs a value\n", a);
			usage();
		}
		i++;
		if (!strcmp(a, "--wss"))
			bad = parse_size(val, &opts.wss);
		else if (!strcmp(a, "--rate"))
			bad = parse_size(val, &opts.rate);
		else if (!strcmp(a, "--duration"))
			bad = parse_seconds(val, &opts.duration);
		else if (!strcmp(a, "--delay"))
			bad = parse_seconds(val, &opts.delay);
		else if (!strcmp(a, "--free-at"))
			bad = parse_seconds(val, &opts.free_at);
		else if (!strcmp(a, "--file"))
			opts.file = val;
		else if (!strcmp(a, "--seed"))
			bad = parse_size(val, &opts.seed);
		else if (!strcmp(a, "--threads")) {
			bad = parse_size(val, &v) || v < 1 || v > 1024;
			opts.threads = v;
		} else if (!strcmp(a, "--hot-fraction")) {
			bad = parse_size(val, &opts.hot_fraction) || opts.hot_fraction > 100;
		} else if (!strcmp(a, "--hot-share")) {
			bad = parse_size(val, &opts.hot_share) || opts.hot_share > 100;
		} else if (!strcmp(a, "--phase")) {
			char at[64], *colon = strchr(val, ':');

			bad = !colon || (size_t)(colon - val) >= sizeof(at);
			if (!bad) {
				memcpy(at, val, colon - val);
				at[colon - val] = 0;
				bad = parse_seconds(at, &opts.phase_at) ||
				      parse_size(colon + 1, &opts.phase_rate) || !opts.phase_rate;
			}
		} else { /* --pattern */
			opts.pattern = -1;
			for (int k = 0; k < 3; k++)
				if (!strcmp(val, pattern_names[k]))
					opts.pattern = k;
			bad = opts.pattern < 0;
		}
		if (bad) {
			fprintf(stderr, "writer: bad value for %s: %s\n", a, val);
			usage();
		}
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct writer_thread *w;
	uint64_t pages, writes = 0, target = 0, distinct = 0, verified = 0, bad = 0, t_end;
	int ret = 0;

	parse_args(argc, argv);
	if (opts.phase_at >= 0 && !opts.rate) {
		fprintf(stderr, "writer: --phase needs a --rate\n");
		usage();
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	page_size = sysconf(_SC_PAGESIZE);
	pages = opts.wss / page_size;
	if (pages < opts.threads) {
		fprintf(stderr, "writer: --wss %" PRIu64 " is less than one page per thread\n", opts.wss);
		return 2;
	}
	if (opts.file) {
		int fd = open(opts.file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

		if (fd < 0 || ftruncate(fd, (off_t)(pages * page_size))) {
			fprintf(stderr, "writer: %s: %s\n", opts.file, strerror(errno));
			return 1;
		}
		base = mmap(NULL, pages * page_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
	} else {
		base = mmap(NULL, pages * page_size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | (opts.hugetlb ? MAP_HUGETLB : 0), -1, 0);
	}
	if (base == MAP_FAILED) {
		fprintf(stderr, "writer: mmap %" PRIu64 " bytes: %s\n", pages * page_size,
			strerror(errno));
		return 1;
	}
	if (!opts.thp)
		madvise(base, pages * page_size, MADV_NOHUGEPAGE); /* best effort: no THP, no error */
	for (uint64_t i = 0; i < pages; i++)
		base[i * page_size] = 0;

	w = calloc(opts.threads, sizeof(*w));
	if (!w) {
		fprintf(stderr, "writer: out of memory\n");
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	printf("writer ready pid=%d addr=%p pages=%" PRIu64 " page_size=%ld threads=%u rate=%" PRIu64
	       " pattern=%s duration=%g",
	       getpid(), (void *)base, pages, page_size, opts.threads, opts.rate,
	       pattern_names[opts.pattern], opts.duration);
	if (opts.pattern == PAT_HOTCOLD)
		printf(" hot_fraction=%" PRIu64 " hot_share=%" PRIu64, opts.hot_fraction,
		       opts.hot_share);
	if (opts.phase_at >= 0)
		printf(" phase=%g:%" PRIu64, opts.phase_at, opts.phase_rate);
	printf("\n");
	if (opts.delay > 0) {
		struct timespec ts = { (time_t)opts.delay,
				       (long)((opts.delay - (time_t)opts.delay) * NSEC) };
		while (nanosleep(&ts, &ts) && errno == EINTR && !stop)
			;
	}

	start_ns = now_ns();
	end_ns = opts.duration > 0 ? start_ns + (uint64_t)(opts.duration * NSEC) : 0;
	for (unsigned i = 0; i < opts.threads; i++) {
		w[i].index = i;
		w[i].first = pages * i / opts.threads;
		w[i].npages = pages * (i + 1) / opts.threads - w[i].first;
		ret = pthread_create(&w[i].tid, NULL, writer_run, &w[i]);
		if (ret) {
			fprintf(stderr, "writer: pthread_create: %s\n", strerror(ret));
			stop = 1;
			opts.threads = i;
			break;
		}
	}
	if (opts.free_at >= 0)
		free_upper_halves(w);
	for (unsigned i = 0; i < opts.threads; i++) {
		pthread_join(w[i].tid, NULL);
		if (w[i].err) {
			fprintf(stderr, "writer: thread %u: %s\n", i, strerror(w[i].err));
			ret = 1;
		}
		writes += w[i].writes;
		target += w[i].target;
		distinct += w[i].distinct;
		verified += w[i].verified;
		bad += w[i].bad;
	}
	t_end = now_ns();
	{
		double secs = (double)(t_end - start_ns) / NSEC;

		printf("writer done writes=%" PRIu64 " target=%" PRIu64 " distinct=%" PRIu64
		       " seconds=%.6f rate=%.1f",
		       writes, target, distinct, secs, secs > 0 ? writes / secs : 0.0);
		if (opts.verify)
			printf(" verified=%" PRIu64 " bad=%" PRIu64, verified, bad);
		printf("\n");
	}
	free(w);
	return ret || bad ? 1 : 0;
}
