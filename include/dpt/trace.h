/* trace.h - the .dpt trace file: a compact, crash-safe record of a tracking run, and its reader.
 *
 * The format is specified in docs/trace-format.md. In short: a 16-byte file prefix, then
 * self-framed records (header, one per interval, non-zero page sets, session start/stop,
 * messages), each with a CRC-32C, payloads zstd-compressed when that helps, and at a clean end
 * a footer record with an index plus a 16-byte trailer. Dirty sets are sorted page indices,
 * encoded per record as delta+varint indices, runs or a raw bitmap, whichever is smallest.
 *
 * This is library code: no /proc, no KVM, no exit. Every function returns 0 (or a count) or
 * -errno with the reason recorded by dpt_fail().
 */
#ifndef DPT_TRACE_H
#define DPT_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "dpt/sample.h"

#define DPT_TRACE_MAJOR 1
#define DPT_TRACE_MINOR 0

/* What a reader accepts by default: at most 2^32 pages (16 TiB of 4 KiB pages) per record,
 * decoded records of at most 256 MiB. */
#define DPT_TRACE_MAX_PAGES   (1ULL << 32)
#define DPT_TRACE_MAX_RECORD  (256u << 20)

enum trace_header_flags {
	TRACE_ESTIMATE = 1 << 0,	 /* counts are estimates (qmp page sampling) */
	TRACE_HAS_SETS = 1 << 1,	 /* interval records carry dirty sets (else counts only) */
	TRACE_COUNTS_DISCARDED = 1 << 2, /* discarded counts (and sets) are known */
	TRACE_PER_PROCESS = 1 << 3,	 /* interval records carry per-process rows */
	TRACE_COMPAT = 1 << 4,		 /* recorded with --compat (Qemu-DPT's first bitmap and
					    final naming) */
	TRACE_IMPORTED = 1 << 5,	 /* made by dpt import from Qemu-DPT bitmap files */
};

/* The run's description, written once at the start. Strings may be NULL (written empty). */
struct trace_header {
	uint32_t page_size;
	const char *dpt_version;
	const char *kernel;   /* "Linux 6.1.0-28-amd64 #1 SMP ..." */
	const char *cpu;      /* "AMD EPYC 7B13, 2 CPUs" */
	const char *hostname;
	const char *tracker;  /* "kvm", "pid", "qmp", "import" */
	const char *mode;     /* the tracker's mechanism */
	const char *target;   /* the target's description */
	const char *command;  /* dpt's command line */
	uint64_t interval_ns; /* requested interval */
	uint64_t zero_scan_ns; /* non-zero scans every this long, 0 = none but at start and end */
	int64_t wall_start_ns; /* CLOCK_REALTIME at the start of recording */
	int64_t mono_start_ns; /* CLOCK_MONOTONIC at the same moment */
	unsigned flags;	      /* enum trace_header_flags */
	unsigned nr_vcpus;
	int32_t owner_pid;    /* for Qemu-DPT file names */
	unsigned nr_regions;  /* the region table at the start */
	const struct dpt_region *regions;
};

/* ---- writing -------------------------------------------------------------------------- */

struct trace_writer;

/* Create path (O_EXCL unless overwrite) and write the prefix and the header record. */
int trace_writer_open(struct trace_writer **twp, const char *path, bool overwrite,
		      const struct trace_header *h);
/* Append one interval. Its dirty set is s->bitmap (NULL: counts only; a DPT_SAMPLE_ALL
 * sample without a bitmap is recorded as every page). The region table is written when
 * s->regions_changed or it differs from the last one written. */
int trace_writer_sample(struct trace_writer *tw, const struct dpt_sample *s);
int trace_writer_nonzero(struct trace_writer *tw, const struct dpt_nonzero *z);
/* A tracking session starts (start = true) or stops, at these times. */
int trace_writer_session(struct trace_writer *tw, bool start, const struct timespec *mono,
			 const struct timespec *wall);
