/* pid-util.h - shared by the pid tracker's tests: a synthetic target and ways to look at it.
 *
 * The target is a forked child running tgt_main(): it maps a buffer of known pages and obeys
 * one-line commands on a pipe, answering one line each, so a test knows exactly which pages it
 * wrote in each interval:
 *	w A B        write pages [A, B) of the buffer            -> ok
 *	l P P P ...  write the listed pages                      -> ok
 *	z A B        read() /dev/zero into pages [A, B): writes made by the kernel -> ok
 *	r A B        read pages [A, B) (read faults)             -> ok
 *	s A B STEP   write every STEP-th page of [A, B)          -> ok
 *	m N          map N more pages, write none                -> ok ADDR
 *	M ADDR A B   write pages [A, B) of the mapping at ADDR   -> ok
 *	u ADDR N     unmap N pages at ADDR                       -> ok
 *	d A B        discard pages [A, B) (MADV_DONTNEED)        -> ok
 *	D P P P ...  discard the listed pages                     -> ok
 *	R A B        map fresh memory over pages [A, B) (mmap MAP_FIXED: the old is gone) -> ok
 *	f A B        fork a child that writes pages [A, B) of its copy and waits  -> ok PID
 *	g A B        fork a child that writes pages [A, B) of its copy and exits  -> ok PID
 *	H N          map N MiB on 2 MiB boundaries, MADV_HUGEPAGE, write it whole -> ok ADDR
 *	t A B N      write pages [A, B) N times over, timed      -> ok NANOSECONDS
 *	N A B [S]    make pages [A, B) (every S-th) non-zero (a byte 0x5a, at another offset in
 *	             each page) -> ok
 *	Z A B [S]    write pages [A, B) (every S-th), then zero them again: present, all zeros -> ok
 *	F PATH N     map N pages of file PATH, private and writable -> ok ADDR
 *	S PATH N     map N pages of file PATH, shared and writable -> ok ADDR
 *	K ADDR A B   make pages [A, B) of the mapping at ADDR non-zero, as N does -> ok
 *	x CODE       exit with CODE (no answer)
 * Header-only, so the static soft-dirty check for the test VM can carry it too.
 */
#ifndef DPT_PID_UTIL_H
#define DPT_PID_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/sample.h"
#include "dpt/tracker.h"
#include "trackers/pid/int.h"
#include "trackers/pid/pid.h"

#define TGT_PAGE 4096UL

struct tgt {
	pid_t pid;
	int in, out; /* our ends: commands to it, answers from it */
	uint64_t base;
	unsigned pages;
};

