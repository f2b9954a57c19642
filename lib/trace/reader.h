/* reader.h - the trace reader's state, shared by read.c and window.c (seeking, windows). */
#ifndef DPT_TRACE_READER_H
#define DPT_TRACE_READER_H

#include <stdbool.h>
#include <stdint.h>
#include <zstd.h>

#include "trace/int.h"

#define MAX_STRING  4096
#define MAX_VCPUS   4096

struct trace_reader {
	int fd;
	const uint8_t *mem;
	uint64_t size;	/* bytes of the trace */
	uint64_t first; /* offset of the first record after the header */
	uint64_t pos;	/* offset of the next record */
	uint64_t end;	/* where records end: the footer's offset, or size */
	uint64_t tail;
	bool done;
	uint64_t max_pages, max_record;
	struct tbuf stored, raw;
	const uint8_t *pl; /* the current record's payload (in stored, raw or mem) */
	size_t pl_len;
	ZSTD_DCtx *dctx;
	struct trace_info info;
	char *str[9];
	struct dpt_region *hdr_regions, *regions, *nz_regions;
	unsigned hdr_nr, nr_regions; /* the header's table, the one in force */
	uint64_t *vcpus;
	struct dpt_proc *procs;
	char *text;
	/* the current record */
	unsigned type;
	uint64_t total;
	const uint8_t *set[2];
	size_t set_len[2];
	uint64_t set_count[2];
	uint64_t *bm[2];
	size_t bm_words[2];
	bool bm_ok[2];
	struct trace_run *runs;
	size_t nr_runs, runs_cap;
	int runs_of; /* which set runs holds, -1 none */
};

/* read.c's helpers for window.c. A frame at off (ending before limit): 1 with r->pl and
 * r->pl_len its payload (checked against its CRC, decompressed), 0 torn, -errno malformed. */
int trace_rd_frame(struct trace_reader *r, uint64_t off, uint64_t limit, unsigned *type,
		   uint64_t *next);
/* len bytes at off, which the caller knows the trace holds. */
int trace_rd_pread(struct trace_reader *r, uint64_t off, void *buf, size_t len);
/* A region table field's value [p, end): *out realloc'd to it. 0, -EBADMSG or -ENOMEM. */
int trace_rd_regions(struct trace_reader *r, const uint8_t *p, const uint8_t *end,
		     struct dpt_region **out, unsigned *nr);

#endif