/* A line dpt said (a warning, a change of the target), at these times. */
int trace_writer_message(struct trace_writer *tw, const struct timespec *mono,
			 const struct timespec *wall, const char *text);
/* Bytes written so far. */
uint64_t trace_writer_bytes(const struct trace_writer *tw);
/* Write the footer (index) when footer, then close; frees tw. With discard, remove the file.
 * Returns the first write error met, if any. */
int trace_writer_close(struct trace_writer *tw, bool footer, bool discard);

/* Compression level for new writers (zstd, default 1; 0 = store uncompressed). */
extern int trace_zstd_level;

/* ---- reading -------------------------------------------------------------------------- */

enum trace_record_type {
	TRACE_REC_HEADER = 1,
	TRACE_REC_INTERVAL = 2,
	TRACE_REC_NONZERO = 3,
	TRACE_REC_START = 4,
	TRACE_REC_STOP = 5,
	TRACE_REC_MESSAGE = 6,
	TRACE_REC_FOOTER = 7,
};

/* A header as read: the strings and regions belong to the reader. */
struct trace_info {
	uint16_t major, minor;
	struct trace_header h;
	bool has_footer;	/* the file ended cleanly with an index */
	uint64_t nr_intervals;	/* from the index (0 without one) */
	uint64_t file_size;
};

/* One record as read. Pointers refer to reader-owned storage valid until the next
 * trace_reader_next(). */
struct trace_record {
	enum trace_record_type type;
	uint64_t offset; /* of the record in the file */
	/* TRACE_REC_INTERVAL: seq, times, counts, flags, vCPU counts, processes, regions (with
	 * regions_changed), page_size. bitmap and discarded_bitmap are NULL: ask for them with
	 * trace_reader_bitmap() / trace_reader_runs(). */
	struct dpt_sample s;
	bool has_set;	       /* the record holds its dirty set */
	bool has_discarded_set;
	/* TRACE_REC_NONZERO (bitmap NULL until trace_reader_bitmap()) */
	struct dpt_nonzero nz;
	/* TRACE_REC_START / STOP / MESSAGE: the times; MESSAGE: the text */
	struct timespec mono, wall;
	const char *text;
};

/* A run of consecutive pages [start, start + len). */
struct trace_run {
	uint64_t start, len;
};

struct trace_reader;

/* Open a trace file, or a trace in memory (not copied; must outlive the reader), and read its
 * prefix and header. */
int trace_reader_open(struct trace_reader **rp, const char *path);
int trace_reader_open_mem(struct trace_reader **rp, const void *buf, size_t len);
/* Lower the limits (0 keeps the default): at most max_pages per record, records of at most
 * max_record bytes decoded. */
void trace_reader_limits(struct trace_reader *r, uint64_t max_pages, uint64_t max_record);
const struct trace_info *trace_reader_info(const struct trace_reader *r);

/* The next record: 1 and *rec filled, 0 at the end of the trace, -errno on a malformed record
 * (the reason recorded; reading stops there). At the end, a torn tail (a recording killed
 * mid-record, or garbage after the last whole record) is not an error: its size is in
 * trace_reader_tail(). */
int trace_reader_next(struct trace_reader *r, struct trace_record *rec);
/* Bytes ignored at the end of the file: a torn last record or trailing garbage (0 when the
 * trace ended cleanly). Meaningful once trace_reader_next() returned 0. */
uint64_t trace_reader_tail(const struct trace_reader *r);

/* The current record's dirty set (which = 0), discarded set (1) or non-zero set (for a
 * non-zero record, which = 0), as a bitmap of the record's total pages owned by the reader,
 * or as sorted runs. -ENOENT if the record has no such set. */
int trace_reader_bitmap(struct trace_reader *r, int which, const uint64_t **bitmap);
int trace_reader_runs(struct trace_reader *r, int which, const struct trace_run **runs,
		      size_t *nr_runs);
