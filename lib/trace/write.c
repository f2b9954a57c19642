/* write.c - appending records to a .dpt trace (docs/trace-format.md).
 *
 * 1. Each record's fields are built as tag-length-value varints in one buffer; sets are sized
 *    first (codec.c) and encoded in place in their smallest encoding.
 * 2. The payload is compressed with zstd when it is worth it (64 bytes or more, from 1 KiB
 *    only when its bytes' entropy promises a sixth less, and smaller once compressed).
 * 3. Frame, payload and CRC-32C go to the file in one write() on an O_APPEND descriptor, so a
 *    killed recorder leaves whole records plus at most one torn one at the end.
 * 4. At a clean close, a footer record indexes the interval and non-zero records, followed by
 *    a trailer pointing at it (both in one write).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "dpt/bitmap.h"
#include "dpt/io.h"
#include "dpt/log.h"
#include "trace/int.h"

int trace_zstd_level = 1;

/* Payloads from this size on are compressed only when a byte histogram says it is worth it
 * (smaller ones are tried: they cost little, and a histogram of a few bytes says little). */
#define ZSTD_PROBE_MIN 1024

struct index_entry {
	uint64_t off, seq;
	int64_t mono;
};

struct trace_writer {
	int fd;
	char *path;
	uint64_t off; /* bytes in the file */
	int err;      /* first write error: every later call returns it */
	struct tbuf raw, frame, tmp;
	ZSTD_CCtx *cctx;
	int64_t mono0, wall0;
	struct dpt_region *regions; /* the table last written */
	unsigned nr_regions;
	struct index_entry *idx;
	size_t nidx, idxcap;
	uint64_t *nz, nnz, nzcap;
};

static int64_t ts_ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* ---- fields ---- */

static int put_uint(struct tbuf *b, unsigned tag, uint64_t v)
{
	if (tbuf_reserve(b, 1 + 1 + 10))
		return -ENOMEM;
	put_varint(b, tag);
	put_varint(b, varint_size(v));
	put_varint(b, v);
	return 0;
}

static int put_int(struct tbuf *b, unsigned tag, int64_t v)
{
	return put_uint(b, tag, zigzag(v));
}

static int put_bytes(struct tbuf *b, unsigned tag, const void *p, size_t n)
{
	if (tbuf_reserve(b, 1 + 10 + n))
		return -ENOMEM;
	put_varint(b, tag);
	put_varint(b, n);
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int put_str(struct tbuf *b, unsigned tag, const char *s)
{
	return put_bytes(b, tag, s ? s : "", s ? strlen(s) : 0);
}

static int put_regions(struct trace_writer *tw, struct tbuf *b, unsigned tag, unsigned n,
		       const struct dpt_region *r)
{
	struct tbuf *t = &tw->tmp;

	t->len = 0;
	if (tbuf_reserve(t, 10 + (size_t)n * (5 * 10 + sizeof(r->name))))
		return -ENOMEM;
	put_varint(t, n);
	for (unsigned i = 0; i < n; i++) {
		size_t len = strnlen(r[i].name, sizeof(r[i].name));
		put_varint(t, r[i].start);
		put_varint(t, r[i].pages);
		put_varint(t, r[i].first_page);
		put_varint(t, r[i].granule);
		put_varint(t, len);
		memcpy(t->p + t->len, r[i].name, len);
		t->len += len;
	}
	return put_bytes(b, tag, t->p, t->len);
}

/* A set field: bm of nbits pages holding count pages (bm NULL: every page), encoded in
 * tw->tmp first (its length goes before it). */
static int put_set(struct trace_writer *tw, struct tbuf *b, unsigned tag, const uint64_t *bm,
		   uint64_t nbits, uint64_t count, const char *what)
{
	struct tbuf *t = &tw->tmp;
	uint64_t got;
	int err;

	t->len = 0;
	if (bm) {
		if ((err = set_put(t, bm, nbits, &got)))
			return err;
		if (got != count)
			return dpt_fail(-EINVAL,
					"trace: the %s set holds %llu pages, the count says %llu",
					what, (unsigned long long)got, (unsigned long long)count);
	} else {
		if (tbuf_reserve(t, set_all_size(nbits)))
			return -ENOMEM;
		set_encode_all(t, nbits);
	}
	return put_bytes(b, tag, t->p, t->len);
}

/* ---- records ---- */

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* x log2 x for a count x >= 1, log2 x within 0.01: log2 x = e + log2(1 + f), 0 <= f < 1, the
 * latter as f + 0.346 f (1 - f) (exact at 0 and 1). */
static double xlog2x(uint32_t x)
{
	int e = 31 - __builtin_clz(x);
	double f = (double)x / (double)(1u << e) - 1;

	return (double)x * (e + f + 0.346 * f * (1 - f));
}

/* Whether zstd can save a sixth of p[0 .. n): its order-0 entropy (from a byte histogram,
 * about a cycle a byte) is at most 5/6 of 8 bits a byte. zstd level 1 on a trace payload is
 * mostly Huffman coding of its bytes (the gaps of a scattered set repeat no longer strings),
 * so this predicts its gain to a few percent: a sparse random set's indices (gaps of 1 or 2
 * near-random bytes) would gain 9 to 15 %, which costs more time to compress and to
 * decompress than the set took to encode; they are stored as they are. */
static bool zstd_worth(const uint8_t *p, size_t n)
{
	uint32_t h[4][256] = {{0}};
	size_t i = 0;
	double bits = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		h[0][w & 0xff]++, h[1][w >> 8 & 0xff]++, h[2][w >> 16 & 0xff]++, h[3][w >> 24 & 0xff]++;
		h[0][w >> 32 & 0xff]++, h[1][w >> 40 & 0xff]++, h[2][w >> 48 & 0xff]++, h[3][w >> 56]++;
	}
	for (; i < n; i++)
		h[0][p[i]]++;
	for (int c = 0; c < 256; c++) {
		uint32_t x = h[0][c] + h[1][c] + h[2][c] + h[3][c];
		if (x)
			bits -= xlog2x(x);
	}
	bits += xlog2x((uint32_t)n);
	return bits * 6 <= (double)n * 8 * 5;
}

