/* qmp-qemu: the qmp tracker against a real QEMU (7.2 on the CI machines).
 *
 * 1. TCG: a test VM (tests/vmkit/start.sh, 512 MiB) runs the writer at 16384 pages/s
 *    (64 MiB/s) sequentially over 384 MiB, so a 1 s window never sees a page twice. Each
 *    interval's page-sampling estimate is compared with 64 MiB/s:
 *      X, the dirty samples, is binomial: n = S x 0.5 samples (S per GiB), p = 64/512 = 1/8
 *      of RAM changes per second; relative standard error sqrt((1 - p) / (n p)):
 *      S = 512: n = 256, 16.5% per interval; S = 8192: n = 4096, 4.1%.
 *      QEMU then floors the rate to whole MiB/s (2 MiB/s steps with S = 512 here).
 *    Checks: the mean over 6 intervals within 3 sigma of 64 MiB/s (S = 512: +-21%, S = 8192:
 *    +-6%, plus 1 MiB/s for the floor); asking for dirty-bitmap falls back to page-sampling,
 *    and QEMU still runs afterwards (query-status).
 * 2. KVM, when /dev/kvm works: a QEMU with no kernel (it sits in the firmware): auto picks
 *    dirty-bitmap, or dirty-ring with per-vCPU counts when started with dirty-ring-size;
 *    dirty-bitmap is refused with a reason on a ring VM, and QEMU keeps running.
 * Run from the repository's root (tests/run.sh does); skips what the host cannot do.
 */
#include <fcntl.h>
#include <math.h>

#include "../test.h"
#include "qmp-util.h"
#include "trackers/qmp-client.h"

#define RATE_MIB 64

static char dir[64], sock[128], pidfile[128];

