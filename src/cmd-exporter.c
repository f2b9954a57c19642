/* cmd-exporter.c - `dpt exporter`: track every QEMU on the host (or the processes named),
 * continuously, and serve Prometheus metrics over HTTP.
 *
 *	dpt exporter [--listen ADDR:PORT] [--interval DUR] [--pid PID]... [--all-qemu]
 *		     [--domain NAME]... [--connect URI]
 *		     [--bandwidth BW [--downtime-limit DUR] [--forecast-every DUR]]
 *
 * The tracking loop runs on this thread: at each interval boundary, discovery (the sources'
 * processes: new ones opened with the pid tracker, QEMU layout), a collect of every tracked
 * target, then the whole exposition text built and published. The HTTP server (its own
 * thread) and the forecast's worker only read copies. Design: docs/exporter.md.
 */
#include <errno.h>
#include <fnmatch.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/parse.h"
#include "exporter/exporter.h"
#include "trackers/libvirt.h"
#include "trackers/pid/pid.h"

#define MAX_PIDS    256
#define MAX_SOURCES 4
#define MAX_GLOBS   32
#define MAX_DOMAINS 256
#define RETRY_MAX_S 30.0
#define YOUNG_S     3.0 /* a process younger than this may not have mapped its RAM */

enum {
	OPT_LISTEN = 0x2000,
	OPT_PID,
	OPT_ALL_QEMU,
	OPT_BANDWIDTH,
	OPT_DOWNTIME,
	OPT_FC_EVERY,
	OPT_METHOD,
	OPT_VM,
	OPT_ZERO_SCAN_EVERY,
	OPT_DOMAIN,
	OPT_CONNECT,
};

static const struct option exporter_longopts[] = {
	{"listen", required_argument, 0, OPT_LISTEN},
	{"interval", required_argument, 0, 'i'},
	{"pid", required_argument, 0, OPT_PID},
	{"all-qemu", no_argument, 0, OPT_ALL_QEMU},
	{"domain", required_argument, 0, OPT_DOMAIN},
	{"connect", required_argument, 0, OPT_CONNECT},
	{"bandwidth", required_argument, 0, OPT_BANDWIDTH},
	{"downtime-limit", required_argument, 0, OPT_DOWNTIME},
	{"forecast-every", required_argument, 0, OPT_FC_EVERY},
	{"method", required_argument, 0, OPT_METHOD},
	{"vm", required_argument, 0, OPT_VM},
	{"zero-scan-every", required_argument, 0, OPT_ZERO_SCAN_EVERY},
	{"quiet", no_argument, 0, 'q'},
	{"verbose", no_argument, 0, 'v'},
	{"help", no_argument, 0, 'h'},
	{0},
};

static const char exporter_usage[] =
	"usage: dpt exporter [OPTIONS]\n\n"
	"Track every QEMU on this host (or the processes and libvirt domains named) with the pid\n"
	"tracker, one interval after another, and serve Prometheus metrics at\n"
	"http://ADDR:PORT/metrics: dirty bytes and rate, working set over 10 s and 60 s, tracked\n"
	"bytes per VM, dpt's own health, and with --bandwidth each VM's QEMU precopy migration\n"
	"forecast. VMs that start later are picked up, those that end are dropped. Needs root (or\n"
	"CAP_SYS_PTRACE).\n\n"
	"  -l, --listen ADDR:PORT  where to serve (default 127.0.0.1:9901; [::1]:PORT, :PORT)\n"
	"  -i, --interval DUR      interval length (default 1s; 100ms at least)\n"
	"  -p, --pid PID           track this process (repeatable); without --all-qemu, only them\n"
	"      --domain NAME       track this libvirt domain's QEMU, exactly, while it runs\n"
	"                          (repeatable; without --all-qemu, only them)\n"
	"      --connect URI       libvirt's URI for --domain (default qemu:///system)\n"
	"      --all-qemu          every qemu-system-* process (the default without --pid or\n"
	"                          --domain)\n"
	"      --vm GLOB           only the VMs whose name (QEMU -name, else the pid) matches\n"
	"                          the shell pattern GLOB (repeatable: any of them)\n"
	"      --bandwidth BW      forecast each VM's migration at BW (64M, 1G, 10Gbit)\n"
	"      --downtime-limit DUR  the forecast's downtime limit (default QEMU's 300ms)\n"
	"      --forecast-every DUR  how often to forecast (default 10s)\n"
	"      --zero-scan-every DUR  read each VM's memory every DUR for the pages that hold\n"
	"                          zeros, which a migration sends in a few bytes (default 0:\n"
	"                          never, and the forecast takes every page to hold data)\n"
	"      --method M          pid tracker method: uffd, soft-dirty or auto (default)\n"
	"  -q, --quiet             no line when a VM is picked up or dropped\n"
	"  -v, --verbose           more messages\n"
	"  -h, --help              this text\n";

