/* writer.h - the writer contract: samples in, output out.
 *
 * A writer is opened with its argument (usually a file name) and the run's description, then
 * sees start (tracking began), every sample in order, stop (tracking ended; may come again
 * after another start with the monitor) and close. Adding a writer is one file plus one line in
 * src/writers/writers.c.
 *
 * Bad arguments must fail in open(), before anything is written, so a bad command line never
 * leaves a half-written file behind.
 */
#ifndef DPT_WRITER_H
#define DPT_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dpt/sample.h"

struct dpt_run_info {
	const char *tracker;     /* "kvm", "pid", "qmp" */
	const char *mode;        /* the tracker's mechanism */
	const char *target_desc; /* human description of the target */
	pid_t owner_pid;         /* pid used in Qemu-DPT bitmap names */
	uint64_t interval_ns;    /* requested interval */
	unsigned nr_vcpus;       /* per-vCPU columns, 0 if none */
	int estimate;            /* counts are estimates */
	bool counts_discarded;   /* samples' discarded counts are known */
	bool per_process;        /* samples carry per-process rows */
	bool has_bitmap;         /* samples carry dirty bitmaps */
	bool compat;             /* Qemu-DPT's all-dirty first sample and final naming */
	uint64_t zero_scan_ns;   /* non-zero scans every this long (0: none) */
	const char *command;     /* dpt's command line */
};

struct dpt_writer;

struct dpt_writer_ops {
	const char *name; /* as in -o NAME:ARG */
	int (*open)(struct dpt_writer *w, const char *arg, const struct dpt_run_info *info);
	int (*start)(struct dpt_writer *w);
	int (*sample)(struct dpt_writer *w, const struct dpt_sample *s);
	int (*stop)(struct dpt_writer *w);
	/* Optional: a non-zero set was taken (only writers that have this ask for the scans). */
	int (*nonzero)(struct dpt_writer *w, const struct dpt_nonzero *z);
	/* Flush and release; returns -errno if buffered data could not be written. Safe after a
	 * failed open. */
	int (*close)(struct dpt_writer *w);
};

struct dpt_writer {
	const struct dpt_writer_ops *ops;
	void *priv;
	struct dpt_run_info info;
	bool discard; /* set before close() when the run never started: remove created files */
};

extern const struct dpt_writer_ops *const writer_table[];
const struct dpt_writer_ops *writer_find(const char *name);

#endif
