/* simgrid.c - a live migration run through SimGrid 3.32 itself (its C API, libsimgrid).
 *
 * 1. Fork: SimGrid's engine is global, lives once per process, and aborts (xbt_assert) on
 *    what it cannot handle; the child runs it and writes the results into a pipe.
 * 2. In the child: the platform as a small XML file (hosts src and dst, each with a core per
 *    VM, 1 Gflop/s; one link of the bandwidth and latency between them), network model CM02
 *    without cross traffic and without a TCP window bound, so that a message of x bytes takes
 *    exactly latency + x / its share of the bandwidth (SimGrid's default LV08 would scale the
 *    bandwidth by 0.97, the latency by 13.01, and cap a flow at 4 MiB / (2 x latency)).
 * 3. Per VM: sg_vm_create_core on src, its RAM, a bound of cpu_share x the host's speed, the
 *    plugin's intensity, working set and migration speed; an actor in the VM computes without
 *    end (SimGrid dirties memory only in proportion to the flops a VM computes); an actor on
 *    src calls sg_vm_migrate(vm, dst) at time 0 and notes the clock when it returns, then
 *    kills the VM's worker. All VMs leave at once: they share the link as SimGrid shares it.
 * 4. Bytes: SimGrid does not return them; its plugin logs every stage it sends ("mig-stage1:
 *    sent N duration D ...", "mig-stage2.R: sent ...", "mig-stage3: sent ...", at debug level,
 *    log category vm_live_migration), with the sending actor's name, which holds the VM's.
 *    That category's log goes to a memory stream and is parsed after the run. Every other
 *    category is silenced (root threshold critical) unless verbose.
 */
#include <errno.h>

#include "analysis/simgrid.h"
#include "dpt/io.h"
#include "dpt/log.h"

#ifdef HAVE_SIMGRID
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <simgrid/actor.h>
#include <simgrid/engine.h>
#include <simgrid/host.h>
#include <simgrid/plugins/live_migration.h>
#include <simgrid/version.h>
#include <simgrid/vm.h>
#include <xbt/config.h>
#include <xbt/log.h>

XBT_LOG_EXTERNAL_CATEGORY(vm_live_migration);

#define HOST_SPEED 1e9 /* flop/s; any value: SimGrid's dirtying divides it out */

/* The child's state (SimGrid's actors are plain functions). */
static struct {
	const struct simgrid_params *p;
	unsigned n;
	struct simgrid_result *res;
	sg_vm_t *vm;
	sg_actor_t *worker;
} sim;

static int write_platform(const struct simgrid_link *l, unsigned n, char *path)
{
	int fd = mkstemp(path);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

	if (!f) {
		if (fd >= 0)
			close(fd);
		return dpt_fail(-errno, "cannot create %s: %m", path);
	}
	fprintf(f,
		"<?xml version='1.0'?>\n"
		"<!DOCTYPE platform SYSTEM \"https://simgrid.org/simgrid.dtd\">\n"
		"<platform version=\"4.1\">\n"
		"  <zone id=\"dpt\" routing=\"Full\">\n"
		"    <host id=\"src\" speed=\"%.17gf\" core=\"%u\"/>\n"
		"    <host id=\"dst\" speed=\"%.17gf\" core=\"%u\"/>\n"
		"    <link id=\"link\" bandwidth=\"%.17gBps\" latency=\"%.17gs\"/>\n"
		"    <route src=\"src\" dst=\"dst\"><link_ctn id=\"link\"/></route>\n"
		"  </zone>\n"
		"</platform>\n",
		HOST_SPEED, n, HOST_SPEED, n, l->bandwidth, l->latency);
	if (fclose(f))
		return dpt_fail(-EIO, "cannot write %s", path);
	return 0;
}

static void worker_main(int argc, char **argv)
{
	for (;;)
		sg_actor_execute(HOST_SPEED * 1e8); /* flops - remaining stays exact */
}

static void migrator_main(int argc, char **argv)
{
	unsigned i = (unsigned)atoi(argv[1]);

	sg_vm_migrate(sim.vm[i], sg_host_by_name("dst"));
	sim.res[i].time = simgrid_get_clock();
	sg_actor_kill(sim.worker[i]);
}

/* One of the plugin's lines, "__pr_mig_tx:vmI(src-dst)|mig-stage...: sent N duration D ...". */
static void parse_line(const char *line)
{
	unsigned i, stage, round;
	unsigned long long sent;
	double duration;
	struct simgrid_result *r;

	if (sscanf(line, "__pr_mig_tx:vm%u(", &i) != 1 || i >= sim.n)
		return;
	if (!(line = strchr(line, '|')))
		return;
	r = &sim.res[i];
	if (sscanf(line, "|mig-stage%u: sent %llu duration %lf", &stage, &sent, &duration) == 3) {
		if (stage == 1)
			r->stage1_bytes += (double)sent;
		if (stage == 3)
			r->stage3_bytes += (double)sent, r->downtime = duration;
	} else if (sscanf(line, "|mig-stage2.%u: sent %llu duration %lf", &round, &sent,
			  &duration) == 3) {
		r->stage2_bytes += (double)sent;
		r->rounds = round + 1;
	} else {
		return;
	}
	r->stages_seen = true;
}

