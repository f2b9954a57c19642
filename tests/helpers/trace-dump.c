/* trace-dump: print a .dpt trace a record per line, for tests and for looking.
 *
 *	trace-dump [--pages] [--regions] [--limits PAGES] FILE
 *
 *	header tracker=T mode=M target="..." interval_ns=N flags=F vcpus=N pid=P regions=N
 *	start mono=S wall=S
 *	interval seq=N mono=S..S wall=S..S dirty=D total=T discarded=X flags=F set=yes|no
 *	         [regions=N] [vcpus=a,b] [procs=N] [pages=i,j-k,...]
 *	nonzero after=N count=C total=T unknown=U method=M bytes=B scan=S s [pages=...]
 *	  region start=0xADDR pages=N first=F granule=G name=NAME    (--regions: a non-zero
 *	                                                               record's table, a line each)
 *	message "TEXT"
 *	stop mono=S
 *	end tail=N footer=yes|no
 * Times in seconds (mono relative to the header's start). Exit 1 with "trace-dump: reason" on
 * a malformed trace (after the records read before it).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/log.h"
#include "dpt/trace.h"

static double rel(const struct timespec *t, int64_t base)
{
	return (double)((int64_t)t->tv_sec * 1000000000 + t->tv_nsec - base) / 1e9;
}

static double abs_s(const struct timespec *t)
{
	return (double)t->tv_sec + (double)t->tv_nsec / 1e9;
}

static void regions(const struct dpt_region *g, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		printf("  region start=%#" PRIx64 " pages=%" PRIu64 " first=%" PRIu64
		       " granule=%u name=%s\n",
		       g[i].start, g[i].pages, g[i].first_page, g[i].granule, g[i].name);
}

static void pages(struct trace_reader *r, int which)
{
	const struct trace_run *runs;
	size_t n;

	if (trace_reader_runs(r, which, &runs, &n))
		return;
	printf(" pages=");
	for (size_t i = 0; i < n; i++) {
		if (runs[i].len == 1)
			printf("%s%" PRIu64, i ? "," : "", runs[i].start);
		else
			printf("%s%" PRIu64 "-%" PRIu64, i ? "," : "", runs[i].start,
			       runs[i].start + runs[i].len - 1);
	}
}

int main(int argc, char **argv)
{
	bool show_pages = false, show_regions = false;
	uint64_t limit = 0;
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--pages"))
			show_pages = true;
		else if (!strcmp(argv[i], "--regions"))
			show_regions = true;
		else if (!strcmp(argv[i], "--limits") && i + 1 < argc)
			limit = strtoull(argv[++i], NULL, 0);
		else
			break;
	}
	if (i != argc - 1) {
		fprintf(stderr, "usage: trace-dump [--pages] [--regions] [--limits PAGES] FILE\n");
		return 2;
	}
	struct trace_reader *r;
	if (trace_reader_open(&r, argv[i])) {
		fprintf(stderr, "trace-dump: %s\n", dpt_last_error());
		return 1;
	}
	trace_reader_limits(r, limit, 0);
	const struct trace_info *in = trace_reader_info(r);
	const struct trace_header *h = &in->h;
	int64_t m0 = h->mono_start_ns;
	printf("header version=%u.%u tracker=%s mode=%s target=\"%s\" interval_ns=%" PRIu64
	       " flags=%#x vcpus=%u pid=%d regions=%u page_size=%u command=\"%s\"\n",
	       in->major, in->minor, h->tracker, h->mode, h->target, h->interval_ns, h->flags,
	       h->nr_vcpus, h->owner_pid, h->nr_regions, h->page_size, h->command);
	struct trace_record rec;
	int got;
	while ((got = trace_reader_next(r, &rec)) > 0) {
		const struct dpt_sample *s = &rec.s;
		switch (rec.type) {
		case TRACE_REC_INTERVAL:
			printf("interval seq=%" PRIu64 " mono=%.6f..%.6f wall=%.6f..%.6f dirty=%" PRIu64
			       " total=%" PRIu64 " discarded=%" PRIu64 " flags=%#x set=%s",
			       s->seq, rel(&s->mono_start, m0), rel(&s->mono_end, m0),
			       abs_s(&s->wall_start), abs_s(&s->wall_end), s->dirty, s->total,
			       s->discarded, s->flags, rec.has_set ? "yes" : "no");
			if (s->regions_changed)
				printf(" regions=%u", s->nr_regions);
			for (unsigned v = 0; v < s->nr_vcpus; v++)
				printf("%s%" PRIu64, v ? "," : " vcpus=", s->vcpu_dirty[v]);
			if (s->nr_procs)
				printf(" procs=%u", s->nr_procs);
			if (show_pages && rec.has_set)
				pages(r, 0);
			printf("\n");
			break;
		case TRACE_REC_NONZERO:
			printf("nonzero after=%" PRIu64 " count=%" PRIu64 " total=%" PRIu64
			       " unknown=%" PRIu64 " method=%u bytes=%" PRIu64 " scan=%.6f",
			       rec.nz.after_seq, rec.nz.count, rec.nz.total, rec.nz.unknown,
			       rec.nz.method, rec.nz.bytes_read,
			       rel(&rec.nz.mono_end, m0) - rel(&rec.nz.mono_start, m0));
			if (show_pages)
				pages(r, 0);
			printf("\n");
			if (show_regions)
				regions(rec.nz.regions, rec.nz.nr_regions);
			break;
		case TRACE_REC_START:
		case TRACE_REC_STOP:
			printf("%s mono=%.6f wall=%.6f\n", rec.type == TRACE_REC_START ? "start" : "stop",
			       rel(&rec.mono, m0), abs_s(&rec.wall));
			break;
		case TRACE_REC_MESSAGE:
			printf("message \"%s\"\n", rec.text);
			break;
		default:
			break;
		}
	}
	if (got < 0) {
		fprintf(stderr, "trace-dump: %s\n", dpt_last_error());
		trace_reader_close(r);
		return 1;
	}
	printf("end tail=%" PRIu64 " footer=%s\n", trace_reader_tail(r),
	       in->has_footer ? "yes" : "no");
	trace_reader_close(r);
	return 0;
}
