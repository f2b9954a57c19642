/* read.c - reading a .dpt trace back (docs/trace-format.md), a record at a time.
 *
 * 1. open: check the 16-byte prefix (magic, major version), read the header record; look for
 *    a trailer at the very end and, if it points at a valid footer, take its index.
 * 2. next: read a frame at the current offset; a frame that runs past the end of a file
 *    without a footer is a torn tail (a recording killed mid-write): the end, with its size
 *    kept for trace_reader_tail(). Anything else wrong (bad magic, checksum, sizes, a field
 *    out of range) is an error naming the offset.
 * 3. The payload is checked against its CRC-32C before anything in it is believed, then
 *    decompressed into a buffer of the declared size, bounded by the reader's limits (an
 *    uncompressed one is read where it lies, not copied again), and its fields checked
 *    against the limits and each other (counts <= pages, regions covering the record's
 *    pages). Sets are decoded only when asked for, into reader-owned storage (a bitmap,
 *    runs) or the caller's (a list of page indices, trace_reader_indices()).
 * Nothing is ever allocated from a declared size alone: a payload is read only once the file
 *    is known to hold it, and set storage follows the decoded data or a page count under the
 *    limit.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "trace/int.h"
#include "trace/reader.h"

static struct timespec ns_ts(int64_t ns)
{
	struct timespec t = {ns / 1000000000, ns % 1000000000};
	if (t.tv_nsec < 0) {
		t.tv_nsec += 1000000000;
		t.tv_sec--;
	}
	return t;
}

/* The time rel ns after base: 0, or -EBADMSG if it leaves the int64 range (a hostile time). */
static int rel_ts(int64_t base, int64_t rel, struct timespec *t)
{
	int64_t ns;

	if (__builtin_add_overflow(base, rel, &ns))
		return -EBADMSG;
	*t = ns_ts(ns);
	return 0;
}

/* Monotonic and wall-clock start and end, relative to the header's. */
static int rel_times(const struct trace_header *h, const int64_t t[4], struct timespec *ms,
		     struct timespec *me, struct timespec *ws, struct timespec *we)
{
	if (rel_ts(h->mono_start_ns, t[0], ms) || rel_ts(h->mono_start_ns, t[1], me) ||
	    rel_ts(h->wall_start_ns, t[2], ws) || rel_ts(h->wall_start_ns, t[3], we))
		return -EBADMSG;
	return 0;
}

static int oom(void)
{
	return dpt_fail(-ENOMEM, "trace: out of memory");
}

static int bad(const struct trace_reader *r, uint64_t off, const char *what)
{
	return dpt_fail(-EBADMSG, "trace: record at offset %llu: %s", (unsigned long long)off, what);
}