/* Frame tw->raw as a record of this type into tw->frame (after what it holds already). */
static int frame(struct trace_writer *tw, unsigned type)
{
	struct tbuf *raw = &tw->raw, *f = &tw->frame;
	size_t bound = ZSTD_compressBound(raw->len);
	uint8_t flags = 0;

	if (raw->len > DPT_TRACE_MAX_RECORD)
		return dpt_fail(-E2BIG, "trace: a record of %zu bytes is too large", raw->len);
	if (tbuf_reserve(f, TRACE_FRAME_SIZE + bound + raw->len + TRACE_CRC_SIZE))
		return -ENOMEM;
	size_t start = f->len;
	uint8_t *hdr = f->p + start, *payload = hdr + TRACE_FRAME_SIZE;
	size_t stored = raw->len;

	if (trace_zstd_level > 0 && raw->len >= 64 &&
	    (raw->len < ZSTD_PROBE_MIN || zstd_worth(raw->p, raw->len))) {
		if (!tw->cctx && !(tw->cctx = ZSTD_createCCtx()))
			return -ENOMEM;
		size_t z = ZSTD_compressCCtx(tw->cctx, payload, bound, raw->p, raw->len,
					     trace_zstd_level);
		if (!ZSTD_isError(z) && z < raw->len) {
			stored = z;
			flags |= TRACE_FRAME_ZSTD;
		}
	}
	if (!(flags & TRACE_FRAME_ZSTD))
		memcpy(payload, raw->p, raw->len);
	memcpy(hdr, TRACE_REC_MAGIC, 4);
	hdr[4] = (uint8_t)type;
	hdr[5] = flags;
	hdr[6] = hdr[7] = 0;
	put_le32(hdr + 8, (uint32_t)stored);
	put_le32(hdr + 12, (uint32_t)raw->len);
	put_le32(payload + stored, trace_crc32c(0, hdr, TRACE_FRAME_SIZE + stored));
	f->len = start + TRACE_FRAME_SIZE + stored + TRACE_CRC_SIZE;
	return 0;
}

/* Write tw->frame to the file; returns the offset it started at. */
static int flush(struct trace_writer *tw, uint64_t *at)
{
	int err = dpt_write_all(tw->fd, tw->frame.p, tw->frame.len);

	if (err) {
		tw->err = dpt_fail(err, "%s: %s", tw->path, strerror(-err));
		return tw->err;
	}
	if (at)
		*at = tw->off;
	tw->off += tw->frame.len;
	tw->frame.len = 0;
	return 0;
}

static int emit(struct trace_writer *tw, unsigned type, uint64_t *at)
{
	int err = frame(tw, type);

	tw->raw.len = 0;
	return err ? err : flush(tw, at);
}

