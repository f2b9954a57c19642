/* kvm-config.c - the micro-VM refuses bad configurations and unusable devices with -errno and
 * a reason naming the option or the path; the kvm tracker refuses a log mode that does not
 * match the VM's; a guest failure stops the VM with a reason, signals vm_event_fd(), and the
 * tracker still reports the last interval; vm_mem_ptr() checks bounds.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dpt/log.h"
#include "dpt/tracker.h"
#include "vm/vm.h"
#include "../../guest/guest-abi.h"
#include "../test.h"

#define MIB (1ULL << 20)

static void expect_fail(const char *name, struct vm_config cfg, int err, const char *reason)
{
	struct vm *vm = (struct vm *)1;
	int rc;

	dpt_clear_error();
	rc = vm_create(&vm, &cfg);
	const char *why = dpt_last_error() ? dpt_last_error() : "(none)";

	TEST_CHECK(rc == err && vm == NULL && strstr(why, reason), name,
		   "rc %d (want %d), reason '%s' (want '%s')", rc, err, why, reason);
	if (rc == 0)
		vm_destroy(vm);
}

static void bad_configs(const struct kvm_caps *caps)
{
	struct vm_config ok = {.nr_vcpus = 1, .mem_bytes = 256 * MIB, .rate_pages = 1000};
	struct vm_config c;

	c = ok, c.wss_bytes = 1024 * MIB;
	expect_fail("config/wss-larger-than-mem", c, -EINVAL, "--wss 1G is larger than --mem 256M");
	c = ok, c.nr_vcpus = 0;
	expect_fail("config/zero-vcpus", c, -EINVAL, "--vcpus 0");
	c = ok, c.nr_vcpus = VM_MAX_VCPUS + 1;
	expect_fail("config/too-many-vcpus", c, -EINVAL, "--vcpus 65");
	c = ok, c.mem_bytes = 3 * MIB;
	expect_fail("config/mem-not-2M", c, -EINVAL,
		    "--mem 3M is not a positive multiple of 2 MiB");
	c = ok, c.wss_bytes = 4097;
	expect_fail("config/wss-not-4K", c, -EINVAL, "--wss 4097 is not a multiple of 4 KiB");
	c = ok, c.rate_pages = -1;
	expect_fail("config/negative-rate", c, -EINVAL, "--rate");
	c = ok, c.pattern = (enum vm_pattern)9;
	expect_fail("config/bad-pattern", c, -EINVAL, "--pattern");
	c = ok, c.kvm_device = "/nonexistent/kvm";
	expect_fail("config/missing-device", c, -ENOENT,
		    "/nonexistent/kvm: No such file or directory");
	c = ok, c.kvm_device = "/dev/null";
	expect_fail("config/not-a-kvm-device", c, -ENODEV, "/dev/null: not a KVM device");
	c = ok, c.log_mode = VM_LOG_RING, c.ring_entries = 100;
	expect_fail("config/ring-not-power-of-two", c, -EINVAL, "not a power of two");
	if (caps->ring_max_entries) {
		c = ok, c.log_mode = VM_LOG_RING, c.ring_entries = caps->ring_min_entries / 2;
		expect_fail("config/ring-too-small", c, -EINVAL, "KVM offers");
	}
	vm_destroy(NULL);
	TEST_CHECK(1, "config/destroy-null", "%s", "unreachable");
}

static void tracker_mismatch(void)
{
	struct vm_config cfg = {.nr_vcpus = 1, .mem_bytes = 16 * MIB, .log_mode = VM_LOG_RING};
	struct dpt_tracker t = {.ops = &kvm_tracker_ops, .end_fd = -1};
	struct dpt_tracker_opts opts = {.mode = "bitmap"};
	struct dpt_target target = {.kind = DPT_TARGET_VM};
	struct vm *vm;
	int rc;

	dpt_clear_error();
	if (vm_create(&vm, &cfg) < 0) {
		TEST_CHECK(0, "tracker/mode-mismatch", "vm_create: %s", dpt_last_error());
		return;
	}
	target.vm = vm;
	rc = t.ops->open(&t, &target, &opts);
	TEST_CHECK(rc == -EINVAL && t.priv == NULL && strstr(dpt_last_error(), "ring"),
		   "tracker/mode-mismatch", "rc %d, '%s'", rc, dpt_last_error());
	dpt_clear_error();
	opts.mode = "sideways";
	rc = t.ops->open(&t, &target, &opts);
	TEST_CHECK(rc == -EINVAL && strstr(dpt_last_error(), "unknown mode 'sideways'"),
		   "tracker/unknown-mode", "rc %d, '%s'", rc, dpt_last_error());
	opts.mode = "ring";
	dpt_clear_error();
	TEST_CHECK(t.ops->probe(&opts) == 0, "tracker/probe", "%s", dpt_last_error());
	vm_destroy(vm);
}

static void mem_bounds(struct vm *vm)
{
	uint64_t base = vm_workload_gpa(vm), size = vm_workload_pages(vm) * 4096;

	TEST_CHECK(vm_mem_ptr(vm, base, size) && vm_mem_ptr(vm, 0, GUEST_SLOT0_SIZE) &&
		       !vm_mem_ptr(vm, base + size - 8, 16) && !vm_mem_ptr(vm, base + size, 1) &&
		       !vm_mem_ptr(vm, GUEST_SLOT0_SIZE - 8, 16) &&
		       !vm_mem_ptr(vm, base, UINT64_MAX) && !vm_mem_ptr(vm, UINT64_MAX - 4, 8),
		   "vm/mem-ptr-bounds", "a range outside one slot was accepted");
}

/* A guest that panics (bad parameter block) stops the VM with a reason. */
static void guest_failure(void)
{
	struct vm_config cfg = {
	    .nr_vcpus = 2, .mem_bytes = 16 * MIB, .rate_pages = 1000, .log_mode = VM_LOG_BITMAP};
	struct dpt_tracker t = {.ops = &kvm_tracker_ops, .end_fd = -1};
	struct dpt_target target = {.kind = DPT_TARGET_VM};
	struct dpt_sample s = {0};
	struct guest_params *gp;
	struct vm *vm;
	int rc;

	dpt_clear_error();
	if (vm_create(&vm, &cfg) < 0) {
		TEST_CHECK(0, "vm/guest-failure", "vm_create: %s", dpt_last_error());
		return;
	}
	mem_bounds(vm);
	target.vm = vm;
	rc = t.ops->open(&t, &target, &(struct dpt_tracker_opts){0});
	gp = vm_mem_ptr(vm, GUEST_PARAMS_GPA, sizeof(*gp));
	gp->magic = 0xdead;
	if (rc == 0)
		rc = t.ops->start(&t);
	if (rc == 0)
		rc = vm_start(vm);
	if (rc < 0) {
		TEST_CHECK(0, "vm/guest-failure", "setup: %s", dpt_last_error());
		goto out;
	}
	struct pollfd pfd = {.fd = t.end_fd, .events = POLLIN};
	int ready = poll(&pfd, 1, 5000);
	const char *err = vm_error(vm);

	TEST_CHECK(ready == 1 && err && strstr(err, "guest panic 1") && strstr(err, "rip 0x"),
		   "vm/guest-failure", "poll %d, error '%s'", ready, err ? err : "(none)");
	rc = vm_quiesce(vm);
	TEST_CHECK(rc == -EIO && vm_stopped(vm), "vm/quiesce-failed", "rc %d", rc);
	dpt_clear_error();
	rc = t.ops->collect(&t, &s);
	TEST_CHECK(rc == 0 && s.dirty == 0 && strstr(t.end_reason, "guest panic"),
		   "tracker/collect-after-failure", "rc %d, dirty %llu, end_reason '%s' (%s)", rc,
		   (unsigned long long)s.dirty, t.end_reason, dpt_last_error());
out:
	t.ops->close(&t);
	vm_destroy(vm);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A slow guest (one batch every 1.6 s) sleeps at its yields; quiesce must not wait for that. */
static void quiesce_latency(void)
{
	struct vm_config cfg = {.nr_vcpus = 1, .mem_bytes = 16 * MIB, .rate_pages = 10};
	struct vm *vm;
	double worst = 0;

	dpt_clear_error();
	if (vm_create(&vm, &cfg) < 0 || vm_start(vm) < 0) {
		TEST_CHECK(0, "vm/quiesce-latency", "setup: %s", dpt_last_error());
		vm_destroy(vm);
		return;
	}
	for (int i = 0; i < 3; i++) {
		usleep(50000);
		double t0 = now();

		if (vm_quiesce(vm) < 0)
			break;
		if (now() - t0 > worst)
			worst = now() - t0;
		vm_resume(vm);
	}
	TEST_CHECK(worst < 0.1, "vm/quiesce-latency", "quiesce took %.3f s", worst);
	vm_destroy(vm);
}

/* The most vCPUs: all of them run and write. */
static void max_vcpus(void)
{
	struct vm_config cfg = {.nr_vcpus = VM_MAX_VCPUS,
				.mem_bytes = 64 * MIB,
				.rate_pages = 64000,
				.log_mode = VM_LOG_BITMAP};
	unsigned idle = 0;
	struct vm *vm;

	dpt_clear_error();
	if (vm_create(&vm, &cfg) < 0 || vm_start(vm) < 0) {
		TEST_CHECK(0, "vm/64-vcpus", "setup: %s", dpt_last_error());
		vm_destroy(vm);
		return;
	}
	usleep(200000);
	if (vm_quiesce(vm) == 0) {
		for (unsigned i = 0; i < VM_MAX_VCPUS; i++)
			idle += vm_vcpu_writes(vm, i) == 0;
		vm_resume(vm);
	}
	TEST_CHECK(idle == 0 && !vm_error(vm), "vm/64-vcpus", "%u vCPUs wrote nothing (%s)", idle,
		   vm_error(vm) ? vm_error(vm) : "no error");
	vm_destroy(vm);
}

/* Without manual protect, mode "bitmap" falls back to get-and-clear and says so. */
static void bitmap_fallback(void)
{
	struct vm_config cfg = {.nr_vcpus = 1, .mem_bytes = 16 * MIB, .log_mode = VM_LOG_BITMAP};
	struct dpt_tracker t = {.ops = &kvm_tracker_ops, .end_fd = -1};
	struct dpt_target target = {.kind = DPT_TARGET_VM};
	struct vm *vm;
	int rc;

	dpt_clear_error();
	rc = vm_create(&vm, &cfg);
	if (rc == 0)
		rc = vm_set_manual_protect(vm, 0);
	target.vm = vm;
	if (rc == 0)
		rc = t.ops->open(&t, &target, &(struct dpt_tracker_opts){.mode = "bitmap"});
	TEST_CHECK(rc == 0 && !strcmp(t.mode, "bitmap-legacy"), "tracker/bitmap-fallback",
		   "rc %d, mode '%s' (%s)", rc, t.mode, dpt_last_error());
	if (rc == 0)
		t.ops->close(&t);
	vm_destroy(vm);
}

int main(void)
{
	struct kvm_caps caps;

	/* Option checks and device errors come before KVM is needed: run them anyway. */
	if (kvm_query_caps(NULL, &caps) < 0) {
		test_skip("kvm-config/vm", "%s", dpt_last_error());
		memset(&caps, 0, sizeof(caps));
		bad_configs(&caps);
		return test_done();
	}
	printf("#   kvm: api %d, max vcpus %d, memslots %d, manual protect %u, ring %u..%u%s\n",
	       caps.api_version, caps.max_vcpus, caps.nr_memslots, caps.manual_protect,
	       caps.ring_min_entries, caps.ring_max_entries, caps.ring_acq_rel ? " acq_rel" : "");
	bad_configs(&caps);
	tracker_mismatch();
	guest_failure();
	quiesce_latency();
	max_vcpus();
	bitmap_fallback();
	return test_done();
}