struct exporter_args {
	const char *listen;
	uint64_t interval_ns;
	pid_t pids[MAX_PIDS];
	unsigned nr_pids;
	const char *domains[MAX_DOMAINS];
	unsigned nr_domains;
	const char *connect;
	bool all_qemu;
	double bandwidth, downtime_limit;
	uint64_t fc_every_ns;
	uint64_t zero_scan_ns;
	const char *method;
	const char *globs[MAX_GLOBS];
	unsigned nr_globs;
	bool quiet;
};

struct exporter {
	struct exporter_args *a;
	struct exp_source src[MAX_SOURCES];
	unsigned nr_src;
	struct exp_target **t;
	unsigned nr, cap;
	unsigned next_id;
	struct exp_stats st;
	struct exp_text text;
	struct exp_fc_worker *fc;
	double next_fc, next_zscan;
	bool said_none;
};

static double clock_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

static int exporter_parse_one(struct exporter_args *a, int opt, const char *arg)
{
	uint64_t v;

	switch (opt) {
	case 'l':
	case OPT_LISTEN:
		a->listen = arg;
		return 0;
	case 'i':
		if (parse_duration_ns(arg, &v) || v < 100000000ULL)
			return dpt_fail(-EINVAL, "--interval: '%s' is not a duration of 100ms or more",
					arg);
		a->interval_ns = v;
		return 0;
	case 'p':
	case OPT_PID:
		if (parse_uint(arg, 1, 0x7fffffff, &v))
			return dpt_fail(-EINVAL, "--pid: '%s' is not a process id", arg);
		if (a->nr_pids == MAX_PIDS)
			return dpt_fail(-EINVAL, "too many --pid (at most %d)", MAX_PIDS);
		a->pids[a->nr_pids++] = (pid_t)v;
		return 0;
	case OPT_ALL_QEMU:
		a->all_qemu = true;
		return 0;
	case OPT_DOMAIN:
		if (!*arg)
			return dpt_fail(-EINVAL, "--domain: a domain name, not ''");
		if (a->nr_domains == MAX_DOMAINS)
			return dpt_fail(-EINVAL, "too many --domain (at most %d)", MAX_DOMAINS);
		a->domains[a->nr_domains++] = arg;
		return 0;
	case OPT_CONNECT:
		a->connect = arg;
		return 0;
	case OPT_BANDWIDTH:
		if (parse_bandwidth(arg, &a->bandwidth) || a->bandwidth <= 0)
			return dpt_fail(-EINVAL, "--bandwidth: '%s' is not a bandwidth (64M, 1G, "
						 "10Gbit)", arg);
		return 0;
	case OPT_DOWNTIME:
		if (parse_duration_ns(arg, &v) || v == 0)
			return dpt_fail(-EINVAL, "--downtime-limit: '%s' is not a duration", arg);
		a->downtime_limit = (double)v / 1e9;
		return 0;
	case OPT_FC_EVERY:
		if (parse_duration_ns(arg, &v) || v < 1000000000ULL)
			return dpt_fail(-EINVAL, "--forecast-every: '%s' is not a duration of 1s or "
						 "more", arg);
		a->fc_every_ns = v;
		return 0;
	case OPT_ZERO_SCAN_EVERY:
		if (parse_duration_ns(arg, &a->zero_scan_ns))
			return dpt_fail(-EINVAL, "--zero-scan-every: '%s' is not a duration", arg);
		return 0;
	case OPT_METHOD:
		if (cmd_pid_method_arg(arg))
			return -EINVAL;
		a->method = arg;
		return 0;
	case OPT_VM: /* patterns, any of which lets a VM in */
		return a->nr_globs < MAX_GLOBS ? (a->globs[a->nr_globs++] = arg, 0)
					       : dpt_fail(-EINVAL, "at most %d --vm", MAX_GLOBS);
	case 'q':
		a->quiet = true;
		return 0;
	case 'v':
		dpt_verbosity = 2;
		return 0;
	}
	return dpt_fail(-EINVAL, "unknown option");
}

