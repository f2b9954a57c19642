/* predict.c - replay QEMU 7.2's precopy live migration on a trace's dirty sets.
 *
 * Mechanism (the rules, with QEMU's source lines, are docs/predict.md):
 *
 * The trace is fed forward, interval by interval, from --start on. A shared "feed" keeps, for
 * every page, the number of the last fed interval that wrote it (lw[], 0 = not since the
 * start) and whether it holds zeros now (from the non-zero record nearest the start; a write
 * makes a page non-zero). An interval's writes become visible when it ends.
 *
 * A simulated migration ("sim") holds QEMU's dirty bitmap and QEMU's loop state: its clock,
 * the 100 ms window (bytes sent in it, the rate limit's budget max-bandwidth / 10, the
 * threshold = the last window's bytes per ms x downtime-limit), the send cursor (RAM blocks
 * biggest first, pages in offset order, circular) and the last block a page was sent from.
 * It runs QEMU's migration thread: at each turn, a pending check (dirty pages x 4096 against
 * the threshold, syncing the dirty log when under it), then completion or one iteration that
 * sends pages until the window's budget is spent, nothing is dirty or 50 ms passed, then the
 * rate limiter (a new window at 100 ms, sleeping to it when the budget is spent). A sync
 * adds every page with lw[] newer than the sim's last sync. A sim only acts at times before
 * the next unfed interval's end, so what it sees of the trace is exactly what had happened.
 *
 * Several sims (a sweep) run in lock-step on one feed: each runs until it needs the next
 * interval, then the interval is fed once for all. A read-ahead thread decodes the next
 * intervals' sets (a ring of 4) while the sims run. The trace is read once, whatever the
 * number of bandwidths and limits. Up to 32 sims keep no lw[]: an interval is ORed into one
 * pending bitmap per interval at which sims last synced (sims that synced at the same
 * interval share one: an edge search's 32 sims use 5 to 14), as a bitmap, or word by word
 * when it dirtied few pages, and a sync ORs its pending bitmap into its dirty one. More sims
 * (a sweep) use lw[]: a sync costs one pass over it (skipped when nothing was fed since the
 * last one).
 *
 * Iterations send in bursts: with no link speed given, a window's pages go out at its start
 * (a rate-limited migration over a faster network); with one, each byte takes 1/link s. The
 * stop-and-copy is not rate limited (QEMU lifts the limit): it runs at the link's speed, or at
 * the bandwidth when no link speed is given.
 *
 * The destination's huge pages (docs/predict.md, R11): a sim keeps which 2 MiB regions of the
 * destination's RAM have received a page of data; the first one into a region costs the
 * destination o.dest_hugepage (its own clock, dest_t), and the sender, before writing past
 * o.dest_buffer bytes (the socket buffers) beyond such a page, waits until the destination is
 * through with it. A window's sleep hides the waits; beyond it they stretch the window.
 *
 * A trace with counts but no sets (the qmp tracker) gives a constant-rate forecast: a sync adds
 * the pages the trace counted since the last one, taken as distinct pages already sent (an
 * upper bound), and every page holds data.
 *
 * Divergence: QEMU never gives up, so the replay decides. After each pass it compares the
 * pages left after the sync with the fewest seen after an earlier sync: two passes in a row
 * that bring no new minimum, over 10 s at least (everything sent was dirtied again), make it
 * clear that the migration does not converge. So do two passes in a row whose pace (the
 * pages they left over the pages they started with, q) could not bring it to an end by
 * max_time even if every later pass shrank by q. A migration still undecided after max_time
 * is TIMEOUT.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "analysis/predict.h"
#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/trace.h"

#define PAGE		 4096u
#define PAGE_COST	 (PAGE + 8u) /* be64 header + the page (ram.c save_normal_page) */
#define ZERO_COST	 9u	     /* be64 header + one byte (save_zero_page_to_file) */
#define WINDOW		 0.100	     /* BUFFER_DELAY: rate-limit and bandwidth window */
#define MAX_WAIT	 0.050	     /* an iteration step ends after 50 ms (checked / 64 pages) */
#define ITER_TRANSFERRED 8u	     /* per iteration: its EOS (of 18 framing bytes) counts in
					ram.transferred */
#define NO_IMPROVE	 2	     /* passes without a new minimum ... */
#define NO_IMPROVE_S	 10.0	     /* ... over this long: does not converge */
#define BITMAP_SIMS	 32	     /* up to this many sims: pending bitmaps, not lw[] */
#define DEST_BUFFER	 (4u << 20)  /* how far the stream runs ahead of a destination that
					stalls: 4.0-5.4 MiB measured on 127.0.0.1 (docs/predict.md,
					R11) */
#define HUGE_PAGES	 512u	     /* pages in 2 MiB: a huge page of the destination's RAM
					(QEMU_VMALLOC_ALIGN aligns each block to it) */

struct block {
	uint64_t first, pages; /* in the trace's numbering */
	unsigned name_cost;    /* 1 + strlen(idstr): the header of a page from a new block */
	uint64_t region0;      /* its first 2 MiB region in the destination's RAM (regions of
				  all blocks numbered in send order) */
};

/* One interval read ahead (or the trace's end, or an error). */
struct ahead {
	int what;	/* AHEAD_INTERVAL, AHEAD_END, AHEAD_ERROR */
	double end;	/* its end, s from the trace's start */
	uint64_t count, total;
	bool has_set;
	bool as_list;	/* the set is in list (lw mode; bitmap mode: a sparse set), else bm */
	uint64_t *bm;	/* bitmap mode: its set, bitmap_words(pages) words */
	uint32_t *list; /* its set as page indices */
	size_t n, room;
	int err;
	char msg[256];
};

enum { AHEAD_INTERVAL, AHEAD_END, AHEAD_ERROR };
enum { AHEAD_NONE, AHEAD_REWIND, AHEAD_STOP };
#define AHEAD 4

