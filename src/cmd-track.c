/* cmd-track.c - `dpt track`: measure a running process, a program it launches, or a QEMU.
 *
 *	dpt track [OPTIONS] --pid PID          the pid tracker on a running process
 *	dpt track [OPTIONS] [--] CMD ARGS...    launch CMD stopped, track it from its first write
 *	dpt track [OPTIONS] --qmp SOCKET        the qmp tracker: QEMU's own calc-dirty-rate
 *	dpt track [OPTIONS] --domain NAME       a libvirt domain: the pid tracker on its QEMU,
 *	                                        asking QEMU for its RAM blocks through libvirt
 *	dpt track [OPTIONS] --domain NAME --estimate   libvirt's own dirty rate (libvirt tracker)
 *
 * With --pid and --qmp together, the pid tracker asks QEMU's QMP socket for its RAM blocks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "dpt/log.h"
#include "dpt/parse.h"
#include "trackers/libvirt.h"
#include "trackers/pid/pid.h"
#include "trackers/qmp.h"

#define MAX_REGIONS 64

enum {
	OPT_PID = OPT_RUN_LAST,
	OPT_QMP,
	OPT_METHOD,
	OPT_REGION,
	OPT_QEMU,
	OPT_NO_QEMU,
	OPT_MODE,
	OPT_SAMPLE_PAGES,
	OPT_NO_HOLD,
	OPT_HOLD,
	OPT_CGROUP,
	OPT_DOMAIN,
	OPT_CONNECT,
	OPT_ESTIMATE,
};

static const struct option track_longopts[] = {
	RUN_LONGOPTS,
	{"pid", required_argument, 0, OPT_PID},
	{"qmp", required_argument, 0, OPT_QMP},
	{"method", required_argument, 0, OPT_METHOD},
	{"region", required_argument, 0, OPT_REGION},
	{"qemu", no_argument, 0, OPT_QEMU},
	{"no-qemu", no_argument, 0, OPT_NO_QEMU},
	{"mode", required_argument, 0, OPT_MODE},
	{"sample-pages", required_argument, 0, OPT_SAMPLE_PAGES},
	{"no-hold", no_argument, 0, OPT_NO_HOLD},
	{"hold", no_argument, 0, OPT_HOLD},
	{"follow", no_argument, 0, 'f'},
	{"cgroup", required_argument, 0, OPT_CGROUP},
	{"domain", required_argument, 0, OPT_DOMAIN},
	{"connect", required_argument, 0, OPT_CONNECT},
	{"estimate", no_argument, 0, OPT_ESTIMATE},
	{0},
};

static const char track_usage[] =
	"usage: dpt track [OPTIONS] [-f] --pid PID\n"
	"       dpt track [OPTIONS] [-f] [--] CMD [ARGS...]\n"
	"       dpt track [OPTIONS] --cgroup PATH\n"
	"       dpt track [OPTIONS] --qmp SOCKET\n"
	"       dpt track [OPTIONS] --domain NAME [--connect URI] [--estimate]\n\n"
	"Measure how fast a process (QEMU, Firecracker, a database, anything) dirties its memory,\n"
	"exactly, from the host's page tables (pid tracker); or ask an unmodified QEMU for its own\n"
	"estimate through QMP (qmp tracker).\n\n"
	"pid tracker (--pid, or a command to launch):\n"
	"  -p, --pid PID          track this running process\n"
	"      --hold             with --pid: trace it for the whole run, to hold it at its exit\n"
	"                         and write its last partial interval (it sees a tracer, and\n"
	"                         each signal it receives costs a round trip through dpt's helper)\n"
	"  CMD [ARGS...]          launch CMD and track it from its first instruction; when it\n"
	"                         ends, its last partial interval is written and dpt exits with\n"
	"                         its status\n"
	"  -f, --follow           every descendant too (fork, clone, every execve), each from\n"
	"                         its birth to its exit, with a row per process (-v, and a\n"
	"                         .procs.csv beside -o csv:FILE)\n"
	"      --cgroup PATH      every process of a cgroup v2 (a path, or one below the cgroup2\n"
	"                         mount), followed, and those that join it\n"
	"      --no-hold          launch mode: do not trace CMD to hold it at its exit (for\n"
	"                         programs that must run untraced: LeakSanitizer, crash reporters,\n"
	"                         debuggers); its last partial interval is then lost\n"
	"      --method M         uffd (userfaultfd write-protect + PAGEMAP_SCAN, Linux >= 6.7),\n"
	"                         soft-dirty (clear_refs + pagemap), or auto (default)\n"
	"      --region R         track only R: START-END (hex addresses), a mapping name as\n"
	"                         /proc/PID/maps shows it, e.g. [heap], or for QEMU a RAM block\n"
	"                         name (pc.ram, vga.vram, /objects/m0); repeatable. Default: every\n"
	"                         private writable mapping; for QEMU every RAM block\n"
	"      --qemu, --no-qemu  QEMU layout: guest RAM blocks in RAM-offset order, as Qemu-DPT's\n"
	"                         bitmaps, followed as they are plugged and unplugged (automatic\n"
	"                         when the executable is qemu-system-*)\n"
	"      --qmp SOCKET       with --pid or a QEMU to launch: its QMP socket, to ask it for\n"
	"                         its RAM blocks\n"
	"libvirt (--domain):\n"
	"      --domain NAME      a running libvirt domain: the pid tracker on its QEMU, exactly,\n"
	"                         its RAM blocks asked of QEMU through libvirt (QEMU layout)\n"
	"      --connect URI      libvirt's URI (default qemu:///system)\n"
	"      --estimate         libvirt's own dirty-rate measurement instead (QEMU's\n"
	"                         page-sampling, an estimate; whole-second intervals)\n"
	"qmp tracker (--qmp without --pid):\n"
	"      --mode M           auto, page-sampling, dirty-bitmap or dirty-ring (default auto)\n"
	"      --sample-pages N   page-sampling: pages sampled per GiB (default QEMU's 512)\n"
	"common:\n" RUN_USAGE;

struct track_args {
	pid_t pid;
	const char *qmp;
	const char *method;
	const char *mode;
	const char *regions[MAX_REGIONS];
	unsigned nr_regions;
	enum pid_qemu_mode qemu;
	unsigned sample_pages;
	char **cmd; /* launch mode */
	bool no_hold;
	bool hold;
	bool follow;
	const char *cgroup;
	const char *domain;
	const char *connect;
	bool estimate;
};