static int exporter_parse(int argc, char **argv, struct exporter_args *a, bool *done)
{
	int opt;

	a->listen = "127.0.0.1:9901";
	a->interval_ns = 1000000000ULL;
	a->fc_every_ns = 10000000000ULL;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "l:i:p:qvh", exporter_longopts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(exporter_usage, stdout);
			*done = true;
			return 0;
		}
		if (opt == '?')
			return cmd_usage_error("exporter", "unknown option '%s' or missing its value",
					       argv[optind - 1]);
		if (exporter_parse_one(a, opt, optarg))
			return cmd_usage_error("exporter", "%s", dpt_last_error());
	}
	if (optind < argc)
		return cmd_usage_error("exporter", "unexpected argument '%s'", argv[optind]);
	if ((a->downtime_limit || a->fc_every_ns != 10000000000ULL || a->zero_scan_ns) &&
	    !a->bandwidth)
		return cmd_usage_error("exporter", "--downtime-limit, --forecast-every and "
						   "--zero-scan-every are for the forecast: give "
						   "--bandwidth");
	if (a->connect && !a->nr_domains)
		return cmd_usage_error("exporter", "--connect is for --domain");
	if (!a->nr_pids && !a->nr_domains)
		a->all_qemu = true;
	return 0;
}

/* ---- targets ---- */

