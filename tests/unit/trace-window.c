/* trace-window.c - trace_reader_seek() and trace_window_dirty() (lib/trace/window.c) against
 * a linear read: traces written by the writer with random sets, several sessions, non-zero
 * records and messages between intervals, region tables changing mid-trace (and one carried
 * by the first interval), counts-only and lost intervals, a synthetic all-dirty first one;
 * with a footer, without, with a torn tail, with the footer's index corrupted (bytes changed,
 * its CRC refit): seeking must land where the linear read says or fail with a reason; every
 * window's union must be the brute-force union.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/trace.h"
#include "../test.h"
#include "trace/int.h"

#define NS 240
#define MONO0 7000000000LL
#define WALL0 1795920000000000000LL

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static const struct dpt_region regions_a[3] = {
	{.start = 0x100000, .pages = 1000, .first_page = 0, .name = "ram"},
	{.start = 0x40000000, .pages = 2000, .first_page = 1000, .name = "high"},
	{.start = 0x900000, .pages = 37, .first_page = 3000, .name = "[heap]"},
};

/* What was written, per interval. */
static struct gen {
	struct dpt_sample s;
	uint64_t *bm;
	struct dpt_region regions[3];
} g[NS];

/* One linear read: per interval record, its offset, middle, table. */
struct lin {
	uint64_t off, seq, total;
	int64_t mid;
	unsigned nr_regions, flags;
	struct dpt_region regions[3];
	bool has_set;
};
static struct lin lin[NS];
static int nlin;

static struct timespec ts(int64_t ns)
{
	return (struct timespec){ns / 1000000000, ns % 1000000000};
}

