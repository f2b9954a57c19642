/* pid.h - the pid tracker's options and launch mode, for `dpt track`.
 *
 * The tracker itself is pid_tracker_ops (include/dpt/tracker.h), opened on a
 * struct dpt_target { .kind = DPT_TARGET_PID, .pid = PID, .qmp_path = QEMU's QMP socket or
 * NULL } with struct dpt_tracker_opts { .mode = "uffd" | "soft-dirty" | "auto" (NULL = auto),
 * .extra = a struct pid_tracker_opts or NULL }. See docs/pid-tracker.md.
 *
 * Samples: one region per tracked mapping run (name "[heap]", a path, "" for anonymous
 * memory, "START-END" for a range, the RAM block name for QEMU); the list follows the
 * target's mappings and regions_changed says when it changed. For QEMU, regions are its RAM
 * blocks at page offset/4096 of QEMU's RAM address space, as in Qemu-DPT's bitmap files.
 *
 * Following a tree (follow, cgroup): one region per mapping run of each process, named
 * "PID:name", one process after another; a row per process (struct dpt_proc) in every sample.
 *
 * end_fd is a pidfd, readable once the target has exited; collect() then fails with -ESRCH
 * (the memory of the last partial interval is gone with the process) and end_reason says how
 * it ended; end_status is its exit status (128 + signal if killed) when it is dpt's child. With
 * a keeper (launch mode, hold, follow, cgroup), end_fd is the keeper's report socket and
 * ended() reads it: the root held at its exit, or, following, births, execs and exits handled
 * there; the tree has ended when its last process has.
 */
#ifndef DPT_PID_H
#define DPT_PID_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum pid_qemu_mode {
	PID_QEMU_AUTO = 0, /* QEMU layout when the executable is qemu-system-* (default) */
	PID_QEMU_ON,	   /* --qemu */
	PID_QEMU_OFF,	   /* plain process layout even for QEMU */
};

/* A way to QEMU's QMP other than a socket of its own (libvirt's passthrough, which owns
 * QEMU's monitor): execute() runs one command; args (may be NULL) is stolen in every case;
 * ret (may be NULL) receives a new reference to the "return" value. 0, or -errno with the
 * reason recorded by dpt_fail(). */
struct pid_qmp_via {
	int (*execute)(void *arg, const char *cmd, json_t *args, json_t **ret);
	void *arg;
	const char *what; /* for messages and the target's description: "libvirt domain vm1" */
};

/* QEMU's QMP for the QEMU layout: a socket path (a session per look), or via; neither: the
 * layout is guessed from QEMU's mappings. */
struct pid_qemu_qmp {
	const char *path;
	const struct pid_qmp_via *via;
};

/* A QEMU RAM block ("info ramblock"): its name, RAM offset, used and mapped length, and the
 * host address where QEMU maps it (hva). */
struct pid_qemu_block {
	char name[64];
	uint64_t offset, used, length, hva;
};

/* QEMU pid's RAM blocks in RAM-offset order, as the pid tracker's QEMU layout takes them
 * (qmp->path or qmp->via is needed); *blocks is malloc'ed (free() it). 0, or -errno with the
 * reason recorded. */
int pid_qemu_blocks(pid_t pid, const struct pid_qemu_qmp *qmp, struct pid_qemu_block **blocks,
		    unsigned *nr);

struct pid_tracker_opts {
	/* --region arguments, tracked in this order: "START-END" (hex, 0x optional, rounded
	 * out to pages; fixed), or a mapping name as /proc/PID/maps shows it ("[heap]",
	 * "[stack]", "/usr/lib/x.so", "/memfd:pc.ram (deleted)"; all writable mappings of that
	 * name, private or shared, followed as they come and go), or in the QEMU layout a RAM
	 * block's name ("pc.ram", "/objects/m0"). None: every private writable mapping, or every
	 * RAM block. A region that is not (entirely) mapped at open is an error. */
	const char *const *regions;
	unsigned nr_regions;
	enum pid_qemu_mode qemu;
	/* a running process (not one dpt launched, whose keeper holds it anyway): trace it for
	 * the whole run to hold it at its exit, so that its last partial interval can be read
	 * (dpt track --pid PID --hold). Refused, with the reason, if it cannot be traced. */
	bool hold;
	/* follow the process's descendants (fork, vfork and clone of a process; every execve),
	 * each tracked from its birth to its exit (dpt track --follow): the keeper traces every
	 * one of them. A process dpt launched must have been spawned with PID_SPAWN_FOLLOW. */
	bool follow;
	/* a cgroup v2 (a path, or one relative to the cgroup2 mount): track every process in it,
	 * followed, and the ones that join it (dpt track --cgroup); the target's pid is 0 */
	const char *cgroup;
	/* QEMU's QMP through another channel than a socket (target.qmp_path): libvirt's */
	const struct pid_qmp_via *qmp_via;
};

/* Is pid a QEMU system emulator (its executable's name starts with qemu-system-)? */
bool pid_qemu_detect(pid_t pid);
/* The guest's name of QEMU pid: its (last) -name option's guest= value, or its first word
 * when that has no '=' (-name NAME, -name guest=NAME,debug-threads=on as libvirt passes it;
 * ",," is a comma). 1 and buf filled, 0 when it has none, -errno when unreadable. */
int pid_qemu_name(pid_t pid, char *buf, size_t size);
/* The value of QEMU pid's (last) option opt ("-uuid"; "--uuid" too) from its command line, in
 * buf: 1, 0 when it has none, -errno when unreadable. */
int pid_qemu_option(pid_t pid, const char *opt, char *buf, size_t size);

/* A launched program, and its keeper (keeper.c), the helper that traces it. */
struct pid_spawn {
	pid_t pid;    /* the program */
	pid_t keeper; /* its keeper; 0 when none */
};

/* Launch mode (dpt track -- CMD ARGS...): fork and exec argv (PATH search), and return its pid
 * in sp->pid with the new program stopped (SIGSTOP) before its first instruction. Then: open
 * the pid tracker on it (a stopped target stays stopped), start(), and pid_spawn_resume().
 * Unless flags has PID_SPAWN_NO_HOLD, a keeper process traces the program from then on, so that the tracker can read the last
 * partial interval when it exits (end_fd fires while the program is held at its exit; close()
 * lets it go), and does the tracker's injections into it; it lets the program run if dpt dies
 * before pid_spawn_resume(), and detaches if dpt dies after. If the exec fails, returns -errno
 * with "cannot run ARGV0: reason". The child gets default SIGPIPE, SIGINT, SIGTERM, SIGCHLD,
 * SIGQUIT and SIGHUP dispositions and an empty signal mask. The tracker reaps it when it exits
 * (end_status); call pid_spawn_kill() on error paths before the tracker is open. dpt must not
 * have a SIGCHLD handler that reaps children (waitpid(-1)) meanwhile, nor SIGCHLD set to
 * SIG_IGN. */
int pid_spawn(const char *const argv[], unsigned flags, struct pid_spawn *sp);
/* flags: the keeper does not trace the program (it is only its launch guard): the program runs
 * untraced, and its last partial interval is lost (dpt track --no-hold) */
#define PID_SPAWN_NO_HOLD 1u
/* flags: the keeper follows the program's descendants too (dpt track --follow) */
#define PID_SPAWN_FOLLOW 2u
/* Let the spawned program run (SIGCONT). */
int pid_spawn_resume(struct pid_spawn *sp);
/* Kill and reap a spawned program that will not be tracked; dismiss its keeper. */
void pid_spawn_kill(struct pid_spawn *sp);

#endif