static void say(struct exporter *E, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct exporter *E, const char *fmt, ...)
{
	char line[600];
	va_list ap;

	if (E->a->quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	dpt_info("%s", line);
}

/* The target of a want: by pid, or by name for one without a process (pid 0). */
static struct exp_target *find(struct exporter *E, const struct exp_want *w)
{
	for (unsigned i = 0; i < E->nr; i++)
		if (E->t[i]->pid == w->pid && (w->pid || !strcmp(E->t[i]->vm, w->name)))
			return E->t[i];
	return NULL;
}

/* A target named without a process (a libvirt domain not running): its error, said when it
 * is new or changes; the source lists it again at every discovery. */
static void target_error(struct exp_target *x, const struct exp_want *w)
{
	if (x->said && !strcmp(x->error, w->error))
		return;
	snprintf(x->error, sizeof(x->error), "%s", w->error);
	dpt_warn("vm %s: cannot track it: %s", x->vm, x->error);
	x->said = true;
}

static void target_close(struct exp_target *t)
{
	if (t->open)
		t->t.ops->close(&t->t);
	t->open = false;
	exp_hist_reset(&t->hist);
}

static void target_free(struct exp_target *t)
{
	target_close(t);
	exp_hist_fini(&t->hist);
	free(t);
}

/* Open the pid tracker on it; on failure it stays known, failed, and is tried again later
 * (1 s, 2 s, 4 s ... 30 s after). */
static void target_open(struct exporter *E, struct exp_target *x, const struct exp_want *w)
{
	struct pid_tracker_opts popts = {.qemu = PID_QEMU_AUTO, .qmp_via = w->qmp.via};
	struct dpt_tracker_opts topts = {.mode = E->a->method, .extra = &popts};
	struct dpt_target target = {.kind = DPT_TARGET_PID, .pid = x->pid, .qmp_path = w->qmp.path};

	memset(&x->t, 0, sizeof(x->t));
	x->t.end_fd = -1;
	x->t.ops = &pid_tracker_ops;
	dpt_clear_error();
	int err = x->t.ops->open(&x->t, &target, &topts);
	if (!err)
		err = x->t.ops->start(&x->t);
	if (!err) {
		x->open = true;
		x->fresh = true; /* its first interval ends at the next boundary, not now */
		x->state = EXP_TRACKED;
		x->error[0] = 0;
		x->backoff = 0;
		clock_gettime(CLOCK_MONOTONIC, &x->prev_mono);
		clock_gettime(CLOCK_REALTIME, &x->prev_wall);
		x->total_pages = x->t.total_pages;
		say(E, "vm %s (pid %d): tracked (%s, %.1f MiB)", x->vm, x->pid, x->t.mode,
		    (double)x->t.total_pages / 256);
		return;
	}
	if (x->t.priv)
		x->t.ops->close(&x->t);
	const char *why = dpt_last_error() ? dpt_last_error() : strerror(-err);
	/* a QEMU just started may not have mapped its RAM yet (and a daemonizing one's first
	 * process never will): tried again in a second, said if it still fails then */
	bool young = exp_age(x->start_time) < YOUNG_S;
	if (!young && (!x->said || strcmp(why, x->error)))
		dpt_warn("vm %s (pid %d): cannot track it: %s", x->vm, x->pid, why);
	x->said = !young;
	snprintf(x->error, sizeof(x->error), "%s", why);
	x->state = EXP_FAILED;
	x->backoff = young || !x->backoff	    ? 1
		     : x->backoff * 2 > RETRY_MAX_S ? RETRY_MAX_S
						    : x->backoff * 2;
	x->retry_at = now_s() + x->backoff;
}

/* The vm label: the source's name, else QEMU's -name, else the pid. */
static void vm_name(const struct exp_want *w, char *buf, size_t size)
{
	if (w->name[0])
		snprintf(buf, size, "%s", w->name);
	else if (pid_qemu_name(w->pid, buf, size) <= 0)
		snprintf(buf, size, "%d", w->pid);
}

/* Does --vm let this one in? */
static bool vm_wanted(const struct exporter *E, const char *vm)
{
	for (unsigned i = 0; i < E->a->nr_globs; i++)
		if (!fnmatch(E->a->globs[i], vm, 0))
			return true;
	return !E->a->nr_globs;
}

static int target_add(struct exporter *E, const struct exp_want *w, const char *vm)
{
	struct exp_target *x = calloc(1, sizeof(*x));
	double iv = (double)E->a->interval_ns / 1e9;
	unsigned short_k = (unsigned)(10.0 / iv + 0.5), long_k = (unsigned)(60.0 / iv + 0.5);

	if (!x || (E->nr == E->cap && !(E->t = realloc(E->t, (E->cap = E->cap * 2 + 16) *
								      sizeof(*E->t))))) {
		free(x);
		return dpt_fail(-ENOMEM, "out of memory");
	}
	if (exp_hist_init(&x->hist, short_k, long_k, long_k)) {
		free(x);
		return -ENOMEM;
	}
	E->t[E->nr++] = x;
	x->pid = w->pid;
	x->id = ++E->next_id;
	x->start_time = exp_start_time(w->pid);
	snprintf(x->vm, sizeof(x->vm), "%s", vm);
	x->state = EXP_FAILED;
	if (!w->pid) {
		target_error(x, w);
		return 0;
	}
	if (!x->start_time) {
		snprintf(x->error, sizeof(x->error), "no process with pid %d", w->pid);
		dpt_warn("vm %s (pid %d): cannot track it: %s", x->vm, x->pid, x->error);
		x->retry_at = now_s() + RETRY_MAX_S;
		return 0;
	}
	target_open(E, x, w);
	return 0;
}

static void target_remove(struct exporter *E, unsigned i)
{
	target_free(E->t[i]);
	E->t[i] = E->t[--E->nr];
}

/* Every source's processes: new ones opened, failed ones retried when due; those no source
 * wants any more (ended, or replaced by another process with the same pid) dropped. */
static void discover(struct exporter *E)
{
	struct exp_wants w = {0};
	double t0 = now_s();

	for (unsigned s = 0; s < E->nr_src; s++)
		if (E->src[s].list(&E->src[s], &w))
			dpt_warn("looking for targets (%s): %s", E->src[s].name,
				 dpt_last_error() ? dpt_last_error() : "failed");
	for (unsigned i = 0; i < E->nr; i++)
		E->t[i]->seen = false;
	for (unsigned k = 0; k < w.nr; k++) {
		struct exp_target *x = find(E, &w.v[k]);
		if (x && x->start_time && exp_start_time(x->pid) != x->start_time)
			x = NULL; /* the pid now names another process: the old one goes below */
		if (!x) {
			char vm[128];
			vm_name(&w.v[k], vm, sizeof(vm));
			if (!vm_wanted(E, vm) || target_add(E, &w.v[k], vm))
				continue;
			x = E->t[E->nr - 1];
		} else if (!x->pid) {
			target_error(x, &w.v[k]);
		} else if (x->state == EXP_FAILED && x->start_time && t0 >= x->retry_at) {
			target_open(E, x, &w.v[k]);
		}
		x->seen = true;
	}
	for (unsigned i = E->nr; i-- > 0;) {
		struct exp_target *x = E->t[i];
		if (x->seen)
			continue;
		if (x->state == EXP_TRACKED) {
			E->st.lost_exited++;
			say(E, "vm %s (pid %d): gone, no longer tracked", x->vm, x->pid);
		}
		target_remove(E, i);
	}
	if (!E->nr && !E->said_none)
		say(E, "no QEMU process found%s; looking again every interval",
		    E->a->nr_pids ? " among the pids given" : "");
	E->said_none = !E->nr;
	exp_wants_fini(&w);
	E->st.discovery_s = now_s() - t0;
}

/* One interval of one target. */
static void target_collect(struct exporter *E, struct exp_target *x)
{
	struct dpt_sample s = {0};
	struct timespec mono, wall;
	double t0 = now_s(), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &wall);
	dpt_clear_error();
	int err = x->t.ops->collect(&x->t, &s);
	x->last_collect_s = now_s() - t0;
	E->st.collect_cpu += clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
	if (err) {
		bool gone = err == -ESRCH || !exp_start_time(x->pid);
		const char *why = dpt_last_error() ? dpt_last_error() : strerror(-err);
		if (gone) {
			E->st.lost_exited++;
			say(E, "vm %s (pid %d): gone, no longer tracked (%s)", x->vm, x->pid, why);
			x->start_time = 0; /* removed at the next discovery */
		} else {
			E->st.lost_failed++;
			dpt_warn("vm %s (pid %d): tracking failed: %s", x->vm, x->pid, why);
			x->retry_at = now_s() + 1;
			x->backoff = 1;
		}
		snprintf(x->error, sizeof(x->error), "%s", why);
		x->state = EXP_FAILED;
		target_close(x);
		return;
	}
	s.mono_start = x->prev_mono;
	s.wall_start = x->prev_wall;
	s.mono_end = mono;
	s.wall_end = wall;
	x->prev_mono = mono;
	x->prev_wall = wall;
	x->intervals++;
	x->last_dirty = s.dirty;
	x->last_seconds = sample_seconds(&s);
	x->dirtied_pages_total += s.dirty;
	x->discarded_pages_total += s.discarded;
	x->total_pages = s.total;
	if (exp_hist_add(&x->hist, &s))
		dpt_warn("vm %s (pid %d): %s: its working set starts again", x->vm, x->pid,
			 dpt_last_error());
}

