/* predict.h - forecast a QEMU 7.2 precopy live migration by replaying its algorithm on a
 * trace's dirty sets (rules and their QEMU source lines: docs/predict.md; mechanism at the top
 * of predict.c).
 *
 *	struct predict_opts o = predict_defaults();
 *	o.bandwidth = 64 << 20;
 *	struct predict_result res;
 *	predict_run("vm.dpt", &o, &res);    then read res; predict_result_fini(&res);
 *
 * A sweep over bandwidths x downtime limits replays them all in one pass over the trace
 * (predict_sweep), each run's state advanced in lock-step with the intervals read.
 *
 * Library code: 0 or -errno with the reason recorded (dpt_fail), never exits.
 */
#ifndef DPT_ANALYSIS_PREDICT_H
#define DPT_ANALYSIS_PREDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct predict_opts {
	double bandwidth;      /* QEMU's max-bandwidth, bytes/s; 0 = unlimited (link must be set) */
	double link;	       /* the link's speed in bytes/s: the stop-and-copy is not rate
				  limited (QEMU sets no limit then); 0 = infinite for the
				  iterations and the bandwidth for the stop-and-copy */
	double downtime_limit; /* seconds (QEMU's downtime-limit; default 0.3) */
	double start;	       /* the migration starts this long after the trace's start, s */
	double setup;	       /* QEMU's setup time, s (default 0) */
	uint64_t device_bytes; /* device state sent in the downtime (default 0) */
	double max_time;       /* give up after this much simulated migration time, s
				  (default 3600 or ten replays of the trace) */
	bool no_loop;	       /* stop at the trace's end instead of replaying it again */
	bool all_nonzero;      /* ignore the trace's non-zero records: every page holds data */
	double dest_hugepage;  /* s of the destination's time for each 2 MiB of its RAM that
				  receives its first page of data (a huge page allocated on the
				  destination host: dpt check --destination measures it), during
				  which it reads nothing; 0 = none (default) */
	uint64_t dest_buffer;  /* bytes: how far the stream can run ahead of a destination that
				  stalls (the socket buffers between them; default 4 MiB); 0 = the
				  sender waits for every stall */
};

/* One pass: from one dirty-log sync to the next (pass 0 starts at setup). */
struct predict_pass {
	double start, end;   /* s from the migration's start */
	uint64_t pending;    /* dirty pages just after the sync that opened the pass */
	uint64_t added;	     /* pages the sync added (newly dirty) */
	uint64_t sent;	     /* pages sent during the pass (normal + zero) */
	uint64_t zero;	     /* of them, zero pages */
};

enum predict_status {
	PREDICT_CONVERGED = 0,	/* QEMU stopped the VM and completed */
	PREDICT_DIVERGES = 1,	/* it would not converge: clear after res.clear_after passes */
	PREDICT_TIMEOUT = 2,	/* not decided within max_time (or the trace, with no_loop) */
};

struct predict_result {
	enum predict_status status;
	double total_time;	 /* s, migrate command to completion (QEMU's total-time) */
	double downtime;	 /* s, VM stopped to last byte sent (QEMU's downtime) */
	double setup_time;	 /* s */
	uint64_t transferred;	 /* QEMU's ram.transferred, bytes */
	uint64_t stream_bytes;	 /* every byte on the wire: pages, framing, device state */
	uint64_t normal_pages;	 /* ram.normal */
	uint64_t zero_pages;	 /* ram.duplicate */
	uint64_t normal_bytes;	 /* ram.normal-bytes */
	uint64_t downtime_bytes; /* bytes sent while the VM is stopped */
	uint64_t dirty_syncs;	 /* ram.dirty-sync-count: setup, each pending sync, completion */
	uint64_t total_pages;	 /* RAM pages migrated */
	uint64_t initial_zero;	 /* zero pages at the migration's start (from the trace) */
	unsigned clear_after;	 /* DIVERGES: passes after which it was clear */
	double threshold;	 /* bytes, QEMU's threshold at the last check */
	unsigned replays;	 /* times the trace was replayed from its start (0: it was long
				    enough) */
	bool zero_known;	 /* a non-zero record was used (else every page is non-zero) */
	double zero_record_at;	 /* its time, s from the trace's start */
	bool counts_only;	 /* the trace has counts but no sets: a constant-rate forecast */
	bool regions_changed;	 /* the trace's memory layout changed: pages past the first
				    layout's were left out */
	uint64_t dest_regions;	 /* 2 MiB regions of the destination's RAM that received their
				    first page of data during the migration */
	double dest_stall;	 /* s the destination spent on them: dest_regions x dest_hugepage */
	double dest_wait;	 /* s the sender waited for the destination (what dest_stall adds
				    beyond what the socket buffers hide) */
	unsigned nr_passes;
	struct predict_pass *passes;
};

struct predict_opts predict_defaults(void);

/* Replay one migration on the trace at path. */
int predict_run(const char *path, const struct predict_opts *o, struct predict_result *res);

/* n option sets (bandwidth, downtime limit, ...), one result each, one pass over the trace. */
int predict_sweep(const char *path, const struct predict_opts *o, size_t n,
		  struct predict_result *res);

/* The grid of nr_bws bandwidths x nr_limits downtime limits, every other option base's:
 * res[i * nr_limits + j] for bws[i] and limits[j] (nr_bws x nr_limits results, the
 * caller's), by predict_sweep(). */
int predict_grid(const char *path, const struct predict_opts *base, const double *bws,
		 unsigned nr_bws, const double *limits, unsigned nr_limits,
		 struct predict_result *res);

void predict_result_fini(struct predict_result *res);

#endif
