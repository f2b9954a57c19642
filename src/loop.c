/* loop.c - the interval loop.
 *
 * 1. start: tracker start(), writers start(), (--compat) a synthetic all-dirty sample (held
 *    back to the first interval if the tracker has no page yet), then a one-shot absolute
 *    timerfd for the first boundary.
 * 2. each boundary: read both clocks, collect(), stamp the sample with [previous boundary,
 *    now], hand it to every writer, arm the next boundary (session start + k x interval, cut at
 *    the session's duration). Boundaries missed while busy are skipped, never bunched.
 * 3. stop (count, duration, dpt_stop, a signal, the target's end, an error): one last collect
 *    for the partial interval, flagged final, then writers stop(). If that collect fails (the
 *    target took its memory along, the tracker failed), the final sample is flagged lost: its
 *    dirty pages are unknown. Every session's last sample is final, however it ended.
 * Intervals are contiguous because each collect both reports and re-arms: what is written after
 * one collect is in the next.
 * 4. non-zero scans, when a writer takes them and the tracker can: one at each start, one
 *    every zero_scan_ns (its slow part on a thread of its own, so intervals keep their
 *    boundaries; an eventfd tells the poll it is done), and one at each stop, after the last
 *    interval, waited for.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "loop.h"
#include "monitor.h"

struct loop {
	struct dpt_tracker *t;
	struct dpt_writer *w;
	unsigned nw;
	const struct loop_opts *o;
	struct monitor *mon;
	int tfd, sfd;

	bool tracking;
	bool started;
	bool overrun_warned;
	bool next_is_end; /* the planned boundary is the end of the session's duration */
	bool compat_pending; /* --compat: the all-dirty sample waits for the first interval */
	uint64_t seq;
	uint64_t session_intervals;
	struct timespec session_start, session_wall, next, prev_mono, prev_wall;

	/* running totals of the session for "info dirty" (reset by each start) */
	struct dpt_sample last;
	bool have_last;
	unsigned session;
	struct timespec session_started_wall;
	uint64_t intervals, dirty_sum, discarded_sum, lost, *ever, ever_bits, ever_since;
	uint64_t session_first; /* seq of the session's first interval */
	double secs_sum;
	int err;

	/* the non-zero scan */
	bool zwanted;		/* a writer takes them, the tracker can, and they are on */
	bool zrunning;		/* zthread runs zscan_run() */
	bool zwarned;
	int zfd;		/* eventfd: the scan thread is done */
	pthread_t zthread;
	struct dpt_zscan *zs;
	struct dpt_nonzero z;
	int zerr;
	char zwhy[512];
	struct timespec znext;	/* the next periodic scan is due */
};

static const uint64_t NSEC = 1000000000ULL;

static struct timespec ts_add_ns(struct timespec t, uint64_t ns)
{
	ns += (uint64_t)t.tv_nsec;
	t.tv_sec += (time_t)(ns / NSEC);
	t.tv_nsec = (long)(ns % NSEC);
	return t;
}

static int ts_cmp(const struct timespec *a, const struct timespec *b)
{
	if (a->tv_sec != b->tv_sec)
		return a->tv_sec < b->tv_sec ? -1 : 1;
	return a->tv_nsec < b->tv_nsec ? -1 : a->tv_nsec > b->tv_nsec;
}

int loop_block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	return -pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static int writers_each(struct loop *l, int (*fn)(struct dpt_writer *))
{
	int err = 0;

	for (unsigned i = 0; i < l->nw; i++) {
		int e = fn(&l->w[i]);
		if (e && !err)
			err = e;
	}
	return err;
}

static int w_start(struct dpt_writer *w)
{
	return w->ops->start(w);
}

static int w_stop(struct dpt_writer *w)
{
	return w->ops->stop(w);
}