static int track_parse_one(struct track_args *a, int opt, const char *arg)
{
	uint64_t v;

	switch (opt) {
	case OPT_PID:
		if (parse_uint(arg, 1, 0x7fffffff, &v))
			return dpt_fail(-EINVAL, "--pid: '%s' is not a process id", arg);
		a->pid = (pid_t)v;
		return 0;
	case OPT_QMP:
		a->qmp = arg;
		return 0;
	case OPT_METHOD:
		if (cmd_pid_method_arg(arg))
			return -EINVAL;
		a->method = arg;
		return 0;
	case OPT_REGION:
		if (a->nr_regions == MAX_REGIONS)
			return dpt_fail(-EINVAL, "too many --region (at most %d)", MAX_REGIONS);
		a->regions[a->nr_regions++] = arg;
		return 0;
	case OPT_QEMU:
	case OPT_NO_QEMU:
		a->qemu = opt == OPT_QEMU ? PID_QEMU_ON : PID_QEMU_OFF;
		return 0;
	case OPT_MODE:
		if (strcmp(arg, "auto") && strcmp(arg, "page-sampling") &&
		    strcmp(arg, "dirty-bitmap") && strcmp(arg, "dirty-ring"))
			return dpt_fail(-EINVAL,
					"--mode: '%s' is not auto, page-sampling, dirty-bitmap or "
					"dirty-ring",
					arg);
		a->mode = arg;
		return 0;
	case OPT_NO_HOLD:
		a->no_hold = true;
		return 0;
	case OPT_HOLD:
		a->hold = true;
		return 0;
	case 'f':
		a->follow = true;
		return 0;
	case OPT_CGROUP:
		a->cgroup = arg;
		return 0;
	case OPT_DOMAIN:
		a->domain = arg;
		return 0;
	case OPT_CONNECT:
		a->connect = arg;
		return 0;
	case OPT_ESTIMATE:
		a->estimate = true;
		return 0;
	case OPT_SAMPLE_PAGES:
		if (parse_uint(arg, 128, 16384, &v))
			return dpt_fail(-EINVAL, "--sample-pages: '%s' is not from 128 to 16384", arg);
		a->sample_pages = (unsigned)v;
		return 0;
	}
	return -ENOENT;
}