static inline uint64_t tgt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static inline void tgt_reply(int fd, const char *fmt, ...)
{
	char buf[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (write(fd, buf, n) != n)
		_exit(99);
}

static inline void tgt_write_page(volatile char *p, unsigned stamp)
{
	p[(stamp * 64) % TGT_PAGE] = (char)stamp;
}

/* A non-zero byte in page p, at an offset that differs from page to page (so that a zero test
 * that looks at part of a page only would miss some). */
static inline void tgt_nonzero_page(volatile char *p, unsigned long i)
{
	p[(i * 520 + 8) % TGT_PAGE] = 0x5a;
}

static inline __attribute__((noreturn)) void tgt_main(int in, int out, unsigned pages)
{
	char *buf = mmap(NULL, pages * TGT_PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	FILE *f = fdopen(in, "r");
	char line[8192];
	unsigned stamp = 1;
	int zero = open("/dev/zero", O_RDONLY);

	if (buf == MAP_FAILED || !f || zero < 0)
		_exit(98);
	tgt_reply(out, "ready %lx %u\n", (unsigned long)buf, pages);
	while (fgets(line, sizeof(line), f)) {
		unsigned long addr = 0, a = 0, b = 0, n = 0;
		volatile char *v = buf;
		char *p, *e;
		uint64_t t0;
		unsigned sum = 0;

		switch (line[0]) {
		case 'w':
			sscanf(line + 1, "%lu %lu", &a, &b);
			for (unsigned long i = a; i < b; i++)
				tgt_write_page(v + i * TGT_PAGE, stamp++);
			tgt_reply(out, "ok\n");
			break;
		case 'l':
			for (p = line + 1;; p = e) {
				unsigned long i = strtoul(p, &e, 10);

				if (e == p)
					break;
				tgt_write_page(v + i * TGT_PAGE, stamp++);
			}
			tgt_reply(out, "ok\n");
			break;
		case 's':
			sscanf(line + 1, "%lu %lu %lu", &a, &b, &n);
			for (unsigned long i = a; i < b; i += n ? n : 1)
				tgt_write_page(v + i * TGT_PAGE, stamp++);
			tgt_reply(out, "ok\n");
			break;
		case 'z':
			sscanf(line + 1, "%lu %lu", &a, &b);
			for (unsigned long i = a; i < b; i++)
				if (read(zero, buf + i * TGT_PAGE, 64) != 64)
					_exit(97);
			tgt_reply(out, "ok\n");
			break;
		case 'r':
			sscanf(line + 1, "%lu %lu", &a, &b);
			for (unsigned long i = a; i < b; i++)
				sum += v[i * TGT_PAGE];
			tgt_reply(out, "ok %u\n", sum);
			break;
		case 'm':
			sscanf(line + 1, "%lu", &n);
			p = mmap(NULL, n * TGT_PAGE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			tgt_reply(out, "ok %lx\n", p == MAP_FAILED ? 0UL : (unsigned long)p);
			break;
		case 'M':
			sscanf(line + 1, "%lx %lu %lu", &addr, &a, &b);
			for (unsigned long i = a; i < b; i++)
				tgt_write_page((volatile char *)addr + i * TGT_PAGE, stamp++);
			tgt_reply(out, "ok\n");
			break;
		case 'u':
			sscanf(line + 1, "%lx %lu", &addr, &n);
			munmap((void *)addr, n * TGT_PAGE);
			tgt_reply(out, "ok\n");
			break;
		case 'd':
			sscanf(line + 1, "%lu %lu", &a, &b);
			if (b > a && madvise(buf + a * TGT_PAGE, (b - a) * TGT_PAGE, MADV_DONTNEED))
				_exit(96);
			tgt_reply(out, "ok\n");
			break;
		case 'R':
			sscanf(line + 1, "%lu %lu", &a, &b);
			if (mmap(buf + a * TGT_PAGE, (b - a) * TGT_PAGE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
				_exit(96);
			tgt_reply(out, "ok\n");
			break;
		case 'f':
		case 'g': {
			pid_t c;

			sscanf(line + 1, "%lu %lu", &a, &b);
			c = fork();
			if (c < 0)
				_exit(95);
			if (!c) {
				for (unsigned long i = a; i < b; i++)
					tgt_write_page(v + i * TGT_PAGE, stamp++);
				if (line[0] == 'g')
					_exit(0);
				for (;;)
					pause();
			}
			tgt_reply(out, "ok %d\n", (int)c);
			break;
		}
		case 'H':
			sscanf(line + 1, "%lu", &n);
			p = mmap(NULL, (n + 2) << 20, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED)
				_exit(94);
			p = (char *)(((unsigned long)p + (2UL << 20) - 1) & ~((2UL << 20) - 1));
			madvise(p, n << 20, MADV_HUGEPAGE);
			memset(p, 1, n << 20);
			tgt_reply(out, "ok %lx\n", (unsigned long)p);
			break;
		case 'D':
			for (p = line + 1;; p = e) {
				unsigned long i = strtoul(p, &e, 10);

				if (e == p)
					break;
				if (madvise(buf + i * TGT_PAGE, TGT_PAGE, MADV_DONTNEED))
					_exit(96);
			}
			tgt_reply(out, "ok\n");
			break;
		case 't':
			sscanf(line + 1, "%lu %lu %lu", &a, &b, &n);
			t0 = tgt_now_ns();
			for (unsigned long r = 0; r < n; r++)
				for (unsigned long i = a; i < b; i++)
					tgt_write_page(v + i * TGT_PAGE, stamp++);
			tgt_reply(out, "ok %" PRIu64 "\n", tgt_now_ns() - t0);
			break;
		case 'N':
			n = 1;
			sscanf(line + 1, "%lu %lu %lu", &a, &b, &n);
			for (unsigned long i = a; i < b; i += n ? n : 1)
				tgt_nonzero_page(v + i * TGT_PAGE, i);
			tgt_reply(out, "ok\n");
			break;
		case 'Z':
			n = 1;
			sscanf(line + 1, "%lu %lu %lu", &a, &b, &n);
			for (unsigned long i = a; i < b; i += n ? n : 1) {
				tgt_nonzero_page(v + i * TGT_PAGE, i);
				memset((char *)buf + i * TGT_PAGE, 0, TGT_PAGE);
			}
			tgt_reply(out, "ok\n");
			break;
		case 'F':
		case 'S': {
			char path[4096];
			int fd;

			p = NULL;
			if (sscanf(line + 1, "%4095s %lu", path, &n) == 2 &&
			    (fd = open(path, O_RDWR)) >= 0) {
				p = mmap(NULL, n * TGT_PAGE, PROT_READ | PROT_WRITE,
					 line[0] == 'F' ? MAP_PRIVATE : MAP_SHARED, fd, 0);
				close(fd);
			}
			tgt_reply(out, "ok %lx\n", !p || p == MAP_FAILED ? 0UL : (unsigned long)p);
			break;
		}
		case 'K':
			sscanf(line + 1, "%lx %lu %lu", &addr, &a, &b);
			for (unsigned long i = a; i < b; i++)
				tgt_nonzero_page((volatile char *)addr + i * TGT_PAGE, i);
			tgt_reply(out, "ok\n");
			break;
		case 'x':
			_exit(atoi(line + 1));
		}
	}
	_exit(0);
}

/* Read one answer line (without the newline); 0 or -1 on EOF/timeout (10 s). */
static inline int tgt_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	uint64_t deadline = tgt_now_ns() + 10000000000ULL;

	while (n + 1 < size) {
		ssize_t r = read(fd, buf + n, 1);

		if (r == 1) {
			if (buf[n] == '\n')
				break;
			n++;
			continue;
		}
		if (r < 0 && errno == EAGAIN && tgt_now_ns() < deadline) {
			usleep(1000);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		return -1;
	}
	buf[n] = 0;
	return 0;
}

static inline int tgt_start(struct tgt *t, unsigned pages)
{
	int to[2], from[2];
	char line[128];

	memset(t, 0, sizeof(*t));
	if (pipe2(to, O_CLOEXEC) || pipe2(from, O_CLOEXEC))
		return -1;
	t->pid = fork();
	if (t->pid < 0)
		return -1;
	if (!t->pid) {
		close(to[1]);
		close(from[0]);
		tgt_main(to[0], from[1], pages);
	}
	close(to[0]);
	close(from[1]);
	t->in = to[1];
	t->out = from[0];
	if (tgt_line(t->out, line, sizeof(line)) ||
	    sscanf(line, "ready %" SCNx64 " %u", &t->base, &t->pages) != 2)
		return -1;
	return 0;
}

/* Send a command and wait for its answer; 0 if it starts with "ok". */
static inline __attribute__((format(printf, 2, 3))) int tgt_cmd(struct tgt *t, const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	buf[n++] = '\n';
	if (write(t->in, buf, n) != n || tgt_line(t->out, buf, sizeof(buf)))
		return -1;
	return strncmp(buf, "ok", 2) ? -1 : 0;
}

/* Like tgt_cmd, returning the number after "ok" in *v (hex if hex). */
static inline int tgt_cmd_val(struct tgt *t, uint64_t *v, int hex, const char *cmd)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "%s\n", cmd);

	if (write(t->in, buf, n) != n || tgt_line(t->out, buf, sizeof(buf)) ||
	    strncmp(buf, "ok ", 3))
		return -1;
	*v = strtoull(buf + 3, NULL, hex ? 16 : 10);
	return 0;
}

/* Kill and reap. */
static inline void tgt_stop(struct tgt *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
	}
	if (t->in > 0)
		close(t->in);
	if (t->out > 0)
		close(t->out);
	t->pid = 0;
}

/* ---- looking at a target from outside ---- */

/* How many userfaultfds the process holds. */
static inline int proc_uffd_fds(pid_t pid)
{
	char path[64], link[128], fp[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		ssize_t len;

		snprintf(fp, sizeof(fp), "/proc/%d/fd/%.32s", pid, de->d_name);
		len = readlink(fp, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = 0;
		n += !strcmp(link, "anon_inode:[userfaultfd]");
	}
	closedir(d);
	return n;
}

/* How many of its mappings carry userfaultfd VmFlags (uw, um, ui). */
static inline int proc_uffd_ranges(pid_t pid)
{
	char path[64], line[1024];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmFlags:", 8) &&
		    (strstr(line, " uw") || strstr(line, " um") || strstr(line, " ui")))
			n++;
	fclose(f);
	return n;
}

/* Largest TracerPid among its threads (0: nobody traces it; -1: no such process); *nr its
 * threads and *traced how many have a tracer, when not NULL. */
static inline long proc_tracers(pid_t pid, unsigned *nr, unsigned *traced)
{
	char path[128], buf[4096], *p;
	struct dirent *de;
	unsigned n = 0, t = 0;
	long max = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.32s/status", pid, de->d_name);
		if (pid_read_file(path, buf, sizeof(buf)) < 0)
			continue;
		n++;
		p = strstr(buf, "TracerPid:");
		t += p && atol(p + 10) != 0;
		if (p && atol(p + 10) > max)
			max = atol(p + 10);
	}
	closedir(d);
	if (nr)
		*nr = n;
	if (traced)
		*traced = t;
	return max;
}

/* Largest TracerPid among its threads (0: nobody traces it). */
static inline long proc_tracer(pid_t pid)
{
	return proc_tracers(pid, NULL, NULL);
}

/* The process's state letter from /proc/PID/stat, or '?'. */
static inline char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (pid_read_file(path, buf, sizeof(buf)) < 0)
		return '?';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : '?';
}