static void account(struct loop *l, const struct dpt_sample *s)
{
	l->last = *s;
	l->have_last = true;
	if (s->flags & DPT_SAMPLE_ALL)
		return;
	l->intervals++;
	l->secs_sum += sample_seconds(s);
	if (s->flags & DPT_SAMPLE_LOST) {
		l->lost++;
		return;
	}
	l->dirty_sum += s->dirty;
	l->discarded_sum += s->discarded;
	if (!s->bitmap)
		return;
	if (!l->ever || l->ever_bits != s->total || s->regions_changed) {
		/* the page numbering may have changed: restart the union from here */
		free(l->ever);
		l->ever = calloc(bitmap_words(s->total) + 1, sizeof(uint64_t));
		l->ever_bits = l->ever ? s->total : 0;
		l->ever_since = s->seq;
	}
	for (size_t i = 0; l->ever && i < bitmap_words(s->total); i++)
		l->ever[i] |= s->bitmap[i];
}

static int emit(struct loop *l, const struct dpt_sample *s)
{
	account(l, s);
	for (unsigned i = 0; i < l->nw; i++) {
		int err = l->w[i].ops->sample(&l->w[i], s);
		if (err)
			return dpt_fail_ctx(err, "%s output", l->w[i].ops->name);
	}
	return 0;
}

/*
 * --compat: Qemu-DPT's first bitmap, every page dirty, stamped at the session's start. A tracker
 * that has no page yet at start() (a QEMU dpt launched, before it maps its RAM) has it written
 * just before its first interval, sized as that interval.
 */
static int emit_all_dirty(struct loop *l, uint64_t total)
{
	struct dpt_sample all = {
	    .seq = 0, .mono_start = l->session_start, .mono_end = l->session_start,
	    .wall_start = l->session_wall, .wall_end = l->session_wall,
	    .dirty = total, .total = total, .page_size = 4096, .flags = DPT_SAMPLE_ALL,
	};

	l->compat_pending = false;
	return emit(l, &all);
}

/*
 * The session's last interval, whose dirty pages cannot be had (the target took its memory
 * along, or the collect failed): written anyway, flagged final and lost, so that every session
 * ends on a final sample and nothing reads its count as 0.
 */
static int emit_lost(struct loop *l)
{
	struct dpt_sample s = {
	    .seq = ++l->seq, .mono_start = l->prev_mono, .wall_start = l->prev_wall,
	    .total = l->t->total_pages, .page_size = 4096,
	    .flags = DPT_SAMPLE_FINAL | DPT_SAMPLE_PARTIAL | DPT_SAMPLE_LOST |
		     (l->t->estimate ? DPT_SAMPLE_ESTIMATE : 0),
	};

	clock_gettime(CLOCK_MONOTONIC, &s.mono_end);
	clock_gettime(CLOCK_REALTIME, &s.wall_end);
	l->prev_mono = s.mono_end;
	l->prev_wall = s.wall_end;
	return emit(l, &s);
}

/* Collect the interval that ends now and write it. */
static int take_sample(struct loop *l, unsigned flags)
{
	struct dpt_sample s = {0};
	struct timespec mono, wall;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &wall);
	int err = l->t->ops->collect(l->t, &s);
	if (err)
		return dpt_fail_ctx(err, "%s tracker", l->t->ops->name);
	s.seq = ++l->seq;
	s.mono_start = l->prev_mono;
	s.wall_start = l->prev_wall;
	s.mono_end = mono;
	s.wall_end = wall;
	s.flags |= flags | (l->t->estimate ? DPT_SAMPLE_ESTIMATE : 0);
	l->prev_mono = mono;
	l->prev_wall = wall;
	l->session_intervals++;
	if (l->compat_pending) {
		err = emit_all_dirty(l, s.total);
		if (err)
			return err;
	}
	return emit(l, &s);
}

static int arm_timer(struct loop *l)
{
	struct itimerspec its = {.it_value = l->next};

	if (timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL))
		return dpt_fail(-errno, "timerfd_settime: %s", strerror(errno));
	return 0;
}

/* Plan the next boundary after now, cut at the end of the session's duration. */
static void plan_next(struct loop *l, const struct timespec *now)
{
	uint64_t k = l->session_intervals + 1;
	struct timespec next = ts_add_ns(l->session_start, k * l->o->interval_ns);

	while (ts_cmp(&next, now) <= 0) { /* missed boundaries: skip them */
		if (!l->overrun_warned)
			dpt_warn("interval overrun: collecting took longer than the interval");
		l->overrun_warned = true;
		next = ts_add_ns(l->session_start, ++k * l->o->interval_ns);
	}
	if (l->o->duration_ns) {
		struct timespec end = ts_add_ns(l->session_start, l->o->duration_ns);
		if (ts_cmp(&end, &next) <= 0) {
			l->next = end;
			l->next_is_end = true;
			return;
		}
	}
	l->next = next;
	l->next_is_end = false;
}