/* --domain: the pid tracker on the domain's QEMU, or libvirt's own estimate (--estimate). */
static int track_check_domain(struct track_args *a, bool launch, const char **tracker)
{
	if (!a->domain) {
		if (a->connect || a->estimate)
			return dpt_fail(-EINVAL, "--connect and --estimate are for --domain");
		return 1;
	}
	if (launch || a->pid || a->cgroup || a->qmp)
		return dpt_fail(-EINVAL, "--domain names the target: no --pid, --cgroup, --qmp or "
					 "command with it");
	if (a->mode || a->sample_pages)
		return dpt_fail(-EINVAL, "--mode and --sample-pages are for the qmp tracker");
	if (a->estimate && (a->method || a->nr_regions || a->qemu || a->hold || a->follow))
		return dpt_fail(-EINVAL, "--method, --region, --qemu, --hold and --follow track "
					 "exactly: not with --estimate");
	*tracker = a->estimate ? "libvirt" : "pid";
	return 0;
}

/* Which tracker the arguments ask for, with the options that do not fit it refused. */
static int track_check(struct track_args *a, const char **tracker)
{
	bool launch = a->cmd && a->cmd[0];
	int r = track_check_domain(a, launch, tracker);

	if (r <= 0)
		return r;

	if (launch + !!a->pid + !!a->cgroup > 1)
		return dpt_fail(-EINVAL, "give one of --pid, --cgroup or a command to launch");
	if (a->no_hold && !launch)
		return dpt_fail(-EINVAL, "--no-hold is for launch mode (a command to run)");
	if (a->no_hold && a->follow)
		return dpt_fail(-EINVAL, "--follow needs the keeper that --no-hold turns off");
	if (a->hold && !a->pid)
		return dpt_fail(-EINVAL, "--hold is for --pid (a launched command is held anyway)");
	if (a->follow && !launch && !a->pid)
		return dpt_fail(-EINVAL, "--follow is for --pid or a command (a cgroup is "
					 "followed anyway)");
	if (!launch && !a->pid && !a->qmp && !a->cgroup)
		return dpt_fail(-EINVAL, "nothing to track: give --pid PID, --cgroup PATH, --qmp "
					 "SOCKET, --domain NAME or a command");
	if (a->cgroup && a->qmp)
		return dpt_fail(-EINVAL, "--qmp is for one QEMU, not a cgroup");
	if (launch || a->pid || a->cgroup) {
		if (a->mode || a->sample_pages)
			return dpt_fail(-EINVAL, "--mode and --sample-pages are for the qmp tracker "
						 "(--qmp without --pid)");
		*tracker = "pid";
		return 0;
	}
	if (a->method || a->nr_regions || a->qemu)
		return dpt_fail(-EINVAL, "--method, --region and --qemu are for the pid tracker "
					 "(--pid or a command)");
	*tracker = "qmp";
	return 0;
}

