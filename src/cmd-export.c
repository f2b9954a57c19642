/* cmd-export.c - `dpt export`: a .dpt trace written back out as dpt wrote it live: Qemu-DPT
 * bitmap files, CSV rows, JSON lines.
 *
 * 1. Open the trace; its header becomes the writers' run description, as the live run had it
 *    (tracker, vCPUs, discards counted, per-process rows, --compat).
 * 2. Replay its records through the live run's own writers: session start and stop to
 *    start() and stop(), each interval to sample(), its dirty set decoded only for bitmap
 *    files, which are named by bitmaps.c as the live text writer names them. So the files,
 *    rows and lines are those the live run wrote (docs/import-export.md).
 * 3. A torn tail (a recording killed mid-write) ends the replay: what is there is written and
 *    the bytes ignored are said in one line. A malformed record is an error, and every file
 *    the export created is removed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "dpt/log.h"
#include "dpt/parse.h"
#include "dpt/trace.h"
#include "writers/bitmaps.h"

enum { OPT_CSV = OPT_RUN_LAST, OPT_NDJSON, OPT_FROM, OPT_TO };

static const struct option export_longopts[] = {
	{"bitmaps", required_argument, 0, 'b'}, {"csv", required_argument, 0, OPT_CSV},
	{"ndjson", required_argument, 0, OPT_NDJSON}, {"from", required_argument, 0, OPT_FROM},
	{"to", required_argument, 0, OPT_TO}, {"help", no_argument, 0, 'h'},
	{0},
};

static const char export_usage[] =
	"usage: dpt export TRACE.dpt [--bitmaps DIR] [--csv FILE] [--ndjson FILE]\n"
	"                  [--from T] [--to T]\n\n"
	"Write a .dpt trace back out as dpt wrote it live (names, bytes and rows alike).\n\n"
	"  -b, --bitmaps DIR  Qemu-DPT bitmap files qemu.bm-PID.SECONDS[.N] into DIR, an existing\n"
	"                     directory holding no such file of the trace's pid\n"
	"      --csv FILE     one row per interval, as -o csv:FILE ('-': standard output)\n"
	"      --ndjson FILE  one JSON object per line, as -o ndjson:FILE ('-': standard output)\n"
	"      --from T       only intervals that start T or later after the trace's start\n"
	"                     (seconds, or 1.5s, 500ms, 2m)\n"
	"      --to T         only intervals that end T or earlier after the trace's start\n"
	"  -h, --help         this text\n";

struct export_opts {
	const char *trace;
	const char *bitmaps, *csv, *ndjson;
	uint64_t from_ns, to_ns; /* to_ns 0: the end */
};

struct export_run {
	struct trace_reader *r;
	const struct trace_header *h;
	struct dpt_writer w[2];
	unsigned nw;
	bool have_dir;
	struct bitmap_dir dir;
	char **paths; /* bitmap files written, removed on failure */
	size_t nr_paths, paths_cap;
	uint64_t intervals;
};

static int export_parse(int argc, char **argv, struct export_opts *o, bool *done)
{
	uint64_t *t;
	int opt;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "b:h", export_longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			fputs(export_usage, stdout);
			*done = true;
			return 0;
		case 'b':
			o->bitmaps = optarg;
			break;
		case OPT_CSV:
			o->csv = optarg;
			break;
		case OPT_NDJSON:
			o->ndjson = optarg;
			break;
		case OPT_FROM:
		case OPT_TO:
			t = opt == OPT_FROM ? &o->from_ns : &o->to_ns;
			if (parse_duration_ns(optarg, t))
				return cmd_usage_error("export",
						       "%s: '%s' is not a time (e.g. 10, 1.5s)",
						       opt == OPT_FROM ? "--from" : "--to", optarg);
			break;
		default:
			return cmd_usage_error("export", "unknown option '%s' or missing its value",
					       argv[optind - 1]);
		}
	}
	if (optind == argc)
		return cmd_usage_error("export", "which trace? dpt export TRACE.dpt ...");
	if (optind < argc - 1)
		return cmd_usage_error("export", "one trace at a time: '%s' is one too many",
				       argv[optind + 1]);
	o->trace = argv[optind];
	if (!o->bitmaps && !o->csv && !o->ndjson)
		return cmd_usage_error("export", "nothing to write: --bitmaps, --csv or --ndjson");
	if (o->csv && o->ndjson && !strcmp(o->csv, "-") && !strcmp(o->ndjson, "-"))
		return cmd_usage_error("export", "--csv and --ndjson cannot both go to stdout");
	if (o->to_ns && o->to_ns < o->from_ns)
		return cmd_usage_error("export", "--to is before --from");
	return 0;
}

