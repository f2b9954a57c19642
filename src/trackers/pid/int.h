/* int.h - internals shared by the pid tracker's files (src/trackers/pid/); not a contract.
 *
 * Words used throughout:
 *   area    one line of /proc/PID/maps (one VMA), or the part of one inside a range selector;
 *           the unit the kernel calls (UFFDIO_REGISTER, PAGEMAP_SCAN, pagemap reads) work on;
 *   region  what a sample reports (struct dpt_region): one or more contiguous areas with one
 *           name ("[heap]", a path, a QEMU RAM block, a START-END range);
 *   layout  the regions and areas in force for one interval, and the bitmap numbering.
 */
#ifndef DPT_PID_INT_H
#define DPT_PID_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dpt/sample.h"
#include "trackers/pid/inject.h"
#include "trackers/pid/pid.h"

#define PID_PAGE 4096ULL

/* ---- /proc helpers and maps (maps.c) ---- */

#define PID_PROT_READ  1
#define PID_PROT_WRITE 2
#define PID_PROT_EXEC  4

struct pid_area {
	uint64_t start, end;
	uint64_t offset, inode;
	unsigned dev_major, dev_minor;
	unsigned prot;	  /* PID_PROT_* */
	bool shared;	  /* 's' in the permissions */
	const char *name; /* "" when anonymous; points into the maps text */
};

struct pid_maps {
	char *buf;
	size_t len, cap;
	struct pid_area *v;
	unsigned nr, cap_v;
};

/* Append pid's children (from /proc/PID/task/TID/children) to the growing array *v. */
void pid_children(pid_t pid, pid_t **v, unsigned *n, unsigned *cap);
/* Read a small /proc file into buf (NUL-terminated). Returns its length or -errno. */
int pid_read_file(const char *path, char *buf, size_t size);
/* -EPERM, with the reason ("permission denied: cannot WHAT pid N" and why: not root, Yama, or
 * capabilities the target holds and dpt lacks). */
int pid_permission_denied(pid_t pid, const char *what);
/* Read /proc/PID/maps from an open fd (from offset 0) or by pid. An empty result means the
 * address space is gone (exit or exec). */
int pid_maps_read_fd(struct pid_maps *m, int fd);
int pid_maps_read_pid(struct pid_maps *m, pid_t pid);
void pid_maps_fini(struct pid_maps *m);
/* Is this a mapping whose memory a program writes (private or shared writable, not [vvar],
 * [vsyscall], device memory)? */
bool pid_area_trackable(const struct pid_area *a);
/* bytes as "4 KiB" or "2.5 MiB", in buf. */
const char *pid_size(char *buf, size_t size, uint64_t bytes);
/* The shared writable memory the default selection leaves out, in bytes; names gets the
 * largest such mappings' names and sizes ("/dev/shm/x (2.0 MiB), ..."). */
uint64_t pid_maps_shared(const struct pid_maps *m, char *names, size_t size);

/* ---- selectors and layouts (maps.c) ---- */

enum pid_sel_kind {
	PID_SEL_ALL,   /* every private writable mapping (the default) */
	PID_SEL_RANGE, /* [start, end); fixed */
	PID_SEL_NAME,  /* every writable mapping named exactly so; follows the mappings */
};

struct pid_sel {
	enum pid_sel_kind kind;
	uint64_t start, end; /* RANGE */
	uint64_t first_page; /* RANGE with fixed_page: its first bitmap page (QEMU RAM order) */
	bool fixed_page;
	uint64_t pages;	   /* RANGE with fixed_page: pages it spans in the bitmap */
	const char *match; /* NAME: the mapping name */
	char label[64];	   /* the region's name in samples */
};

/* Parse one --region argument: "START-END" (hex, 0x optional) or a name. */
int pid_sel_parse(struct pid_sel *s, const char *arg);

struct pid_tarea {
	uint64_t start, end; /* page aligned, inside one VMA */
	uint64_t inode, offset;
	unsigned dev_major, dev_minor;
	unsigned prot;
	bool shared, file;
	bool fresh; /* new since the previous layout: arm it before scanning */
	unsigned region;
	uint32_t granule; /* PID_PAGE, or the huge page size of a hugetlbfs mapping */
};

struct pid_layout {
	pid_t pid;
	struct dpt_region *regions;
	unsigned nr_regions, cap_regions;
	struct pid_tarea *areas;
	unsigned nr_areas, cap_areas;
	uint64_t total; /* bitmap pages */
};

/* Build the layout of maps m under the selectors (none = PID_SEL_ALL). With strict, a
 * selector that matches nothing or a range that is not entirely mapped is an error naming it;
 * otherwise it yields an empty region (RANGE) or nothing (NAME). */