/* Compare a sample region's bits with the expected pages (expect[i] for page i of the region).
 * Returns the number of differences; *first gets the first differing page. */
static inline unsigned region_diff(const struct dpt_sample *s, unsigned r, const uint8_t *expect,
				   uint64_t n, uint64_t *first)
{
	unsigned diff = 0;

	*first = UINT64_MAX;
	for (uint64_t i = 0; i < n; i++) {
		bool got = bitmap_test(s->bitmap, s->regions[r].first_page + i);

		if (got != !!expect[i]) {
			if (!diff)
				*first = i;
			diff++;
		}
	}
	return diff;
}

/* Index of the region starting at addr, or -1. */
static inline int region_at(const struct dpt_sample *s, uint64_t addr)
{
	for (unsigned r = 0; r < s->nr_regions; r++)
		if (s->regions[r].start <= addr &&
		    addr < s->regions[r].start + s->regions[r].pages * TGT_PAGE)
			return (int)r;
	return -1;
}

/* ---- the tracker ---- */

/* Open the pid tracker on pid with a mode (NULL: auto) and options. */
static inline int pid_test_open_opts(struct dpt_tracker *t, pid_t pid, const char *mode,
				     const struct pid_tracker_opts *xo)
{
	struct dpt_target target = {.kind = DPT_TARGET_PID, .pid = pid};
	struct dpt_tracker_opts o = {.mode = mode, .extra = xo};

	memset(t, 0, sizeof(*t));
	t->ops = &pid_tracker_ops;
	t->end_fd = -1;
	dpt_clear_error();
	return t->ops->open(t, &target, &o);
}

