/* sample.h - one measurement interval, the unit every tracker produces and every writer eats.
 *
 * Intervals are contiguous: interval n ends exactly where interval n+1 starts, and every write
 * to tracked memory is counted in exactly one of them.
 */
#ifndef DPT_SAMPLE_H
#define DPT_SAMPLE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* One tracked range of the target. Pages of all regions are numbered one after another, in
 * list order: region r covers sample pages [first_page, first_page + pages). */
struct dpt_region {
	uint64_t start;      /* address in the target (guest-physical for the micro-VM) */
	uint64_t pages;      /* length in pages */
	uint64_t first_page; /* index of its first page in the sample's bitmap */
	uint32_t granule;    /* bytes a write is seen by: the page size, or a huge page's size
				where a write counts every page of its huge page (0: page size) */
	char name[64];       /* "[heap]", "pc.ram", "/usr/lib/x.so", "" */
};

enum dpt_sample_flags {
	DPT_SAMPLE_ESTIMATE = 1 << 0, /* dirty is an estimate (qmp page sampling), not exact */
	DPT_SAMPLE_ALL = 1 << 1,      /* synthetic all-dirty sample (Qemu-DPT's first bitmap) */
	DPT_SAMPLE_FINAL = 1 << 2,    /* last sample of a tracking session (stop, signal, end) */
	DPT_SAMPLE_PARTIAL = 1 << 3,  /* interval cut short (stop, signal, target ended) */
	DPT_SAMPLE_LOST = 1 << 4,     /* its dirty pages are unknown: the target ended and took
					 them along, or the last collect failed (dirty is 0, no
					 bitmap); only on a final sample */
	DPT_SAMPLE_HUGE = 1 << 5,     /* part of the tracked memory is tracked per huge page: a
					 write there counts every 4 KiB page of its huge page */
	DPT_SAMPLE_UNTRACKED = 1 << 6, /* part of the target's memory is not tracked (dpt said
					  which, and why, in a line) */
};

/* Names of the flags, bit i = 1 << i, as the text outputs (csv) spell them. */
#define DPT_SAMPLE_FLAG_NAMES                                                                      \
	{"estimate", "all", "final", "partial", "lost", "huge", "untracked"}
#define DPT_SAMPLE_NR_FLAGS 7

/* One process of a followed tree (dpt track --follow, --cgroup) in one interval. */
enum dpt_proc_flags {
	DPT_PROC_BORN = 1 << 0,	     /* born, or first seen, in the interval: counted from then */
	DPT_PROC_EXEC = 1 << 1,	     /* called execve() in it: the old program's writes of the
					interval went with the old program */
	DPT_PROC_EXITED = 1 << 2,    /* exited in it: its last interval, cut at its exit */
	DPT_PROC_LOST = 1 << 3,	     /* exited without dpt reading its last writes */
	DPT_PROC_UNTRACKED = 1 << 4, /* its memory could not be tracked (dpt said why) */
};
#define DPT_PROC_FLAG_NAMES {"born", "exec", "exited", "lost", "untracked"}
#define DPT_PROC_NR_FLAGS   5

struct dpt_proc {
	int pid, ppid;
	char comm[16];
	uint64_t dirty;	    /* its pages written in the interval */
	uint64_t discarded; /* its pages discarded */
	uint64_t total;	    /* its pages tracked */
	unsigned flags;	    /* enum dpt_proc_flags */
};

struct dpt_sample {
	uint64_t seq;                    /* 1, 2, ... over the run; 0 = the synthetic all-dirty sample */
	struct timespec mono_start;      /* CLOCK_MONOTONIC */
	struct timespec mono_end;
	struct timespec wall_start;      /* CLOCK_REALTIME */
	struct timespec wall_end;
	uint64_t dirty;                  /* distinct pages written in the interval */
	uint64_t discarded;              /* pages zapped without being written (MADV_DONTNEED, a
					    balloon, free-page reporting): they hold zeros now; not
					    in dirty. Meaningful when the tracker counts_discarded */
	uint64_t total;                  /* pages tracked */
	uint32_t page_size;              /* bytes, normally 4096 */
	unsigned flags;                  /* enum dpt_sample_flags */

	unsigned nr_vcpus;               /* 0 when per-vCPU counts are unknown */
	const uint64_t *vcpu_dirty;      /* nr_vcpus counts; they add up to dirty */

	const uint64_t *bitmap;          /* bitmap_words(total) words, or NULL if none */
	const uint64_t *discarded_bitmap; /* the discarded pages, same numbering, or NULL */

	unsigned nr_procs;               /* following a tree: one row per process, whose counts
					    add up to dirty, discarded and total; else 0 */
	const struct dpt_proc *procs;

	unsigned nr_regions;             /* the region list in force for this sample */
	const struct dpt_region *regions;
	bool regions_changed;            /* differs from the previous sample's list */
};

/* How a non-zero set was taken. */
enum dpt_nonzero_method {
	DPT_NZ_CONTENT = 1, /* present pages read and tested for zeros; absent ones are zero */
};

/*
 * The non-zero pages: those whose content was not all zeros when they were looked at. A
 * migration sends a zero page in a few bytes, so a forecast needs them; a Linux guest holds
 * many present pages of zeros, so presence is not enough. Taken at the start, every few
 * seconds and at the end of a recording (a scan takes time: the pages are looked at over
 * [mono_start, mono_end], while the target runs).
 */
struct dpt_nonzero {
	uint64_t after_seq;	       /* the last interval ended before the scan began (0: none) */
	struct timespec mono_start, mono_end; /* the scan ran over [start, end] */
	struct timespec wall_start, wall_end;
	unsigned method;	       /* enum dpt_nonzero_method */
	uint64_t total;		       /* pages in the numbering of regions */
	uint64_t count;		       /* non-zero pages (set bits) */
	uint64_t unknown;	       /* of those, pages whose content could not be read (swapped
					  out, unreadable), counted as non-zero */
	uint64_t bytes_read;	       /* bytes read to take it */
	unsigned nr_regions;
	const struct dpt_region *regions;
	const uint64_t *bitmap;	       /* bitmap_words(total) words */
};

/* Seconds between two timespecs. */
double ts_diff(const struct timespec *end, const struct timespec *start);

/* Length of the sample's interval in seconds (monotonic). */
static inline double sample_seconds(const struct dpt_sample *s)
{
	return ts_diff(&s->mono_end, &s->mono_start);
}

/* Rate in MiB/s as Qemu-DPT printed it (dirty pages x page size / 2^20), over the measured
 * interval; 0 for an empty interval. */
double sample_mib_per_s(const struct dpt_sample *s);

#endif