/* The trace as the migration sees it, shared by every sim. */
struct feed {
	struct trace_reader *r;
	int64_t mono0;	   /* the trace's monotonic start, ns */
	uint64_t pages;	   /* N: pages migrated */
	uint32_t *lw;	   /* per page: last fed interval (1-based) that wrote it, 0 none */
	uint64_t *zero;	   /* pages holding zeros now */
	uint32_t fed;	   /* intervals fed */
	uint64_t cum;	   /* counts-only: pages counted over the fed intervals */
	double start;	   /* trace time of the migration's start, s */
	double shift;	   /* added to trace times: the replays' offset */
	double first_start, last_end; /* trace times of the trace's intervals */
	unsigned replays;
	bool no_loop, counts_only, exhausted, regions_changed;
	/* the peeked next interval (a read-ahead slot): its end (migration time) and its set */
	double next_end;
	uint64_t next_count;
	uint32_t *list; /* feed_open's: an interval's pages before the start */
	size_t list_n, list_room;
	/* bitmap mode (up to BITMAP_SIMS sims): the peeked interval's set as a bitmap of pages
	 * bits, ORed when fed into each pending bitmap in use (one per interval at which sims
	 * last synced: far fewer than the sims, usually); else lw[] (one store a page, whatever
	 * the sims, and a pass over lw[] a sync) */
	bool bitmaps;
	const uint64_t *next_bm;
	struct pend *pends; /* bitmap mode: nr_sims of them */
	uint32_t *wi;	    /* bitmap mode, a sparse set: the words it falls in, their bits */
	uint64_t *wb;
	size_t words_room;
	size_t nr_sims;
	struct block *blocks;
	unsigned nr_blocks;
	uint64_t nr_dest_regions; /* 2 MiB regions of all blocks */
	const uint32_t *next_list; /* lw mode: the peeked interval's pages (list_n of them) */
	/* read-ahead: a thread owns the reader once the migration's start is found, and decodes
	 * the next intervals' sets into a ring of slots while the sims run */
	bool threaded;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t filled, freed;
	struct ahead slot[AHEAD];
	unsigned head, tail, count;
	int cmd; /* for the thread at the trace's end: AHEAD_REWIND or AHEAD_STOP */
	bool stop;
	struct ahead *taken; /* the consumer's current slot, released by feed_next */
};

/* Bitmap mode: the pages written since the sims that use it last synced. */
struct pend {
	uint64_t *bm;
	uint32_t synced; /* feed->fed at their sync */
	unsigned users;	 /* active sims that last synced then; 0: free */
	bool empty;	 /* nothing fed since (bm not cleared yet) */
};

struct sim {
	struct predict_opts o;
	struct predict_result *res;
	bool active;
	uint64_t *dirty, nd;
	struct pend *pend; /* bitmap mode: pages written since the last sync */
	uint64_t *dest_written; /* 2 MiB regions of the destination's RAM holding data */
	double dest_t;		/* the destination's clock: when it has read all it was sent */
	struct dest_wait {	/* a first write the destination stalls on: the stream's bytes */
		uint64_t pos;	/* up to the end of its page, and when it is through with it */
		double done;
	} *waits;		/* those still within the socket buffers' reach, oldest first (one
				   a region at most: room for every region) */
	size_t waits_head, waits_n;
	uint32_t synced;   /* feed->fed at the last sync */
	uint64_t cum_sync; /* counts-only: feed->cum at the last sync */
	unsigned blk;	   /* cursor: block (in send order) and page offset in it */
	uint64_t off;
	int last_blk;	   /* block of the last page sent, -1 none */
	double t, ws, wbytes, used, limit, thr;
	double link_iter, link_final; /* bytes/s; 0 = infinite */
	struct predict_pass cur;
	uint64_t min_after; /* fewest pages left after a pending sync, and when */
	double min_t;
	unsigned no_improve;
	unsigned slow; /* passes in a row too slow to finish by max_time at their pace */
	size_t passes_room;
};

struct predict_opts predict_defaults(void)
{
	return (struct predict_opts){.bandwidth = 128.0 * 1024 * 1024, .downtime_limit = 0.3,
				     .dest_buffer = DEST_BUFFER};
}

void predict_result_fini(struct predict_result *res)
{
	if (!res)
		return;
	free(res->passes);
	res->passes = NULL;
	res->nr_passes = 0;
}

/* A monotonic time in s from the trace's start. */
static double rel_s(const struct feed *f, const struct timespec *t)
{
	return (double)((int64_t)t->tv_sec * 1000000000 + t->tv_nsec - f->mono0) / 1e9;
}

/* The current record's dirty set as page indices into *list (grown to *room as needed). */
static int read_indices(struct trace_reader *r, uint32_t **list, size_t *room, size_t *n)
{
	int err = trace_reader_indices(r, 0, *list, *room, n);

	if (err == -ENOSPC) {
		uint32_t *l = realloc(*list, *n * sizeof(*l));
		if (!l)
			return dpt_fail(-ENOMEM, "out of memory for an interval of %zu pages", *n);
		*list = l;
		*room = *n;
		err = trace_reader_indices(r, 0, *list, *room, n);
	}
	return err;
}

/* ---- read-ahead ----------------------------------------------------------------------- */

/* Fill one slot: the next interval record (its set decoded), or the end, or an error. */
static void ahead_fill(struct feed *f, struct ahead *a)
{
	struct trace_record rec;
	int err;

	a->n = 0;
	a->has_set = false;
	for (;;) {
		err = trace_reader_next(f->r, &rec);
		if (err <= 0)
			break;
		if (rec.type != TRACE_REC_INTERVAL || (rec.s.flags & DPT_SAMPLE_ALL))
			continue;
		a->what = AHEAD_INTERVAL;
		a->end = rel_s(f, &rec.s.mono_end);
		a->count = rec.s.dirty;
		a->total = rec.s.total;
		if (f->counts_only || !rec.has_set)
			return;
		/* bitmap mode: a set of fewer pages than a quarter of the bitmap's words goes as a
		 * list (ORing a whole bitmap into each pending one would cost more) */
		a->as_list = !f->bitmaps || rec.s.dirty < bitmap_words(f->pages) / 4;
		if (!a->as_list) {
			const uint64_t *bm;
			if ((err = trace_reader_bitmap(f->r, 0, &bm)))
				break;
			uint64_t bits = rec.s.total < f->pages ? rec.s.total : f->pages;
			memcpy(a->bm, bm, bitmap_bytes(bits));
			memset((char *)a->bm + bitmap_bytes(bits), 0,
			       bitmap_bytes(f->pages) - bitmap_bytes(bits));
			if (bits % 64)
				a->bm[bits / 64] &= (1ULL << (bits % 64)) - 1;
		} else if ((err = read_indices(f->r, &a->list, &a->room, &a->n))) {
			break;
		}
		a->has_set = true;
		return;
	}
	a->what = err < 0 ? AHEAD_ERROR : AHEAD_END;
	a->err = err;
	snprintf(a->msg, sizeof(a->msg), "%s", err < 0 && dpt_last_error() ? dpt_last_error() : "");
}

