/* loop.h - the interval loop: one poll over a timerfd, a signalfd, the target's end fd and the
 * monitor; collects one sample per interval and hands it to every writer.
 */
#ifndef DPT_LOOP_H
#define DPT_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "dpt/tracker.h"
#include "dpt/writer.h"

struct loop_opts {
	uint64_t interval_ns;   /* >= 1 ms */
	uint64_t count;         /* intervals per tracking session, 0 = unlimited */
	uint64_t duration_ns;   /* length of a tracking session, 0 = unlimited */
	bool compat;            /* Qemu-DPT's all-dirty first sample at each start */
	const char *monitor;    /* NULL (track at once), "stdio" or "unix:PATH" */
	/* Non-zero scans (for writers that take them, with a tracker that can): at each start,
	 * every zero_scan_ns and at each stop; 0: none. */
	uint64_t zero_scan_ns;
	/* Called after each successful tracker start(), before the first interval runs (launch
	 * mode lets its program run here); -errno ends the run. */
	int (*after_start)(void *arg);
	void *after_start_arg;
};

struct loop_result {
	bool target_ended; /* the tracker's end_fd fired: t->end_reason says why */
	int signo;         /* the signal that ended the run, or 0 */
	uint64_t intervals;
	bool started;      /* tracking started at least once (writers saw start) */
	/* when the target ended while tracking: its last partial interval was written (its
	 * length and dirty pages), or why not */
	bool final_written;
	double final_seconds;
	uint64_t final_dirty;
	char final_lost[300];
};

/* Block the signals the loop takes through its signalfd (SIGINT, SIGTERM, SIGHUP) and ignore
 * SIGPIPE. Call before creating any thread, so that every thread inherits the mask. */
int loop_block_signals(void);

/* Run until the count or duration is reached (without a monitor), a signal, the target's end,
 * or "quit" on the monitor. The last partial interval is always written. 0 or -errno. */
int loop_run(struct dpt_tracker *t, struct dpt_writer *w, unsigned nw, const struct loop_opts *o,
	     struct loop_result *res);

#endif
