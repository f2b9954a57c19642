/* cmd-import.c - `dpt import`: a directory of Qemu-DPT bitmap files becomes a .dpt trace.
 *
 * 1. List DIR: every entry must be a bitmap file named as Qemu-DPT and dpt name them,
 *    qemu.bm-PID.SECONDS[.N] (bitmaps.c), of one pid (or the one --pid picks), all of one
 *    size. Sort them by (seconds, suffix): the order they were written in.
 * 2. The page count T: Qemu-DPT's dpt_start (and dpt's --compat) first writes a file with
 *    every page set. When the first file's set bits are exactly pages 0..T-1 and reach its
 *    last word, it is that all-dirty interval (seq 0) and T is exact; otherwise T is the
 *    file's size in bits, an upper bound (a file holds ceil(T/64) words: T may be up to 63
 *    less).
 * 3. Times: a name gives the second its interval ended in (time(NULL) in Qemu-DPT, the end's
 *    second in dpt); the files of one second (dpt's sub-second intervals) have their ends
 *    spread evenly over it; an interval starts where the previous one ended. After an all-dirty
 *    first file, the last file is named after the second after its end (dpt_stop's
 *    time(NULL) + 1, dpt's --compat): its end is one second less, and the trace is marked
 *    compat so that dpt export names it back alike. Monotonic times are the wall times.
 * 4. Write FILE.tmp, then rename it to FILE: a failed import leaves no file behind.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/parse.h"
#include "dpt/trace.h"
#include "dpt/version.h"
#include "writers/bitmaps.h"

#define NSEC 1000000000LL

enum { OPT_PID = OPT_RUN_LAST };

static const struct option import_longopts[] = {
	{"output", required_argument, 0, 'o'}, {"pid", required_argument, 0, OPT_PID},
	{"quiet", no_argument, 0, 'q'},	       {"help", no_argument, 0, 'h'},
	{0},
};

static const char import_usage[] =
	"usage: dpt import DIR -o FILE.dpt [--pid PID]\n\n"
	"Make a .dpt trace from the Qemu-DPT bitmap files of one VM in DIR (qemu.bm-PID.SECONDS\n"
	"and qemu.bm-PID.SECONDS.N, as Qemu-DPT and dpt --bitmaps write them), for dpt report,\n"
	"export and the forecasts. DIR must hold nothing else.\n\n"
	"  -o, --output FILE  the trace to write (replaced if it exists; never left half-written)\n"
	"      --pid PID      the VM whose files to take, when DIR holds several\n"
	"  -q, --quiet        no summary line\n"
	"  -h, --help         this text\n\n"
	"The page count is exact when the first file is Qemu-DPT's all-dirty one, else an upper\n"
	"bound (the file's size in bits). Times have the names' resolution: the second each\n"
	"interval ended in.\n";

struct import_file {
	char *name;
	pid_t pid;
	int64_t secs;
	unsigned suffix;
};

struct import {
	const char *dir;
	struct import_file *files;
	size_t n, cap;
	uint64_t bytes;	      /* of every file */
	uint64_t pages;	      /* T */
	bool all_first;	      /* the first file is Qemu-DPT's all-dirty one: T is exact */
	int64_t *ends;	      /* each file's interval's end, ns */
	int64_t interval;     /* the mean interval, ns */
	unsigned same_second; /* intervals that end in the second the previous one ended */
};

static void import_fini(struct import *im)
{
	for (size_t i = 0; i < im->n; i++)
		free(im->files[i].name);
	free(im->files);
	free(im->ends);
}

#define PATH_LEN 4400

/* DIR/NAME of file i, into buf (PATH_LEN bytes). */
static const char *import_path(const struct import *im, size_t i, char *buf)
{
	snprintf(buf, PATH_LEN, "%s/%s", im->dir, im->files[i].name);
	return buf;
}

/* ---- the files ---- */

