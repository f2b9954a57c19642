/* window.c - seeking in a trace by time, and the dirty set of a time window.
 *
 * Times are those of dpt report --from/--to: nanoseconds from the header's mono_start, and an
 * interval is at a time t when its middle, (monotonic start + end) / 2 computed as report does,
 * is t. Intervals are in time order and do not overlap (docs/trace-format.md: contiguous
 * within a session, sessions one after another); both functions rely on it.
 *
 * trace_reader_seek(r, from): the next trace_reader_next() returns the first interval record
 * whose middle is at or after from (0 at the end of the trace if there is none).
 *  - Without a footer, or with an index that fails any check below: rewind and read forward
 *    (trace_reader_next(): frames checked, no set decoded) to that record, then step back.
 *  - With a footer, its index (per interval record: offset, seq, monotonic start) is parsed
 *    and checked: N bounded by its bytes and by the records the file can hold (nothing is
 *    allocated from N alone), offsets increasing inside [first record, footer), seq and
 *    starts non-decreasing. Entry k is the first starting at or after from; the target is k or
 *    k - 1 (a middle lies between its start and end, and an interval ends before the next
 *    starts), so reading starts at j = k - 1.
 *  - The region table in force at j: records carry a table only when it changed, so it is the
 *    table of the last interval record before j that carries one, else the header's. The
 *    index cannot say which record that is, so it is found by reading interval records
 *    backwards from j - 1 (each frame's CRC-32C checked and payload decompressed, its fields
 *    walked for the table; no set decoded), stopping at the first carrying a table. Each
 *    record read must be an interval with the index's seq and start. Before that, the frame
 *    headers (16 bytes each, no payload read) from the first record to j are walked: every
 *    interval frame there must be the next index entry, so an index that omits a record (one
 *    that may carry a table) or points inside one is refused. Cost: the header walk, plus
 *    the interval records back to the last table change, all of them when the table never
 *    changed after the header (then the jump saves only the parsing of each record's fields;
 *    a footer listing the records that carry a table would make it one read: a format change
 *    not made here). Any doubt (a check failing, a record there malformed) falls back to
 *    reading forward, which then reports the malformed record as a linear read would.
 *    Records between the first and j that are never read are not checked: seeking does not
 *    validate what it skips.
 *
 * trace_window_dirty(): seek to from, then read intervals until one's middle is at or after
 * to, ORing each set (trace_reader_bitmap()) into a bitmap grown to the largest total seen.
 * The synthetic all-dirty interval of --compat is not counted (as in report); an interval
 * without a set (counts only, lost) is counted and makes the union a lower bound.
 */
#include <stdio.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "trace/reader.h"

struct ient {
	uint64_t off, seq;
	int64_t mono;
};

/* In 128 bits: a time near the int64 limit is a second further in tv_sec, whose product by
 * 10^9 leaves the int64 range. */