static void *ahead_thread(void *arg)
{
	struct feed *f = arg;

	for (;;) {
		pthread_mutex_lock(&f->mu);
		while (f->count == AHEAD && !f->stop)
			pthread_cond_wait(&f->freed, &f->mu);
		if (f->stop) {
			pthread_mutex_unlock(&f->mu);
			return NULL;
		}
		struct ahead *a = &f->slot[f->head];
		pthread_mutex_unlock(&f->mu);
		ahead_fill(f, a);
		pthread_mutex_lock(&f->mu);
		f->head = (f->head + 1) % AHEAD;
		f->count++;
		pthread_cond_signal(&f->filled);
		if (a->what != AHEAD_INTERVAL) { /* wait to be told: read again, or stop */
			while (f->cmd == AHEAD_NONE && !f->stop)
				pthread_cond_wait(&f->freed, &f->mu);
			if (f->stop || f->cmd == AHEAD_STOP) {
				pthread_mutex_unlock(&f->mu);
				return NULL;
			}
			f->cmd = AHEAD_NONE;
			pthread_mutex_unlock(&f->mu);
			if (trace_reader_rewind(f->r)) { /* the consumer waits for no more */
				pthread_mutex_lock(&f->mu);
				f->stop = true;
				pthread_mutex_unlock(&f->mu);
				return NULL;
			}
			continue;
		}
		pthread_mutex_unlock(&f->mu);
	}
}

static int ahead_start(struct feed *f)
{
	for (unsigned i = 0; i < AHEAD; i++)
		if (f->bitmaps && !f->counts_only &&
		    !(f->slot[i].bm = malloc(bitmap_bytes(f->pages) + 8)))
			return dpt_fail(-ENOMEM, "out of memory for the read-ahead");
	if (pthread_mutex_init(&f->mu, NULL) || pthread_cond_init(&f->filled, NULL) ||
	    pthread_cond_init(&f->freed, NULL))
		return dpt_fail(-ENOMEM, "cannot make the read-ahead's lock");
	if (pthread_create(&f->thread, NULL, ahead_thread, f))
		return dpt_fail(-EAGAIN, "cannot start the read-ahead thread");
	f->threaded = true;
	return 0;
}

static void ahead_stop(struct feed *f)
{
	if (f->threaded) {
		pthread_mutex_lock(&f->mu);
		f->stop = true;
		pthread_cond_broadcast(&f->freed);
		pthread_mutex_unlock(&f->mu);
		pthread_join(f->thread, NULL);
		pthread_mutex_destroy(&f->mu);
		pthread_cond_destroy(&f->filled);
		pthread_cond_destroy(&f->freed);
		f->threaded = false;
	}
	for (unsigned i = 0; i < AHEAD; i++) {
		free(f->slot[i].bm);
		free(f->slot[i].list);
		f->slot[i].bm = NULL;
		f->slot[i].list = NULL;
	}
}

/* The next interval that counts, from the read-ahead's slots: next_end and its set. At the
 * trace's end, replay it from its start (unless no_loop: then the feed is exhausted). */
static int peek(struct feed *f)
{
	for (bool rewound = false;;) {
		pthread_mutex_lock(&f->mu);
		while (f->count == 0 && !f->stop)
			pthread_cond_wait(&f->filled, &f->mu);
		if (f->count == 0) { /* the thread stopped: its rewind failed */
			pthread_mutex_unlock(&f->mu);
			return dpt_fail(-EIO, "cannot read the trace again from its start");
		}
		struct ahead *a = &f->slot[f->tail];
		pthread_mutex_unlock(&f->mu);
		if (a->what == AHEAD_INTERVAL) {
			if (!f->replays && a->end > f->last_end)
				f->last_end = a->end;
			double end = a->end + f->shift;
			if (end > f->start) {
				if (a->total != f->pages)
					f->regions_changed = true;
				f->next_end = end - f->start;
				f->next_count = a->count;
				f->next_bm = a->has_set && !a->as_list ? a->bm : NULL;
				f->next_list = a->list;
				f->list_n = a->has_set && a->as_list ? a->n : 0;
				f->taken = a; /* released by feed_next */
				return 0;
			}
		}
		/* a slot not kept: free it; at the end, tell the thread what next. Its kind is
		 * read before: once told to read again, the thread may fill it before we look */
		pthread_mutex_lock(&f->mu);
		int what = a->what;
		f->tail = (f->tail + 1) % AHEAD;
		f->count--;
		bool again = what == AHEAD_END && !f->no_loop && !rewound &&
			     f->last_end > f->first_start;
		if (what != AHEAD_INTERVAL)
			f->cmd = again ? AHEAD_REWIND : AHEAD_STOP;
		pthread_cond_broadcast(&f->freed);
		pthread_mutex_unlock(&f->mu);
		if (what == AHEAD_ERROR) /* the thread stopped: the slot stays as it was */
			return dpt_fail(a->err, "%s", a->msg);
		if (what == AHEAD_END) {
			if (!again) {
				f->exhausted = true;
				f->next_end = f->last_end + f->shift - f->start;
				f->next_bm = NULL;
				f->list_n = 0;
				return 0;
			}
			f->shift += f->last_end - f->first_start;
			f->replays++;
			rewound = true;
		}
	}
}

/* Bitmap mode, a sparse set: its pages into the zero bitmap and each pending bitmap in use,
 * gathered first into the words they fall in (the list is in page order). */
static int feed_pends_list(struct feed *f)
{
	size_t nw = 0;

	if (f->words_room < f->list_n) {
		uint32_t *wi = realloc(f->wi, f->list_n * sizeof(*wi));
		uint64_t *wb = wi ? realloc(f->wb, f->list_n * sizeof(*wb)) : NULL;
		if (wi)
			f->wi = wi;
		if (!wb)
			return dpt_fail(-ENOMEM, "out of memory for an interval of %zu pages",
					f->list_n);
		f->wb = wb;
		f->words_room = f->list_n;
	}
	for (size_t i = 0; i < f->list_n && f->next_list[i] < f->pages; i++) {
		uint32_t p = f->next_list[i];
		if (!nw || f->wi[nw - 1] != p / 64) {
			f->wi[nw] = p / 64;
			f->wb[nw++] = 0;
		}
		f->wb[nw - 1] |= 1ULL << (p % 64);
	}
	for (size_t j = 0; j < nw; j++)
		f->zero[f->wi[j]] &= ~f->wb[j];
	for (size_t i = 0; i < f->nr_sims; i++) {
		struct pend *g = &f->pends[i];
		if (!g->users)
			continue;
		if (g->empty)
			memset(g->bm, 0, bitmap_bytes(f->pages));
		for (size_t j = 0; j < nw; j++)
			g->bm[f->wi[j]] |= f->wb[j];
		g->empty = false;
	}
	return 0;
}