/* ---- non-zero scans ---- */

static void *zscan_thread(void *arg)
{
	struct loop *l = arg;
	uint64_t one = 1;

	clock_gettime(CLOCK_MONOTONIC, &l->z.mono_start);
	clock_gettime(CLOCK_REALTIME, &l->z.wall_start);
	l->zerr = l->t->ops->zscan_run(l->zs, &l->z);
	if (l->zerr)
		snprintf(l->zwhy, sizeof(l->zwhy), "%s",
			 dpt_last_error() ? dpt_last_error() : strerror(-l->zerr));
	clock_gettime(CLOCK_MONOTONIC, &l->z.mono_end);
	clock_gettime(CLOCK_REALTIME, &l->z.wall_end);
	if (write(l->zfd, &one, sizeof(one)) < 0) {
	}
	return NULL;
}

static void zscan_warn(struct loop *l, const char *why)
{
	if (!l->zwarned)
		dpt_warn("the non-zero pages could not be taken: %s", why);
	l->zwarned = true;
}

/* Start a scan on its thread (nothing if one runs, or none is wanted). */
static void zscan_begin(struct loop *l)
{
	if (!l->zwanted || l->zrunning)
		return;
	int err = l->t->ops->zscan_prepare(l->t, &l->zs);
	if (err) {
		zscan_warn(l, dpt_last_error() ? dpt_last_error() : strerror(-err));
		dpt_clear_error();
		return;
	}
	memset(&l->z, 0, sizeof(l->z));
	l->z.after_seq = l->seq;
	l->zerr = 0;
	err = pthread_create(&l->zthread, NULL, zscan_thread, l);
	if (err) {
		zscan_warn(l, strerror(err));
		l->t->ops->zscan_free(l->zs);
		l->zs = NULL;
		return;
	}
	l->zrunning = true;
}

/* Wait for the scan in flight, hand its set to the writers (unless drop), plan the next. */
static int zscan_finish(struct loop *l, bool drop)
{
	uint64_t v;
	int err = 0;

	if (!l->zrunning)
		return 0;
	pthread_join(l->zthread, NULL);
	if (read(l->zfd, &v, sizeof(v)) < 0) {
	}
	l->zrunning = false;
	if (l->zerr) {
		zscan_warn(l, l->zwhy);
	} else if (!drop) {
		dpt_debug("non-zero pages: %llu of %llu (%llu unreadable, counted non-zero), %.1f MiB "
			  "read in %.3f s",
			  (unsigned long long)l->z.count, (unsigned long long)l->z.total,
			  (unsigned long long)l->z.unknown, (double)l->z.bytes_read / 1048576.0,
			  ts_diff(&l->z.mono_end, &l->z.mono_start));
		for (unsigned i = 0; i < l->nw && !err; i++)
			if (l->w[i].ops->nonzero && (err = l->w[i].ops->nonzero(&l->w[i], &l->z)))
				err = dpt_fail_ctx(err, "%s output", l->w[i].ops->name);
	}
	l->t->ops->zscan_free(l->zs);
	l->zs = NULL;
	l->znext = ts_add_ns(l->z.mono_start, l->o->zero_scan_ns);
	return err;
}

/* The scan at a stop: the one in flight, then one of the memory as the session leaves it. */
static int zscan_at_stop(struct loop *l, bool target_gone)
{
	int err = zscan_finish(l, false);

	if (err || target_gone || !l->zwanted)
		return err;
	zscan_begin(l);
	return zscan_finish(l, false);
}