int trace_writer_open(struct trace_writer **twp, const char *path, bool overwrite,
		      const struct trace_header *h)
{
	struct trace_writer *tw = calloc(1, sizeof(*tw));
	struct tbuf *b;
	int err = -ENOMEM;

	*twp = NULL;
	if (!tw)
		return -ENOMEM;
	tw->fd = -1;
	if (!(tw->path = strdup(path)))
		goto fail;
	tw->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL),
		      0644);
	if (tw->fd < 0) {
		err = dpt_fail(-errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	tw->mono0 = h->mono_start_ns;
	tw->wall0 = h->wall_start_ns;
	b = &tw->raw;
	if ((err = put_uint(b, HF_PAGE_SIZE, h->page_size)) ||
	    (err = put_str(b, HF_DPT_VERSION, h->dpt_version)) ||
	    (err = put_str(b, HF_KERNEL, h->kernel)) || (err = put_str(b, HF_CPU, h->cpu)) ||
	    (err = put_str(b, HF_HOSTNAME, h->hostname)) ||
	    (err = put_str(b, HF_TRACKER, h->tracker)) || (err = put_str(b, HF_MODE, h->mode)) ||
	    (err = put_str(b, HF_TARGET, h->target)) ||
	    (err = put_str(b, HF_COMMAND, h->command)) ||
	    (err = put_uint(b, HF_INTERVAL, h->interval_ns)) ||
	    (err = put_uint(b, HF_ZERO_SCAN, h->zero_scan_ns)) ||
	    (err = put_int(b, HF_WALL_START, h->wall_start_ns)) ||
	    (err = put_int(b, HF_MONO_START, h->mono_start_ns)) ||
	    (err = put_uint(b, HF_FLAGS, h->flags)) ||
	    (err = put_uint(b, HF_NR_VCPUS, h->nr_vcpus)) ||
	    (err = put_int(b, HF_OWNER_PID, h->owner_pid)) ||
	    (err = put_regions(tw, b, HF_REGIONS, h->nr_regions, h->regions)))
		goto fail_unlink;
	if ((err = tbuf_reserve(&tw->frame, TRACE_PREFIX_SIZE)))
		goto fail_unlink;
	memcpy(tw->frame.p, TRACE_PREFIX_MAGIC, 8);
	uint8_t *v = tw->frame.p + 8;
	v[0] = DPT_TRACE_MAJOR & 0xff, v[1] = DPT_TRACE_MAJOR >> 8;
	v[2] = DPT_TRACE_MINOR & 0xff, v[3] = DPT_TRACE_MINOR >> 8;
	memset(v + 4, 0, 4);
	tw->frame.len = TRACE_PREFIX_SIZE;
	if ((err = emit(tw, TRACE_REC_HEADER, NULL)))
		goto fail_unlink;
	if (h->nr_regions) {
		tw->regions = malloc(h->nr_regions * sizeof(*tw->regions));
		if (!tw->regions) {
			err = -ENOMEM;
			goto fail_unlink;
		}
		memcpy(tw->regions, h->regions, h->nr_regions * sizeof(*tw->regions));
		tw->nr_regions = h->nr_regions;
	}
	*twp = tw;
	return 0;
fail_unlink:
	unlink(path);
fail:
	trace_writer_close(tw, false, false);
	return err;
}

static bool regions_differ(const struct trace_writer *tw, unsigned n, const struct dpt_region *r)
{
	if (n != tw->nr_regions)
		return true;
	for (unsigned i = 0; i < n; i++)
		if (r[i].start != tw->regions[i].start || r[i].pages != tw->regions[i].pages ||
		    r[i].first_page != tw->regions[i].first_page ||
		    r[i].granule != tw->regions[i].granule ||
		    strncmp(r[i].name, tw->regions[i].name, sizeof(r[i].name)))
			return true;
	return false;
}

static int remember_regions(struct trace_writer *tw, unsigned n, const struct dpt_region *r)
{
	struct dpt_region *copy = n ? malloc(n * sizeof(*copy)) : NULL;

	if (n && !copy)
		return -ENOMEM;
	if (n)
		memcpy(copy, r, n * sizeof(*copy));
	free(tw->regions);
	tw->regions = copy;
	tw->nr_regions = n;
	return 0;
}

static int put_times(struct trace_writer *tw, unsigned tag, const struct timespec *ms,
		     const struct timespec *me, const struct timespec *ws, const struct timespec *we)
{
	struct tbuf *b = &tw->raw;
	int err;

	if ((err = put_int(b, tag, ts_ns(ms) - tw->mono0)) ||
	    (err = put_int(b, tag + 1, ts_ns(me) - tw->mono0)) ||
	    (err = put_int(b, tag + 2, ts_ns(ws) - tw->wall0)))
		return err;
	return put_int(b, tag + 3, ts_ns(we) - tw->wall0);
}

static int put_procs(struct tbuf *b, const struct dpt_sample *s)
{
	struct tbuf t = {0};
	int err = -ENOMEM;

	if (tbuf_reserve(&t, 10 + (size_t)s->nr_procs * (7 * 10 + 16)))
		goto out;
	put_varint(&t, s->nr_procs);
	for (unsigned i = 0; i < s->nr_procs; i++) {
		const struct dpt_proc *p = &s->procs[i];
		size_t n = strnlen(p->comm, sizeof(p->comm));
		put_varint(&t, zigzag(p->pid));
		put_varint(&t, zigzag(p->ppid));
		put_varint(&t, n);
		memcpy(t.p + t.len, p->comm, n);
		t.len += n;
		put_varint(&t, p->dirty);
		put_varint(&t, p->discarded);
		put_varint(&t, p->total);
		put_varint(&t, p->flags);
	}
	err = put_bytes(b, IF_PROCS, t.p, t.len);
out:
	tbuf_free(&t);
	return err;
}

int trace_writer_sample(struct trace_writer *tw, const struct dpt_sample *s)
{
	struct tbuf *b = &tw->raw;
	uint64_t at;
	int err;

	if (tw->err)
		return tw->err;
	b->len = 0;
	if ((err = put_uint(b, IF_SEQ, s->seq)) ||
	    (err = put_times(tw, IF_MONO_START, &s->mono_start, &s->mono_end, &s->wall_start,
			     &s->wall_end)) ||
	    (err = put_uint(b, IF_FLAGS, s->flags)) || (err = put_uint(b, IF_DIRTY, s->dirty)) ||
	    (err = put_uint(b, IF_TOTAL, s->total)) ||
	    (err = put_uint(b, IF_DISCARDED, s->discarded)))
		goto out;
	if (s->nr_vcpus) {
		if ((err = tbuf_reserve(&tw->tmp, 10 + (size_t)s->nr_vcpus * 10)))
			goto out;
		tw->tmp.len = 0;
		put_varint(&tw->tmp, s->nr_vcpus);
		for (unsigned i = 0; i < s->nr_vcpus; i++)
			put_varint(&tw->tmp, s->vcpu_dirty[i]);
		if ((err = put_bytes(b, IF_VCPUS, tw->tmp.p, tw->tmp.len)))
			goto out;
	}
	/* a sample without regions (Qemu-DPT's all-dirty one) after some: an empty table */
	if (s->regions_changed || regions_differ(tw, s->nr_regions, s->regions)) {
		if ((err = put_regions(tw, b, IF_REGIONS, s->nr_regions, s->regions)) ||
		    (err = remember_regions(tw, s->nr_regions, s->regions)))
			goto out;
	}
	if (!(s->flags & DPT_SAMPLE_LOST)) {
		if (s->bitmap || (s->flags & DPT_SAMPLE_ALL))
			if ((err = put_set(tw, b, IF_SET, s->bitmap, s->total, s->dirty, "dirty")))
				goto out;
		if (s->discarded_bitmap &&
		    (err = put_set(tw, b, IF_DISCARDED_SET, s->discarded_bitmap, s->total, s->discarded,
				   "discarded")))
			goto out;
	}
	if (s->nr_procs && (err = put_procs(b, s)))
		goto out;
	if ((err = emit(tw, TRACE_REC_INTERVAL, &at)))
		return err;
	if (tw->nidx == tw->idxcap) {
		size_t cap = tw->idxcap ? tw->idxcap * 2 : 1024;
		struct index_entry *p = realloc(tw->idx, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		tw->idx = p;
		tw->idxcap = cap;
	}
	tw->idx[tw->nidx++] = (struct index_entry){at, s->seq, ts_ns(&s->mono_start) - tw->mono0};
	return 0;
out:
	b->len = 0;
	return err;
}

int trace_writer_nonzero(struct trace_writer *tw, const struct dpt_nonzero *z)
{
	struct tbuf *b = &tw->raw;
	uint64_t at;
	int err;

	if (tw->err)
		return tw->err;
	b->len = 0;
	if ((err = put_uint(b, ZF_AFTER_SEQ, z->after_seq)) ||
	    (err = put_times(tw, ZF_MONO_START, &z->mono_start, &z->mono_end, &z->wall_start,
			     &z->wall_end)) ||
	    (err = put_uint(b, ZF_METHOD, z->method)) || (err = put_uint(b, ZF_TOTAL, z->total)) ||
	    (err = put_uint(b, ZF_COUNT, z->count)) || (err = put_uint(b, ZF_UNKNOWN, z->unknown)) ||
	    (err = put_uint(b, ZF_BYTES_READ, z->bytes_read)) ||
	    (err = put_regions(tw, b, ZF_REGIONS, z->nr_regions, z->regions)) ||
	    (err = put_set(tw, b, ZF_SET, z->bitmap, z->total, z->count, "non-zero"))) {
		b->len = 0;
		return err;
	}
	if ((err = emit(tw, TRACE_REC_NONZERO, &at)))
		return err;
	if (tw->nnz == tw->nzcap) {
		size_t cap = tw->nzcap ? tw->nzcap * 2 : 64;
		uint64_t *p = realloc(tw->nz, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		tw->nz = p;
		tw->nzcap = cap;
	}
	tw->nz[tw->nnz++] = at;
	return 0;
}

static int event(struct trace_writer *tw, unsigned type, const struct timespec *mono,
		 const struct timespec *wall, const char *text)
{
	struct tbuf *b = &tw->raw;
	int err;

	if (tw->err)
		return tw->err;
	b->len = 0;
	if ((err = put_int(b, EF_MONO, ts_ns(mono) - tw->mono0)) ||
	    (err = put_int(b, EF_WALL, ts_ns(wall) - tw->wall0)) ||
	    (text && (err = put_str(b, EF_TEXT, text)))) {
		b->len = 0;
		return err;
	}
	return emit(tw, type, NULL);
}

int trace_writer_session(struct trace_writer *tw, bool start, const struct timespec *mono,
			 const struct timespec *wall)
{
	return event(tw, start ? TRACE_REC_START : TRACE_REC_STOP, mono, wall, NULL);
}

int trace_writer_message(struct trace_writer *tw, const struct timespec *mono,
			 const struct timespec *wall, const char *text)
{
	return event(tw, TRACE_REC_MESSAGE, mono, wall, text);
}

uint64_t trace_writer_bytes(const struct trace_writer *tw)
{
	return tw->off;
}

static int write_footer(struct trace_writer *tw)
{
	struct tbuf *b = &tw->raw, *t = &tw->tmp;
	uint64_t prev_off = 0, prev_seq = 0, at = tw->off;
	int64_t prev_mono = 0;
	int err;

	b->len = 0;
	if ((err = put_uint(b, FF_INTERVALS, tw->nidx)))
		return err;
	t->len = 0;
	if (tbuf_reserve(t, 10 + tw->nidx * 30))
		return -ENOMEM;
	put_varint(t, tw->nidx);
	for (size_t i = 0; i < tw->nidx; i++) {
		put_varint(t, tw->idx[i].off - prev_off);
		put_varint(t, zigzag((int64_t)(tw->idx[i].seq - prev_seq)));
		put_varint(t, zigzag(tw->idx[i].mono - prev_mono));
		prev_off = tw->idx[i].off;
		prev_seq = tw->idx[i].seq;
		prev_mono = tw->idx[i].mono;
	}
	if ((err = put_bytes(b, FF_INDEX, t->p, t->len)))
		return err;
	t->len = 0;
	if (tbuf_reserve(t, 10 + tw->nnz * 10))
		return -ENOMEM;
	put_varint(t, tw->nnz);
	prev_off = 0;
	for (size_t i = 0; i < tw->nnz; i++) {
		put_varint(t, tw->nz[i] - prev_off);
		prev_off = tw->nz[i];
	}
	if ((err = put_bytes(b, FF_NONZERO, t->p, t->len)) || (err = frame(tw, TRACE_REC_FOOTER)))
		return err;
	b->len = 0;
	/* the trailer goes out in the same write as the footer */
	if (tbuf_reserve(&tw->frame, TRACE_TRAILER_SIZE))
		return -ENOMEM;
	uint8_t *p = tw->frame.p + tw->frame.len;
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(at >> (8 * i));
	memcpy(p + 8, TRACE_TRAILER_MAGIC, 8);
	tw->frame.len += TRACE_TRAILER_SIZE;
	return flush(tw, NULL);
}

int trace_writer_close(struct trace_writer *tw, bool footer, bool discard)
{
	int err;

	if (!tw)
		return 0;
	err = tw->err;
	if (tw->fd >= 0 && footer && !err && !discard)
		err = write_footer(tw);
	if (tw->fd >= 0 && close(tw->fd) && !err)
		err = dpt_fail(-errno, "%s: %s", tw->path, strerror(errno));
	if (tw->fd >= 0 && discard)
		unlink(tw->path);
	ZSTD_freeCCtx(tw->cctx);
	tbuf_free(&tw->raw);
	tbuf_free(&tw->frame);
	tbuf_free(&tw->tmp);
	free(tw->regions);
	free(tw->idx);
	free(tw->nz);
	free(tw->path);
	free(tw);
	return err;
}