/* Make the peeked interval's writes visible. */
static int feed_next(struct feed *f)
{
	uint32_t k = ++f->fed;

	f->cum += f->next_count;
	if (f->next_bm) { /* pages bits, past them zero (ahead_fill) */
		size_t words = bitmap_words(f->pages);
		for (size_t w = 0; w < words; w++)
			f->zero[w] &= ~f->next_bm[w];
		for (size_t i = 0; i < f->nr_sims; i++) {
			struct pend *g = &f->pends[i];
			if (!g->users)
				continue;
			if (g->empty)
				memcpy(g->bm, f->next_bm, words * 8);
			else
				for (size_t w = 0; w < words; w++)
					g->bm[w] |= f->next_bm[w];
			g->empty = false;
		}
	}
	for (size_t i = 0; f->lw && i < f->list_n; i++) {
		uint32_t p = f->next_list[i];
		if (p < f->pages) {
			f->lw[p] = k;
			bitmap_clear_bit(f->zero, p);
		}
	}
	int err = f->bitmaps && f->list_n ? feed_pends_list(f) : 0;
	if (f->taken) { /* the slot is free for the next read-ahead */
		pthread_mutex_lock(&f->mu);
		f->tail = (f->tail + 1) % AHEAD;
		f->count--;
		f->taken = NULL;
		pthread_cond_signal(&f->freed);
		pthread_mutex_unlock(&f->mu);
	}
	return err ? err : peek(f);
}

/* Set bits of x: inline, as the x86-64 baseline has no popcnt instruction and the compiler's
 * __builtin_popcountll then calls a table-driven libgcc routine (9 % of a sweep's time). */
static inline unsigned pc64(uint64_t x)
{
	x -= (x >> 1) & 0x5555555555555555ULL;
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
	return (unsigned)((x * 0x0101010101010101ULL) >> 56);
}

/* ---- one simulated migration ---------------------------------------------------------- */

static int sim_pass_close(struct sim *m, double t)
{
	struct predict_result *res = m->res;

	m->cur.end = t;
	if (res->nr_passes == m->passes_room) {
		size_t room = m->passes_room ? 2 * m->passes_room : 16;
		struct predict_pass *p = realloc(res->passes, room * sizeof(*p));
		if (!p)
			return dpt_fail(-ENOMEM, "out of memory for the passes");
		res->passes = p;
		m->passes_room = room;
	}
	res->passes[res->nr_passes++] = m->cur;
	memset(&m->cur, 0, sizeof(m->cur));
	m->cur.start = t;
	return 0;
}

/* Bit i set when lw[i] > s, for 64 entries (lw values stay below 2^31: interval numbers). */
static inline uint64_t newer64(const uint32_t *lw, uint32_t s)
{
	uint64_t mask = 0;
#ifdef __SSE2__
	__m128i v = _mm_set1_epi32((int)s);
	for (unsigned i = 0; i < 64; i += 4) {
		__m128i x = _mm_loadu_si128((const __m128i *)(lw + i));
		int m4 = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(x, v)));
		mask |= (uint64_t)m4 << i;
	}
#else
	for (unsigned i = 0; i < 64; i++)
		mask |= (uint64_t)(lw[i] > s) << i;
#endif
	return mask;
}

/* Bitmap mode: m, which synced last at this interval, leaves its pending bitmap (NULL: none)
 * for the one of the sims that synced then too, or a free one. */
static void pend_join(const struct feed *f, struct sim *m)
{
	struct pend *g = NULL;

	if (m->pend)
		m->pend->users--;
	for (size_t i = 0; i < f->nr_sims; i++) {
		struct pend *p = &f->pends[i];
		if (p->users && p->synced == m->synced) {
			g = p;
			break;
		}
		if (!p->users && !g)
			g = p;
	}
	if (!g->users) { /* a free one: there are as many as sims */
		g->synced = m->synced;
		g->empty = true;
	}
	g->users++;
	m->pend = g;
}

/* migration_bitmap_sync: OR in what the feed saw since the last sync. */
static uint64_t sim_sync(struct sim *m, const struct feed *f)
{
	uint64_t added = 0;

	m->res->dirty_syncs++;
	if (f->counts_only) {
		uint64_t n = f->cum - m->cum_sync;
		m->cum_sync = f->cum;
		added = n < f->pages - m->nd ? n : f->pages - m->nd;
		m->nd += added;
		return added;
	}
	if (f->fed == m->synced)
		return 0;
	if (f->bitmaps) {
		const uint64_t *pend = m->pend->bm;
		for (size_t w = 0; !m->pend->empty && w < bitmap_words(f->pages); w++) {
			uint64_t fresh = pend[w] & ~m->dirty[w];
			m->dirty[w] |= pend[w];
			if (fresh)
				added += (uint64_t)pc64(fresh);
		}
		m->synced = f->fed;
		pend_join(f, m);
		m->nd += added;
		return added;
	}
	uint32_t s = m->synced;
	const uint32_t *lw = f->lw;
	for (uint64_t w = 0; w * 64 < f->pages; w++) {
		uint64_t base = w * 64, n = f->pages - base < 64 ? f->pages - base : 64;
		uint64_t mask = n == 64 ? newer64(lw + base, s) : 0;
		for (uint64_t i = 0; n < 64 && i < n; i++)
			mask |= (uint64_t)(lw[base + i] > s) << i;
		mask &= ~m->dirty[w];
		if (mask) {
			m->dirty[w] |= mask;
			added += (uint64_t)pc64(mask);
		}
	}
	m->synced = f->fed;
	m->nd += added;
	return added;
}

/* The next dirty page from the cursor, circular over the blocks in send order; clears it.
 * Returns the page's block in *blk. Only called with nd > 0. */
static uint64_t sim_take(struct sim *m, const struct feed *f, unsigned *blk)
{
	if (f->counts_only) {
		m->nd--;
		*blk = 0;
		return UINT64_MAX;
	}
	for (unsigned k = 0; k <= f->nr_blocks; k++) {
		const struct block *b = &f->blocks[m->blk];
		uint64_t end = b->first + b->pages;
		uint64_t p = m->off < b->pages ? bitmap_next_set(m->dirty, end, b->first + m->off)
					       : end;
		if (p < end) {
			bitmap_clear_bit(m->dirty, p);
			m->nd--;
			m->off = p - b->first + 1;
			*blk = m->blk;
			return p;
		}
		m->blk = (m->blk + 1) % f->nr_blocks;
		m->off = 0;
	}
	/* nd said a page was dirty but none was found: cannot happen */
	m->nd = 0;
	*blk = 0;
	return UINT64_MAX;
}