static void publish(struct exporter *E)
{
	struct exp_buf b = {0};

	if (E->fc)
		exp_fc_collect(E->fc, E->t, E->nr);
	exp_metrics_build(&b, E->t, E->nr, &E->st);
	if (b.oom) {
		dpt_warn("out of memory building the metrics: the last ones stay served");
		exp_buf_fini(&b);
		return;
	}
	exp_text_publish(&E->text, &b);
}

static void tick(struct exporter *E)
{
	static const double le[] = EXP_COLLECT_BUCKETS;

	discover(E);
	double t0 = now_s();
	for (unsigned i = 0; i < E->nr; i++) {
		if (E->t[i]->state == EXP_TRACKED && !E->t[i]->fresh)
			target_collect(E, E->t[i]);
		E->t[i]->fresh = false;
	}
	double c = now_s() - t0;
	E->st.collect_s = c;
	E->st.collect_sum += c;
	E->st.collect_count++;
	for (unsigned i = 0; i < sizeof(le) / sizeof(le[0]); i++)
		E->st.collect_hist[i] += c <= le[i];
	E->st.intervals++;
	if (E->fc && now_s() >= E->next_fc) {
		bool zscan = E->a->zero_scan_ns && now_s() >= E->next_zscan;
		if (exp_fc_submit(E->fc, E->t, E->nr, zscan) && zscan)
			E->next_zscan = now_s() + (double)E->a->zero_scan_ns / 1e9;
		E->next_fc = now_s() + (double)E->a->fc_every_ns / 1e9;
	}
	publish(E);
}

/* ---- the loop ---- */