/* Open the pid tracker on pid with a mode and regions (both may be NULL). */
static inline int pid_test_open(struct dpt_tracker *t, pid_t pid, const char *mode,
				const char *const *regions, unsigned nr)
{
	static struct pid_tracker_opts xo;

	xo = (struct pid_tracker_opts){.regions = regions, .nr_regions = nr};
	return pid_test_open_opts(t, pid, mode, &xo);
}

static inline const char *pid_test_err(void)
{
	return dpt_last_error() ? dpt_last_error() : "(no reason recorded)";
}

/* Nothing of a tracker left in the target: no userfaultfd, no registered range, no tracer. */
static inline int pid_test_clean(pid_t pid, char *why, size_t size)
{
	int fds = proc_uffd_fds(pid), ranges = proc_uffd_ranges(pid);
	long tracer = proc_tracer(pid);

	snprintf(why, size, "%d userfaultfd(s), %d registered range(s), tracer %ld", fds, ranges,
		 tracer);
	return fds == 0 && ranges == 0 && tracer == 0;
}

/* The next of a reproducible pseudo-random sequence kept in *seed. */
static inline unsigned tgt_rnd(unsigned *seed)
{
	*seed = *seed * 1103515245 + 12345;
	return *seed >> 8;
}

/* Collect one sample, with the last error cleared first. */
static inline int pid_test_collect(struct dpt_tracker *t, struct dpt_sample *s)
{
	memset(s, 0, sizeof(*s));
	dpt_clear_error();
	return t->ops->collect(t, s);
}