static __int128 ns_of(const struct timespec *t)
{
	return (__int128)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* A time relative to the trace's start (in range: the reader made it from one). */
static int64_t rel_of(const struct trace_reader *r, const struct timespec *t)
{
	return (int64_t)(ns_of(t) - r->info.h.mono_start_ns);
}

int64_t trace_interval_middle(int64_t mono_start_ns, const struct dpt_sample *s)
{
	return (int64_t)(((__int128)ns_of(&s->mono_start) + ns_of(&s->mono_end)) / 2) -
	       mono_start_ns;
}

static __int128 middle(const struct trace_reader *r, const struct dpt_sample *s)
{
	return trace_interval_middle(r->info.h.mono_start_ns, s);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The fields of a payload: 1 and the next one's tag and value, 0 at the end, -1 malformed. */
static int walk(struct tcur *c, uint64_t *tag, struct tcur *v)
{
	uint64_t len;

	if (c->p == c->end)
		return 0;
	if (get_varint(c, tag) || get_varint(c, &len) || len > (uint64_t)(c->end - c->p))
		return -1;
	v->p = c->p;
	v->end = c->p + len;
	c->p += len;
	return 1;
}

/* The footer's index, checked: 1 with *e (malloc'd) and *n, 0 when there is none usable,
 * -ENOMEM. */
static int load_index(struct trace_reader *r, struct ient **e, size_t *n)
{
	unsigned type;
	uint64_t next, tag, cnt, prev_off = 0, seq = 0;
	int64_t mono = 0;
	struct tcur c, v, idx = {NULL, NULL};

	*e = NULL;
	*n = 0;
	if (!r->info.has_footer)
		return 0;
	int got = trace_rd_frame(r, r->end, r->size - TRACE_TRAILER_SIZE, &type, &next);
	if (got == -ENOMEM)
		return got;
	if (got != 1 || type != TRACE_REC_FOOTER)
		goto none;
	c = (struct tcur){r->pl, r->pl + r->pl_len};
	while ((got = walk(&c, &tag, &v)) > 0)
		if (tag == FF_INDEX)
			idx = v;
	if (got < 0 || !idx.p || get_varint(&idx, &cnt))
		goto none;
	/* an entry is 3 bytes at least, an interval record 20 */
	if (cnt > (uint64_t)(idx.end - idx.p) / 3 ||
	    cnt > (r->end - r->first) / (TRACE_FRAME_SIZE + TRACE_CRC_SIZE))
		goto none;
	struct ient *t = malloc((cnt ? cnt : 1) * sizeof(*t));
	if (!t)
		return dpt_fail(-ENOMEM, "trace: out of memory");
	for (uint64_t i = 0; i < cnt; i++) {
		uint64_t d_off, z_seq, z_mono;
		if (get_varint(&idx, &d_off) || get_varint(&idx, &z_seq) ||
		    get_varint(&idx, &z_mono))
			goto bad;
		int64_t d_seq = unzigzag(z_seq), d_mono = unzigzag(z_mono);
		uint64_t off;
		if ((i && !d_off) || __builtin_add_overflow(prev_off, d_off, &off) ||
		    off < r->first || off >= r->end ||
		    r->end - off < TRACE_FRAME_SIZE + TRACE_CRC_SIZE || d_seq < 0 ||
		    __builtin_add_overflow(seq, (uint64_t)d_seq, &seq) || (i && d_mono < 0) ||
		    __builtin_add_overflow(mono, d_mono, &mono))
			goto bad;
		t[i] = (struct ient){off, seq, mono};
		prev_off = off;
	}
	if (idx.p != idx.end)
		goto bad;
	*e = t;
	*n = (size_t)cnt;
	return 1;
bad:
	free(t);
none:
	dpt_clear_error();
	return 0;
}

/* Position at the first interval from pos on whose middle is at or after from: 0, -errno.
 * With e (the index, entries from j on matching the records read), 1 if a record disagrees
 * with it. */
static int forward(struct trace_reader *r, int64_t from, const struct ient *e, size_t n,
		   size_t j)
{
	struct trace_record rec;
	int got;

	while ((got = trace_reader_next(r, &rec)) > 0) {
		if (rec.type != TRACE_REC_INTERVAL)
			continue;
		if (e) {
			if (j >= n || e[j].off != rec.offset || e[j].seq != rec.s.seq ||
			    e[j].mono != rel_of(r, &rec.s.mono_start))
				return 1;
			j++;
		}
		if (middle(r, &rec.s) >= from) {
			/* read it again next: its table, if it carries one, is set again */
			r->pos = rec.offset;
			r->done = false;
			r->type = 0;
			return 0;
		}
	}
	return got;
}

/* The index path: 0 positioned, 1 to fall back, -ENOMEM. */
static int seek_index(struct trace_reader *r, int64_t from, const struct ient *e, size_t n)
{
	size_t lo = 0, hi = n, i = 0;
	uint64_t off = r->first;
	uint8_t hdr[TRACE_FRAME_SIZE];

	while (lo < hi) { /* the first entry starting at or after from */
		size_t mid = lo + (hi - lo) / 2;
		if (e[mid].mono < from)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t j = lo ? lo - 1 : 0;
	/* every interval frame before j is in the index */
	while (off < e[j].off) {
		if (r->end - off < TRACE_FRAME_SIZE + TRACE_CRC_SIZE ||
		    trace_rd_pread(r, off, hdr, sizeof(hdr)) || memcmp(hdr, TRACE_REC_MAGIC, 4))
			return 1;
		uint64_t stored = le32(hdr + 8);
		if (r->end - off - TRACE_FRAME_SIZE - TRACE_CRC_SIZE < stored ||
		    hdr[4] == TRACE_REC_HEADER || hdr[4] == TRACE_REC_FOOTER)
			return 1;
		if (hdr[4] == TRACE_REC_INTERVAL && (i >= j || e[i++].off != off))
			return 1;
		off += TRACE_FRAME_SIZE + stored + TRACE_CRC_SIZE;
	}
	if (off != e[j].off || i != j)
		return 1;
	/* the table in force at j: the last one carried before it, or the header's */
	struct dpt_region *t = NULL;
	unsigned nr = 0;
	bool found = false;
	for (i = j; i-- > 0 && !found;) {
		unsigned type;
		uint64_t next, tag, seq = 0, u;
		int64_t mono = 0;
		bool has_seq = false, has_mono = false;
		struct tcur c, v;
		int got = trace_rd_frame(r, e[i].off, r->end, &type, &next);
		if (got == -ENOMEM) {
			free(t);
			return got;
		}
		if (got != 1 || type != TRACE_REC_INTERVAL)
			goto fall_back;
		c = (struct tcur){r->pl, r->pl + r->pl_len};
		while ((got = walk(&c, &tag, &v)) > 0) {
			if (tag == IF_SEQ) {
				if (get_varint(&v, &seq) || v.p != v.end)
					goto fall_back;
				has_seq = true;
			} else if (tag == IF_MONO_START) {
				if (get_varint(&v, &u) || v.p != v.end)
					goto fall_back;
				mono = unzigzag(u);
				has_mono = true;
			} else if (tag == IF_REGIONS) {
				int err = trace_rd_regions(r, v.p, v.end, &t, &nr);
				if (err == -ENOMEM) {
					free(t);
					return err;
				}
				if (err)
					goto fall_back;
				found = true;
			}
		}
		if (got < 0 || !has_seq || !has_mono || seq != e[i].seq || mono != e[i].mono)
			goto fall_back;
	}
	if (!found && r->hdr_nr) {
		if (!(t = malloc(r->hdr_nr * sizeof(*t))))
			return dpt_fail(-ENOMEM, "trace: out of memory");
		memcpy(t, r->hdr_regions, r->hdr_nr * sizeof(*t));
		nr = r->hdr_nr;
	}
	free(r->regions);
	r->regions = t;
	r->nr_regions = nr;
	r->pos = e[j].off;
	r->done = false;
	r->tail = 0;
	r->type = 0;
	return 0;
fall_back:
	free(t);
	return 1;
}

int trace_reader_seek(struct trace_reader *r, int64_t from_ns)
{
	struct ient *e;
	size_t n;
	int err;

	/* the current record is gone: its payload buffers are about to be reused */
	r->type = 0;
	r->set[0] = r->set[1] = NULL;
	r->bm_ok[0] = r->bm_ok[1] = false;
	r->runs_of = -1;
	if ((err = load_index(r, &e, &n)) < 0)
		return err;
	if (err > 0 && n) {
		err = seek_index(r, from_ns, e, n);
		if (err == 0) {
			size_t lo = 0;
			while (lo < n && e[lo].off != r->pos)
				lo++;
			err = forward(r, from_ns, e, n, lo);
		}
		free(e);
		if (err <= 0)
			return err;
		dpt_clear_error(); /* the index disagrees: read forward */
	} else {
		free(e);
	}
	if ((err = trace_reader_rewind(r)))
		return err;
	return forward(r, from_ns, NULL, 0, 0);
}

int trace_window_dirty(struct trace_reader *r, int64_t from_ns, int64_t to_ns, uint64_t **bitmap,
		       uint64_t *nbits, struct trace_window *w)
{
	struct trace_record rec;
	uint64_t *bm = NULL;
	size_t words = 0;
	int got, err;

	if (!r || !bitmap || !nbits || !w)
		return dpt_fail(-EINVAL, "trace: window: no reader or nowhere to put the set");
	*bitmap = NULL;
	*nbits = 0;
	memset(w, 0, sizeof(*w));
	if (from_ns >= to_ns)
		return dpt_fail(-EINVAL, "trace: window [%lld, %lld) ns is empty",
				(long long)from_ns, (long long)to_ns);
	if ((err = trace_reader_seek(r, from_ns)))
		return err;
	while ((got = trace_reader_next(r, &rec)) > 0) {
		const struct dpt_sample *s = &rec.s;
		if (rec.type != TRACE_REC_INTERVAL)
			continue;
		__int128 mid = middle(r, s);
		if (mid >= to_ns)
			break;
		if (mid < from_ns)
			continue;
		if (s->flags & DPT_SAMPLE_ALL) {
			w->synthetic++;
			continue;
		}
		if (w->intervals && s->regions_changed)
			w->regions_changed = true;
		int64_t start = rel_of(r, &s->mono_start), end = rel_of(r, &s->mono_end);
		if (!w->intervals++) {
			w->first_seq = s->seq;
			w->mono_start_ns = start;
			w->mono_end_ns = end;
		}
		w->last_seq = s->seq;
		w->mono_start_ns = start < w->mono_start_ns ? start : w->mono_start_ns;
		w->mono_end_ns = end > w->mono_end_ns ? end : w->mono_end_ns;
		size_t need = bitmap_words(s->total);
		if (!bm || need > words) {
			uint64_t *p = realloc(bm, (need ? need : 1) * sizeof(*p));
			if (!p) {
				err = dpt_fail(-ENOMEM, "trace: out of memory");
				goto fail;
			}
			memset(p + words, 0, ((need ? need : 1) - words) * sizeof(*p));
			bm = p;
			words = need ? need : 1;
		}
		*nbits = s->total > *nbits ? s->total : *nbits;
		if (!rec.has_set || (s->flags & DPT_SAMPLE_LOST)) {
			w->no_set++;
			w->incomplete = true;
			continue;
		}
		const uint64_t *set;
		if ((err = trace_reader_bitmap(r, 0, &set)))
			goto fail;
		for (size_t k = 0; k < need; k++)
			bm[k] |= set[k];
	}
	if (got < 0) {
		err = got;
		goto fail;
	}
	if (!w->intervals) {
		err = dpt_fail(-ENOENT, "trace: no interval in [%lld, %lld) ns", (long long)from_ns,
			       (long long)to_ns);
		goto fail;
	}
	*bitmap = bm;
	return 0;
fail:
	free(bm);
	*nbits = 0;
	return err;
}