/* The live run's description, from the trace's header. */
static struct dpt_run_info export_run_info(const struct trace_header *h)
{
	return (struct dpt_run_info){
		.tracker = h->tracker,
		.mode = h->mode,
		.target_desc = h->target,
		.owner_pid = h->owner_pid,
		.interval_ns = h->interval_ns,
		.nr_vcpus = h->nr_vcpus,
		.estimate = !!(h->flags & TRACE_ESTIMATE),
		.counts_discarded = h->flags & TRACE_COUNTS_DISCARDED,
		.per_process = h->flags & TRACE_PER_PROCESS,
		.has_bitmap = h->flags & TRACE_HAS_SETS,
		.compat = h->flags & TRACE_COMPAT,
		.zero_scan_ns = h->zero_scan_ns,
		.command = h->command,
	};
}

/* DIR must not hold a file of the trace's pid: live names take the next free suffix, so
 * one there would shift every name of its second. */
static int export_dir_check(const char *dir, pid_t owner)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int err = 0;

	if (!d)
		return dpt_fail(-errno, "bitmap directory %s: %s", dir, strerror(errno));
	while (!err && (e = readdir(d))) {
		pid_t pid;
		int64_t secs;
		unsigned suffix;

		if (!bitmap_name_parse(e->d_name, &pid, &secs, &suffix) && pid == owner)
			err = dpt_fail(-EEXIST,
				       "bitmap directory %s already holds %s: export into a directory "
				       "without bitmap files of pid %d",
				       dir, e->d_name, (int)owner);
	}
	closedir(d);
	return err;
}

static int export_open(struct export_run *ex, const struct export_opts *o)
{
	struct dpt_run_info info = export_run_info(ex->h);
	const char *names[2] = {"csv", "ndjson"}, *args[2] = {o->csv, o->ndjson};
	int err;

	if (o->bitmaps && !(ex->h->flags & TRACE_HAS_SETS))
		return dpt_fail(-EINVAL,
				"%s: a counts-only trace (%s tracker: no dirty sets): it cannot give "
				"bitmap files",
				o->trace, ex->h->tracker);
	if (o->bitmaps) {
		if ((err = bitmap_dir_init(&ex->dir, o->bitmaps, ex->h->owner_pid)))
			return err;
		ex->have_dir = true;
		if ((err = export_dir_check(o->bitmaps, ex->h->owner_pid)))
			return err;
	}
	for (unsigned i = 0; i < 2; i++) {
		if (!args[i])
			continue;
		struct dpt_writer *w = &ex->w[ex->nw];
		*w = (struct dpt_writer){.ops = writer_find(names[i]), .info = info};
		if ((err = w->ops->open(w, args[i], &info)))
			return err;
		ex->nw++;
	}
	return 0;
}

/* Close the writers and the bitmap directory; with discard, remove every file created. */
static int export_close(struct export_run *ex, bool discard)
{
	int err = 0;

	for (unsigned i = ex->nw; i-- > 0;) {
		ex->w[i].discard = discard;
		int e = ex->w[i].ops->close(&ex->w[i]);
		if (e && !err)
			err = e;
	}
	for (size_t i = 0; i < ex->nr_paths; i++) {
		if (discard)
			unlink(ex->paths[i]);
		free(ex->paths[i]);
	}
	free(ex->paths);
	if (ex->have_dir)
		bitmap_dir_fini(&ex->dir);
	return err;
}