/* The same set as a list of page indices in increasing order, decoded into the caller's
 * list of room entries (straight from an indices encoding: no bitmap is made). *count is
 * set to the set's pages whenever the record has the set; -ENOSPC when room is less (nothing
 * written: call again with room for *count), -EOVERFLOW when the record has more than 2^32
 * pages. */
int trace_reader_indices(struct trace_reader *r, int which, uint32_t *list, size_t room,
			 size_t *count);

/* Go back to the first record after the header. */
int trace_reader_rewind(struct trace_reader *r);

/* ---- seeking by time, and the dirty set of a time window (window.c) ------------------ */

/* Times here are dpt report's: nanoseconds from the header's mono_start, an interval being at
 * the middle of its monotonic start and end (an interval is in [from, to) when its middle is).
 * Intervals are taken to be in time order and not to overlap, as the writer makes them. */

/* An interval's time for cuts and seeks: the middle of its monotonic start and end, in ns
 * from the trace's start (the header's mono_start_ns). dpt report's cut, trace_reader_seek()
 * and trace_window_dirty() all place an interval by it. */
int64_t trace_interval_middle(int64_t mono_start_ns, const struct dpt_sample *s);

/* Position r so that the next trace_reader_next() returns the first interval record whose
 * middle is at or after from_ns (or 0, the end of the trace, if there is none). With a valid
 * footer, its index is used to jump near it (see window.c for what is checked and read); else,
 * or if the index disagrees with the file, the records are read from the start. The region
 * table in force is the one a reading from the start would have there. The current record
 * (and what trace_reader_next() pointed at) is gone, as after trace_reader_next(). 0 or
 * -errno (a malformed record met on the way, the reason recorded; then seek again or rewind). */
int trace_reader_seek(struct trace_reader *r, int64_t from_ns);

/* What trace_window_dirty() counted. */
struct trace_window {
	uint64_t intervals;	/* interval records whose middle is in the window (but the
				   synthetic all-dirty one of --compat) */
	uint64_t first_seq, last_seq;
	int64_t mono_start_ns;	/* the earliest start and latest end of those intervals, ns from */
	int64_t mono_end_ns;	/*   the trace's start */
	uint64_t no_set;	/* of them, intervals without a set (counts only, or lost) */
	uint64_t synthetic;	/* synthetic all-dirty intervals in the window, not counted */
	bool incomplete;	/* no_set > 0: the union is a lower bound */
	bool regions_changed;	/* an interval after the first carried another region table:
				   page numbers in the union mix two layouts */
};

/* The union of the dirty sets of the intervals whose middle is in [from_ns, to_ns): a bitmap
 * of *nbits pages (the largest total of those intervals), malloc'd, the caller frees it (NULL
 * on error). Starts with trace_reader_seek(); leaves r after the window. -EINVAL if from_ns >=
 * to_ns, -ENOENT if no interval is in the window, -errno from a malformed record. */
int trace_window_dirty(struct trace_reader *r, int64_t from_ns, int64_t to_ns, uint64_t **bitmap,
		       uint64_t *nbits, struct trace_window *w);
void trace_reader_close(struct trace_reader *r);

/* ---- the set codec, exposed for tests and benchmarks ---------------------------------- */

enum trace_set_kind {
	TRACE_SET_INDICES = 0, /* count, first index, then gaps - 1, varints */
	TRACE_SET_RUNS = 1,    /* run count, then (gap from the previous run's end, length - 1) */
	TRACE_SET_BITMAP = 2,  /* ceil(total / 8) bytes, bit i of byte j = page 8j + i */
};

/* Size in bytes of each encoding of the set bm (nbits pages, count set): sizes[kind]. */
void trace_set_sizes(const uint64_t *bm, uint64_t nbits, size_t sizes[3]);

/* CRC-32C (Castagnoli) of buf, continuing from crc (0 to start). */
uint32_t trace_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