int pid_layout_build(struct pid_layout *l, const struct pid_maps *m, const struct pid_sel *sels,
		     unsigned nr_sels, bool strict, pid_t pid);
void pid_layout_fini(struct pid_layout *l);
/* Set areas' fresh flag: true unless before holds the same VMA (bounds, prot, file). */
void pid_layout_mark_fresh(struct pid_layout *now, const struct pid_layout *before);
bool pid_layout_same_regions(const struct pid_layout *a, const struct pid_layout *b);
/* Copy per-page bits from src, numbered as before, to dst, numbered as now, for every
 * address both layouts track (dst's other bits are left as they are). */
void pid_layout_carry(const struct pid_layout *now, uint64_t *dst, const struct pid_layout *before,
		      const uint64_t *src);
/* Bitmap page of address addr of area a. */
uint64_t pid_layout_page(const struct pid_layout *l, const struct pid_tarea *a, uint64_t addr);

/* ---- the tracker's state (pid.c) and its two methods ---- */

struct pid_proc;

struct pid_method {
	const char *name;
	/* Works here? By doing, in dpt's own memory; 0 or -errno with a reason. */
	int (*probe)(void);
	/* Get hold of the target (uffd: injection). */
	int (*attach)(struct pid_proc *p);
	/* Forget what was written so far and arm every area of l; set in has_data (numbered as
	 * l) the pages that hold data now (present or swapped). */
	int (*arm)(struct pid_proc *p, struct pid_layout *l, uint64_t *has_data);
	/* Set in bm (numbered as in l) the pages written since the last arm or collect, and
	 * re-arm. Set in gone pages found empty now (neither present nor swapped), at least
	 * every page zapped since the last collect without a write (MADV_DONTNEED, a balloon,
	 * free-page reporting); pid.c keeps those that held data as discarded. Areas of l
	 * marked fresh were not armed before: arm them, and count as written the pages they had
	 * written before (their first interval). */
	int (*collect)(struct pid_proc *p, struct pid_layout *l, uint64_t *bm, uint64_t *gone);
	/* Let go; nothing of ours stays in the target. Safe on a half-attached p. */
	void (*detach)(struct pid_proc *p);
};

extern const struct pid_method pid_method_uffd;
extern const struct pid_method pid_method_softdirty;

struct pid_proc {
	pid_t pid;
	int pidfd;	   /* readable when it has exited */
	int maps_fd;	   /* /proc/PID/maps */
	int pagemap_fd;	   /* /proc/PID/pagemap */
	int mem_fd;	   /* /proc/PID/mem, for the non-zero scan; -1 if it could not be opened */
	int uffd;	   /* uffd method: dpt's copy of the userfaultfd made in the target */
	int clear_refs_fd; /* soft-dirty method */
	const struct pid_method *method;

	struct pid_sel *sels; /* the process layout's selectors (--region), or none: all */
	unsigned nr_sels;
	struct pid_qemu *qemu; /* the QEMU layout's state, or NULL */
	uint64_t untracked;    /* bytes of the areas it could not arm this interval (EBUSY) */
	uint64_t untracked_said, shared_said; /* what the last lines said, to say changes */
	uint64_t huge_said;		      /* the huge-page regions said (a signature) */
	uint64_t thp_bytes, thp_said; /* soft-dirty: tracked memory in THPs (seen per 2 MiB) */
	long thp_next_ms;

	struct pid_maps maps;
	struct pid_layout cur;	/* the layout armed, reported by the last sample */
	struct pid_layout next; /* scratch for the next collect */
	uint64_t *bitmap;
	uint64_t *discarded; /* the pages discarded in the interval, same numbering */
	size_t bitmap_words;
	uint64_t *has_data;	 /* pages that hold data (present when tracking began, or
				    written since, and not discarded since), numbered as cur */
	uint64_t *has_data_next; /* scratch for the layout being collected */
	void *scratch; /* method buffer: scan vector or pagemap entries */
	size_t scratch_size;
	bool first; /* next collect is the first after start() */
	unsigned execs; /* execve()s followed so far */
	uint64_t *birth; /* pages it held alone at its birth, for its first interval */
	unsigned nr_birth;
	char comm[32];
};

/* ---- one process (proc.c) ---- */

struct pid_proc_opts {
	const char *const *regions; /* --region arguments (struct pid_tracker_opts) */
	unsigned nr_regions;
	enum pid_qemu_mode qemu;
	struct pid_qemu_qmp qmp; /* QEMU's QMP, if known */
	bool launched;	  /* dpt launched it; it is stopped before its first instruction */
	bool lax;	  /* a region it lacks is no error (the processes of a tree) */
};

/* Open process pid with method m: check it (a kernel thread, a zombie, one that holds a
 * userfaultfd of its own or is tracked already are refused), open its /proc files, choose its
 * regions (strictly: a region that is not there is an error) and attach. 0, or -errno with the
 * reason (then pid_proc_close() it). */
