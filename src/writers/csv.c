/* csv.c - one CSV row per interval, for pandas, R and spreadsheets.
 *
 *	seq,time,interval_s,dirty_pages,total_pages,mib_s,flags,discarded_pages[,vcpu0_pages,...]
 *
 * time is the interval's end, Unix seconds with microseconds; flags is a '|'-separated subset
 * of estimate, all, final, partial, lost, huge, untracked (empty when none). A lost interval
 * (the target took its writes along) has empty dirty_pages and mib_s: unknown, not 0.
 * discarded_pages is empty when the tracker cannot count discards. One row is flushed per
 * interval, so a killed run loses at most the row being written.
 *
 * Following a process tree, a companion file (FILE with .csv replaced by, or followed by,
 * .procs.csv) gets a row per process per interval, whose counts add up to the interval's:
 *
 *	seq,time,pid,ppid,comm,dirty_pages,total_pages,discarded_pages,flags
 *
 * flags: born (or first seen), exec, exited, lost (exited, its last writes unread),
 * untracked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dpt/log.h"
#include "dpt/writer.h"

struct csv {
	FILE *f;
	char *path;
	unsigned nr_vcpus;
	bool discards;
	FILE *procs; /* the companion file of per-process rows, or NULL */
	char *procs_path;
};

static int csv_close(struct dpt_writer *w)
{
	struct csv *c = w->priv;
	int err = 0;

	if (!c)
		return 0;
	if (c->f && fclose(c->f))
		err = dpt_fail(-errno, "%s: %s", c->path, strerror(errno));
	if (c->procs && fclose(c->procs) && !err)
		err = dpt_fail(-errno, "%s: %s", c->procs_path, strerror(errno));
	if (w->discard && c->f && strcmp(c->path, "-"))
		unlink(c->path);
	if (w->discard && c->procs)
		unlink(c->procs_path);
	free(c->path);
	free(c->procs_path);
	free(c);
	w->priv = NULL;
	return err;
}

static int csv_flush(struct csv *c)
{
	if (fflush(c->f) || ferror(c->f))
		return dpt_fail(-EIO, "%s: write error", c->path);
	if (c->procs && (fflush(c->procs) || ferror(c->procs)))
		return dpt_fail(-EIO, "%s: write error", c->procs_path);
	return 0;
}

/* The companion file of per-process rows: FILE.csv -> FILE.procs.csv (or FILE.procs.csv). */
static int csv_open_procs(struct csv *c)
{
	size_t n = strlen(c->path);
	bool ext = n > 4 && !strcmp(c->path + n - 4, ".csv");

	if (!strcmp(c->path, "-"))
		return 0; /* standard output: one table only */
	c->procs_path = malloc(n + 16);
	if (!c->procs_path)
		return -ENOMEM;
	snprintf(c->procs_path, n + 16, "%.*s.procs.csv", (int)(ext ? n - 4 : n), c->path);
	c->procs = fopen(c->procs_path, "we");
	if (!c->procs)
		return dpt_fail(-errno, "%s: %s", c->procs_path, strerror(errno));
	fprintf(c->procs,
		"seq,time,pid,ppid,comm,dirty_pages,total_pages,discarded_pages,flags\n");
	return 0;
}

static int csv_open(struct dpt_writer *w, const char *arg, const struct dpt_run_info *info)
{
	struct csv *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	w->priv = c;
	if (!arg || !*arg) {
		csv_close(w);
		return dpt_fail(-EINVAL, "csv output needs a file name: -o csv:FILE");
	}
	c->path = strdup(arg);
	c->nr_vcpus = info->nr_vcpus;
	c->discards = info->counts_discarded;
	c->f = strcmp(arg, "-") ? fopen(arg, "we") : fdopen(dup(1), "w");
	if (!c->f || !c->path) {
		int err = dpt_fail(-errno, "%s: %s", arg, strerror(errno));
		csv_close(w);
		return err;
	}
	fprintf(c->f, "seq,time,interval_s,dirty_pages,total_pages,mib_s,flags,discarded_pages");
	for (unsigned i = 0; i < c->nr_vcpus; i++)
		fprintf(c->f, ",vcpu%u_pages", i);
	fprintf(c->f, "\n");
	if (info->per_process) {
		int err = csv_open_procs(c);

		if (err) {
			w->discard = true;
			csv_close(w);
			return err;
		}
	}
	return csv_flush(c);
}

static int csv_nop(struct dpt_writer *w)
{
	return 0;
}

static int csv_sample(struct dpt_writer *w, const struct dpt_sample *s)
{
	static const char *const names[] = DPT_SAMPLE_FLAG_NAMES;
	struct csv *c = w->priv;
	const char *sep = "";
	bool lost = s->flags & DPT_SAMPLE_LOST;

	fprintf(c->f, "%llu,%lld.%06ld,%.6f,", (unsigned long long)s->seq,
		(long long)s->wall_end.tv_sec, s->wall_end.tv_nsec / 1000, sample_seconds(s));
	if (lost)
		fprintf(c->f, ",%llu,,", (unsigned long long)s->total);
	else
		fprintf(c->f, "%llu,%llu,%.3f,", (unsigned long long)s->dirty,
			(unsigned long long)s->total, sample_mib_per_s(s));
	for (unsigned i = 0; i < DPT_SAMPLE_NR_FLAGS; i++)
		if (s->flags & (1u << i)) {
			fprintf(c->f, "%s%s", sep, names[i]);
			sep = "|";
		}
	if (c->discards && !lost)
		fprintf(c->f, ",%llu", (unsigned long long)s->discarded);
	else
		fprintf(c->f, ",");
	for (unsigned i = 0; i < c->nr_vcpus; i++)
		fprintf(c->f, ",%llu",
			(unsigned long long)(i < s->nr_vcpus && s->vcpu_dirty ? s->vcpu_dirty[i] : 0));
	fprintf(c->f, "\n");
	for (unsigned i = 0; c->procs && i < s->nr_procs; i++) {
		static const char *const pnames[] = DPT_PROC_FLAG_NAMES;
		const struct dpt_proc *r = &s->procs[i];

		sep = "";
		/* comm is the kernel's, up to 15 bytes: quoted when it holds a comma or a quote */
		fprintf(c->procs, "%llu,%lld.%06ld,%d,%d,", (unsigned long long)s->seq,
			(long long)s->wall_end.tv_sec, s->wall_end.tv_nsec / 1000, r->pid, r->ppid);
		if (strpbrk(r->comm, ",\"\n")) {
			fputc('"', c->procs);
			for (const char *p = r->comm; *p; p++)
				fprintf(c->procs, *p == '"' ? "\"\"" : "%c", *p);
			fputc('"', c->procs);
		} else {
			fputs(r->comm, c->procs);
		}
		fprintf(c->procs, ",%llu,%llu,%llu,", (unsigned long long)r->dirty,
			(unsigned long long)r->total, (unsigned long long)r->discarded);
		for (unsigned f = 0; f < DPT_PROC_NR_FLAGS; f++)
			if (r->flags & (1u << f)) {
				fprintf(c->procs, "%s%s", sep, pnames[f]);
				sep = "|";
			}
		fputc('\n', c->procs);
	}
	return csv_flush(c);
}

const struct dpt_writer_ops csv_writer_ops = {
	.name = "csv",
	.open = csv_open,
	.start = csv_nop,
	.sample = csv_sample,
	.stop = csv_nop,
	.close = csv_close,
};