/* Run a command to its end; its exit status, or -1. */
static int run(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool qemu_running(void)
{
	struct qmp_client c;
	json_t *r = NULL;
	bool ok = false;

	if (qmp_client_open(&c, sock, 2000))
		return false;
	if (!qmp_execute(&c, "query-status", NULL, &r))
		ok = json_is_true(json_object_get(r, "running"));
	json_decref(r);
	qmp_client_close(&c);
	return ok;
}

static void report_series(const char *what, const struct qt_run *r)
{
	printf("# %s (%s):", what, r->mode);
	for (unsigned i = 0; i < r->n; i++)
		printf(" %.1f", r->dirty[i] / 256.0 / r->secs[i]);
	printf(" MiB/s; longest collect %.0f ms\n", r->max_late * 1000);
}

static double mean_mib(const struct qt_run *r)
{
	double sum = 0, secs = 0;

	for (unsigned i = 0; i < r->n; i++) {
		sum += r->dirty[i] / 256.0;
		secs += r->secs[i];
	}
	return secs > 0 ? sum / secs : 0;
}

static void sampling(unsigned sample_pages, double sigma)
{
	struct qmp_tracker_opts x = {.interval_ns = 1000000000ULL, .sample_pages = sample_pages};
	struct qt_run r;
	char name[96];

	qt_track(sock, "page-sampling", &x, 6, &r);
	snprintf(name, sizeof(name), "TCG page-sampling %u/GiB: 6 intervals", sample_pages ?: 512);
	TEST_CHECK(!r.err && r.n == 6 && r.estimate, name, "%s: %s", r.where, r.error);
	report_series(name, &r);
	double m = mean_mib(&r), tol = 3 * sigma / sqrt(6) * RATE_MIB + 1;
	snprintf(name, sizeof(name), "TCG page-sampling %u/GiB: mean within 3 sigma of %d MiB/s",
		 sample_pages ?: 512, RATE_MIB);
	TEST_CHECK(fabs(m - RATE_MIB) <= tol, name, "mean %.1f MiB/s, allowed %d +- %.1f", m,
		   RATE_MIB, tol);
}

static void tcg(void)
{
	char *start[] = {"tests/vmkit/start.sh",
			 "--qmp",
			 sock,
			 "--pidfile",
			 pidfile,
			 "--mem",
			 "512M",
			 "--helpers",
			 "--ready",
			 "^writer ready",
			 "--",
			 "writer",
			 "--wss",
			 "384M",
			 "--rate",
			 "16384",
			 "--duration",
			 "0",
			 NULL};
	char *stop[] = {"tests/vmkit/stop.sh", "--pidfile", pidfile, "--qmp", sock, NULL};
	struct qmp_tracker_opts x = {.interval_ns = 1000000000ULL};
	struct qt_run r;

	if (run(start)) {
		TEST_CHECK(0, "TCG test VM starts", "tests/vmkit/start.sh failed");
		return;
	}
	sampling(0, 0.165);
	sampling(8192, 0.041);
	qt_track(sock, "dirty-bitmap", &x, 2, &r);
	TEST_CHECK(!r.err && r.n == 2 && !strcmp(r.mode, "page-sampling"),
		   "TCG: dirty-bitmap asked, page-sampling used", "%s: %s, mode %s", r.where,
		   r.error, r.mode);
	qt_track(sock, "dirty-ring", &x, 1, &r);
	TEST_CHECK(!r.err && !strcmp(r.mode, "page-sampling"),
		   "TCG: dirty-ring asked, page-sampling used", "%s: %s", r.where, r.error);
	TEST_CHECK(qemu_running(), "TCG: QEMU still running after the fallbacks",
		   "query-status failed or not running");
	run(stop);
}

/* A KVM QEMU with no kernel; accel: "kvm" or "kvm,dirty-ring-size=4096". */
static pid_t kvm_qemu(const char *accel)
{
	char qmp[160];

	snprintf(qmp, sizeof(qmp), "unix:%s,server=on,wait=off", sock);
	unlink(sock);
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execlp("qemu-system-x86_64", "qemu-system-x86_64", "-accel", accel, "-m", "256M",
		       "-smp", "2", "-nodefaults", "-display", "none", "-qmp", qmp, NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && pid > 0; i++) { /* the socket appears when QEMU is ready */
		if (!access(sock, F_OK))
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		usleep(50000);
	}
	qt_reap(pid);
	return -1;
}

static void kvm(void)
{
	struct qmp_tracker_opts x = {.interval_ns = 1000000000ULL};
	struct qt_run r;
	pid_t q = kvm_qemu("kvm");

	if (q < 0) {
		test_skip("KVM QEMU", "qemu-system-x86_64 -accel kvm does not start here");
		return;
	}
	qt_track(sock, NULL, &x, 2, &r);
	TEST_CHECK(!r.err && r.n == 2 && !strcmp(r.mode, "dirty-bitmap") && !r.estimate,
		   "KVM: auto picks dirty-bitmap", "%s: %s, mode %s", r.where, r.error, r.mode);
	report_series("KVM, firmware only", &r);
	qt_reap(q);

	q = kvm_qemu("kvm,dirty-ring-size=4096");
	if (q < 0) {
		test_skip("KVM QEMU with a dirty ring", "QEMU does not start with dirty-ring-size");
		return;
	}
	qt_track(sock, NULL, &x, 2, &r);
	TEST_CHECK(!r.err && r.n == 2 && !strcmp(r.mode, "dirty-ring") && r.t_nr_vcpus == 2 &&
		       r.nr_vcpus[1] == 2 && r.vcpu[1][0] + r.vcpu[1][1] == r.dirty[1],
		   "KVM ring: auto picks dirty-ring, per-vCPU counts add up", "%s: %s, mode %s",
		   r.where, r.error, r.mode);
	report_series("KVM ring, firmware only", &r);
	qt_track(sock, "dirty-bitmap", &x, 1, &r);
	TEST_CHECK(r.err == -EOPNOTSUPP && strstr(r.error, "dirty ring") && qemu_running(),
		   "KVM ring: dirty-bitmap refused with a reason, QEMU runs on", "%d: %s", r.err,
		   r.error);
	printf("#   %s\n", r.error);
	qt_reap(q);
}

int main(void)
{
	if (run((char *[]){"/bin/sh", "-c", "command -v qemu-system-x86_64", NULL})) {
		test_skip("qmp-qemu", "qemu-system-x86_64 not installed");
		return test_done();
	}
	snprintf(dir, sizeof(dir), "/tmp/dpt-qmpq.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	snprintf(sock, sizeof(sock), "%s/qmp.sock", dir);
	snprintf(pidfile, sizeof(pidfile), "%s/vm.pid", dir);
	dpt_verbosity = 0;
	if (access("tests/vmkit/start.sh", X_OK))
		test_skip("TCG test VM",
			  "tests/vmkit/start.sh not found (run from the repository)");
	else
		tcg();
	int kfd = open("/dev/kvm", O_RDWR);
	if (kfd < 0)
		test_skip("KVM QEMU", "/dev/kvm not usable");
	else {
		close(kfd);
		kvm();
	}
	run((char *[]){"/bin/rm", "-rf", dir, NULL});
	return test_done();
}