/* The sender cannot write past o.dest_buffer bytes beyond what the destination has read:
 * before bytes more, wait for the stalls that lie further back. */
static void sim_dest_wait(struct sim *m, double bytes)
{
	uint64_t end = m->res->stream_bytes + (uint64_t)bytes;

	while (m->waits_n && m->waits[m->waits_head].pos + m->o.dest_buffer <= end) {
		double done = m->waits[m->waits_head].done;
		if (done > m->t) {
			m->res->dest_wait += done - m->t;
			m->t = done;
		}
		m->waits_head++;
		m->waits_n--;
	}
}

static inline void sim_send(struct sim *m, double bytes, double link)
{
	if (m->waits_n)
		sim_dest_wait(m, bytes);
	m->used += bytes;
	m->wbytes += bytes;
	m->res->stream_bytes += (uint64_t)bytes;
	if (link > 0)
		m->t += bytes / link;
}

/* Page p of block blk (the trace's numbering), just sent, its last byte at pos in the stream,
 * lands in the destination's RAM as data: the first page of data in its 2 MiB region costs the
 * destination a huge page, during which it reads nothing more (docs/predict.md, R11). A zero
 * page costs nothing (ram_handle_compressed only reads it). */
static inline uint64_t dest_region(const struct block *b, uint64_t p)
{
	return b->region0 + (p - b->first) / HUGE_PAGES;
}

static void sim_dest_data(struct sim *m, uint64_t r, uint64_t pos)
{
	if (bitmap_test(m->dest_written, r))
		return;
	bitmap_set(m->dest_written, r);
	m->res->dest_regions++;
	if (m->o.dest_hugepage == 0)
		return;
	m->res->dest_stall += m->o.dest_hugepage;
	m->dest_t = (m->dest_t > m->t ? m->dest_t : m->t) + m->o.dest_hugepage;
	m->waits[m->waits_head + m->waits_n++] = (struct dest_wait){pos, m->dest_t};
}

/* Send one dirty page: its cost, its counters. */
static void sim_send_page(struct sim *m, const struct feed *f, double link, bool stopped)
{
	struct predict_result *res = m->res;
	unsigned blk;
	uint64_t p = sim_take(m, f, &blk);
	bool zero = p != UINT64_MAX && bitmap_test(f->zero, p);
	unsigned cost = zero ? ZERO_COST : PAGE_COST;
	/* counts only: pass 0 sends every page once, in order; later ones were sent before */
	uint64_t sent = res->normal_pages + res->zero_pages;

	if ((int)blk != m->last_blk) {
		cost += f->counts_only ? 7 : f->blocks[blk].name_cost;
		m->last_blk = (int)blk;
	}
	sim_send(m, cost, link);
	if (!zero && (p != UINT64_MAX || sent < f->pages))
		sim_dest_data(m, dest_region(&f->blocks[blk], p != UINT64_MAX ? p : sent),
			      res->stream_bytes);
	res->transferred += cost;
	if (stopped)
		res->downtime_bytes += cost;
	if (zero) {
		res->zero_pages++;
		m->cur.zero++;
	} else {
		res->normal_pages++;
		res->normal_bytes += PAGE;
	}
	m->cur.sent++;
}

/* Send dirty pages from the cursor, as ram_save_iterate's loop does (limited: while the
 * window's budget is not spent, and, paced by a link, for at most MAX_WAIT), or all of them
 * (the stop-and-copy). A 64-page word of the bitmap whose pages all fit in the budget goes at
 * once (their order inside the word changes nothing: they leave together); the word that
 * crosses the budget goes page by page. */
static void sim_send_pages(struct sim *m, const struct feed *f, double link, bool limited,
			   bool stopped)
{
	struct predict_result *res = m->res;
	double it0 = m->t;

	if (f->counts_only) {
		while (m->nd && (!limited || m->limit == 0 || m->used <= m->limit) &&
		       !(limited && m->t - it0 > MAX_WAIT))
			sim_send_page(m, f, link, stopped);
		return;
	}
	while (m->nd > 0) {
		if (limited && ((m->limit > 0 && m->used > m->limit) || m->t - it0 > MAX_WAIT))
			return;
		const struct block *b = &f->blocks[m->blk];
		uint64_t end = b->first + b->pages;
		uint64_t p = m->off < b->pages ? bitmap_next_set(m->dirty, end, b->first + m->off)
					       : end;
		if (p >= end) {
			m->blk = (m->blk + 1) % f->nr_blocks;
			m->off = 0;
			continue;
		}
		uint64_t w = p / 64, last = (w + 1) * 64 < end ? (w + 1) * 64 : end;
		uint64_t mask = ~0ULL << (p % 64);
		if (last % 64)
			mask &= (1ULL << (last % 64)) - 1;
		uint64_t bits = m->dirty[w] & mask, zb = bits & f->zero[w], nz = bits & ~zb;
		unsigned nzero = (unsigned)pc64(zb);
		unsigned nnorm = (unsigned)pc64(nz);
		double cost = (double)nnorm * PAGE_COST + (double)nzero * ZERO_COST;
		if ((int)m->blk != m->last_blk)
			cost += b->name_cost;
		if (limited && m->limit > 0 && m->used + cost > m->limit) {
			sim_send_page(m, f, link, stopped); /* the word that crosses the budget */
			continue;
		}
		m->last_blk = (int)m->blk;
		m->dirty[w] &= ~bits;
		m->nd -= nnorm + nzero;
		m->off = last - b->first;
		sim_send(m, cost, link);
		/* a word spans at most two regions: its first and last page of data, each where
		 * it ends in the stream (zero pages before / after it); most words fall where
		 * data was written before, which the two bit tests skip at once */
		unsigned lo = nz ? (unsigned)__builtin_ctzll(nz) : 0;
		unsigned hi = nz ? 63 - (unsigned)__builtin_clzll(nz) : 0;
		uint64_t rlo = dest_region(b, w * 64 + lo), rhi = dest_region(b, w * 64 + hi);
		if (nz && !(bitmap_test(m->dest_written, rlo) && bitmap_test(m->dest_written, rhi))) {
			uint64_t end = res->stream_bytes, begin = end - (uint64_t)cost;
			sim_dest_data(m, rlo,
				      begin + (uint64_t)(cost - (double)nnorm * PAGE_COST -
							 (double)nzero * ZERO_COST) +
					      ZERO_COST * pc64(zb & ((1ULL << lo) - 1)) + PAGE_COST);
			sim_dest_data(m, rhi, end - ZERO_COST * (hi == 63 ? 0 : pc64(zb >> (hi + 1))));
		}
		res->transferred += (uint64_t)cost;
		if (stopped)
			res->downtime_bytes += (uint64_t)cost;
		res->zero_pages += nzero;
		res->normal_pages += nnorm;
		res->normal_bytes += (uint64_t)nnorm * PAGE;
		m->cur.zero += nzero;
		m->cur.sent += nnorm + nzero;
	}
}