static int64_t ns_of(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* variant: 0 plain, 1 a synthetic all-dirty first interval, 2 a header without a table (the
 * first interval carries it). Tables: 2 regions, 3 from 60, 2 again from 150. */
static int write_trace(const char *path, bool footer, int variant, int level)
{
	struct trace_header h = {
		.page_size = 4096, .dpt_version = "test", .tracker = "pid", .mode = "uffd",
		.interval_ns = 100000000, .wall_start_ns = WALL0, .mono_start_ns = MONO0,
		.flags = TRACE_HAS_SETS, .nr_regions = variant == 2 ? 0 : 2, .regions = regions_a};
	struct trace_writer *tw;
	int64_t t = MONO0;
	int err;

	trace_zstd_level = level;
	unlink(path);
	if ((err = trace_writer_open(&tw, path, false, &h)))
		return err;
	for (int i = 0; i < NS && !err; i++) {
		struct dpt_sample *s = &g[i].s;
		unsigned nr = i >= 60 && i < 150 ? 3 : 2;
		uint64_t total = nr == 3 ? 3037 : 3000;
		bool session = i % 80 == 0 || (variant == 1 && i == 1);
		if (session && i) { /* a stop, a gap, a start */
			struct timespec m = ts(t), w = ts(WALL0 + t - MONO0);
			err = trace_writer_session(tw, false, &m, &w);
			t += 1 + (int64_t)(rnd() % 3000000000LL);
		}
		if (session) {
			struct timespec m = ts(t), w = ts(WALL0 + t - MONO0);
			if (!err)
				err = trace_writer_session(tw, true, &m, &w);
		}
		memcpy(g[i].regions, regions_a, sizeof(regions_a));
		free(g[i].bm);
		g[i].bm = calloc(bitmap_words(total), 8);
		unsigned den = 1 + (unsigned)(rnd() % 40);
		for (uint64_t p = 0; p < total; p++)
			if (rnd() % den == 0)
				bitmap_set(g[i].bm, p);
		int64_t len = 1 + (int64_t)(rnd() % 200000000);
		if (i % 37 == 5)
			len = 0; /* a zero-length interval */
		*s = (struct dpt_sample){.seq = (uint64_t)i + (variant != 1), .mono_start = ts(t),
					 .mono_end = ts(t + len), .wall_start = ts(WALL0 + t - MONO0),
					 .wall_end = ts(WALL0 + t + len - MONO0), .total = total,
					 .page_size = 4096, .bitmap = g[i].bm, .nr_regions = nr,
					 .regions = g[i].regions};
		if (variant == 1 && i == 0) { /* Qemu-DPT's first bitmap: every page, no time */
			s->flags = DPT_SAMPLE_ALL;
			s->mono_end = s->mono_start;
			s->wall_end = s->wall_start;
			bitmap_fill(g[i].bm, total);
			len = 0;
		}
		if (i % 23 == 7) { /* lost */
			s->flags |= DPT_SAMPLE_LOST;
			s->bitmap = NULL;
			memset(g[i].bm, 0, bitmap_bytes(total));
		} else if (i % 29 == 11) { /* counts only */
			s->bitmap = NULL;
		}
		s->dirty = (s->flags & DPT_SAMPLE_LOST) ? 0 : bitmap_weight(g[i].bm, total);
		if (!err)
			err = trace_writer_sample(tw, s);
		t += len;
		if (!err && i % 17 == 3) {
			struct dpt_nonzero z = {.after_seq = s->seq, .mono_start = ts(t),
						.mono_end = ts(t), .wall_start = ts(WALL0 + t - MONO0),
						.wall_end = ts(WALL0 + t - MONO0),
						.method = DPT_NZ_CONTENT, .total = total,
						.count = bitmap_weight(g[i].bm, total), .nr_regions = nr,
						.regions = g[i].regions, .bitmap = g[i].bm};
			err = trace_writer_nonzero(tw, &z);
		}
		if (!err && i % 31 == 9) {
			struct timespec m = ts(t), w = ts(WALL0 + t - MONO0);
			err = trace_writer_message(tw, &m, &w, "something happened");
		}
	}
	if (!err) {
		struct timespec m = ts(t), w = ts(WALL0 + t - MONO0);
		err = trace_writer_session(tw, false, &m, &w);
	}
	int e2 = trace_writer_close(tw, footer, false);
	trace_zstd_level = 1;
	return err ? err : e2;
}

/* The linear read: 0 or -errno. */
static int linear(const void *buf, size_t len)
{
	struct trace_reader *r;
	struct trace_record rec;
	int got, err = trace_reader_open_mem(&r, buf, len);

	nlin = 0;
	if (err)
		return err;
	while ((got = trace_reader_next(r, &rec)) > 0) {
		if (rec.type != TRACE_REC_INTERVAL || nlin == NS)
			continue;
		struct lin *l = &lin[nlin++];
		const struct dpt_sample *s = &rec.s;
		*l = (struct lin){.off = rec.offset, .seq = s->seq, .total = s->total,
				  .mid = (int64_t)(((__int128)ns_of(&s->mono_start) +
						    ns_of(&s->mono_end)) / 2 - MONO0),
				  .nr_regions = s->nr_regions, .flags = s->flags,
				  .has_set = rec.has_set};
		if (s->nr_regions <= 3)
			memcpy(l->regions, s->regions, s->nr_regions * sizeof(*s->regions));
	}
	trace_reader_close(r);
	return got;
}

/* Where seeking to from must land: the index in lin, nlin for the end. */
static int expected(int64_t from)
{
	for (int i = 0; i < nlin; i++)
		if (lin[i].mid >= from)
			return i;
	return nlin;
}

static int64_t pick_from(void)
{
	int64_t last = nlin ? lin[nlin - 1].mid : 0;
	switch (rnd() % 4) {
	case 0:
		return -1000000000 + (int64_t)(rnd() % (uint64_t)(last + 2000000001));
	default: {
		int64_t m = nlin ? lin[rnd() % (uint64_t)nlin].mid : 0;
		return m + (int64_t)(rnd() % 3) - 1;
	}
	}
}

/* Seek r to from and check where it landed. 1 right, 0 wrong (why set), -1 failed cleanly. */
static int check_seek(struct trace_reader *r, int64_t from, char *why, size_t wl)
{
	struct trace_record rec;
	int want = expected(from), got;
	int err = trace_reader_seek(r, from);

	if (err) {
		if (!*dpt_last_error())
			snprintf(why, wl, "seek %" PRId64 ": %d without a reason", from, err);
		return *dpt_last_error() ? -1 : 0;
	}
	do
		got = trace_reader_next(r, &rec);
	while (got > 0 && rec.type != TRACE_REC_INTERVAL);
	if (want == nlin) {
		if (got != 0)
			snprintf(why, wl, "seek %" PRId64 ": expected the end, got %d", from, got);
		return got == 0;
	}
	const struct lin *l = &lin[want];
	if (got != 1 || rec.offset != l->off || rec.s.seq != l->seq ||
	    rec.s.nr_regions != l->nr_regions ||
	    (l->nr_regions && memcmp(rec.s.regions, l->regions, l->nr_regions * sizeof(*l->regions)))) {
		snprintf(why, wl, "seek %" PRId64 ": expected seq %" PRIu64 " at %" PRIu64
			 ", got %d seq %" PRIu64 " at %" PRIu64 " (%u regions, want %u)",
			 from, l->seq, l->off, got, rec.s.seq, rec.offset, rec.s.nr_regions,
			 l->nr_regions);
		return 0;
	}
	/* and the rest reads on as linearly */
	for (int i = want + 1; i < nlin; i++) {
		do
			got = trace_reader_next(r, &rec);
		while (got > 0 && rec.type != TRACE_REC_INTERVAL);
		if (got != 1 || rec.offset != lin[i].off || rec.s.nr_regions != lin[i].nr_regions) {
			snprintf(why, wl, "seek %" PRId64 ": record %d after it differs", from, i);
			return 0;
		}
	}
	return 1;
}

/* Seeks to many random times, in memory and from the file. */
static void test_seeks(const char *name, const void *buf, size_t len, const char *path)
{
	struct trace_reader *r;
	char why[300] = "", n[100];
	int wrong = 0, tries = 0;

	for (int file = 0; file < 2; file++) {
		int err = file ? trace_reader_open(&r, path) : trace_reader_open_mem(&r, buf, len);
		snprintf(n, sizeof(n), "%s-open-%s", name, file ? "file" : "mem");
		if (!TEST_CHECK(!err, n, "%s", dpt_last_error()))
			return;
		for (int i = 0; i < 400; i++, tries++)
			wrong += check_seek(r, pick_from(), why, sizeof(why)) != 1;
		/* the edges */
		wrong += check_seek(r, INT64_MIN, why, sizeof(why)) != 1;
		wrong += check_seek(r, INT64_MAX, why, sizeof(why)) != 1;
		wrong += check_seek(r, lin[0].mid, why, sizeof(why)) != 1;
		wrong += check_seek(r, lin[nlin - 1].mid, why, sizeof(why)) != 1;
		wrong += check_seek(r, lin[nlin - 1].mid + 1, why, sizeof(why)) != 1;
		trace_reader_close(r);
	}
	snprintf(n, sizeof(n), "%s-seek-lands-as-a-linear-read", name);
	TEST_CHECK(!wrong, n, "%d of %d wrong: %s", wrong, tries, why);
}

/* Windows against the brute-force union of what was written. */
static void test_windows(const char *name, const void *buf, size_t len)
{
	struct trace_reader *r;
	char why[300] = "", n[100];
	int wrong = 0, windows = 0, empty = 0;
	size_t words = bitmap_words(3037);
	uint64_t *want = malloc(words * 8);

	if (trace_reader_open_mem(&r, buf, len))
		return (void)TEST_CHECK(0, name, "%s", dpt_last_error());
	for (int k = 0; k < 600; k++, windows++) {
		int64_t from = pick_from(), to = rnd() % 4 ? pick_from() : from + 1;
		if (to <= from) {
			int64_t x = from;
			from = to;
			to = x + 1;
		}
		struct trace_window w, ww = {0};
		uint64_t *bm, nbits, maxtotal = 0;
		bool first = true;
		memset(want, 0, words * 8);
		for (int i = 0; i < nlin; i++) {
			if (lin[i].mid < from || lin[i].mid >= to)
				continue;
			if (lin[i].flags & DPT_SAMPLE_ALL) {
				ww.synthetic++;
				continue;
			}
			if (first)
				ww.first_seq = lin[i].seq;
			else if (lin[i].nr_regions != lin[i - 1].nr_regions)
				ww.regions_changed = true;
			first = false;
			ww.intervals++;
			ww.last_seq = lin[i].seq;
			maxtotal = lin[i].total > maxtotal ? lin[i].total : maxtotal;
			if (!lin[i].has_set) {
				ww.no_set++;
				continue;
			}
			for (size_t j = 0; j < bitmap_words(lin[i].total); j++)
				want[j] |= g[i].bm[j];
		}
		int err = trace_window_dirty(r, from, to, &bm, &nbits, &w);
		if (!ww.intervals) {
			empty++;
			if (err != -ENOENT || bm) {
				wrong++;
				snprintf(why, sizeof(why), "[%" PRId64 ", %" PRId64 "): %d, not -ENOENT",
					 from, to, err);
			}
			continue;
		}
		if (err || nbits != maxtotal || w.intervals != ww.intervals ||
		    w.first_seq != ww.first_seq || w.last_seq != ww.last_seq ||
		    w.no_set != ww.no_set || w.incomplete != (ww.no_set > 0) ||
		    w.synthetic != ww.synthetic || w.regions_changed != ww.regions_changed ||
		    memcmp(bm, want, bitmap_bytes(nbits))) {
			wrong++;
			snprintf(why, sizeof(why),
				 "[%" PRId64 ", %" PRId64 "): err %d (%s), %" PRIu64 " intervals of %"
				 PRIu64 ", nbits %" PRIu64 " of %" PRIu64 ", no set %" PRIu64
				 " of %" PRIu64 ", changed %d of %d",
				 from, to, err, err ? dpt_last_error() : "", w.intervals,
				 ww.intervals, nbits, maxtotal, w.no_set, ww.no_set,
				 w.regions_changed, ww.regions_changed);
		}
		free(bm);
	}
	trace_reader_close(r);
	free(want);
	snprintf(n, sizeof(n), "%s-window-is-the-union", name);
	TEST_CHECK(!wrong && empty < windows / 2, n, "%d of %d wrong (%d empty): %s", wrong,
		   windows, empty, why);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The footer's index field in buf (written uncompressed): its value's offset and length. */
static bool find_index(const uint8_t *buf, size_t len, size_t *at, size_t *n, size_t *rec)
{
	uint64_t foot = 0;
	for (int i = 0; i < 8; i++)
		foot |= (uint64_t)buf[len - 16 + i] << (8 * i);
	if (memcmp(buf + len - 8, "DPTINDEX", 8) || buf[foot + 5])
		return false;
	struct tcur c = {buf + foot + 16, buf + foot + 16 + get32(buf + foot + 8)};
	uint64_t tag, l;
	while (c.p < c.end && !get_varint(&c, &tag) && !get_varint(&c, &l)) {
		if (tag == FF_INDEX) {
			*at = (size_t)(c.p - buf);
			*n = (size_t)l;
			*rec = (size_t)foot;
			return true;
		}
		c.p += l;
	}
	return false;
}

/* The trace buf with its footer's index replaced by these n entries (offset, seq, start),
 * footer and trailer rebuilt (uncompressed); *outlen its size. */
static uint8_t *rebuild_index(const uint8_t *buf, size_t len, const uint64_t (*e)[3], size_t n,
			      size_t *outlen)
{
	uint64_t foot = 0;
	for (int i = 0; i < 8; i++)
		foot |= (uint64_t)buf[len - 16 + i] << (8 * i);
	struct tbuf idx = {0}, pl = {0};
	tbuf_reserve(&idx, 10 + n * 30);
	put_varint(&idx, n);
	uint64_t po = 0, ps = 0, pm = 0;
	for (size_t i = 0; i < n; i++) {
		put_varint(&idx, e[i][0] - po);
		put_varint(&idx, zigzag((int64_t)(e[i][1] - ps)));
		put_varint(&idx, zigzag((int64_t)(e[i][2] - pm)));
		po = e[i][0], ps = e[i][1], pm = e[i][2];
	}
	tbuf_reserve(&pl, idx.len + 40);
	put_varint(&pl, FF_INTERVALS);
	put_varint(&pl, varint_size(n));
	put_varint(&pl, n);
	put_varint(&pl, FF_INDEX);
	put_varint(&pl, idx.len);
	memcpy(pl.p + pl.len, idx.p, idx.len);
	pl.len += idx.len;
	size_t at = (size_t)foot, size = at + 16 + pl.len + 4 + 16;
	uint8_t *out = malloc(size);
	memcpy(out, buf, at);
	memcpy(out + at, "DPTR\x07\0\0\0", 8);
	put32(out + at + 8, (uint32_t)pl.len);
	put32(out + at + 12, (uint32_t)pl.len);
	memcpy(out + at + 16, pl.p, pl.len);
	put32(out + at + 16 + pl.len, trace_crc32c(0, out + at, 16 + pl.len));
	for (int i = 0; i < 8; i++)
		out[at + 20 + pl.len + i] = (uint8_t)(foot >> (8 * i));
	memcpy(out + at + 28 + pl.len, "DPTINDEX", 8);
	tbuf_free(&idx);
	tbuf_free(&pl);
	*outlen = size;
	return out;
}

/* Indexes that parse and pass every check of their own but lie about the file: a start
 * moved earlier from some entry on (a seek jumps too far unless it checks the records it
 * lands on), an entry dropped (a record carrying a table skipped), an offset inside a
 * record, a seq changed. Seeking must notice and read forward: it lands right. */
static void test_lying_index(const uint8_t *buf, size_t len)
{
	static uint64_t e[NS][3];
	char why[300] = "";
	int wrong = 0, right = 0, failed = 0;

	for (int k = 0; k < 200; k++) {
		size_t n = (size_t)nlin, m = 1 + (size_t)(rnd() % (uint64_t)(nlin - 1));
		for (int i = 0; i < nlin; i++) {
			e[i][0] = lin[i].off;
			e[i][1] = lin[i].seq;
			e[i][2] = (uint64_t)g[i].s.mono_start.tv_sec * 1000000000 +
				  (uint64_t)g[i].s.mono_start.tv_nsec - MONO0;
		}
		switch (k % 4) {
		case 0: { /* starts from m on moved earlier, still in order */
			uint64_t d = 1 + rnd() % (e[m][2] - e[m - 1][2] + 1);
			d = d > e[m][2] - e[m - 1][2] ? e[m][2] - e[m - 1][2] : d;
			for (size_t i = m; i < n; i++)
				e[i][2] -= d;
			break;
		}
		case 1: /* entry m dropped, often one carrying a table */
			m = rnd() % 2 ? m : rnd() % 2 ? 60 : 150;
			memmove(e[m], e[m + 1], (n - m - 1) * sizeof(e[0]));
			n--;
			break;
		case 2: /* an offset inside its record */
			e[m][0] += 1 + rnd() % 10;
			break;
		case 3:
			e[m][1] += 1 + rnd() % 2;
			for (size_t i = m + 1; i < n; i++)
				e[i][1] = e[i][1] > e[m][1] ? e[i][1] : e[m][1];
			break;
		}
		size_t clen;
		uint8_t *c = rebuild_index(buf, len, (const uint64_t(*)[3])e, n, &clen);
		struct trace_reader *r;
		if (trace_reader_open_mem(&r, c, clen) || !trace_reader_info(r)->has_footer) {
			failed++;
			if (r)
				trace_reader_close(r);
			free(c);
			continue;
		}
		for (int i = 0; i < 20; i++) {
			size_t at = m + (size_t)(i % 3) + (k % 4 == 1 ? 20 : 0);
			at = at < (size_t)nlin ? at : (size_t)nlin - 1;
			int64_t from = i < 10 ? pick_from() : lin[at].mid - (i & 1);
			int v = check_seek(r, from, why, sizeof(why));
			right += v == 1;
			failed += v < 0;
			wrong += v == 0;
		}
		trace_reader_close(r);
		free(c);
	}
	TEST_CHECK(!wrong && !failed && right > 0, "lying-index-falls-back-to-reading",
		   "%d wrong, %d right, %d failed: %s", wrong, right, failed, why);
}

/* Bytes of the index changed, its CRC refit: seeking lands right or fails with a reason. */
static void test_corrupt_index(const char *dir, const uint8_t *buf, size_t len)
{
	size_t at = 0, n = 1, rec = 0;
	int wrong = 0, failed = 0, right = 0;
	char why[300] = "";

	if (!TEST_CHECK(find_index(buf, len, &at, &n, &rec), "corrupt-index-found", "no index"))
		return;
	uint8_t *c = malloc(len);
	for (int k = 0; k < 300; k++) {
		memcpy(c, buf, len);
		int flips = 1 + (int)(rnd() % 3);
		for (int f = 0; f < flips; f++) {
			size_t p = at + (size_t)(rnd() % n);
			c[p] = rnd() % 2 ? c[p] ^ (uint8_t)(1u << (rnd() % 8)) : (uint8_t)rnd();
		}
		put32(c + rec + 16 + get32(c + rec + 8),
		      trace_crc32c(0, c + rec, 16 + get32(c + rec + 8)));
		struct trace_reader *r;
		if (trace_reader_open_mem(&r, c, len)) {
			failed++;
			continue;
		}
		for (int i = 0; i < 20; i++) {
			int v = check_seek(r, pick_from(), why, sizeof(why));
			right += v == 1;
			failed += v < 0;
			wrong += v == 0;
		}
		trace_reader_close(r);
	}
	free(c);
	(void)dir;
	TEST_CHECK(!wrong && right > 0, "corrupt-index-seek-right-or-fails", "%d wrong, %d right, "
		   "%d failed: %s", wrong, right, failed, why);
}

/* With the footer, a seek after the last table change reads no record before it: a record
 * spoiled early on (its CRC wrong) is not met, while a linear read stops there. */
static void test_index_jumps(const uint8_t *buf, size_t len)
{
	uint8_t *c = malloc(len);
	struct trace_reader *r;
	char why[300] = "";

	memcpy(c, buf, len);
	c[lin[10].off + 20] ^= 0x55; /* interval 10's payload */
	int err = trace_reader_open_mem(&r, c, len);
	if (!TEST_CHECK(!err, "index-jumps-open", "%s", dpt_last_error()))
		return free(c);
	int v = check_seek(r, lin[200].mid, why, sizeof(why));
	TEST_CHECK(v == 1, "index-jumps-over-what-it-skips", "%d: %s %s", v, why,
		   dpt_last_error());
	err = trace_reader_seek(r, lin[20].mid);
	TEST_CHECK(err == -EBADMSG && strstr(dpt_last_error(), "checksum"),
		   "index-jump-reads-back-to-the-table", "%d %s", err, dpt_last_error());
	trace_reader_close(r);
	free(c);
}

static void test_args(const uint8_t *buf, size_t len)
{
	struct trace_reader *r;
	struct trace_window w;
	uint64_t *bm = (uint64_t *)1, nbits = 7;

	if (trace_reader_open_mem(&r, buf, len))
		return (void)TEST_CHECK(0, "args-open", "%s", dpt_last_error());
	int err = trace_window_dirty(r, 5, 5, &bm, &nbits, &w);
	TEST_CHECK(err == -EINVAL && !bm && !nbits && *dpt_last_error(), "args-empty-window",
		   "%d", err);
	err = trace_window_dirty(r, 6, 5, &bm, &nbits, &w);
	TEST_CHECK(err == -EINVAL, "args-backwards-window", "%d", err);
	err = trace_window_dirty(r, 0, 5, NULL, &nbits, &w);
	TEST_CHECK(err == -EINVAL, "args-no-bitmap", "%d", err);
	err = trace_window_dirty(r, INT64_MAX - 1, INT64_MAX, &bm, &nbits, &w);
	TEST_CHECK(err == -ENOENT && !bm && strstr(dpt_last_error(), "no interval"),
		   "args-window-after-the-end", "%d %s", err, dpt_last_error());
	err = trace_window_dirty(r, INT64_MIN, INT64_MAX, &bm, &nbits, &w);
	TEST_CHECK(!err && w.intervals == (uint64_t)nlin - (lin[0].flags & DPT_SAMPLE_ALL ? 1 : 0) &&
		   w.regions_changed && w.incomplete && nbits == 3037, "args-whole-trace",
		   "%d %" PRIu64, err, w.intervals);
	free(err ? NULL : bm);
	/* a seek ends the current record: its set is no longer asked for */
	struct trace_record rec;
	const uint64_t *set;
	trace_reader_rewind(r);
	do
		err = trace_reader_next(r, &rec);
	while (err > 0 && !rec.has_set);
	int e1 = trace_reader_bitmap(r, 0, &set), e2 = trace_reader_seek(r, lin[100].mid);
	int e3 = trace_reader_bitmap(r, 0, &set);
	TEST_CHECK(err == 1 && !e1 && !e2 && e3 == -ENOENT, "args-seek-ends-the-record",
		   "%d %d %d %d", err, e1, e2, e3);
	trace_reader_close(r);
}

int main(void)
{
	char dir[] = "/tmp/dpt-trace-window.XXXXXX", path[4096], name[64];

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	/* variant, footer, zstd level, torn */
	static const int cases[][4] = {{0, 1, 1, 0}, {0, 0, 1, 0}, {1, 1, 0, 0}, {2, 1, 3, 0},
				       {2, 0, 0, 0}, {0, 0, 1, 1}, {0, 1, 0, 0}};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const int *cs = cases[k];
		size_t len;
		snprintf(name, sizeof(name), "v%d-%s-zstd%d%s", cs[0], cs[1] ? "footer" : "nofooter",
			 cs[2], cs[3] ? "-torn" : "");
		snprintf(path, sizeof(path), "%s/%s.dpt", dir, name);
		int err = write_trace(path, cs[1], cs[0], cs[2]);
		if (!TEST_CHECK(!err, name, "write: %s", dpt_last_error()))
			continue;
		if (cs[3] && truncate(path, 0) == 0) { /* a torn tail: cut into the last interval */
			write_trace(path, false, cs[0], cs[2]);
			uint8_t *b = test_slurp(path, &len);
			linear(b, len);
			free(b);
			if (truncate(path, (off_t)lin[nlin - 1].off + 30))
				perror("truncate");
		}
		uint8_t *buf = test_slurp(path, &len);
		err = linear(buf, len);
		char lname[80];
		snprintf(lname, sizeof(lname), "%s-linear", name);
		TEST_CHECK(!err && nlin == NS - cs[3], lname, "linear read: %d %s, %d intervals", err,
			   dpt_last_error(), nlin);
		test_seeks(name, buf, len, path);
		test_windows(name, buf, len);
		if (k == 0)
			test_args(buf, len);
		if (k == 0)
			test_index_jumps(buf, len);
		if (cs[1] && cs[2] == 0) {
			test_corrupt_index(dir, buf, len);
			test_lying_index(buf, len);
		}
		free(buf);
		unlink(path);
	}
	for (int i = 0; i < NS; i++)
		free(g[i].bm);
	rmdir(dir);
	return test_done();
}