static int tracking_start(struct loop *l)
{
	int err = l->t->ops->start(l->t);

	if (err)
		return dpt_fail_ctx(err, "%s tracker", l->t->ops->name);
	clock_gettime(CLOCK_MONOTONIC, &l->prev_mono);
	clock_gettime(CLOCK_REALTIME, &l->prev_wall);
	l->session_start = l->prev_mono;
	l->session_intervals = 0;
	l->tracking = true;
	free(l->ever);
	l->ever = NULL;
	l->ever_bits = 0;
	l->session++;
	l->session_first = l->seq + 1;
	l->session_started_wall = l->prev_wall;
	l->intervals = l->dirty_sum = l->discarded_sum = l->lost = 0;
	l->secs_sum = 0;
	l->have_last = false;
	l->started = true;
	err = writers_each(l, w_start);
	if (!err && l->o->after_start)
		err = l->o->after_start(l->o->after_start_arg);
	l->session_wall = l->prev_wall;
	l->compat_pending = false;
	if (!err && l->o->compat) {
		if (l->t->total_pages)
			err = emit_all_dirty(l, l->t->total_pages);
		else
			l->compat_pending = true;
	}
	plan_next(l, &l->prev_mono);
	if (!err)
		zscan_begin(l);
	return err ? err : arm_timer(l);
}

/* End the session: with collect, its last partial interval first (flagged lost if the collect
 * fails, and the collect's error returned). */
static int tracking_stop(struct loop *l, bool collect)
{
	struct itimerspec off = {0};
	int err = 0;

	timerfd_settime(l->tfd, 0, &off, NULL);
	l->tracking = false;
	if (collect)
		err = take_sample(l, DPT_SAMPLE_FINAL | DPT_SAMPLE_PARTIAL);
	if (err && l->have_last && !(l->last.flags & DPT_SAMPLE_FINAL))
		emit_lost(l);
	int e1 = zscan_at_stop(l, err != 0);
	int e2 = writers_each(l, w_stop);
	return err ? err : e1 ? e1 : e2;
}

/* The target ended and its last partial interval went with it (the collect failed, its
 * error in dpt_last_error()): that interval is written flagged lost, the session ends. */
static int ended_lost(struct loop *l, struct loop_result *res)
{
	struct itimerspec off = {0};

	timerfd_settime(l->tfd, 0, &off, NULL);
	l->tracking = false;
	res->target_ended = true;
	snprintf(res->final_lost, sizeof(res->final_lost), "%s",
		 dpt_last_error() ? dpt_last_error() : "");
	dpt_clear_error();
	int err = emit_lost(l);
	zscan_finish(l, true);
	int e2 = writers_each(l, w_stop);
	return err ? err : e2;
}

/* The target ended: its last partial interval is written if the tracker can still see it (a
 * micro-VM that failed can, so can a launched process its keeper holds at its exit; a process
 * that exited took its page tables along, and the collect's error says so), then the session
 * ends as usual. */
static int tracking_stop_ended(struct loop *l, struct loop_result *res)
{
	struct itimerspec off = {0};

	timerfd_settime(l->tfd, 0, &off, NULL);
	l->tracking = false;
	if (take_sample(l, DPT_SAMPLE_FINAL | DPT_SAMPLE_PARTIAL)) {
		return ended_lost(l, res);
	} else {
		res->final_written = true;
		res->final_seconds = sample_seconds(&l->last);
		res->final_dirty = l->last.dirty;
		int err = zscan_at_stop(l, false);
		if (err) {
			writers_each(l, w_stop);
			return err;
		}
	}
	return writers_each(l, w_stop);
}

static int on_timer(struct loop *l)
{
	uint64_t ticks;
	struct timespec now;

	if (read(l->tfd, &ticks, sizeof(ticks)) != sizeof(ticks) || !l->tracking)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (ts_cmp(&now, &l->next) < 0)
		return arm_timer(l);
	bool last_of_count = l->o->count && l->session_intervals + 1 >= l->o->count;
	bool at_end = l->next_is_end;
	bool last = last_of_count || at_end;
	unsigned flags = last ? DPT_SAMPLE_FINAL : 0;

	if (at_end && !last_of_count && l->o->duration_ns % l->o->interval_ns)
		flags |= DPT_SAMPLE_PARTIAL; /* the duration cut this interval short */
	int err = take_sample(l, flags);
	if (err)
		return err;
	if (last)
		return tracking_stop(l, false);
	if (l->zwanted && !l->zrunning && ts_cmp(&l->prev_mono, &l->znext) >= 0)
		zscan_begin(l);
	plan_next(l, &l->prev_mono);
	return arm_timer(l);
}