static int import_add(struct import *im, const char *name)
{
	struct import_file f = {0};

	if (bitmap_name_parse(name, &f.pid, &f.secs, &f.suffix))
		return dpt_fail(-EINVAL,
				"%s/%s: not a Qemu-DPT bitmap file (qemu.bm-PID.SECONDS[.N]); the "
				"directory must hold nothing else",
				im->dir, name);
	if (im->n == im->cap) {
		size_t cap = im->cap ? 2 * im->cap : 256;
		struct import_file *p = realloc(im->files, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		im->files = p;
		im->cap = cap;
	}
	if (!(f.name = strdup(name)))
		return -ENOMEM;
	im->files[im->n++] = f;
	return 0;
}

static int import_list(struct import *im)
{
	struct stat st;
	struct dirent *e;
	DIR *d;
	int err = 0;

	if (stat(im->dir, &st))
		return dpt_fail(-errno, "%s: %s", im->dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return dpt_fail(-ENOTDIR, "%s: not a directory", im->dir);
	if (!(d = opendir(im->dir)))
		return dpt_fail(-errno, "%s: %s", im->dir, strerror(errno));
	while (!err && (errno = 0, e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			err = import_add(im, e->d_name);
	if (!err && errno)
		err = dpt_fail(-errno, "%s: %s", im->dir, strerror(errno));
	closedir(d);
	if (!err && !im->n)
		err = dpt_fail(-ENOENT, "%s: no Qemu-DPT bitmap files (qemu.bm-PID.SECONDS) in it",
			       im->dir);
	return err;
}

static int pid_cmp(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return x < y ? -1 : x > y;
}

/* The pids of the files in increasing order, "123, 456" (at most len bytes); how many. */
static int import_pids(const struct import *im, char *buf, size_t len, unsigned *nr)
{
	pid_t *pids = malloc(im->n * sizeof(*pids));
	size_t off = 0;

	if (!pids)
		return -ENOMEM;
	for (size_t i = 0; i < im->n; i++)
		pids[i] = im->files[i].pid;
	qsort(pids, im->n, sizeof(*pids), pid_cmp);
	*nr = 0;
	buf[0] = 0;
	for (size_t i = 0; i < im->n; i++) {
		if (i && pids[i] == pids[i - 1])
			continue;
		if (off < len)
			off += (size_t)snprintf(buf + off, len - off, "%s%d", *nr ? ", " : "",
						(int)pids[i]);
		(*nr)++;
	}
	free(pids);
	return 0;
}

/* Keep the files of one pid: the only one, or want (0: none asked for). */
static int import_pick_pid(struct import *im, pid_t want)
{
	char pids[200];
	unsigned nr;
	size_t kept = 0;

	if (import_pids(im, pids, sizeof(pids), &nr))
		return -ENOMEM;
	if (!want && nr > 1)
		return dpt_fail(-EINVAL,
				"%s holds the bitmap files of %u processes (pids %s): pick one "
				"with --pid",
				im->dir, nr, pids);
	for (size_t i = 0; i < im->n; i++) {
		if (want && im->files[i].pid != want)
			free(im->files[i].name);
		else
			im->files[kept++] = im->files[i];
	}
	im->n = kept;
	if (!kept)
		return dpt_fail(-ENOENT, "%s: no bitmap file of pid %d (it holds pids %s)", im->dir,
				(int)want, pids);
	return 0;
}

static int file_cmp(const void *a, const void *b)
{
	const struct import_file *x = a, *y = b;

	if (x->secs != y->secs)
		return x->secs < y->secs ? -1 : 1;
	return x->suffix < y->suffix ? -1 : x->suffix > y->suffix;
}

/* Every file a regular file of one size, a whole number of words. */
static int import_sizes(struct import *im)
{
	char buf[PATH_LEN];

	for (size_t i = 0; i < im->n; i++) {
		const char *path = import_path(im, i, buf);
		struct stat st;

		if (stat(path, &st))
			return dpt_fail(-errno, "%s: %s", path, strerror(errno));
		if (!S_ISREG(st.st_mode))
			return dpt_fail(-EINVAL, "%s: not a regular file", path);
		if (!st.st_size || st.st_size % 8)
			return dpt_fail(-EINVAL,
					"%s: %lld bytes, not a bitmap file (a whole number of "
					"64-bit words)",
					path, (long long)st.st_size);
		if (i && (uint64_t)st.st_size != im->bytes)
			return dpt_fail(-EINVAL,
					"%s: %lld bytes, but %s has %llu: the files of one VM all "
					"have one size",
					path, (long long)st.st_size, im->files[0].name,
					(unsigned long long)im->bytes);
		im->bytes = (uint64_t)st.st_size;
	}
	return 0;
}

/* Read file i, checking its size (it may have changed since it was listed). */
static int import_read(const struct import *im, size_t i, uint64_t **words)
{
	char buf[PATH_LEN];
	const char *path = import_path(im, i, buf);
	size_t n;
	int err = bitmap_file_read(path, words, &n);

	if (err)
		return err;
	if (n * 8 != im->bytes) {
		free(*words);
		return dpt_fail(-EINVAL, "%s: changed size while being imported", path);
	}
	return 0;
}

/* ---- pages and times ---- */

/* T, and whether the first file is the all-dirty one: its set bits are pages 0..T-1 and reach
 * its last word. */
static int import_pages(struct import *im)
{
	uint64_t *bm, bits = im->bytes * 8;
	int err = import_read(im, 0, &bm);

	if (err)
		return err;
	uint64_t set = bitmap_weight(bm, bits);
	im->all_first = set > bits - 64 && bitmap_weight(bm, set) == set;
	im->pages = im->all_first ? set : bits;
	free(bm);
	return 0;
}

/*
 * Each interval's end from its name: the second it ended in, but the last one of a compat
 * series (named after the next second). The mean interval: the span over the intervals.
 */
static int import_times(struct import *im)
{
	size_t n = im->n, first = im->all_first; /* the first real interval */

	if (!(im->ends = calloc(n, sizeof(*im->ends))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		im->ends[i] = im->files[i].secs * NSEC;
		if (im->all_first && n > 1 && i == n - 1)
			im->ends[i] -= NSEC;
		if (i && im->ends[i] < im->ends[i - 1]) /* not a compat series after all */
			im->ends[i] = im->ends[i - 1];
		if (i > first && im->ends[i] == im->ends[i - 1])
			im->same_second++;
	}
	/* files that share a second (dpt's sub-second intervals): spread their ends evenly over
	 * it, an estimate that keeps each end in its second (so export names them alike) */
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && im->ends[j] == im->ends[i];)
			j++;
		for (size_t k = i + 1; k < j; k++)
			im->ends[k] += (int64_t)(k - i) * NSEC / (int64_t)(j - i);
	}
	/* n ends: n - 1 intervals after the all-dirty one, or n - 1 gaps between intervals */
	int64_t span = im->ends[n - 1] - im->ends[0];
	im->interval = n > 1 && span > 0 ? span / (int64_t)(n - 1) : NSEC;
	return 0;
}

/* ---- the trace ---- */

static int import_sample(struct trace_writer *tw, const struct import *im, size_t i,
			 const struct dpt_region *ram)
{
	char buf[PATH_LEN];
	uint64_t *bm;
	int err = import_read(im, i, &bm);

	if (err)
		return err;
	uint64_t past = bitmap_next_set(bm, im->bytes * 8, im->pages);
	if (past < im->bytes * 8) {
		err = dpt_fail(-EINVAL,
			       "%s: page %llu is set, past the %llu pages of the first file: not "
			       "one VM's series",
			       import_path(im, i, buf), (unsigned long long)past,
			       (unsigned long long)im->pages);
		free(bm);
		return err;
	}
	int64_t end = im->ends[i];
	int64_t start = i ? im->ends[i - 1] : im->all_first ? end : end - im->interval;
	struct dpt_sample s = {
		.seq = i + !im->all_first,
		.mono_start = {start / NSEC, start % NSEC},
		.mono_end = {end / NSEC, end % NSEC},
		.dirty = bitmap_weight(bm, im->pages),
		.total = im->pages,
		.page_size = 4096,
		.flags = (i == 0 && im->all_first ? DPT_SAMPLE_ALL : 0) |
			 (i == im->n - 1 && !(i == 0 && im->all_first) ? DPT_SAMPLE_FINAL : 0),
		.bitmap = bm,
		.nr_regions = 1,
		.regions = ram,
	};
	s.wall_start = s.mono_start;
	s.wall_end = s.mono_end;
	err = trace_writer_sample(tw, &s);
	free(bm);
	return err;
}

/* What is exact and what is not, said once in the trace and on stderr. */
static void import_describe(const struct import *im, char *buf, size_t len)
{
	if (im->all_first)
		snprintf(buf, len,
			 "%llu pages (exact: Qemu-DPT's all-dirty first file sets each of them); "
			 "times: the second each interval ended in",
			 (unsigned long long)im->pages);
	else
		snprintf(buf, len,
			 "%llu pages, an upper bound (no all-dirty first file to count them: files "
			 "of %llu bytes hold %llu to %llu pages); times: the second each interval "
			 "ended in",
			 (unsigned long long)im->pages, (unsigned long long)im->bytes,
			 (unsigned long long)im->pages - 63, (unsigned long long)im->pages);
}

static int import_write(struct import *im, const char *out, const char *tmp)
{
	struct dpt_region ram = {.pages = im->pages, .name = "ram"};
	char target[4400], what[400];
	pid_t pid = im->files[0].pid;
	int64_t t0 = im->all_first ? im->ends[0] : im->ends[0] - im->interval;
	struct trace_header h = {
		.page_size = 4096,
		.dpt_version = DPT_VERSION,
		.tracker = "import",
		.mode = "qemu-dpt-files",
		.target = target,
		.command = cmd_line,
		.interval_ns = (uint64_t)im->interval,
		.wall_start_ns = t0,
		.mono_start_ns = t0,
		.flags = TRACE_HAS_SETS | TRACE_IMPORTED | (im->all_first ? TRACE_COMPAT : 0),
		.owner_pid = pid,
		.nr_regions = 1,
		.regions = &ram,
	};
	struct trace_writer *tw;
	struct timespec first = {t0 / NSEC, t0 % NSEC};
	struct timespec last = {im->ends[im->n - 1] / NSEC, im->ends[im->n - 1] % NSEC};
	int err;

	snprintf(target, sizeof(target), "Qemu-DPT bitmap files of pid %d in %s", (int)pid,
		 im->dir);
	if ((err = trace_writer_open(&tw, tmp, true, &h))) {
		dpt_clear_error();
		return dpt_fail(err, "%s: %s", out, strerror(-err));
	}
	import_describe(im, what, sizeof(what));
	err = trace_writer_session(tw, true, &first, &first);
	if (!err)
		err = trace_writer_message(tw, &first, &first, what);
	for (size_t i = 0; !err && i < im->n; i++)
		err = import_sample(tw, im, i, &ram);
	if (!err)
		err = trace_writer_session(tw, false, &last, &last);
	int e = trace_writer_close(tw, true, err != 0);
	if (err || (err = e)) {
		unlink(tmp);
		return err;
	}
	if (rename(tmp, out)) {
		err = dpt_fail(-errno, "%s: %s", out, strerror(errno));
		unlink(tmp);
	}
	return err;
}

/* ---- the command ---- */

static int import_parse(int argc, char **argv, const char **dir, const char **out, pid_t *pid,
			bool *quiet, bool *done)
{
	uint64_t v;
	int opt;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:qh", import_longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			fputs(import_usage, stdout);
			*done = true;
			return 0;
		case 'o':
			*out = optarg;
			break;
		case 'q':
			*quiet = true;
			break;
		case OPT_PID:
			if (parse_uint(optarg, 1, INT32_MAX, &v))
				return cmd_usage_error("import", "--pid: '%s' is not a pid",
						       optarg);
			*pid = (pid_t)v;
			break;
		default:
			return cmd_usage_error("import", "unknown option '%s' or missing its value",
					       argv[optind - 1]);
		}
	}
	if (optind == argc)
		return cmd_usage_error("import", "which directory? dpt import DIR -o FILE.dpt");
	if (optind < argc - 1)
		return cmd_usage_error("import", "one directory at a time: '%s' is one too many",
				       argv[optind + 1]);
	*dir = argv[optind];
	if (!*out || !**out)
		return cmd_usage_error("import", "where to? -o FILE.dpt");
	return 0;
}

int cmd_import(int argc, char **argv)
{
	struct import im = {0};
	const char *out = NULL;
	char tmp[4200], what[400];
	pid_t pid = 0;
	bool quiet = false, done = false;
	int rc = import_parse(argc, argv, &im.dir, &out, &pid, &quiet, &done);

	if (rc || done)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s.tmp", out);
	int err = import_list(&im);
	if (!err)
		err = import_pick_pid(&im, pid);
	if (!err) {
		qsort(im.files, im.n, sizeof(*im.files), file_cmp);
		err = import_sizes(&im);
	}
	if (!err)
		err = import_pages(&im);
	if (!err)
		err = import_times(&im);
	if (!err)
		err = import_write(&im, out, tmp);
	if (err) {
		import_fini(&im);
		return cmd_error("import failed");
	}
	if (!quiet) {
		import_describe(&im, what, sizeof(what));
		size_t nr = im.n - im.all_first;
		dpt_info("%s: %zu bitmap file%s of pid %d imported into %s: %zu interval%s%s; %s",
			 im.dir, im.n, im.n == 1 ? "" : "s", (int)im.files[0].pid, out, nr,
			 nr == 1 ? "" : "s", im.all_first ? " after the all-dirty one" : "", what);
		if (im.same_second)
			dpt_info("%u interval%s ended in the same second as the one before: "
				 "Qemu-DPT names give whole seconds, so the ends of the files of one "
				 "second are spread evenly over it (%s length is an estimate)",
				 im.same_second, im.same_second == 1 ? "" : "s",
				 im.same_second == 1 ? "its" : "their");
	}
	import_fini(&im);
	return 0;
}
