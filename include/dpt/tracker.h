/* tracker.h - the tracker contract: one backend behind one small ops table.
 *
 * A tracker watches one target and, on each collect(), reports the pages written since the
 * previous collect() (or since start()) and re-arms tracking, so consecutive collects cut the
 * run into contiguous intervals. Adding a tracker is one file plus one line in
 * src/trackers/trackers.c.
 *
 * Life cycle: probe (optional, no side effects on any target) -> open -> start -> collect ... ->
 * close. start() may be called again after a run of collects (monitor dpt_stop / dpt_start).
 * close() is safe on a half-opened tracker and leaves the target as it was found.
 */
#ifndef DPT_TRACKER_H
#define DPT_TRACKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dpt/sample.h"

struct vm;
struct dpt_zscan; /* a tracker's snapshot of what a non-zero scan reads */

enum dpt_target_kind {
	DPT_TARGET_VM,  /* dpt's built-in micro-VM */
	DPT_TARGET_PID, /* a running process */
	DPT_TARGET_QMP, /* a QEMU QMP socket */
	DPT_TARGET_LIBVIRT, /* a libvirt domain */
};

struct dpt_target {
	enum dpt_target_kind kind;
	struct vm *vm;        /* DPT_TARGET_VM */
	pid_t pid;            /* DPT_TARGET_PID */
	const char *qmp_path; /* DPT_TARGET_QMP; with DPT_TARGET_PID, QEMU's QMP socket if known */
	const char *domain;   /* DPT_TARGET_LIBVIRT: the domain's name */
	const char *uri;      /* DPT_TARGET_LIBVIRT: libvirt's URI (NULL: qemu:///system) */
};

struct dpt_tracker_opts {
	const char *mode;  /* tracker-specific: kvm "bitmap"|"ring"; pid "uffd"|"soft-dirty"|"auto";
			      qmp "auto"|"page-sampling"|"dirty-bitmap"|"dirty-ring"; NULL = default */
	const void *extra; /* tracker-specific options struct, documented by the tracker, or NULL */
};

struct dpt_tracker;

struct dpt_tracker_ops {
	const char *name; /* "kvm", "pid", "qmp", "libvirt" */
	/* Can this tracker work here? 0, or -errno with the reason recorded by dpt_fail().
	 * Works by doing (creates and throws away a scratch object), never touches a target. */
	int (*probe)(const struct dpt_tracker_opts *opts);
	/* Attach to the target and fill the public fields of t. */
	int (*open)(struct dpt_tracker *t, const struct dpt_target *target,
		    const struct dpt_tracker_opts *opts);
	/* Forget whatever was written before and arm tracking. */
	int (*start)(struct dpt_tracker *t);
	/* Fill s->dirty, s->total, s->page_size, s->bitmap, s->vcpu_dirty, s->nr_vcpus, the
	 * region list and flags (the loop fills seq and the times), and re-arm. Pointers in s
	 * refer to tracker-owned storage valid until the next collect() or close(). */
	int (*collect)(struct dpt_tracker *t, struct dpt_sample *s);
	/* Optional: end_fd became readable. true: the target has ended (the loop collects the
	 * last partial interval and stops); false: it was a tracker matter, dealt with (end_fd
	 * may have changed). NULL: always ended. */
	bool (*ended)(struct dpt_tracker *t);
	/* Detach; safe on a half-opened tracker; leaves the target as it was found. */
	void (*close)(struct dpt_tracker *t);

	/* Optional: the non-zero pages (struct dpt_nonzero), in two steps so that the slow one
	 * runs off the loop's thread. zscan_prepare() runs on the loop's thread between two
	 * collects and snapshots what to look at (cheap). zscan_run() runs on a thread of its
	 * own, possibly while collect() runs, so it touches nothing of the tracker's: it reads
	 * the memory and fills z, whose bitmap and regions belong to zs until zscan_free(). */
	int (*zscan_prepare)(struct dpt_tracker *t, struct dpt_zscan **zs);
	int (*zscan_run)(struct dpt_zscan *zs, struct dpt_nonzero *z);
	void (*zscan_free)(struct dpt_zscan *zs);
};

struct dpt_tracker {
	const struct dpt_tracker_ops *ops;
	void *priv;

	/* Filled by open(). */
	char mode[32];      /* the mechanism in use, e.g. "bitmap", "ring", "uffd", "page-sampling" */
	bool has_bitmap;    /* collect() gives a bitmap */
	bool estimate;      /* counts are estimates, not exact */
	bool counts_discarded; /* samples' discarded counts are known (exact) */
	bool per_process;   /* samples carry per-process rows (a followed tree) */
	unsigned nr_vcpus;  /* per-vCPU counts given for this many vCPUs, 0 if none */
	pid_t owner_pid;    /* pid for Qemu-DPT bitmap names (the VMM's pid) */
	uint64_t total_pages; /* pages tracked now (open() sets it; collect() may change it) */
	char target_desc[128]; /* human description: "micro-VM 1 vCPU 256 MiB", "pid 1234 (qemu-system-x86)" */

	/* -1, or an fd that becomes readable when the target has ended or failed (see ended());
	 * the loop then collects a last partial sample and stops, reporting end_reason. */
	int end_fd;
	char end_reason[256];
	int end_status;     /* exit status the command should pass on (launch mode), else 0 */
};

/* The table of trackers (src/trackers/trackers.c). */
const struct dpt_tracker_ops *tracker_find(const char *name);
extern const struct dpt_tracker_ops *const tracker_table[];

extern const struct dpt_tracker_ops kvm_tracker_ops;
extern const struct dpt_tracker_ops pid_tracker_ops;
extern const struct dpt_tracker_ops qmp_tracker_ops;
extern const struct dpt_tracker_ops libvirt_tracker_ops;

#endif