/* Read len bytes at off into buf; 0, or -errno. */
static int src_read(struct trace_reader *r, uint64_t off, void *buf, size_t len)
{
	if (r->mem) {
		memcpy(buf, r->mem + off, len);
		return 0;
	}
	while (len) {
		ssize_t n = pread(r->fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dpt_fail(-errno, "trace: read: %s", strerror(errno));
		if (n == 0)
			return dpt_fail(-EIO, "trace: the file shrank while being read");
		buf = (char *)buf + n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* ---- frames ---- */

/*
 * The most a zstd frame can decompress to, from its block headers (RFC 8878, 3.1.1): a raw or
 * RLE block says its size, a compressed block yields at most Block_Maximum_Size (128 KiB, or
 * the window if smaller). A frame's declared content size is believed up to this only: a few
 * bytes declaring 256 MiB are refused before anything that size is allocated. 0 for a frame
 * whose blocks do not fit in its n bytes (zstd refuses it anyway).
 */
static uint64_t zstd_bound(const uint8_t *p, size_t n)
{
	static const uint8_t did_size[] = {0, 1, 2, 4}, fcs_size[] = {0, 2, 4, 8};

	if (n < 5 || le32(p) != 0xFD2FB528u)
		return 0;
	uint8_t fhd = p[4], fcs = fhd >> 6;
	bool single = fhd & 0x20;
	size_t off = 5 + !single + did_size[fhd & 3] + (fcs || !single ? fcs_size[fcs] : 1);
	uint64_t window = 128 << 10, out = 0;
	if (!single && n > 5) {
		uint64_t base = 1ULL << (10 + (p[5] >> 3));
		window = base + base / 8 * (p[5] & 7);
	}
	uint64_t block_max = window < (128 << 10) ? window : 128 << 10;
	for (bool last = false; !last;) {
		if (off > n || n - off < 3)
			return 0;
		uint32_t bh = (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 | (uint32_t)p[off + 2] << 16;
		uint32_t type = bh >> 1 & 3, size = bh >> 3;
		off += 3;
		last = bh & 1;
		if (type == 3 || n - off < (type == 1 ? 1 : size))
			return 0;
		off += type == 1 ? 1 : size;
		out += type == 2 ? block_max : size;
	}
	return out;
}

/* Read the frame at off: 1 with *type and r->pl holding the payload, *next the offset after
 * it; 0 if it is a torn tail (runs past limit); -errno if malformed. The payload is where it
 * lies when it is not compressed: in the caller's memory (a reader of memory), or in
 * r->stored as read from the file (not copied again); else decompressed into r->raw. */
static int read_frame(struct trace_reader *r, uint64_t off, uint64_t limit, unsigned *type,
		      uint64_t *next)
{
	uint8_t hdr[TRACE_FRAME_SIZE];
	const uint8_t *frame;
	int err;

	r->pl_len = 0;
	if (limit - off < TRACE_FRAME_SIZE + TRACE_CRC_SIZE)
		return 0;
	if ((err = src_read(r, off, hdr, sizeof(hdr))))
		return err;
	if (memcmp(hdr, TRACE_REC_MAGIC, 4))
		return bad(r, off, "no record here (bad magic)");
	uint32_t stored = le32(hdr + 8), raw = le32(hdr + 12);
	if (stored > r->max_record || raw > r->max_record)
		return bad(r, off, "record larger than the reader's limit");
	if (limit - off - TRACE_FRAME_SIZE - TRACE_CRC_SIZE < stored)
		return 0;
	if (r->mem) {
		frame = r->mem + off;
	} else {
		if (tbuf_reserve(&r->stored, TRACE_FRAME_SIZE + stored + TRACE_CRC_SIZE))
			return oom();
		memcpy(r->stored.p, hdr, sizeof(hdr));
		if ((err = src_read(r, off + TRACE_FRAME_SIZE, r->stored.p + TRACE_FRAME_SIZE,
				    stored + TRACE_CRC_SIZE)))
			return err;
		frame = r->stored.p;
	}
	if (trace_crc32c(0, frame, TRACE_FRAME_SIZE + stored) !=
	    le32(frame + TRACE_FRAME_SIZE + stored))
		return bad(r, off, "checksum mismatch");
	if (hdr[6] || hdr[7] || (hdr[5] & ~TRACE_FRAME_ZSTD))
		return bad(r, off, "unknown frame flags");
	/* the raw size is believed only once the payload can hold it */
	const uint8_t *payload = frame + TRACE_FRAME_SIZE;
	bool zstd = hdr[5] & TRACE_FRAME_ZSTD;
	if (!zstd && stored != raw)
		return bad(r, off, "stored and raw sizes differ");
	if (zstd && ZSTD_getFrameContentSize(payload, stored) != raw)
		return bad(r, off, "compressed size does not match the frame");
	if (zstd && zstd_bound(payload, stored) < raw)
		return bad(r, off, "compressed payload too short for its declared size");
	if (zstd) {
		r->raw.len = 0;
		if (tbuf_reserve(&r->raw, raw ? raw : 1))
			return oom();
		if (!r->dctx && !(r->dctx = ZSTD_createDCtx()))
			return oom();
		size_t got = ZSTD_decompressDCtx(r->dctx, r->raw.p, raw, payload, stored);
		if (ZSTD_isError(got) || got != raw)
			return bad(r, off, "corrupt compressed payload");
		r->raw.len = raw;
		payload = r->raw.p;
	}
	r->pl = payload;
	r->pl_len = raw;
	*type = hdr[4];
	*next = off + TRACE_FRAME_SIZE + stored + TRACE_CRC_SIZE;
	return 1;
}

/* ---- fields ---- */

struct field {
	uint64_t tag;
	struct tcur v;
};

/* The next field of c: 1, 0 at the end, -EBADMSG. */
static int next_field(struct tcur *c, struct field *f)
{
	uint64_t len;

	if (c->p == c->end)
		return 0;
	if (get_varint(c, &f->tag) || get_varint(c, &len) || len > (uint64_t)(c->end - c->p))
		return -EBADMSG;
	f->v.p = c->p;
	f->v.end = c->p + len;
	c->p += len;
	return 1;
}

static int field_uint(const struct field *f, uint64_t *v)
{
	struct tcur c = f->v;

	if (get_varint(&c, v) || c.p != c.end)
		return -EBADMSG;
	return 0;
}

static int field_int(const struct field *f, int64_t *v)
{
	uint64_t u;

	if (field_uint(f, &u))
		return -EBADMSG;
	*v = unzigzag(u);
	return 0;
}

static int field_str(const struct field *f, char **s)
{
	size_t n = (size_t)(f->v.end - f->v.p);

	if (n > MAX_STRING)
		return -EBADMSG;
	char *copy = malloc(n + 1);
	if (!copy)
		return oom();
	memcpy(copy, f->v.p, n);
	copy[n] = 0;
	free(*s);
	*s = copy;
	return 0;
}

/* A region table: *out realloc'd to its entries. Checks the numbering and the limit. */
static int field_regions(struct trace_reader *r, const struct field *f, struct dpt_region **out,
			 unsigned *nr, uint64_t *pages)
{
	struct tcur c = f->v;
	uint64_t n, sum = 0;

	if (get_varint(&c, &n) || n > (uint64_t)(c.end - c.p) / 5)
		return -EBADMSG;
	struct dpt_region *t = calloc(n ? n : 1, sizeof(*t));
	if (!t)
		return oom();
	for (uint64_t i = 0; i < n; i++) {
		uint64_t start, len, first, granule, namelen;
		if (get_varint(&c, &start) || get_varint(&c, &len) || get_varint(&c, &first) ||
		    get_varint(&c, &granule) || get_varint(&c, &namelen) ||
		    namelen >= sizeof(t[i].name) || namelen > (uint64_t)(c.end - c.p) ||
		    first != sum || len > r->max_pages - sum || granule > UINT32_MAX)
			goto bad;
		t[i].start = start;
		t[i].pages = len;
		t[i].first_page = first;
		t[i].granule = (uint32_t)granule;
		memcpy(t[i].name, c.p, namelen);
		c.p += namelen;
		sum += len;
	}
	if (c.p != c.end)
		goto bad;
	free(*out);
	*out = t;
	*nr = (unsigned)n;
	*pages = sum;
	return 0;
bad:
	free(t);
	return -EBADMSG;
}

/* ---- the header ---- */

static int parse_header(struct trace_reader *r)
{
	struct tcur c = {r->pl, r->pl + r->pl_len};
	struct trace_header *h = &r->info.h;
	struct field f;
	uint64_t v = 0, pages;
	int64_t s = 0;
	int got, err = 0;

	while (!err && (got = next_field(&c, &f)) > 0) {
		switch (f.tag) {
		case HF_PAGE_SIZE:
			err = field_uint(&f, &v);
			if (!err && (v < 512 || v > (1u << 30) || (v & (v - 1))))
				err = -EBADMSG;
			h->page_size = (uint32_t)v;
			break;
		case HF_DPT_VERSION ... HF_COMMAND:
			err = field_str(&f, &r->str[f.tag - HF_DPT_VERSION]);
			break;
		case HF_INTERVAL:
			err = field_uint(&f, &h->interval_ns);
			break;
		case HF_ZERO_SCAN:
			err = field_uint(&f, &h->zero_scan_ns);
			break;
		case HF_WALL_START:
			err = field_int(&f, &h->wall_start_ns);
			break;
		case HF_MONO_START:
			err = field_int(&f, &h->mono_start_ns);
			break;
		case HF_FLAGS:
			err = field_uint(&f, &v);
			h->flags = (unsigned)v;
			break;
		case HF_NR_VCPUS:
			err = field_uint(&f, &v);
			if (!err && v > MAX_VCPUS)
				err = -EBADMSG;
			h->nr_vcpus = (unsigned)v;
			break;
		case HF_OWNER_PID:
			err = field_int(&f, &s);
			if (!err && (s < INT32_MIN || s > INT32_MAX))
				err = -EBADMSG;
			h->owner_pid = (int32_t)s;
			break;
		case HF_REGIONS:
			err = field_regions(r, &f, &r->hdr_regions, &r->hdr_nr, &pages);
			break;
		default: /* a later minor version's field */
			break;
		}
	}
	if (err == -ENOMEM)
		return err;
	if (err || got < 0)
		return bad(r, TRACE_PREFIX_SIZE, "malformed header");
	if (!h->page_size)
		return bad(r, TRACE_PREFIX_SIZE, "header without a page size");
	const char **strs[] = {&h->dpt_version, &h->kernel, &h->cpu, &h->hostname, &h->tracker,
			       &h->mode, &h->target, &h->command};
	for (unsigned i = 0; i < 8; i++)
		*strs[i] = r->str[i] ? r->str[i] : "";
	h->regions = r->hdr_regions;
	h->nr_regions = r->hdr_nr;
	return 0;
}

/* The footer, if the file ends with a trailer pointing at a valid one. Not an error when there
 * is none (a file without a valid footer is read to its end), only when out of memory. */
static int find_footer(struct trace_reader *r)
{
	uint8_t tr[TRACE_TRAILER_SIZE];
	unsigned type;
	uint64_t next;

	r->end = r->size;
	if (r->size < r->first + TRACE_TRAILER_SIZE ||
	    src_read(r, r->size - TRACE_TRAILER_SIZE, tr, sizeof(tr)) ||
	    memcmp(tr + 8, TRACE_TRAILER_MAGIC, 8))
		return 0;
	uint64_t at = le64(tr), limit = r->size - TRACE_TRAILER_SIZE;
	int got = at < r->first || at >= limit ? 0 : read_frame(r, at, limit, &type, &next);
	if (got == -ENOMEM)
		return got;
	if (got != 1 || type != TRACE_REC_FOOTER || next != limit) {
		dpt_clear_error();
		return 0;
	}
	struct tcur c = {r->pl, r->pl + r->pl_len};
	struct field f;
	uint64_t n = 0;
	while (next_field(&c, &f) > 0)
		if (f.tag == FF_INTERVALS && field_uint(&f, &n))
			return 0;
	r->info.has_footer = true;
	r->info.nr_intervals = n;
	r->end = at;
	return 0;
}

static void reader_free(struct trace_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	ZSTD_freeDCtx(r->dctx);
	tbuf_free(&r->stored);
	tbuf_free(&r->raw);
	for (unsigned i = 0; i < 9; i++)
		free(r->str[i]);
	free(r->hdr_regions);
	free(r->regions);
	free(r->nz_regions);
	free(r->vcpus);
	free(r->procs);
	free(r->text);
	free(r->bm[0]);
	free(r->bm[1]);
	free(r->runs);
	free(r);
}

static int reader_start(struct trace_reader *r)
{
	uint8_t pre[TRACE_PREFIX_SIZE];
	unsigned type;
	int err;

	r->max_pages = DPT_TRACE_MAX_PAGES;
	r->max_record = DPT_TRACE_MAX_RECORD;
	r->runs_of = -1;
	r->info.file_size = r->size;
	if (r->size < TRACE_PREFIX_SIZE)
		return dpt_fail(-EBADMSG, "not a dpt trace (%llu bytes, too short)",
				(unsigned long long)r->size);
	if ((err = src_read(r, 0, pre, sizeof(pre))))
		return err;
	if (memcmp(pre, TRACE_PREFIX_MAGIC, 8))
		return dpt_fail(-EBADMSG, "not a dpt trace (no trace magic at its start)");
	r->info.major = (uint16_t)(pre[8] | pre[9] << 8);
	r->info.minor = (uint16_t)(pre[10] | pre[11] << 8);
	if (r->info.major != DPT_TRACE_MAJOR)
		return dpt_fail(-EPROTONOSUPPORT,
				"trace format version %u.%u: this dpt reads version %u.x",
				r->info.major, r->info.minor, DPT_TRACE_MAJOR);
	err = read_frame(r, TRACE_PREFIX_SIZE, r->size, &type, &r->first);
	if (err == 0)
		return dpt_fail(-EBADMSG, "trace: its header is truncated");
	if (err < 0)
		return err;
	if (type != TRACE_REC_HEADER)
		return bad(r, TRACE_PREFIX_SIZE, "the first record is not the header");
	if ((err = parse_header(r)))
		return err;
	if ((err = find_footer(r)))
		return err;
	return trace_reader_rewind(r);
}

int trace_reader_open(struct trace_reader **rp, const char *path)
{
	struct trace_reader *r = calloc(1, sizeof(*r));
	struct stat st;
	int err;

	*rp = NULL;
	if (!r)
		return oom();
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		err = dpt_fail(-errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(r->fd, &st)) {
		err = dpt_fail(-errno, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		err = dpt_fail(-EINVAL, "%s: not a regular file", path);
		goto fail;
	}
	r->size = (uint64_t)st.st_size;
	if ((err = reader_start(r))) {
		dpt_fail_ctx(err, "%s", path);
		goto fail;
	}
	*rp = r;
	return 0;
fail:
	reader_free(r);
	return err;
}

int trace_reader_open_mem(struct trace_reader **rp, const void *buf, size_t len)
{
	struct trace_reader *r = calloc(1, sizeof(*r));
	int err;

	*rp = NULL;
	if (!r)
		return oom();
	r->fd = -1;
	r->mem = buf;
	r->size = len;
	if ((err = reader_start(r))) {
		reader_free(r);
		return err;
	}
	*rp = r;
	return 0;
}

void trace_reader_limits(struct trace_reader *r, uint64_t max_pages, uint64_t max_record)
{
	if (max_pages)
		r->max_pages = max_pages;
	if (max_record)
		r->max_record = max_record;
}

const struct trace_info *trace_reader_info(const struct trace_reader *r)
{
	return &r->info;
}

uint64_t trace_reader_tail(const struct trace_reader *r)
{
	return r->tail;
}

int trace_reader_rewind(struct trace_reader *r)
{
	struct dpt_region *t = NULL;

	if (r->hdr_nr) {
		t = malloc(r->hdr_nr * sizeof(*t));
		if (!t)
			return oom();
		memcpy(t, r->hdr_regions, r->hdr_nr * sizeof(*t));
	}
	free(r->regions);
	r->regions = t;
	r->nr_regions = r->hdr_nr;
	r->pos = r->first;
	r->done = false;
	r->tail = 0;
	r->type = 0;
	return 0;
}

void trace_reader_close(struct trace_reader *r)
{
	if (r)
		reader_free(r);
}

/* ---- records ---- */

static int parse_interval(struct trace_reader *r, uint64_t off, struct trace_record *rec)
{
	struct tcur c = {r->pl, r->pl + r->pl_len};
	struct dpt_sample *s = &rec->s;
	const struct trace_header *h = &r->info.h;
	int64_t t[4] = {0};
	uint64_t v, pages = 0, seen = 0;
	unsigned nr = r->nr_regions;
	struct field f;
	int got, err = 0;

	s->page_size = h->page_size;
	while (!err && (got = next_field(&c, &f)) > 0) {
		switch (f.tag) {
		case IF_SEQ:
			err = field_uint(&f, &s->seq);
			seen |= 1;
			break;
		case IF_MONO_START ... IF_WALL_END:
			err = field_int(&f, &t[f.tag - IF_MONO_START]);
			seen |= 2;
			break;
		case IF_FLAGS:
			err = field_uint(&f, &v);
			s->flags = (unsigned)v;
			break;
		case IF_DIRTY:
			err = field_uint(&f, &s->dirty);
			break;
		case IF_TOTAL:
			err = field_uint(&f, &s->total);
			seen |= 4;
			break;
		case IF_DISCARDED:
			err = field_uint(&f, &s->discarded);
			break;
		case IF_VCPUS: {
			struct tcur vc = f.v;
			uint64_t n;
			if (get_varint(&vc, &n) || n > MAX_VCPUS || n > (uint64_t)(vc.end - vc.p)) {
				err = -EBADMSG;
				break;
			}
			uint64_t *p = realloc(r->vcpus, (n ? n : 1) * sizeof(*p));
			if (!p) {
				err = oom();
				break;
			}
			r->vcpus = p;
			for (uint64_t i = 0; i < n && !err; i++)
				err = get_varint(&vc, &p[i]);
			if (!err && vc.p != vc.end)
				err = -EBADMSG;
			s->nr_vcpus = (unsigned)n;
			s->vcpu_dirty = p;
			break;
		}
		case IF_REGIONS: {
			unsigned n;
			err = field_regions(r, &f, &r->regions, &n, &pages);
			if (!err) {
				r->nr_regions = nr = n;
				s->regions_changed = true;
				seen |= 8;
			}
			break;
		}
		case IF_SET:
		case IF_DISCARDED_SET: {
			int which = f.tag == IF_DISCARDED_SET;
			r->set[which] = f.v.p;
			r->set_len[which] = (size_t)(f.v.end - f.v.p);
			break;
		}
		case IF_PROCS: {
			struct tcur pc = f.v;
			uint64_t n;
			/* a row is 7 varints and its comm: at least 7 bytes */
			if (get_varint(&pc, &n) || n > (uint64_t)(pc.end - pc.p) / 7) {
				err = -EBADMSG;
				break;
			}
			struct dpt_proc *p = realloc(r->procs, (n ? n : 1) * sizeof(*p));
			if (!p) {
				err = oom();
				break;
			}
			r->procs = p;
			for (uint64_t i = 0; i < n && !err; i++) {
				uint64_t pid, ppid, len, fl;
				memset(&p[i], 0, sizeof(p[i]));
				if (get_varint(&pc, &pid) || get_varint(&pc, &ppid) ||
				    get_varint(&pc, &len) || len >= sizeof(p[i].comm) ||
				    len > (uint64_t)(pc.end - pc.p)) {
					err = -EBADMSG;
					break;
				}
				memcpy(p[i].comm, pc.p, len);
				pc.p += len;
				if (get_varint(&pc, &p[i].dirty) || get_varint(&pc, &p[i].discarded) ||
				    get_varint(&pc, &p[i].total) || get_varint(&pc, &fl)) {
					err = -EBADMSG;
					break;
				}
				p[i].pid = (int)unzigzag(pid);
				p[i].ppid = (int)unzigzag(ppid);
				p[i].flags = (unsigned)fl;
			}
			if (!err && pc.p != pc.end)
				err = -EBADMSG;
			s->nr_procs = (unsigned)n;
			s->procs = p;
			break;
		}
		default:
			break;
		}
	}
	if (err == -ENOMEM)
		return err;
	if (err || got < 0)
		return bad(r, off, "malformed interval");
	if ((seen & 7) != 7)
		return bad(r, off, "interval without its sequence number, times or page count");
	if (s->total > r->max_pages)
		return bad(r, off, "more pages than the reader's limit");
	if (s->dirty > s->total || s->discarded > s->total)
		return bad(r, off, "more dirty or discarded pages than pages");
	if (nr && !(seen & 8)) { /* the table in force: the last one read */
		pages = 0;
		for (unsigned i = 0; i < nr; i++)
			pages += r->regions[i].pages;
	}
	if (nr && pages != s->total)
		return bad(r, off, "its regions do not cover its pages");
	s->nr_regions = nr;
	s->regions = nr ? r->regions : NULL;
	if (rel_times(h, t, &s->mono_start, &s->mono_end, &s->wall_start, &s->wall_end))
		return bad(r, off, "time out of range");
	r->total = s->total;
	r->set_count[0] = s->dirty;
	r->set_count[1] = s->discarded;
	rec->has_set = r->set[0] != NULL;
	rec->has_discarded_set = r->set[1] != NULL;
	return 0;
}

static int parse_nonzero(struct trace_reader *r, uint64_t off, struct trace_record *rec)
{
	struct tcur c = {r->pl, r->pl + r->pl_len};
	struct dpt_nonzero *z = &rec->nz;
	const struct trace_header *h = &r->info.h;
	int64_t t[4] = {0};
	uint64_t v, pages = 0;
	unsigned nr = 0;
	struct field f;
	int got, err = 0;

	while (!err && (got = next_field(&c, &f)) > 0) {
		switch (f.tag) {
		case ZF_AFTER_SEQ:
			err = field_uint(&f, &z->after_seq);
			break;
		case ZF_MONO_START ... ZF_WALL_END:
			err = field_int(&f, &t[f.tag - ZF_MONO_START]);
			break;
		case ZF_METHOD:
			err = field_uint(&f, &v);
			z->method = (unsigned)v;
			break;
		case ZF_TOTAL:
			err = field_uint(&f, &z->total);
			break;
		case ZF_COUNT:
			err = field_uint(&f, &z->count);
			break;
		case ZF_UNKNOWN:
			err = field_uint(&f, &z->unknown);
			break;
		case ZF_BYTES_READ:
			err = field_uint(&f, &z->bytes_read);
			break;
		case ZF_REGIONS:
			err = field_regions(r, &f, &r->nz_regions, &nr, &pages);
			break;
		case ZF_SET:
			r->set[0] = f.v.p;
			r->set_len[0] = (size_t)(f.v.end - f.v.p);
			break;
		default:
			break;
		}
	}
	if (err == -ENOMEM)
		return err;
	if (err || got < 0)
		return bad(r, off, "malformed non-zero record");
	if (z->total > r->max_pages || z->count > z->total || z->unknown > z->count ||
	    (nr && pages != z->total) || !r->set[0])
		return bad(r, off, "non-zero record out of range");
	z->nr_regions = nr;
	z->regions = nr ? r->nz_regions : NULL;
	if (rel_times(h, t, &z->mono_start, &z->mono_end, &z->wall_start, &z->wall_end))
		return bad(r, off, "time out of range");
	r->total = z->total;
	r->set_count[0] = z->count;
	return 0;
}

static int parse_event(struct trace_reader *r, uint64_t off, struct trace_record *rec)
{
	struct tcur c = {r->pl, r->pl + r->pl_len};
	const struct trace_header *h = &r->info.h;
	int64_t mono = 0, wall = 0;
	bool has_text = false;
	struct field f;
	int got, err = 0;

	while (!err && (got = next_field(&c, &f)) > 0) {
		if (f.tag == EF_MONO)
			err = field_int(&f, &mono);
		else if (f.tag == EF_WALL)
			err = field_int(&f, &wall);
		else if (f.tag == EF_TEXT && !(err = field_str(&f, &r->text)))
			has_text = true;
	}
	if (err == -ENOMEM)
		return err;
	if (err || got < 0)
		return bad(r, off, "malformed event");
	if (rel_ts(h->mono_start_ns, mono, &rec->mono) || rel_ts(h->wall_start_ns, wall, &rec->wall))
		return bad(r, off, "time out of range");
	rec->text = has_text ? r->text : ""; /* not an earlier message's */
	return 0;
}

int trace_reader_next(struct trace_reader *r, struct trace_record *rec)
{
	unsigned type;
	uint64_t next;
	int err;

	for (;;) {
		memset(rec, 0, sizeof(*rec));
		r->type = 0;
		r->set[0] = r->set[1] = NULL;
		r->bm_ok[0] = r->bm_ok[1] = false;
		r->runs_of = -1;
		if (r->done)
			return 0;
		if (r->pos == r->end) {
			r->done = true;
			return 0;
		}
		uint64_t off = r->pos;
		err = read_frame(r, off, r->end, &type, &next);
		if (err == 0) { /* torn: runs past the end */
			if (r->info.has_footer)
				return bad(r, off, "record runs past the footer");
			r->tail = r->end - off;
			r->done = true;
			return 0;
		}
		if (err < 0) {
			r->done = true;
			return err;
		}
		r->pos = next;
		rec->type = (enum trace_record_type)type;
		rec->offset = off;
		switch (type) {
		case TRACE_REC_INTERVAL:
			err = parse_interval(r, off, rec);
			break;
		case TRACE_REC_NONZERO:
			err = parse_nonzero(r, off, rec);
			break;
		case TRACE_REC_START:
		case TRACE_REC_STOP:
		case TRACE_REC_MESSAGE:
			err = parse_event(r, off, rec);
			break;
		case TRACE_REC_FOOTER: /* a footer without its trailer: the end */
			r->tail = r->end - next;
			r->done = true;
			return 0;
		case TRACE_REC_HEADER:
			err = bad(r, off, "a second header");
			break;
		default: /* a later minor version's record: skipped */
			continue;
		}
		if (err) {
			r->done = true;
			return err;
		}
		r->type = type;
		return 1;
	}
}

static int current_set(struct trace_reader *r, int which)
{
	if (which < 0 || which > 1 || !r->type || !r->set[which])
		return dpt_fail(-ENOENT, "trace: this record has no such set");
	return 0;
}

int trace_reader_bitmap(struct trace_reader *r, int which, const uint64_t **bitmap)
{
	int err = current_set(r, which);

	if (err)
		return err;
	size_t words = bitmap_words(r->total);
	if (!r->bm_ok[which]) {
		/* at least a word: a set of no pages is a bitmap too, never NULL */
		if (!r->bm[which] || words > r->bm_words[which]) {
			size_t n = words ? words : 1;
			uint64_t *p = realloc(r->bm[which], n * sizeof(*p));
			if (!p)
				return oom();
			r->bm[which] = p;
			r->bm_words[which] = n;
		}
		memset(r->bm[which], 0, words * sizeof(uint64_t));
		err = set_decode_bitmap(r->set[which], r->set_len[which], r->total,
					r->set_count[which], r->bm[which]);
		if (err)
			return dpt_fail_ctx(err, "trace: record %s", which ? "discarded set" : "set");
		r->bm_ok[which] = true;
	}
	*bitmap = r->bm[which];
	return 0;
}

int trace_reader_indices(struct trace_reader *r, int which, uint32_t *list, size_t room,
			 size_t *count)
{
	int err = current_set(r, which);

	if (err)
		return err;
	*count = r->set_count[which];
	if (room < r->set_count[which])
		return dpt_fail(-ENOSPC, "trace: %llu pages in the set, room for %zu",
				(unsigned long long)r->set_count[which], room);
	r->runs_of = -1; /* runs may serve as scratch */
	err = set_decode_list(r->set[which], r->set_len[which], r->total, r->set_count[which],
			      list, &r->runs, &r->nr_runs, &r->runs_cap);
	if (err)
		return dpt_fail_ctx(err, "trace: record %s", which ? "discarded set" : "set");
	return 0;
}

int trace_reader_runs(struct trace_reader *r, int which, const struct trace_run **runs,
		      size_t *nr_runs)
{
	int err = current_set(r, which);

	if (err)
		return err;
	if (r->runs_of != which) {
		r->nr_runs = 0;
		err = set_decode_runs(r->set[which], r->set_len[which], r->total, r->set_count[which],
				      &r->runs, &r->nr_runs, &r->runs_cap);
		if (err)
			return dpt_fail_ctx(err, "trace: record %s", which ? "discarded set" : "set");
		r->runs_of = which;
	}
	*runs = r->runs;
	*nr_runs = r->nr_runs;
	return 0;
}

/* ---- for window.c (trace/reader.h) ---- */

int trace_rd_frame(struct trace_reader *r, uint64_t off, uint64_t limit, unsigned *type,
		   uint64_t *next)
{
	return read_frame(r, off, limit, type, next);
}

int trace_rd_pread(struct trace_reader *r, uint64_t off, void *buf, size_t len)
{
	return src_read(r, off, buf, len);
}

int trace_rd_regions(struct trace_reader *r, const uint8_t *p, const uint8_t *end,
		     struct dpt_region **out, unsigned *nr)
{
	struct field f = {.tag = IF_REGIONS, .v = {p, end}};
	uint64_t pages;

	return field_regions(r, &f, out, nr, &pages);
}