/* Differences between a sample's discarded pages in region r and the expected ones. */
static inline unsigned region_diff_discarded(const struct dpt_sample *s, unsigned r,
					     const uint8_t *expect, uint64_t n, uint64_t *first)
{
	struct dpt_sample d = *s;

	d.bitmap = s->discarded_bitmap;
	return s->discarded_bitmap ? region_diff(&d, r, expect, n, first) : (unsigned)n;
}

/*
 * Ground truth over many intervals: the target's 256-page buffer (the only region of tracker
 * t) is first written whole; then, in each of n intervals, it discards a random set of up to
 * max / 4 pages (MADV_DONTNEED), then writes a random set of up to max pages (the last
 * interval a run of pages from 1). The collect must report exactly the written set as dirty,
 * and as discarded exactly the discarded pages that held data (written before and not
 * discarded since) and were not written again, with the region list unchanged. Returns how
 * many intervals differ (printing the first difference of each).
 */
static inline unsigned pid_test_random_intervals(struct tgt *g, struct dpt_tracker *t,
						 unsigned n, unsigned max, unsigned *seed)
{
	char cmd[4096], dcmd[4096];
	uint8_t expect[256], discard[256], data[256];
	uint64_t first = 0, dfirst = 0;
	struct dpt_sample s;
	unsigned bad = 0;

	if (tgt_cmd(g, "w 0 256") || pid_test_collect(t, &s))
		return 1;
	memset(data, 1, sizeof(data));
	for (unsigned it = 0; it < n; it++) {
		int len = snprintf(cmd, sizeof(cmd), "l"), dlen = snprintf(dcmd, sizeof(dcmd), "D");
		unsigned want = 0, dwant = 0;

		memset(expect, 0, sizeof(expect));
		memset(discard, 0, sizeof(discard));
		for (unsigned k = tgt_rnd(seed) % (max / 4 + 1); k && it < n - 1; k--) {
			unsigned p = tgt_rnd(seed) % 256;

			dlen += snprintf(dcmd + dlen, sizeof(dcmd) - dlen, " %u", p);
			discard[p] |= data[p];
			data[p] = 0;
		}
		for (unsigned k = tgt_rnd(seed) % max; k; k--) {
			unsigned p = it == n - 1 ? k : tgt_rnd(seed) % 256;

			len += snprintf(cmd + len, sizeof(cmd) - len, " %u", p);
			want += !expect[p];
			expect[p] = 1;
			discard[p] = 0;
			data[p] = 1;
		}
		for (unsigned p = 0; p < 256; p++)
			dwant += discard[p];
		if (tgt_cmd(g, "%s", dcmd) || tgt_cmd(g, "%s", cmd) || pid_test_collect(t, &s))
			return bad + 1;
		if (region_diff(&s, 0, expect, 256, &first) || s.dirty != want ||
		    region_diff_discarded(&s, 0, discard, 256, &dfirst) || s.discarded != dwant ||
		    s.regions_changed) {
			printf("# interval %u: dirty %" PRIu64 " expected %u, first difference at "
			       "page %" PRIu64 "; discarded %" PRIu64 " expected %u, first "
			       "difference at page %" PRIu64 "\n",
			       it, s.dirty, want, first, s.discarded, dwant, dfirst);
			bad++;
		}
	}
	return bad;
}

/* ---- launch mode ---- */

static inline bool tgt_wait_readable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) == 1;
}

/* The launched target (pid-target --write N; pid-softdirty-check --write N): map n pages, write
 * every one, print "ready ADDR N", then wait for one line on stdin and end as it says:
 *	(EOF, or any other line)  exit 0
 *	rewrite K                 rewrite the first K pages, exit 0
 *	kill K                    rewrite them, then SIGKILL itself
 *	thread K S                a second thread rewrites them and calls exit(S) while the
 *	                          first waits in pause()
 *	clone K                   a clone() sharing its memory but not a thread of it (no
 *	                          CLONE_THREAD) calls exit_group(); then rewrite K pages, exit 0
 * Tracked from its first instruction, its first interval holds exactly the n pages of the
 * mapping at ADDR, and its last (partial) one exactly the K pages it rewrote on its way out. */
static char *tgt_wbuf;
static unsigned long tgt_wrewrite;
static int tgt_wstatus;

static inline void tgt_rewrite(void)
{
	for (unsigned long i = 0; i < tgt_wrewrite; i++)
		tgt_write_page((volatile char *)tgt_wbuf + i * TGT_PAGE, (unsigned)i + 7);
}