static int run(struct exporter *E, int sfd, int tfd)
{
	uint64_t k = 0, iv = E->a->interval_ns;
	struct timespec start;

	clock_gettime(CLOCK_MONOTONIC, &start);
	tick(E); /* discovery and the first targets' start at once */
	for (;;) {
		uint64_t ns = (uint64_t)start.tv_nsec + ++k * iv;
		struct itimerspec its = {.it_value = {.tv_sec = start.tv_sec + (time_t)(ns / 1000000000ULL),
						      .tv_nsec = (long)(ns % 1000000000ULL)}};
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		while (its.it_value.tv_sec < now.tv_sec ||
		       (its.it_value.tv_sec == now.tv_sec && its.it_value.tv_nsec <= now.tv_nsec)) {
			E->st.overruns++; /* a boundary missed: skipped, never bunched */
			ns = (uint64_t)start.tv_nsec + ++k * iv;
			its.it_value.tv_sec = start.tv_sec + (time_t)(ns / 1000000000ULL);
			its.it_value.tv_nsec = (long)(ns % 1000000000ULL);
		}
		if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL))
			return dpt_fail(-errno, "timerfd_settime: %s", strerror(errno));
		struct pollfd pfd[2] = {{.fd = sfd, .events = POLLIN}, {.fd = tfd, .events = POLLIN}};
		while (poll(pfd, 2, -1) < 0)
			if (errno != EINTR)
				return dpt_fail(-errno, "poll: %s", strerror(errno));
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				dpt_debug("stopped by %s", strsignal((int)si.ssi_signo));
			return 0;
		}
		uint64_t ticks;
		if (read(tfd, &ticks, sizeof(ticks)) != sizeof(ticks))
			continue;
		tick(E);
	}
}

int cmd_exporter(int argc, char **argv)
{
	struct exporter_args a = {0};
	struct exporter E = {.a = &a};
	struct exp_http *http = NULL;
	bool done = false;
	int status = exporter_parse(argc, argv, &a, &done), err, fd, sfd = -1, tfd = -1;

	if (status || done)
		return status;
	if (a.nr_domains && !dpt_libvirt_available()) {
		fprintf(stderr, "dpt exporter: --domain: dpt was built without libvirt: install "
				"libvirt-dev and rebuild\n");
		return 2;
	}
	if (!exp_http_available()) {
		fprintf(stderr, "dpt exporter: this dpt was built without libmicrohttpd "
				"(install libmicrohttpd-dev and rebuild)\n");
		return 2;
	}
	fd = exp_listen(a.listen);
	if (fd == -EINVAL)
		return cmd_usage_error("exporter", "%s", dpt_last_error());
	if (fd < 0)
		return cmd_error("cannot listen");
	if (loop_block_signals()) { /* before any thread: they all inherit the mask */
		close(fd);
		return cmd_error("cannot block signals");
	}
	exp_text_init(&E.text);
	E.st.interval_s = (double)a.interval_ns / 1e9;
	E.st.bandwidth = a.bandwidth;
	E.st.downtime_limit = a.downtime_limit ? a.downtime_limit : 0.3;
	struct timespec w;
	clock_gettime(CLOCK_REALTIME, &w);
	E.st.start_wall = (double)w.tv_sec + (double)w.tv_nsec / 1e9;
	if (a.nr_pids)
		err = exp_source_pids(&E.src[E.nr_src++], a.pids, a.nr_pids);
	else
		err = 0;
	/* before --all-qemu: a domain's QEMU is named after the domain, asked through libvirt */
	if (!err && a.nr_domains)
		err = exp_source_domains(&E.src[E.nr_src++], a.domains, a.nr_domains, a.connect);
	if (!err && a.all_qemu)
		err = exp_source_all_qemu(&E.src[E.nr_src++]);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (!err && ((sfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0 ||
		     (tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) < 0))
		err = dpt_fail(-errno, "signalfd/timerfd: %s", strerror(errno));
	if (!err && a.bandwidth)
		err = exp_fc_start(&E.fc, a.bandwidth, E.st.downtime_limit, a.interval_ns);
	if (!err) {
		publish(&E); /* an empty (but valid) text until the first interval */
		err = exp_http_start(&http, fd, &E.text);
		fd = -1;
	}
	if (!err) {
		say(&E, "serving http://%s/metrics, every %.3g s", a.listen, E.st.interval_s);
		err = run(&E, sfd, tfd);
	}
	status = err ? cmd_error("exporter failed") : 0;
	exp_http_stop(http);
	exp_fc_stop(E.fc);
	for (unsigned i = 0; i < E.nr; i++)
		target_free(E.t[i]); /* every VM let go: nothing of dpt stays in any */
	free(E.t);
	for (unsigned s = 0; s < E.nr_src; s++)
		if (E.src[s].fini)
			E.src[s].fini(&E.src[s]);
	exp_text_fini(&E.text);
	if (fd >= 0)
		close(fd);
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	return status;
}
