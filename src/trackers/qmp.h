/* qmp.h - the qmp tracker's options (dpt_tracker_opts.extra) and what it tells its caller.
 *
 * target: kind DPT_TARGET_QMP, qmp_path = QEMU's QMP unix socket.
 * opts->mode: "auto" (default) | "page-sampling" | "dirty-bitmap" | "dirty-ring".
 * opts->extra: NULL or a struct qmp_tracker_opts.
 */
#ifndef DPT_QMP_H
#define DPT_QMP_H

#include <math.h>
#include <stdint.h>

struct qmp_tracker_opts {
	/* The loop's interval: each QEMU measurement lasts this long (calc-time). 0 = 1 s.
	 * QEMU < 8.2 measures whole seconds: >= 1 s, rounded down; 8.2+: >= 50 ms. At most 60 s
	 * (longer intervals are estimated from their first 60 s). */
	uint64_t interval_ns;
	/* page-sampling: pages sampled per GiB of guest RAM, 128..16384; 0 = QEMU's 512.
	 * Giving it makes "auto" choose page-sampling. */
	unsigned sample_pages;
	/* How long a silent QEMU is waited for, beyond what a command needs; 0 = 5000 ms. */
	unsigned timeout_ms;
};

/* QEMU's dirty rate (whole MiB/s) over secs, as 4 KiB pages. */
static inline uint64_t dirty_rate_pages(long long mib_s, double secs)
{
	return (uint64_t)llround((double)mib_s * 256.0 * secs);
}

/* The length to count a measurement over: the interval asked for (nominal), unless the
 * interval was cut short (stop, signal) or stretched (a skipped boundary: measured). Timer
 * jitter of a few ms is not a longer or shorter measurement: QEMU's window is its calc-time
 * whatever the loop's timing, so a full interval carries exactly rate x 256 x interval pages. */
static inline double dirty_rate_secs(double nominal, double measured)
{
	return fabs(measured - nominal) <= nominal / 20 + 0.002 ? nominal : measured;
}

#endif