static inline void *tgt_exiting_thread(void *arg)
{
	tgt_rewrite();
	exit(tgt_wstatus);
}

static inline int tgt_clone_child(void *arg)
{
	syscall(SYS_exit_group, 0);
	return 0;
}

static inline int tgt_write_main(unsigned long n)
{
	char line[64] = "";
	pthread_t t;
	ssize_t r;

	/* fenced by PROT_NONE pages, so no later mapping (a thread's stack) merges with it: a
	 * merge would mark the whole VMA soft-dirty (docs/pid-tracker.md) */
	tgt_wbuf = mmap(NULL, (n + 2) * TGT_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (tgt_wbuf == MAP_FAILED)
		return 1;
	tgt_wbuf += TGT_PAGE;
	if (mprotect(tgt_wbuf, n * TGT_PAGE, PROT_READ | PROT_WRITE))
		return 1;
	for (unsigned long i = 0; i < n; i++)
		tgt_write_page((volatile char *)tgt_wbuf + i * TGT_PAGE, (unsigned)i + 1);
	tgt_reply(1, "ready %lx %lu\n", (unsigned long)tgt_wbuf, n);
	r = read(0, line, sizeof(line) - 1);
	if (r > 0)
		line[r] = 0;
	if (sscanf(line, "rewrite %lu", &tgt_wrewrite) == 1 && tgt_wrewrite <= n) {
		tgt_rewrite();
		return 0;
	}
	if (sscanf(line, "kill %lu", &tgt_wrewrite) == 1 && tgt_wrewrite <= n) {
		tgt_rewrite();
		kill(getpid(), SIGKILL);
	}
	if (sscanf(line, "thread %lu %d", &tgt_wrewrite, &tgt_wstatus) == 2 && tgt_wrewrite <= n &&
	    !pthread_create(&t, NULL, tgt_exiting_thread, NULL))
		for (;;)
			pause();
	if (sscanf(line, "clone %lu", &tgt_wrewrite) == 1 && tgt_wrewrite <= n) {
		static char stack[65536] __attribute__((aligned(16)));
		int c = clone(tgt_clone_child, stack + sizeof(stack), CLONE_VM, NULL);

		if (c < 0 || waitpid(c, NULL, __WCLONE) != c)
			return 2;
		tgt_rewrite();
	}
	return 0;
}

/* Launch argv (pid_spawn) with its stdin and stdout on pipes; *in gets the write end of its
 * stdin, *out the read end of its stdout. A test program built with the sanitizers (make
 * sanitize) must not run LeakSanitizer's check at its exit: the check ptraces the program's
 * threads, which its keeper traces already (README: --no-hold). */
static inline int pid_test_spawn_piped(const char *const argv[], struct pid_spawn *sp, int *in,
				       int *out)
{
	int pin[2], pout[2], save_in, save_out, err;
	const char *lsan = getenv("LSAN_OPTIONS");
	char *saved = lsan ? strdup(lsan) : NULL;

	if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC))
		return -1;
	save_in = dup(0);
	save_out = dup(1);
	fflush(stdout);
	dup2(pin[0], 0);
	dup2(pout[1], 1);
	setenv("LSAN_OPTIONS", "detect_leaks=0", 1);
	err = pid_spawn(argv, 0, sp);
	if (saved)
		setenv("LSAN_OPTIONS", saved, 1);
	else
		unsetenv("LSAN_OPTIONS");
	free(saved);
	dup2(save_in, 0);
	dup2(save_out, 1);
	close(save_in);
	close(save_out);
	close(pin[0]);
	close(pout[1]);
	*in = pin[1];
	*out = pout[0];
	return err;
}

/* Pages of the n-page mapping at addr whose bit is wrong in the sample: not set among the first
 * k, or set among the others; n if no region holds addr. */
static inline uint64_t pid_test_wrong_bits(const struct dpt_sample *s, uint64_t addr, uint64_t n,
					   uint64_t k)
{
	uint64_t off, wrong = 0;
	int r = region_at(s, addr);

	if (r < 0)
		return n;
	off = (addr - s->regions[r].start) / TGT_PAGE;
	for (uint64_t i = 0; i < n; i++)
		wrong += bitmap_test(s->bitmap, s->regions[r].first_page + off + i) != (i < k);
	return wrong;
}