static void info_dirty(struct loop *l, struct monitor_reply *r)
{
	monitor_printf(r, "tracking: %s (%s tracker, %s)\n", l->tracking ? "on" : "off",
		       l->t->ops->name, l->t->mode);
	if (!l->have_last) {
		monitor_printf(r, "no interval yet\n");
		return;
	}
	const struct dpt_sample *s = &l->last;
	if (s->flags & DPT_SAMPLE_LOST)
		monitor_printf(r, "last interval: %llu (%.3f s), lost (its dirty pages went with "
				  "the target)\n",
			       (unsigned long long)s->seq, sample_seconds(s));
	else
		monitor_printf(r, "last interval: %llu (%.3f s), dirty %llu / %llu (%.3f MB/s)\n",
			       (unsigned long long)s->seq, sample_seconds(s),
			       (unsigned long long)s->dirty, (unsigned long long)s->total,
			       sample_mib_per_s(s));
	/* every figure below covers the same scope: this session, from its dpt_start */
	struct tm tm;
	char when[32];
	localtime_r(&l->session_started_wall.tv_sec, &tm);
	strftime(when, sizeof(when), "%H:%M:%S", &tm);
	monitor_printf(r, "session %u (since %s at %s): %llu intervals, %.3f s, %llu dirty pages, "
			  "mean %.3f MB/s",
		       l->session, l->o->monitor ? "dpt_start" : "the start", when,
		       (unsigned long long)l->intervals, l->secs_sum,
		       (unsigned long long)l->dirty_sum,
		       l->secs_sum > 0 ? (double)l->dirty_sum * 4096 / 1048576.0 / l->secs_sum : 0);
	if (l->t->counts_discarded)
		monitor_printf(r, ", %llu discarded", (unsigned long long)l->discarded_sum);
	if (l->lost)
		monitor_printf(r, " (%llu interval%s lost)", (unsigned long long)l->lost,
			       l->lost == 1 ? "" : "s");
	monitor_printf(r, "\n");
	if (l->ever && l->ever_since <= l->session_first)
		monitor_printf(r, "distinct pages dirtied in the session: %llu\n",
			       (unsigned long long)bitmap_weight(l->ever, l->ever_bits));
	else if (l->ever)
		monitor_printf(r, "distinct pages dirtied since interval %llu (the tracked regions "
				  "changed then): %llu\n",
			       (unsigned long long)l->ever_since,
			       (unsigned long long)bitmap_weight(l->ever, l->ever_bits));
}

static int on_command(void *ctx, const char *line, struct monitor_reply *r)
{
	struct loop *l = ctx;
	char cmd[64] = "", arg[64] = "";

	sscanf(line, "%63s %63s", cmd, arg);
	if (!cmd[0])
		return 0;
	if (!strcmp(cmd, "dpt_start")) {
		if (l->tracking)
			monitor_printf(r, "error: dirty page tracking is already running\n");
		else if ((l->err = tracking_start(l)))
			monitor_printf(r, "error: %s\n", dpt_last_error());
	} else if (!strcmp(cmd, "dpt_stop")) {
		if (!l->tracking)
			monitor_printf(r, "error: dirty page tracking is not running\n");
		else if ((l->err = tracking_stop(l, true)))
			monitor_printf(r, "error: %s\n", dpt_last_error());
	} else if (!strcmp(cmd, "info") && !strcmp(arg, "dirty")) {
		info_dirty(l, r);
	} else if (!strcmp(cmd, "help") || !strcmp(cmd, "?")) {
		monitor_printf(r, "dpt_start     start dirty page tracking\n"
				  "dpt_stop      stop it (the partial interval is written)\n"
				  "info dirty    last interval and this session's totals\n"
				  "help          this text\n"
				  "quit          stop tracking and end dpt\n");
	} else if (!strcmp(cmd, "quit") || !strcmp(cmd, "q")) {
		return 1;
	} else {
		monitor_printf(r, "error: unknown command '%s' (try 'help')\n", line);
	}
	return l->err ? 1 : 0;
}