static int track_parse(int argc, char **argv, struct track_args *a, struct run_opts *ro,
		       bool *done)
{
	int opt;

	opterr = 0;
	optind = 1;
	/* '+': stop at the first non-option, so a launched command keeps its own options */
	while ((opt = getopt_long(argc, argv, "+p:f" RUN_SHORTOPTS, track_longopts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(track_usage, stdout);
			*done = true;
			return 0;
		}
		if (opt == '?') {
			if (optopt && optopt < 0x100)
				return cmd_usage_error("track",
						       "option -%c: unknown or missing its value",
						       optopt);
			return cmd_usage_error("track", "unknown option '%s' or missing its value",
					       argv[optind - 1]);
		}
		if (opt == 'p')
			opt = OPT_PID;
		int r = run_opts_parse(ro, opt, optarg);
		if (r < 0 || (r == 0 && track_parse_one(a, opt, optarg)))
			return cmd_usage_error("track", "%s", dpt_last_error());
	}
	a->cmd = optind < argc ? argv + optind : NULL;
	return 0;
}

struct launch {
	struct pid_spawn sp;
	bool resumed;
};

/* After the tracker's first start(): let the launched program run. */
static int launch_resume(void *arg)
{
	struct launch *l = arg;

	if (l->resumed)
		return 0;
	l->resumed = true;
	return pid_spawn_resume(&l->sp);
}

int cmd_track(int argc, char **argv)
{
	struct track_args a = {0};
	struct run_opts ro;
	struct launch launch = {0};
	struct dpt_tracker t = {.end_fd = -1};
	const char *tracker = NULL;
	bool done = false;
	int status;

	run_opts_init(&ro);
	status = track_parse(argc, argv, &a, &ro, &done);
	if (status || done)
		return status;
	if (track_check(&a, &tracker))
		return cmd_usage_error("track", "%s", dpt_last_error());
	if (a.domain && !dpt_libvirt_available()) {
		fprintf(stderr, "dpt track: --domain: dpt was built without libvirt: install "
				"libvirt-dev and rebuild\n");
		return 2;
	}
	if (loop_block_signals())
		return cmd_error("cannot block signals");

	struct pid_tracker_opts popts = {
		.regions = a.regions, .nr_regions = a.nr_regions, .qemu = a.qemu, .hold = a.hold,
		.follow = a.follow, .cgroup = a.cgroup,
	};
	struct qmp_tracker_opts qopts = {
		.interval_ns = ro.loop.interval_ns, .sample_pages = a.sample_pages,
	};
	struct dpt_tracker_opts topts = {.mode = a.method ? a.method : a.mode};
	struct libvirt_tracker_opts lopts = {.interval_ns = ro.loop.interval_ns};
	struct dpt_target target = {.kind = DPT_TARGET_PID, .pid = a.pid, .qmp_path = a.qmp};
	struct dpt_libvirt *lv = NULL;
	struct dpt_libvirt_domain dom = {0};
	if (!strcmp(tracker, "qmp")) {
		target.kind = DPT_TARGET_QMP;
		topts.extra = &qopts;
	} else if (!strcmp(tracker, "libvirt")) {
		target = (struct dpt_target){
		    .kind = DPT_TARGET_LIBVIRT, .domain = a.domain, .uri = a.connect};
		topts.extra = &lopts;
	} else {
		topts.extra = &popts;
	}
	if (a.domain && !a.estimate) {
		/* the domain's QEMU and its RAM blocks, asked through libvirt */
		if (dpt_libvirt_open(a.connect, &lv) || dpt_libvirt_domain(lv, a.domain, &dom)) {
			status = cmd_error("cannot find the libvirt domain");
			dpt_libvirt_domain_fini(&dom);
			dpt_libvirt_close(lv);
			return status;
		}
		target.pid = dom.pid;
		popts.qmp_via = &dom.qmp;
		if (popts.qemu == PID_QEMU_AUTO) /* --no-qemu: the plain process layout */
			popts.qemu = PID_QEMU_ON;
	}
	if (a.cmd) {
		if (pid_spawn((const char *const *)a.cmd,
			      (a.no_hold ? PID_SPAWN_NO_HOLD : 0) | (a.follow ? PID_SPAWN_FOLLOW : 0),
			      &launch.sp))
			return cmd_error("cannot launch the command");
		target.pid = launch.sp.pid;
		ro.loop.after_start = launch_resume;
		ro.loop.after_start_arg = &launch;
	}
	t.ops = tracker_find(tracker);
	if (t.ops->open(&t, &target, &topts)) {
		status = cmd_error("cannot open the tracker");
		if (a.cmd)
			pid_spawn_kill(&launch.sp);
		dpt_libvirt_domain_fini(&dom);
		dpt_libvirt_close(lv);
		return status;
	}
	dpt_debug("%s tracker (%s) on %s", t.ops->name, t.mode, t.target_desc);
	status = run_tracking(&ro, &t);
	if (a.cmd && !launch.resumed) /* tracking never started: still let the program run */
		launch_resume(&launch);
	t.ops->close(&t);
	dpt_libvirt_domain_fini(&dom);
	dpt_libvirt_close(lv);
	return status;
}