static void child_run(const struct simgrid_link *l, bool verbose, FILE *log, const char *xml)
{
	/* before the engine exists: the context factory is chosen when it is made */
	char *argv[] = {
		"dpt",
		verbose ? "--log=root.thresh:info" : "--log=root.thresh:critical",
		"--cfg=network/model:CM02",
		"--cfg=network/crosstraffic:0",
		"--cfg=network/TCP-gamma:1e300", /* no window bound: gamma / (2 latency) */
#if defined(__SANITIZE_ADDRESS__)
		"--cfg=contexts/factory:thread", /* ASan follows threads, not stack swaps */
#endif
		NULL,
	};
	int argc = sizeof(argv) / sizeof(argv[0]) - 1;
	char idx[16];

	simgrid_init(&argc, argv);
	xbt_log_control_set("vm_live_migration.thresh:debug vm_live_migration.fmt:%a|%m%n "
			    "vm_live_migration.additivity:0");
	xbt_log_appender_set(&_XBT_LOGV(vm_live_migration), xbt_log_appender_stream(log));
	sg_vm_live_migration_plugin_init();
	simgrid_load_platform(xml);

	sg_host_t src = sg_host_by_name("src");
	for (unsigned i = 0; i < sim.n; i++) {
		const struct simgrid_params *p = &sim.p[i];
		char name[32];

		snprintf(name, sizeof(name), "vm%u", i);
		sim.vm[i] = sg_vm_create_core(src, name);
		sg_vm_set_ramsize(sim.vm[i], p->ramsize);
		sg_vm_set_bound(sim.vm[i], p->cpu_share * sg_host_get_speed(src));
		sg_vm_start(sim.vm[i]);
		sg_vm_set_dirty_page_intensity(sim.vm[i], p->intensity);
		sg_vm_set_working_set_memory(sim.vm[i], p->working_set);
		sg_vm_set_migration_speed(sim.vm[i], p->mig_speed);
		snprintf(name, sizeof(name), "worker%u", i);
		sim.worker[i] = sg_actor_create(name, (sg_host_t)sim.vm[i], worker_main, 0, NULL);
		snprintf(idx, sizeof(idx), "%u", i);
		snprintf(name, sizeof(name), "migrate%u", i);
		sg_actor_create(name, src, migrator_main, 2, (char *[]){name, idx, NULL});
	}
	simgrid_run();
}

static void child(const struct simgrid_link *l, const struct simgrid_params *p, unsigned n,
		  bool verbose, int out, const char *xml)
{
	struct simgrid_result res[n];
	sg_vm_t vm[n];
	sg_actor_t worker[n];
	char *buf = NULL, *line, *save;
	size_t len = 0;
	FILE *log = open_memstream(&buf, &len);

	memset(res, 0, sizeof(res));
	sim = (typeof(sim)){.p = p, .n = n, .res = res, .vm = vm, .worker = worker};
	if (!log)
		_exit(1);
	child_run(l, verbose, log, xml);
	if (fflush(log))
		_exit(1);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		parse_line(line);
		if (verbose)
			fprintf(stderr, "simgrid: %s\n", line);
	}
	for (unsigned i = 0; i < n; i++)
		res[i].bytes = res[i].stage1_bytes + res[i].stage2_bytes + res[i].stage3_bytes;
	/* _exit: no exit handlers of SimGrid's, no leak report of its globals */
	_exit(dpt_write_all(out, res, sizeof(res)) ? 1 : 0);
}

bool simgrid_available(void)
{
	return true;
}

int simgrid_simulate(const struct simgrid_link *l, const struct simgrid_params *p, unsigned n,
		     struct simgrid_result *res, bool verbose)
{
	const char *tmp = getenv("TMPDIR");
	char xml[4096];
	size_t want = n * sizeof(*res), got = 0;
	int fd[2], status, err = 0;
	pid_t pid;

	snprintf(xml, sizeof(xml), "%s/dpt-simgrid.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if ((err = write_platform(l, n, xml)))
		return err;
	if (pipe(fd)) {
		err = dpt_fail(-errno, "pipe: %m");
		goto out_xml;
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		err = dpt_fail(-errno, "fork: %m");
		close(fd[0]);
		close(fd[1]);
		goto out_xml;
	}
	if (!pid) {
		close(fd[0]);
		child(l, p, n, verbose, fd[1], xml);
	}
	close(fd[1]);
	while (got < want) {
		ssize_t r = read(fd[0], (char *)res + got, want - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status))
		err = dpt_fail(-EPROTO, "SimGrid %d.%d aborted (signal %d)%s", SIMGRID_VERSION_MAJOR,
			       SIMGRID_VERSION_MINOR, WTERMSIG(status),
			       verbose ? "" : ": run with -v to see why");
	else if (got != want || WEXITSTATUS(status))
		err = dpt_fail(-EPROTO, "SimGrid's run failed (exit status %d)",
			       WEXITSTATUS(status));
out_xml:
	unlink(xml);
	return err;
}

#else /* !HAVE_SIMGRID */

bool simgrid_available(void)
{
	return false;
}

int simgrid_simulate(const struct simgrid_link *l, const struct simgrid_params *p, unsigned n,
		     struct simgrid_result *res, bool verbose)
{
	return dpt_fail(-ENOSYS, "dpt was built without SimGrid: install libsimgrid-dev and rebuild");
}

#endif