/* migration_update_counters: a window closes, the threshold follows its bandwidth. */
static void sim_window(struct sim *m)
{
	double spent = m->t - m->ws;

	if (spent > 0) {
		double bw = m->wbytes / spent; /* bytes/s, every stream byte of the window */
		m->thr = bw * m->o.downtime_limit;
	}
	m->used = 0;
	m->wbytes = 0;
	m->ws = m->t;
}

static void sim_finish(struct sim *m, const struct feed *f, enum predict_status st)
{
	m->res->status = st;
	m->res->replays = f->replays;
	if (m->res->total_time == 0)
		m->res->total_time = m->t;
	m->res->threshold = m->thr;
	m->active = false;
	if (m->pend) { /* feeds go on without it */
		m->pend->users--;
		m->pend = NULL;
	}
}

/* migration_completion: stop the VM, sync, send the rest and the device state unlimited. */
static int sim_complete(struct sim *m, const struct feed *f)
{
	struct predict_result *res = m->res;
	double down = m->t, link = m->link_final;

	sim_sync(m, f); /* ram_save_complete's sync */
	int err = sim_pass_close(m, m->t);
	if (err)
		return err;
	m->cur.pending = m->nd;
	sim_send(m, 5, link);
	sim_send_pages(m, f, link, false, true);
	sim_send(m, 8 + 5, link);
	res->transferred += 8;
	res->downtime_bytes += 8;
	sim_send(m, (double)m->o.device_bytes, link);
	res->downtime = m->t - down;
	res->total_time = m->t;
	sim_finish(m, f, PREDICT_CONVERGED);
	return 0;
}

/* A pending sync closed a pass: record it, judge progress. */
static int sim_pass(struct sim *m, const struct feed *f, uint64_t added)
{
	int err = sim_pass_close(m, m->t);

	if (err)
		return err;
	m->cur.pending = m->nd;
	m->cur.added = added;
	/* the pace of the pass just closed: what it left over what it started with, q; passes
	 * shrinking by q each would need about its length x q / (1 - q) more */
	const struct predict_pass *p = &m->res->passes[m->res->nr_passes - 1];
	if (m->res->nr_passes >= 2 && p->pending > 0 && m->nd * (double)PAGE >= m->thr) {
		double q = (double)m->nd / (double)p->pending, len = p->end - p->start;
		if (q < 1) /* q >= 1 is the other rule's: no new minimum */
			m->slow = m->t + len * q / (1 - q) > m->o.max_time ? m->slow + 1 : 0;
	}
	if (m->res->nr_passes == 1 || m->nd < m->min_after) {
		m->min_after = m->nd;
		m->min_t = m->t;
		m->no_improve = 0;
	} else {
		m->no_improve++;
	}
	if (m->nd * (double)PAGE >= m->thr &&
	    ((m->no_improve >= NO_IMPROVE && m->t - m->min_t >= NO_IMPROVE_S) ||
	     m->slow >= NO_IMPROVE)) {
		m->res->clear_after = m->res->nr_passes;
		sim_finish(m, f, PREDICT_DIVERGES);
	}
	return 0;
}

/* Run the migration thread until it needs an interval not fed yet, completes or gives up. */
static int sim_run(struct sim *m, const struct feed *f)
{
	struct predict_result *res = m->res;
	int err;

	while (m->active) {
		if (m->t >= f->next_end) {
			if (f->exhausted)
				sim_finish(m, f, PREDICT_TIMEOUT);
			return 0;
		}
		if (m->t > m->o.max_time) {
			sim_finish(m, f, PREDICT_TIMEOUT);
			return 0;
		}
		/* migration_iteration_run, unless the window's budget is spent */
		if (m->limit == 0 || m->used <= m->limit) {
			if ((double)m->nd * PAGE < m->thr) {
				uint64_t added = sim_sync(m, f);
				if ((err = sim_pass(m, f, added)))
					return err;
				if (!m->active)
					return 0;
			}
			double pending = (double)m->nd * PAGE;
			if (!(pending > 0 && pending >= m->thr))
				return sim_complete(m, f);
			/* ram_save_iterate */
			sim_send(m, 5, m->link_iter);
			sim_send_pages(m, f, m->link_iter, true, false);
			sim_send(m, 8 + 5, m->link_iter);
			res->transferred += ITER_TRANSFERRED;
		}
		/* migration_rate_limit */
		if (m->t >= m->ws + WINDOW) {
			sim_window(m);
		} else if (m->limit > 0 && m->used > m->limit) {
			m->t = m->ws + WINDOW; /* sleep to the window's end */
			sim_window(m);
		}
	}
	return 0;
}