static int on_signal(struct loop *l, struct loop_result *res)
{
	struct signalfd_siginfo si;

	if (read(l->sfd, &si, sizeof(si)) != sizeof(si))
		return 0;
	res->signo = (int)si.ssi_signo;
	return 1;
}

static int loop_poll(struct loop *l, struct loop_result *res)
{
	for (;;) {
		struct pollfd pfd[4 + MONITOR_MAX_FDS] = {
			{.fd = l->sfd, .events = POLLIN},
			{.fd = l->tfd, .events = POLLIN},
			{.fd = l->t->end_fd, .events = POLLIN},
			{.fd = l->zrunning ? l->zfd : -1, .events = POLLIN},
		};
		unsigned n = 4 + (l->mon ? monitor_pollfds(l->mon, pfd + 4) : 0);

		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return dpt_fail(-errno, "poll: %s", strerror(errno));
		}
		if ((pfd[0].revents & POLLIN) && on_signal(l, res))
			return l->tracking ? tracking_stop(l, true) : 0;
		if ((pfd[2].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    (!l->t->ops->ended || l->t->ops->ended(l->t))) {
			res->target_ended = true;
			return l->tracking ? tracking_stop_ended(l, res) : 0;
		}
		if (pfd[1].revents & POLLIN) {
			int err = on_timer(l);
			/* the target went between the poll and the collect: a process tearing
			 * down a big address space has no memory left to read well before its
			 * pidfd says it exited (512 MiB killed: dpt exited 1, "tracking failed") */
			if (err == -ESRCH && l->tracking)
				return ended_lost(l, res);
			if (err)
				return err;
			if (!l->tracking && !l->mon)
				return 0;
		}
		if (pfd[3].revents & POLLIN) {
			int err = zscan_finish(l, false);
			if (err)
				return err;
		}
		if (l->mon && n > 4) {
			int quit = monitor_serve(l->mon, pfd + 4, n - 4);
			if (l->err)
				return l->err;
			if (quit)
				return l->tracking ? tracking_stop(l, true) : 0;
		}
	}
}

int loop_run(struct dpt_tracker *t, struct dpt_writer *w, unsigned nw, const struct loop_opts *o,
	     struct loop_result *res)
{
	struct loop l = {.t = t, .w = w, .nw = nw, .o = o, .tfd = -1, .sfd = -1, .zfd = -1};
	sigset_t set;
	int err;

	memset(res, 0, sizeof(*res));
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	l.sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	l.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (l.sfd < 0 || l.tfd < 0) {
		err = dpt_fail(-errno, "signalfd/timerfd: %s", strerror(errno));
		goto out;
	}
	for (unsigned i = 0; i < nw; i++)
		l.zwanted |= w[i].ops->nonzero != NULL;
	l.zwanted &= o->zero_scan_ns && t->ops->zscan_prepare;
	if (l.zwanted && (l.zfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		err = dpt_fail(-errno, "eventfd: %s", strerror(errno));
		goto out;
	}
	if (o->monitor) {
		err = monitor_open(&l.mon, o->monitor, on_command, &l);
		if (err)
			goto out;
	}
	err = l.mon ? 0 : tracking_start(&l);
	if (!err)
		err = loop_poll(&l, res);
	if (err && l.tracking) { /* best effort: still end the session on a final sample */
		const char *why = dpt_last_error();
		char saved[512];

		snprintf(saved, sizeof(saved), "%s", why ? why : "");
		if (l.have_last && !(l.last.flags & DPT_SAMPLE_FINAL))
			emit_lost(&l);
		writers_each(&l, w_stop);
		dpt_clear_error();
		dpt_fail(err, "%s", saved); /* the run's own error, not the writers' */
	}
out:
	zscan_finish(&l, true);
	if (l.zfd >= 0)
		close(l.zfd);
	res->intervals = l.intervals;
	res->started = l.started;
	monitor_close(l.mon);
	free(l.ever);
	if (l.tfd >= 0)
		close(l.tfd);
	if (l.sfd >= 0)
		close(l.sfd);
	return err;
}
