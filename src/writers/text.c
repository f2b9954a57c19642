/* text.c - Qemu-DPT's stderr lines, and its bitmap files with bitmaps=DIR.
 *
 *	start dirty page tracking
 *	create bitmap PATH (N bytes), dirty D / T (R MB/s)      with bitmaps=DIR
 *	interval SEQ (S s), dirty D / T (R MB/s)                 without
 *	interval SEQ (S s, lost): its dirty pages went with the target
 *	stop dirty page tracking
 *
 * Both per-interval lines end alike, so one regular expression reads both. R is
 * D x page size / 2^20 over the measured interval (Qemu-DPT assumed exactly 1 s). Argument:
 * comma-separated file=PATH (default stderr), bitmaps=DIR, compat (name the final bitmap
 * after the next second, as Qemu-DPT's dpt_stop did), verbose (indented detail lines after
 * an interval's line: its discarded pages, its flags).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dpt/log.h"
#include "dpt/writer.h"
#include "writers/bitmaps.h"

struct text {
	FILE *out;
	bool own_out;
	char *path;
	bool have_dir;
	bool compat;
	bool verbose;
	bool discards; /* the tracker counts discarded pages */
	struct bitmap_dir dir;
};

static int text_parse(struct text *tx, const char *arg, const struct dpt_run_info *info)
{
	char *copy = strdup(arg ? arg : ""), *save = NULL;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	for (char *tok = strtok_r(copy, ",", &save); tok && !err; tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "file=", 5) && strcmp(tok + 5, "-")) {
			tx->out = fopen(tok + 5, "we");
			if (!tx->out)
				err = dpt_fail(-errno, "%s: %s", tok + 5, strerror(errno));
			tx->own_out = tx->out != NULL;
			tx->path = strdup(tok + 5);
		} else if (!strncmp(tok, "file=", 5)) {
			tx->out = stderr;
		} else if (!strncmp(tok, "bitmaps=", 8)) {
			err = bitmap_dir_init(&tx->dir, tok + 8, info->owner_pid);
			tx->have_dir = !err;
		} else if (!strcmp(tok, "compat")) {
			tx->compat = true;
		} else if (!strcmp(tok, "verbose")) {
			tx->verbose = true;
		} else {
			err = dpt_fail(-EINVAL, "text output: unknown option '%s'", tok);
		}
	}
	free(copy);
	return err;
}

static int text_close(struct dpt_writer *w)
{
	struct text *tx = w->priv;
	int err = 0;

	if (!tx)
		return 0;
	if (tx->own_out && fclose(tx->out))
		err = dpt_fail(-errno, "text output: %s", strerror(errno));
	if (tx->own_out && w->discard)
		unlink(tx->path);
	free(tx->path);
	if (tx->have_dir)
		bitmap_dir_fini(&tx->dir);
	free(tx);
	w->priv = NULL;
	return err;
}

static int text_open(struct dpt_writer *w, const char *arg, const struct dpt_run_info *info)
{
	struct text *tx = calloc(1, sizeof(*tx));

	if (!tx)
		return -ENOMEM;
	tx->out = stderr;
	tx->discards = info->counts_discarded;
	w->priv = tx;
	int err = text_parse(tx, arg, info);
	if (err)
		text_close(w);
	return err;
}

static int text_flush(struct text *tx)
{
	if (fflush(tx->out) || ferror(tx->out))
		return dpt_fail(-EIO, "text output: write error");
	return 0;
}

static int text_start(struct dpt_writer *w)
{
	struct text *tx = w->priv;

	fprintf(tx->out, "start dirty page tracking\n");
	return text_flush(tx);
}

static int text_stop(struct dpt_writer *w)
{
	struct text *tx = w->priv;

	fprintf(tx->out, "stop dirty page tracking\n");
	return text_flush(tx);
}

/* With verbose: what the interval's line does not say. */
static void text_details(struct text *tx, const struct dpt_sample *s)
{
	static const char *const names[] = DPT_SAMPLE_FLAG_NAMES;
	const char *sep = "    flags ";

	if (s->regions_changed && s->nr_regions) {
		fprintf(tx->out, "    regions");
		for (unsigned i = 0; i < s->nr_regions; i++) {
			const struct dpt_region *r = &s->regions[i];

			fprintf(tx->out, "%s %s %llu+%llu", i ? "," : "", r->name[0] ? r->name : "-",
				(unsigned long long)r->first_page, (unsigned long long)r->pages);
		}
		fprintf(tx->out, "\n");
	}
	for (unsigned i = 0; i < s->nr_procs; i++) {
		static const char *const pnames[] = DPT_PROC_FLAG_NAMES;
		const struct dpt_proc *r = &s->procs[i];
		const char *sep = " [";

		fprintf(tx->out, "    pid %d (%s) dirty %llu / %llu, discarded %llu", r->pid,
			r->comm, (unsigned long long)r->dirty, (unsigned long long)r->total,
			(unsigned long long)r->discarded);
		for (unsigned f = 0; f < DPT_PROC_NR_FLAGS; f++)
			if (r->flags & (1u << f)) {
				fprintf(tx->out, "%s%s", sep, pnames[f]);
				sep = "|";
			}
		fprintf(tx->out, "%s\n", r->flags ? "]" : "");
	}
	if (tx->discards && !(s->flags & (DPT_SAMPLE_ALL | DPT_SAMPLE_LOST)))
		fprintf(tx->out, "    discarded %llu pages (zapped without a write; zeros now)\n",
			(unsigned long long)s->discarded);
	for (unsigned i = 0; i < DPT_SAMPLE_NR_FLAGS; i++)
		if (s->flags & (1u << i)) {
			fprintf(tx->out, "%s%s", sep, names[i]);
			sep = "|";
		}
	if (s->flags)
		fprintf(tx->out, "\n");
}

static int text_sample(struct dpt_writer *w, const struct dpt_sample *s)
{
	struct text *tx = w->priv;
	char tail[128], path[4096];

	if (s->flags & DPT_SAMPLE_LOST) { /* no count: not a "dirty D / T" line */
		fprintf(tx->out, "interval %llu (%.3f s, lost): its dirty pages went with the target\n",
			(unsigned long long)s->seq, sample_seconds(s));
		return text_flush(tx);
	}
	snprintf(tail, sizeof(tail), "dirty %llu / %llu (%.3f MB/s)", (unsigned long long)s->dirty,
		 (unsigned long long)s->total, sample_mib_per_s(s));
	if (tx->have_dir && (s->bitmap || (s->flags & DPT_SAMPLE_ALL))) {
		int64_t n = bitmap_dir_write_sample(&tx->dir, s, tx->compat, path, sizeof(path));
		if (n < 0)
			return (int)n;
		fprintf(tx->out, "create bitmap %s (%lld bytes), %s\n", path, (long long)n, tail);
	} else {
		fprintf(tx->out, "interval %llu (%.3f s%s), %s\n", (unsigned long long)s->seq,
			sample_seconds(s), (s->flags & DPT_SAMPLE_ESTIMATE) ? ", estimate" : "",
			tail);
	}
	if (tx->verbose)
		text_details(tx, s);
	return text_flush(tx);
}

const struct dpt_writer_ops text_writer_ops = {
	.name = "text",
	.open = text_open,
	.start = text_start,
	.sample = text_sample,
	.stop = text_stop,
	.close = text_close,
};