int pid_proc_open(struct pid_proc *p, pid_t pid, const struct pid_method *m,
		  const struct pid_proc_opts *o);
/* Can process pid be tracked at all (exists, is not a kernel thread nor a zombie, dpt may
 * read its page tables)? 0, or -errno with the reason. */
int pid_proc_check(pid_t pid);
/* Forget what was written so far and arm its layout as its maps are now. */
int pid_proc_start(struct pid_proc *p);
/* The pages written since the last collect (or start) into p->bitmap, those discarded into
 * p->discarded, numbered as p->cur after the call, and re-arm; *flags gains the sample flags
 * it calls for (untracked, huge), *changed whether its regions changed. An execve() is
 * followed (its new program attached afresh, counted from its exec). -ESRCH when it has
 * exited (its memory is gone). */
int pid_proc_collect(struct pid_proc *p, unsigned *flags, bool *changed);
/* It called execve(): attach to its new program, every area fresh at the next collect. */
int pid_proc_exec(struct pid_proc *p);
/* Every area fresh at the next collect: it counts the pages its program populated. */
void pid_proc_fresh(struct pid_proc *p);
/* Held at its birth, not armed yet: note the pages it already holds alone (written for it
 * before it ran); its first collect counts them. */
int pid_proc_note_birth(struct pid_proc *p);
void pid_proc_add_birth_pages(struct pid_proc *p);
/* Has it exited (its pidfd says so)? */
bool pid_proc_exited(const struct pid_proc *p);
/* "pid 1234 (qemu-system-x86, 6 RAM blocks from QMP)" */
void pid_proc_describe(const struct pid_proc *p, char *buf, size_t size);
/* Let go (nothing of dpt's stays in it) and free what it holds; safe on a half-open one. */
void pid_proc_close(struct pid_proc *p);
/* Its /proc/PID/comm, or "?". */
void pid_read_comm(pid_t pid, char *comm, size_t size);

/* ---- the tracker: its processes (pid.c, follow.c) ---- */

/* A process of the tracker's set. */
struct pid_member {
	struct pid_proc p;
	pid_t ppid;
	unsigned flags;	 /* enum dpt_proc_flags of the interval being collected */
	unsigned sflags; /* sample flags its collects called for (untracked, huge) */
	bool armed;	 /* opened and started: it is collected */
	bool exited;	 /* its last interval is read (or lost): gone after the next sample */
	bool reported;	 /* ... and that sample was made */
	bool gone;	 /* out of the samples (the root's member stays, gone) */
};

/* How a process joins a followed set. */
enum pid_add {
	PID_ADD_RUNNING, /* found running: tracked from now on */
	PID_ADD_BIRTH,	 /* held before its first instruction: tracked from its birth */
	PID_ADD_EXEC,	 /* held at the end of its execve(): counts what its program populated */
};

struct pid_set {
	const struct pid_method *method;
	struct pid_proc_opts child_opts; /* for the processes of a followed tree */
	bool follow;			 /* a tree or a cgroup: per-process rows */
	char cgroup[512];		 /* its cgroup.procs, or "" */
	pid_t root;			 /* the program launched or attached; 0: a cgroup */
	struct pid_member **v;		 /* v[0] is the root's */
	unsigned nr, cap;
	bool set_changed;		 /* processes came or went since the last sample */
	bool keeper_started;		 /* a cgroup's keeper runs */
	/* the root's keeper */
	int keeper_fd;	/* its report fd (t->end_fd), or -1 */
	bool launched;	/* dpt launched the root: it has a keeper */
	bool no_hold;	/* ... which does not trace it (--no-hold) */
	bool kept;	/* a keeper traced it at open */
	bool held;	/* the keeper holds the root at its exit (not following) */
	bool ended;	/* the root has been reaped or reported ended */
	/* the combined sample of a followed set */
	uint64_t *bitmap, *discarded;
	size_t words;
	struct dpt_region *regions;
	unsigned cap_regions;
	struct dpt_proc *rows;
	unsigned cap_rows;
	unsigned zscan_said; /* lines the non-zero scans said (zscan.c) */
};

/* follow.c */
/* A region's name in a followed set's samples: "PID:name", keeping the end of a long one. */
void pid_member_region_name(char *dst, size_t size, pid_t pid, const char *name);
/* Add process pid to the set, open and arm it as how says. A process that cannot be tracked
 * stays in the set, flagged untracked, after a line saying why. NULL: out of memory. */