static int export_bitmap(struct export_run *ex, struct dpt_sample *s)
{
	char path[4200];
	int err;

	if ((err = trace_reader_bitmap(ex->r, 0, &s->bitmap)))
		return err;
	if (ex->nr_paths == ex->paths_cap) {
		size_t cap = ex->paths_cap ? 2 * ex->paths_cap : 256;
		char **p = realloc(ex->paths, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		ex->paths = p;
		ex->paths_cap = cap;
	}
	bool compat = ex->h->flags & TRACE_COMPAT;
	int64_t n = bitmap_dir_write_sample(&ex->dir, s, compat, path, sizeof(path));
	if (n < 0)
		return (int)n;
	if (!(ex->paths[ex->nr_paths] = strdup(path))) {
		unlink(path);
		return -ENOMEM;
	}
	ex->nr_paths++;
	return 0;
}

static int export_interval(struct export_run *ex, const struct trace_record *rec)
{
	struct dpt_sample s = rec->s;
	int err;

	/* as the live text writer: a file for every interval with a set (lost ones have none) */
	if (ex->have_dir && rec->has_set && (err = export_bitmap(ex, &s)))
		return err;
	for (unsigned i = 0; i < ex->nw; i++)
		if ((err = ex->w[i].ops->sample(&ex->w[i], &s)))
			return err;
	ex->intervals++;
	return 0;
}

static int export_event(struct export_run *ex, bool start)
{
	for (unsigned i = 0; i < ex->nw; i++) {
		int err = start ? ex->w[i].ops->start(&ex->w[i]) : ex->w[i].ops->stop(&ex->w[i]);
		if (err)
			return err;
	}
	return 0;
}

static bool in_range(const struct export_opts *o, const struct trace_header *h,
		     const struct timespec *start, const struct timespec *end)
{
	int64_t a = (int64_t)start->tv_sec * 1000000000 + start->tv_nsec - h->mono_start_ns;
	int64_t b = (int64_t)end->tv_sec * 1000000000 + end->tv_nsec - h->mono_start_ns;

	return a >= (int64_t)o->from_ns && (!o->to_ns || b <= (int64_t)o->to_ns);
}

/* Every record through the writers; 0 at the end of the trace (torn tail included). */
static int export_replay(struct export_run *ex, const struct export_opts *o)
{
	struct trace_record rec;
	int got = 0, err = 0;

	while (!err && (got = trace_reader_next(ex->r, &rec)) > 0) {
		switch (rec.type) {
		case TRACE_REC_START:
		case TRACE_REC_STOP:
			if (in_range(o, ex->h, &rec.mono, &rec.mono))
				err = export_event(ex, rec.type == TRACE_REC_START);
			break;
		case TRACE_REC_INTERVAL:
			if (in_range(o, ex->h, &rec.s.mono_start, &rec.s.mono_end))
				err = export_interval(ex, &rec);
			break;
		default: /* non-zero sets, messages: only the trace writer takes them live */
			break;
		}
	}
	if (got < 0)
		return dpt_fail_ctx(got, "%s", o->trace);
	return err;
}

int cmd_export(int argc, char **argv)
{
	struct export_opts o = {0};
	struct export_run ex = {0};
	bool done = false;
	int rc = export_parse(argc, argv, &o, &done);

	if (rc || done)
		return rc;
	if (trace_reader_open(&ex.r, o.trace))
		return cmd_error("cannot read the trace");
	ex.h = &trace_reader_info(ex.r)->h;
	int err = export_open(&ex, &o);
	if (!err)
		err = export_replay(&ex, &o);
	int e = export_close(&ex, err != 0);
	if (!err)
		err = e;
	uint64_t tail = trace_reader_tail(ex.r);
	bool footer = trace_reader_info(ex.r)->has_footer;
	trace_reader_close(ex.r);
	if (err)
		return cmd_error("export failed");
	if (tail)
		dpt_warn("%s: its last %llu bytes are a torn record (the recording was killed "
			 "mid-write): ignored; %llu intervals exported",
			 o.trace, (unsigned long long)tail, (unsigned long long)ex.intervals);
	else if (!footer)
		dpt_warn("%s: no footer (the recording was killed between two records): %llu "
			 "intervals exported, the last ones may be missing",
			 o.trace, (unsigned long long)ex.intervals);
	return 0;
}
