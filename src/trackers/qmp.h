/* qmp.h - the qmp tracker's options (dpt_tracker_opts.extra) and what it tells its caller.
 *
 * target: kind DPT_TARGET_QMP, qmp_path = QEMU's QMP unix socket.
 * opts->mode: "auto" (default) | "page-sampling" | "dirty-bitmap" | "dirty-ring".
 * opts->extra: NULL or a struct qmp_tracker_opts.
 */
#ifndef DPT_QMP_H
#define DPT_QMP_H

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

#endif