struct pid_member *pid_set_add(struct pid_set *S, pid_t pid, pid_t ppid, enum pid_add how);
struct pid_member *pid_set_find(struct pid_set *S, pid_t pid);
/* Its parent's pid (PPid in /proc/PID/status), 0 if unknown. */
pid_t pid_parent_of(pid_t pid);
/* The running descendants of the root, or the processes of the cgroup, added (and, from the
 * keeper, traced). */
int pid_set_add_tree(struct pid_set *S);
int pid_set_add_cgroup(struct pid_set *S);
/* Resolve a --cgroup argument to its cgroup.procs into S->cgroup. */
int pid_set_cgroup_path(struct pid_set *S, const char *arg);
/* Handle one report of the keeper (birth, exec, exit of a followed process). */
void pid_set_event(struct pid_set *S, const struct pid_keeper_event *ev, int *root_status,
		   bool *root_exited);
/* Collect every process and make the combined sample (rows, regions, bitmaps). */
int pid_set_collect(struct pid_set *S, struct dpt_sample *s);
/* Processes still there (not exited). */
unsigned pid_set_live(const struct pid_set *S);
void pid_set_fini(struct pid_set *S);

/* ---- the non-zero scan (zscan.c): struct dpt_tracker_ops' zscan_* ---- */

struct dpt_tracker;
struct dpt_zscan;

/* Snapshot the set as the last sample numbered it, with descriptors of the scan's own. */
int pid_zscan_prepare(struct dpt_tracker *t, struct dpt_zscan **zs);
/* Read: never an error for a process that exits or memory unmapped meanwhile (unknown). */
int pid_zscan_run(struct dpt_zscan *zs, struct dpt_nonzero *z);
void pid_zscan_free(struct dpt_zscan *zs);

/* ---- helper processes that outlive dpt (helper.c) ---- */

/* Fork a helper: in a process group of its own, every signal blocked, every fd closed but its
 * end of a socketpair to dpt and keep[] (up to 7). Returns 0 in dpt (*pid the helper, *sock
 * dpt's end), 1 in the helper (*sock its end), or -errno with a reason. */
int pid_helper_fork(pid_t *pid, int *sock, const int *keep, unsigned nr_keep);
/* In a helper: is dpt gone (EOF on sock), waiting up to timeout_ms (0: just look)? */
bool pid_helper_parent_gone(int sock, int timeout_ms);
/* Wait for a helper to exit: its wait status, or -1. */
int pid_helper_reap(pid_t pid);

/* ---- QEMU targets (qemu.c) ---- */

enum pid_qemu_wait {
	PID_QEMU_READY,		/* its blocks are tracked */
	PID_QEMU_WAIT_RAM,	/* launched: its RAM is not mapped yet */
	PID_QEMU_WAIT_MIGRATION, /* it receives a migration: its RAM is QEMU's until the end */
};

struct pid_qemu {
	pid_t pid;
	struct pid_qemu_qmp qmp;  /* its QMP, if known */
	const char *const *names; /* --region arguments: block names, else mapping selectors */
	unsigned nr_names;
	bool uffd;		  /* dpt registers its memory with a userfaultfd */
	enum pid_qemu_wait wait;
	struct pid_sel *sels;	  /* the selectors in force (empty while it waits) */
	unsigned nr_sels;
	unsigned nr_blocks;	  /* how many of them are RAM blocks */
	uint64_t maps_sig;	  /* its writable mappings when the blocks were last looked for */
	long next_look_ms;
	unsigned looks;
	char block_names[512];	  /* the names of its blocks, for error messages */
	struct pid_qemu_block *known_blocks; /* its blocks when last looked for */
	unsigned nr_known;
};

/* Find QEMU pid's RAM blocks (from QMP when qmp has a path or via, else its DONTFORK mappings), in
 * RAM-offset order, or with names (--region), those named and the other names as mapping
 * selectors. A program dpt launched (stopped before its first instruction) waits for its RAM;
 * with uffd, a QEMU receiving a migration waits for its end, and a QEMU set up for a
 * background snapshot, or receiving a migration without QMP to say when it ends, is refused
 * (-errno with the reason). */
int pid_qemu_open(struct pid_qemu *q, pid_t pid, const struct pid_qemu_qmp *qmp,
		  const char *const *names, unsigned nr_names, bool launched, bool uffd);
/* Before each start and collect, with the target's maps just read (m): stop waiting when it
 * is time; look for the blocks again when the writable mappings changed (at most once a
 * second) and every 5 s, saying what appeared and vanished. 1 when q->sels changed, 0 if not,
 * -errno (reason recorded) when tracking must stop. */
int pid_qemu_update(struct pid_qemu *q, const struct pid_maps *m);
/* "6 RAM blocks from QMP", "receiving a migration: ...", for the target's description. */
void pid_qemu_describe(const struct pid_qemu *q, char *buf, size_t size);
void pid_qemu_fini(struct pid_qemu *q);

#endif
