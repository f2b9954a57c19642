/* wss-int.h - inside the working-set pass: shared by wss.c (the API, the curve) and
 * wss-pass.c (applying batches of intervals, on worker threads). */
#ifndef DPT_ANALYSIS_WSS_INT_H
#define DPT_ANALYSIS_WSS_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "analysis/wss.h"

#define WSS_OFF	       64	  /* a page's last = interval + WSS_OFF; 0 = never dirty */
#define WSS_NEAR       64	  /* distances below this are tallied per interval, then folded */
#define WSS_INF	       32	  /* the bucket of infinite gaps; finite ones are 0 .. 31 */
#define WSS_NB	       (WSS_INF + 1)
#define WSS_BLOCK      4096	  /* pages per block: 32 KiB of state, kept in cache (measured
				     against 2 K, 8 K and 16 K pages: docs/report.md) */
#define WSS_STRETCH    64	  /* blocks taken at a time by a worker (2 MiB of state): a list's
				     first page in it sought once, then followed */
#define WSS_MAX_BATCH  64	  /* intervals per batch */
#define WSS_BATCH_MEM  (128 << 20) /* bytes per batch at most (but one interval): 38 lists of
				       5 % of 16 M pages (64 MiB: 19, 1.3x the CPU) */
#define WSS_MAX_WORKERS 2	  /* threads; the caller helps as one more (wk[WSS_CALLER]) */
#define WSS_CALLER     WSS_MAX_WORKERS

/* An interval of a batch: a bitmap of w->stride words, or a list of its pages in increasing
 * order; at mem + off (words, a multiple of 8: each slot starts a cache line). */
struct wss_slot {
	uint64_t off;
	uint32_t n;	/* a list's pages */
	bool list;
};

struct wss_batch {
	uint64_t *mem;	/* the slots, one after another */
	uint64_t cap, used; /* words of mem, and in use */
	struct wss_slot s[WSS_MAX_BATCH];
	unsigned n;	/* intervals in it */
	uint64_t base;	/* index of its first interval */
};

/* What one worker counts: its own, added up at the end. */
struct wss_counts {
	uint32_t *col[2][WSS_NB]; /* [0] entering, [1] leaving, per interval and gap bucket;
				     NULL: all 0 */
	uint64_t cap;		  /* intervals the columns and gaps hold */
	uint64_t *gaps;		  /* G[g], g <= cap */
};

struct wss_worker {
	struct wss *w;
	pthread_t thread;
	bool started;
	uint64_t seen;			/* the last batch generation it applied */
	uint32_t (*near)[4][WSS_NEAR];	/* per interval of a batch: distances below WSS_NEAR */
	uint32_t *idx, *far;		/* a block's dirty pages, the previous intervals of its
					   long distances */
	size_t cur[WSS_MAX_BATCH];	/* per list of the batch: where its pages of the blocks
					   not yet applied by this worker start (or before) */
	struct wss_counts c;
	int err;
};

struct wss {
	uint64_t pages, cap_pages;	/* largest numbering; room in the per-page state */
	uint64_t words, stride;		/* words of a slot's bitmap; words a bitmap slot takes */
	uint64_t *state;		/* per page: its last interval + WSS_OFF (0: never dirty)
					   | the intervals it was dirty in << 32 */
	const uint32_t *count;		/* after the pass: those counts, in state's memory */
	struct wss_batch b[2];
	unsigned cur;			/* the batch being filled */
	uint64_t n;			/* intervals added */
	size_t room_n;			/* wss_list_room() made room for so many pages */
	bool room;			/* and wss_add_list() is yet to come */
	/* the workers: they apply *todo when gen moves, busy counts those still at it */
	struct wss_worker wk[WSS_MAX_WORKERS + 1];
	unsigned nr_workers;		/* threads running (0: batches applied by the caller) */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct wss_batch *todo;
	unsigned next_block;		/* of todo: the next stretch not taken (atomic) */
	uint64_t gen;
	unsigned busy;
	bool quit;
	/* results */
	bool finished;
	struct wss_counts c;		/* every worker's counts added up */
	uint64_t distinct, dirty;
	uint64_t *s0, *s1;		/* suffix sums of G[g] and g * G[g] */
	struct wss_point *points;
	struct wss_curve curve;
};

/* wss-pass.c */
/* Apply the blocks of batch b that no one took yet (w->next_block), as worker k. */
int wss_pass_batch(struct wss_worker *k, const struct wss_batch *b);
/* The worker thread. */
void *wss_pass_worker(void *arg);
/* A column of counts, allocated (zeroed) on first use; NULL when out of memory. */
uint32_t *wss_column(struct wss_counts *c, int side, unsigned bucket);
/* Room in c for intervals [0, upto). */
int wss_counts_reserve(struct wss_counts *c, uint64_t upto);
/* dst += src. */
int wss_counts_add(struct wss_counts *dst, const struct wss_counts *src);
void wss_counts_free(struct wss_counts *c);

#endif
