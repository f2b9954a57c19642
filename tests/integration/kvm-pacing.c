/* kvm-pacing.c - the micro-VM writes at the requested rate: for two rates (2000 pages/s on one
 * vCPU, 8000 pages/s on two), ten 200 ms intervals with the seq pattern over a working set
 * larger than the run writes, measured by the kvm tracker; the mean over the run (interval
 * boundaries timed while quiesced) must be within 2% of the request. Then vm_set_rate() while
 * quiesced (a phase change, as bench/accuracy uses): 2000 then 8000 pages/s on one vCPU, and
 * 8000 then 2000 on two, each phase within 2% of its rate from its first interval on.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dpt/log.h"
#include "dpt/tracker.h"
#include "vm/vm.h"
#include "../test.h"

#define INTERVALS   10
#define INTERVAL_MS 200

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Mean pages/s measured over the run, or -1 with a reason recorded. */
static double measure(struct vm *vm, struct dpt_tracker *t, double new_rate)
{
	struct dpt_sample s;
	uint64_t dirty = 0;
	double t0, t1 = 0;

	if (vm_quiesce(vm) < 0)
		return -1;
	t0 = now();
	if ((new_rate >= 0 && vm_set_rate(vm, new_rate) < 0) || t->ops->start(t) < 0) {
		vm_resume(vm);
		return -1;
	}
	vm_resume(vm);
	for (int k = 0; k < INTERVALS; k++) {
		usleep(INTERVAL_MS * 1000);
		memset(&s, 0, sizeof(s));
		if (vm_quiesce(vm) < 0)
			return -1;
		t1 = now();
		int rc = t->ops->collect(t, &s);

		vm_resume(vm);
		if (rc < 0)
			return -1;
		dirty += s.dirty;
	}
	return (double)dirty / (t1 - t0);
}

/* rate, then (if rate2 > 0) rate2 after vm_set_rate() */
static void pace(double rate, unsigned vcpus, double rate2)
{
	struct vm_config cfg = {
	    .nr_vcpus = vcpus,
	    .mem_bytes = 128ULL << 20,
	    .pattern = VM_PATTERN_SEQ,
	    .rate_pages = rate,
	    .log_mode = VM_LOG_BITMAP,
	};
	struct dpt_tracker t;
	struct vm *vm;
	char name[64];
	double got = -1;
	int rc;

	dpt_clear_error();
	rc = kvm_vm_start(&cfg, "bitmap", &vm, &t);
	for (int phase = 0; phase < (rate2 > 0 ? 2 : 1); phase++) {
		double want = phase ? rate2 : rate;

		if (rate2 > 0)
			snprintf(name, sizeof(name), "pacing/set-rate/%.0f-then-%.0f/%uvcpu/%s",
				 rate, rate2, vcpus, phase ? "after" : "before");
		else
			snprintf(name, sizeof(name), "pacing/%.0f-pages-per-s/%uvcpu", rate, vcpus);
		if (rc == 0)
			got = measure(vm, &t, phase ? rate2 : -1);
		if (rc || got < 0) {
			TEST_CHECK(0, name, "%s", dpt_last_error());
			break;
		}
		TEST_CHECK(got > want * 0.98 && got < want * 1.02, name,
			   "measured %.1f pages/s for %.0f requested (%+.2f%%)", got, want,
			   (got / want - 1) * 100);
		printf("#   %s: measured %.1f pages/s (%+.2f%%)\n", name, got,
		       (got / want - 1) * 100);
	}
	kvm_vm_stop(vm, &t);
}

int main(void)
{
	struct kvm_caps caps;

	if (kvm_query_caps(NULL, &caps) < 0) {
		test_skip("kvm-pacing", "%s", dpt_last_error());
		return test_done();
	}
	pace(2000, 1, 0);
	pace(8000, 2, 0);
	pace(2000, 1, 8000);
	pace(8000, 2, 2000);
	return test_done();
}