static int sim_init(struct sim *m, const struct feed *f, const struct predict_opts *o,
		    struct predict_result *res)
{
	memset(m, 0, sizeof(*m));
	memset(res, 0, sizeof(*res));
	m->o = *o;
	m->res = res;
	if (!(o->bandwidth >= 0) || !(o->link >= 0) || !(o->downtime_limit >= 0) ||
	    !isfinite(o->bandwidth) || !isfinite(o->link) || !isfinite(o->downtime_limit))
		return dpt_fail(-EINVAL, "bandwidth, link and downtime limit must be finite, >= 0");
	if (o->bandwidth == 0 && o->link == 0)
		return dpt_fail(-EINVAL, "an unlimited bandwidth needs the link's speed");
	if (!(o->dest_hugepage >= 0) || o->dest_hugepage > 1)
		return dpt_fail(-EINVAL, "the destination's cost per 2 MiB first written must be "
					 "0 to 1 s");
	/* counts only: pass 0's pages are numbered in send order, past the blocks' regions */
	uint64_t regions = (f->pages + HUGE_PAGES - 1) / HUGE_PAGES;
	if (regions < f->nr_dest_regions)
		regions = f->nr_dest_regions;
	if (!(m->dest_written = calloc(bitmap_words(regions), 8)) ||
	    !(m->waits = calloc(regions, sizeof(*m->waits))))
		return dpt_fail(-ENOMEM, "out of memory");
	if (!f->counts_only) {
		m->dirty = malloc(bitmap_bytes(f->pages));
		if (!m->dirty)
			return dpt_fail(-ENOMEM, "out of memory for a dirty bitmap of %llu pages",
					(unsigned long long)f->pages);
		bitmap_fill(m->dirty, f->pages); /* ram_list_init_bitmaps: all dirty */
	}
	m->nd = f->pages;
	m->limit = o->bandwidth > 0 ? floor(o->bandwidth / 10) : 0;
	m->link_iter = o->link;
	m->link_final = o->link > 0 ? o->link : o->bandwidth;
	if (m->o.max_time <= 0)
		m->o.max_time = 3600;
	m->last_blk = -1;
	m->active = true;
	res->total_pages = f->pages;
	res->setup_time = o->setup;
	res->counts_only = f->counts_only;
	/* window 0 opens before setup; setup's stream is a few hundred bytes */
	m->t = o->setup;
	sim_send(m, 64, 0);
	res->dirty_syncs = 1; /* the setup sync adds nothing: every page is dirty already */
	m->synced = f->fed;
	if (f->bitmaps && !f->counts_only)
		pend_join(f, m);
	m->cum_sync = f->cum;
	m->cur.start = 0;
	m->cur.pending = f->pages;
	return 0;
}

/* ---- the feed ------------------------------------------------------------------------ */

static int cmp_block(const void *a, const void *b)
{
	const struct block *x = a, *y = b;

	if (x->pages != y->pages)
		return x->pages > y->pages ? -1 : 1; /* biggest first (qemu_ram_alloc_internal) */
	return x->first < y->first ? -1 : x->first > y->first;
}

static int feed_blocks(struct feed *f, const struct dpt_sample *s)
{
	unsigned n = s->nr_regions ? s->nr_regions : 1;

	f->blocks = calloc(n, sizeof(*f->blocks));
	if (!f->blocks)
		return dpt_fail(-ENOMEM, "out of memory");
	if (!s->nr_regions) {
		f->blocks[0] = (struct block){0, f->pages, 1 + 6, 0}; /* "pc.ram" */
		f->nr_blocks = 1;
		f->nr_dest_regions = (f->pages + HUGE_PAGES - 1) / HUGE_PAGES;
		return 0;
	}
	unsigned k = 0;
	for (unsigned i = 0; i < s->nr_regions; i++) {
		const struct dpt_region *g = &s->regions[i];
		if (!g->pages || g->first_page >= f->pages)
			continue;
		uint64_t pages = g->pages;
		if (g->first_page + pages > f->pages)
			pages = f->pages - g->first_page;
		size_t len = strnlen(g->name, sizeof(g->name));
		f->blocks[k++] =
			(struct block){g->first_page, pages, 1 + (unsigned)(len ? len : 6), 0};
	}
	if (!k) {
		f->blocks[0] = (struct block){0, f->pages, 1 + 6, 0};
		k = 1;
	}
	qsort(f->blocks, k, sizeof(*f->blocks), cmp_block);
	f->nr_blocks = k;
	for (unsigned i = 0; i < k; i++) {
		f->blocks[i].region0 = f->nr_dest_regions;
		f->nr_dest_regions += (f->blocks[i].pages + HUGE_PAGES - 1) / HUGE_PAGES;
	}
	return 0;
}

/* Take a non-zero record: zero = its complement. */
static int take_nonzero(struct feed *f, const struct trace_record *rec)
{
	const uint64_t *bm;
	int err = trace_reader_bitmap(f->r, 0, &bm);

	if (err)
		return err;
	bitmap_fill(f->zero, f->pages);
	uint64_t n = rec->nz.total < f->pages ? rec->nz.total : f->pages;
	for (uint64_t w = 0; w < bitmap_words(n); w++) {
		uint64_t keep = w == bitmap_words(n) - 1 && n % 64 ? (1ULL << (n % 64)) - 1 : ~0ULL;
		f->zero[w] &= ~(bm[w] & keep);
	}
	return 0;
}

static void feed_free(struct feed *f)
{
	ahead_stop(f);
	if (f->r)
		trace_reader_close(f->r);
	free(f->lw);
	free(f->zero);
	free(f->list);
	free(f->blocks);
	free(f->wi);
	free(f->wb);
	memset(f, 0, sizeof(*f));
}

static int feed_alloc(struct feed *f, uint64_t pages, const char *path)
{
	if (f->pages)
		return 0;
	if (!pages)
		return dpt_fail(-EINVAL, "%s: the trace tracks no pages", path);
	if (pages > UINT32_MAX)
		return dpt_fail(-EFBIG, "%s: more than 2^32 pages", path);
	f->pages = pages;
	if (f->counts_only)
		return 0;
	f->lw = f->bitmaps ? NULL : calloc(f->pages, sizeof(*f->lw));
	f->zero = calloc(bitmap_words(f->pages), sizeof(uint64_t));
	if ((!f->bitmaps && !f->lw) || !f->zero)
		return dpt_fail(-ENOMEM, "out of memory for %llu pages",
				(unsigned long long)f->pages);
	return 0;
}

/* Open the trace, find its size and layout, the zero pages at the start, and peek at the
 * first interval that ends after it. Reads the records up to the start (and on to the first
 * non-zero record when there is none before it); sets are decoded only between the non-zero
 * record taken and the start. */