/*
 * Launch mode, the program's end. Launch prog --write 64 with method mode, check its first
 * interval, tell it how to end (a tgt_write_main() line that rewrites 24 pages), and check:
 * its keeper holds it at its exit (end_fd fires, ended() says so), the last partial interval
 * holds exactly the 24 pages, end_status is want_status, and afterwards neither the program
 * nor its keeper is left. 0, or -1 with why.
 */
static inline int pid_test_launch_exit(const char *prog, const char *mode, const char *how,
				       int want_status, char *why, size_t size)
{
	const char *argv[] = {prog, "--write", "64", NULL};
	char cmd[64], line[128];
	struct dpt_tracker t;
	struct dpt_sample s;
	uint64_t addr = 0, n = 0, wrong = 64;
	struct pid_spawn sp;
	bool held = false;
	int in, out, err, ok;

	if (pid_test_spawn_piped(argv, &sp, &in, &out)) {
		snprintf(why, size, "%s", dpt_last_error() ? dpt_last_error() : "cannot launch");
		return -1;
	}
	err = pid_test_open(&t, sp.pid, mode, NULL, 0) || t.ops->start(&t) ||
	      pid_spawn_resume(&sp) || tgt_line(out, line, sizeof(line)) ||
	      sscanf(line, "ready %" SCNx64 " %" SCNu64, &addr, &n) != 2 ||
	      pid_test_collect(&t, &s) || pid_test_wrong_bits(&s, addr, n, n);
	snprintf(cmd, sizeof(cmd), "%s\n", how);
	err = err || write(in, cmd, strlen(cmd)) != (ssize_t)strlen(cmd);
	if (!err && tgt_wait_readable(t.end_fd, 5000))
		held = t.ops->ended(&t);
	err = err || !held || pid_test_collect(&t, &s);
	if (!err)
		wrong = pid_test_wrong_bits(&s, addr, n, 24);
	t.ops->close(&t);
	ok = !err && !wrong && t.end_status == want_status;
	snprintf(why, size,
		 "%s; %s; %" PRIu64 " of %" PRIu64 " pages wrong in the last interval, status %d "
		 "(want %d), '%s'",
		 how, err ? (dpt_last_error() ? dpt_last_error() : "failed") : "held at its exit",
		 wrong, n, t.end_status, want_status, t.end_reason);
	if (ok && !(waitpid(sp.pid, NULL, WNOHANG) < 0 && errno == ECHILD &&
		    kill(sp.keeper, 0) < 0 && errno == ESRCH)) {
		snprintf(why, size, "%s: the program or its keeper is still there", how);
		ok = 0;
	}
	close(in);
	close(out);
	return ok ? 0 : -1;
}

/* Hand the keeper's reports to the tracker for up to ms, as the loop does. */
static inline void tgt_pump(struct dpt_tracker *t, int ms)
{
	uint64_t end = tgt_now_ns() + (uint64_t)ms * 1000000;

	do {
		struct pollfd p = {.fd = t->end_fd, .events = POLLIN};

		if (poll(&p, 1, 5) == 1)
			t->ops->ended(t);
	} while (tgt_now_ns() < end);
}

/* A command whose answer may wait for the tracker (a fork waits for the child's arming). */
static inline int tgt_cmd_pumped(struct tgt *g, struct dpt_tracker *t, uint64_t *val,
				 const char *fmt, unsigned a, unsigned b)
{
	char buf[256];
	size_t n = 0;
	int len = snprintf(buf, sizeof(buf), fmt, a, b);
	uint64_t deadline = tgt_now_ns() + 10000000000ULL;

	buf[len++] = '\n';
	if (write(g->in, buf, len) != len)
		return -1;
	while (tgt_now_ns() < deadline) {
		struct pollfd p[2] = {{.fd = g->out, .events = POLLIN},
				      {.fd = t->end_fd, .events = POLLIN}};

		if (poll(p, 2, 100) <= 0)
			continue;
		if (p[1].revents)
			t->ops->ended(t);
		if (!p[0].revents)
			continue;
		if (read(g->out, buf + n, 1) != 1)
			return -1;
		if (buf[n] == '\n') {
			buf[n] = 0;
			if (val)
				*val = strtoull(buf + 3, NULL, 10);
			return strncmp(buf, "ok", 2) ? -1 : 0;
		}
		n += n + 1 < sizeof(buf) - 1;
	}
	return -1;
}

#endif