static int feed_open(struct feed *f, const char *path, const struct predict_opts *o,
		     bool bitmaps, struct predict_result *proto)
{
	struct trace_record rec;
	const struct trace_info *ti;
	bool have_zero = false, first = true, past_start = false;
	double zero_at = 0;
	int err;

	memset(f, 0, sizeof(*f));
	f->bitmaps = bitmaps;
	if (!(o->start >= 0) || !isfinite(o->start) || o->start > 1e9)
		return dpt_fail(-EINVAL, "the migration's start must be a time >= 0");
	err = trace_reader_open(&f->r, path);
	if (err)
		return err;
	ti = trace_reader_info(f->r);
	f->mono0 = ti->h.mono_start_ns;
	f->counts_only = !(ti->h.flags & TRACE_HAS_SETS);
	f->start = o->start;
	f->no_loop = o->no_loop;
	f->first_start = INFINITY;
	f->last_end = -INFINITY;
	bool want_zero = !f->counts_only && !o->all_nonzero;
	while ((err = trace_reader_next(f->r, &rec)) > 0) {
		if (rec.type == TRACE_REC_INTERVAL && !(rec.s.flags & DPT_SAMPLE_ALL)) {
			double s = rel_s(f, &rec.s.mono_start), e = rel_s(f, &rec.s.mono_end);
			if (first) {
				if (f->pages && rec.s.total != f->pages)
					return dpt_fail(-EINVAL, "%s: the first non-zero record and "
							"interval disagree on the pages", path);
				if ((err = feed_alloc(f, rec.s.total, path)))
					return err;
				if ((err = feed_blocks(f, &rec.s)))
					return err;
				first = false;
			}
			if (s < f->first_start)
				f->first_start = s;
			if (e > f->last_end)
				f->last_end = e;
			if (e > o->start) {
				past_start = true;
			} else if (have_zero && rec.has_set) {
				/* a write between the non-zero record and the start */
				if ((err = read_indices(f->r, &f->list, &f->list_room, &f->list_n)))
					return err;
				for (size_t i = 0; i < f->list_n; i++)
					if (f->list[i] < f->pages)
						bitmap_clear_bit(f->zero, f->list[i]);
			}
		} else if (rec.type == TRACE_REC_NONZERO && want_zero) {
			if (!f->pages && (err = feed_alloc(f, rec.nz.total, path)))
				return err;
			if (!past_start || !have_zero) {
				if ((err = take_nonzero(f, &rec)))
					return err;
				zero_at = rel_s(f, &rec.nz.mono_start);
				have_zero = true;
			}
		}
		if (past_start && (have_zero || !want_zero))
			break;
		/* no non-zero record by the start: the first after it, if one comes soon (a
		 * scan every zero_scan_ns, else at the end: not worth reading the whole trace) */
		if (past_start && rec.type == TRACE_REC_INTERVAL &&
		    rel_s(f, &rec.s.mono_start) > o->start + fmax(60, 3e-9 * (double)ti->h.zero_scan_ns))
			break;
	}
	if (err < 0)
		return err;
	if (first)
		return dpt_fail(-ENOENT, "%s: the trace has no intervals", path);
	if (!past_start)
		return dpt_fail(-ERANGE, "%s: the migration's start (%.3f s) is past the trace's "
				"end (%.3f s)", path, o->start, f->last_end);
	proto->zero_known = have_zero;
	proto->zero_record_at = zero_at;
	if (f->zero) {
		if (!have_zero)
			memset(f->zero, 0, bitmap_bytes(f->pages)); /* every page holds data */
		proto->initial_zero = bitmap_weight(f->zero, f->pages);
	}
	/* back to the first interval that ends after the start */
	int64_t back = (int64_t)(o->start * 1e9) - 10000000000LL - 2 * (int64_t)ti->h.interval_ns;
	err = back > 0 ? trace_reader_seek(f->r, back) : trace_reader_rewind(f->r);
	if (err)
		return err;
	if ((err = ahead_start(f))) /* from here the reader is the read-ahead thread's */
		return err;
	return peek(f);
}

/* ---- runs ----------------------------------------------------------------------------- */

int predict_sweep(const char *path, const struct predict_opts *o, size_t n,
		  struct predict_result *res)
{
	struct feed f;
	struct predict_result proto = {0};
	struct sim *sims = NULL;
	int err;

	if (!n)
		return 0;
	memset(res, 0, n * sizeof(*res));
	err = feed_open(&f, path, &o[0], n <= BITMAP_SIMS, &proto);
	if (err)
		goto out;
	sims = calloc(n, sizeof(*sims));
	if (!sims) {
		err = dpt_fail(-ENOMEM, "out of memory");
		goto out;
	}
	f.nr_sims = n;
	if (f.bitmaps && !f.counts_only) {
		f.pends = calloc(n, sizeof(*f.pends));
		for (size_t i = 0; f.pends && i < n; i++)
			if (!(f.pends[i].bm = malloc(bitmap_bytes(f.pages))))
				break;
		if (!f.pends || !f.pends[n - 1].bm) {
			err = dpt_fail(-ENOMEM, "out of memory for %zu dirty bitmaps", n);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (o[i].start != o[0].start || o[i].all_nonzero != o[0].all_nonzero ||
		    o[i].no_loop != o[0].no_loop) {
			err = dpt_fail(-EINVAL, "a sweep shares its start and trace options");
			goto out;
		}
		if ((err = sim_init(&sims[i], &f, &o[i], &res[i])))
			goto out;
		res[i].zero_known = proto.zero_known;
		res[i].zero_record_at = proto.zero_record_at;
		res[i].initial_zero = proto.initial_zero;
	}
	for (;;) {
		bool any = false;
		for (size_t i = 0; i < n; i++) {
			if (!sims[i].active)
				continue;
			if ((err = sim_run(&sims[i], &f)))
				goto out;
			any |= sims[i].active;
		}
		if (!any)
			break;
		if ((err = feed_next(&f)))
			goto out;
	}
	for (size_t i = 0; i < n; i++)
		res[i].regions_changed = f.regions_changed;
out:
	for (size_t i = 0; sims && i < n; i++) {
		free(sims[i].dirty);
		free(sims[i].dest_written);
		free(sims[i].waits);
	}
	for (size_t i = 0; f.pends && i < n; i++)
		free(f.pends[i].bm);
	free(f.pends);
	free(sims);
	feed_free(&f);
	if (err)
		for (size_t i = 0; i < n; i++)
			predict_result_fini(&res[i]);
	return err;
}

int predict_grid(const char *path, const struct predict_opts *base, const double *bws,
		 unsigned nr_bws, const double *limits, unsigned nr_limits,
		 struct predict_result *res)
{
	size_t n = (size_t)nr_bws * nr_limits;
	struct predict_opts *o = calloc(n ? n : 1, sizeof(*o));

	if (!o)
		return dpt_fail(-ENOMEM, "out of memory");
	for (size_t k = 0; k < n; k++) {
		o[k] = *base;
		o[k].bandwidth = bws[k / nr_limits];
		o[k].downtime_limit = limits[k % nr_limits];
	}
	int err = predict_sweep(path, o, n, res);
	free(o);
	return err;
}

int predict_run(const char *path, const struct predict_opts *o, struct predict_result *res)
{
	return predict_sweep(path, o, 1, res);
}
