/* kvm-truth.c - ground truth for the kvm tracker: the guest stamps every page it writes with
 * the pass number, so after each collect a page must be in the bitmap exactly when it holds
 * that interval's pass.
 *
 * For each log mode (bitmap, bitmap-legacy, ring) x 1 and 2 vCPUs (split and shared) x each
 * pattern: five short paced intervals; at each collect, while quiesced (the test's own
 * vm_quiesce around collect and check; quiesce nests), compare the bitmap with the stamps,
 * the per-vCPU counts with each split part's stamps (ring), and for seq (whose working set is
 * larger than what the run writes) the sum of dirty with the writes the guest counted. One
 * ring case uses 256-entry rings so that KVM_EXIT_DIRTY_RING_FULL happens, and checks it did.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/tracker.h"
#include "vm/vm.h"
#include "../test.h"

#define INTERVALS   5
#define INTERVAL_MS 60
#define RATE	    16000.0	   /* pages/s for the whole VM */
#define MEM	    (128ULL << 20) /* seq never wraps: a run writes a few thousand pages */

struct tcase {
	const char *mode;
	unsigned vcpus;
	enum vm_pattern pattern;
	bool shared;
	uint32_t ring_entries;
};

static const char *const pattern_names[] = {"seq", "random", "hotcold", "stride"};

struct result {
	char why[256];
	uint64_t sum_dirty, writes, intervals_with_writes;
};

/* Compare one collected interval with the stamps of pass. Returns 0 or -1 with r->why. */
static int check_interval(struct vm *vm, const struct dpt_sample *s, uint64_t pass, bool split,
			  struct result *r)
{
	uint64_t pages = vm_workload_pages(vm), truth = 0;

	if (s->total != pages || !s->bitmap || s->page_size != 4096 || s->nr_regions != 1)
		return snprintf(r->why, sizeof(r->why), "bad sample shape"), -1;
	for (uint64_t pg = 0; pg < pages; pg++) {
		bool stamped = vm_page_stamp(vm, pg) == pass, set = bitmap_test(s->bitmap, pg);

		truth += stamped;
		if (stamped != set)
			return snprintf(r->why, sizeof(r->why),
					"pass %llu: page %llu stamp %llu but bit %d",
					(unsigned long long)pass, (unsigned long long)pg,
					(unsigned long long)vm_page_stamp(vm, pg), set),
			       -1;
	}
	if (s->dirty != truth || bitmap_weight(s->bitmap, pages) != truth)
		return snprintf(r->why, sizeof(r->why), "pass %llu: dirty %llu, stamps %llu",
				(unsigned long long)pass, (unsigned long long)s->dirty,
				(unsigned long long)truth),
		       -1;
	for (unsigned i = 0; split && i < s->nr_vcpus; i++) {
		uint64_t first, n, mine = 0;

		vm_vcpu_part(vm, i, &first, &n);
		for (uint64_t pg = first; pg < first + n; pg++)
			mine += vm_page_stamp(vm, pg) == pass;
		if (s->vcpu_dirty[i] != mine)
			return snprintf(r->why, sizeof(r->why),
					"pass %llu: vcpu %u counted %llu, its part has %llu",
					(unsigned long long)pass, i,
					(unsigned long long)s->vcpu_dirty[i],
					(unsigned long long)mine),
			       -1;
	}
	if (s->nr_vcpus) {
		uint64_t sum = 0;

		for (unsigned i = 0; i < s->nr_vcpus; i++)
			sum += s->vcpu_dirty[i];
		if (sum != s->dirty)
			return snprintf(r->why, sizeof(r->why),
					"per-vCPU counts add up to %llu, dirty %llu",
					(unsigned long long)sum, (unsigned long long)s->dirty),
			       -1;
	}
	r->sum_dirty += s->dirty;
	r->intervals_with_writes += s->dirty > 0;
	return 0;
}

static uint64_t total_writes(struct vm *vm)
{
	uint64_t w = 0;

	for (unsigned i = 0; i < vm_nr_vcpus(vm); i++)
		w += vm_vcpu_writes(vm, i);
	return w;
}

static int run_intervals(struct vm *vm, struct dpt_tracker *t, const struct tcase *c,
			 struct result *r)
{
	struct dpt_sample s;
	uint64_t w0;

	if (vm_quiesce(vm) < 0 || t->ops->start(t) < 0)
		return snprintf(r->why, sizeof(r->why), "start: %s", dpt_last_error()), -1;
	w0 = total_writes(vm);
	vm_resume(vm);
	for (int k = 0; k < INTERVALS; k++) {
		usleep(INTERVAL_MS * 1000);
		memset(&s, 0, sizeof(s));
		if (vm_quiesce(vm) < 0)
			return snprintf(r->why, sizeof(r->why), "quiesce: %s", dpt_last_error()),
			       -1;
		uint64_t pass = vm_pass(vm);
		int rc = t->ops->collect(t, &s);

		if (rc == 0)
			rc = check_interval(vm, &s, pass, c->vcpus > 1 && !c->shared && s.nr_vcpus,
					    r);
		else
			snprintf(r->why, sizeof(r->why), "collect: %s", dpt_last_error());
		if (rc == 0 && k == 0 && !s.regions_changed)
			rc = -1,
			snprintf(r->why, sizeof(r->why), "first sample without regions_changed");
		r->writes = total_writes(vm) - w0;
		vm_resume(vm);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static void run_case(const struct tcase *c)
{
	struct vm_config cfg = {
	    .nr_vcpus = c->vcpus,
	    .mem_bytes = MEM,
	    .pattern = c->pattern,
	    .shared = c->shared,
	    .rate_pages = RATE,
	    .seed = 42,
	    .ring_entries = c->ring_entries,
	    .log_mode = strcmp(c->mode, "ring") ? VM_LOG_BITMAP : VM_LOG_RING,
	};
	struct dpt_tracker t;
	struct result r = {.why = ""};
	struct vm *vm = NULL;
	char name[128];
	int rc;

	snprintf(name, sizeof(name), "truth/%s%s/%uvcpu%s/%s", c->mode,
		 c->ring_entries ? "-small" : "", c->vcpus,
		 c->vcpus > 1 ? (c->shared ? "-shared" : "-split") : "", pattern_names[c->pattern]);
	dpt_clear_error();
	rc = kvm_vm_start(&cfg, c->mode, &vm, &t);
	if (rc < 0) {
		TEST_CHECK(0, name, "setup: %s", dpt_last_error());
		goto out;
	}
	rc = run_intervals(vm, &t, c, &r);
	if (rc == 0 && !strcmp(c->mode, "bitmap") && strcmp(t.mode, "bitmap"))
		rc = -1, snprintf(r.why, sizeof(r.why), "mode %s instead of bitmap", t.mode);
	if (rc == 0 && r.intervals_with_writes < INTERVALS - 1)
		rc = -1, snprintf(r.why, sizeof(r.why), "only %llu of %d intervals saw writes",
				  (unsigned long long)r.intervals_with_writes, INTERVALS);
	if (rc == 0 && c->pattern == VM_PATTERN_SEQ && r.sum_dirty != r.writes)
		rc = -1,
		snprintf(r.why, sizeof(r.why), "seq: %llu dirty over the intervals, %llu writes",
			 (unsigned long long)r.sum_dirty, (unsigned long long)r.writes);
	if (rc == 0 && c->ring_entries && vm_ring_full_exits(vm) == 0)
		rc = -1, snprintf(r.why, sizeof(r.why),
				  "no KVM_EXIT_DIRTY_RING_FULL with %u entries", c->ring_entries);
	TEST_CHECK(rc == 0, name, "%s", r.why);
	if (rc == 0)
		printf("#   %s: %llu dirty in %d intervals, %llu writes, %llu ring-full exits\n",
		       name, (unsigned long long)r.sum_dirty, INTERVALS,
		       (unsigned long long)r.writes, (unsigned long long)vm_ring_full_exits(vm));
out:
	kvm_vm_stop(vm, &t);
}

int main(void)
{
	static const char *const modes[] = {"bitmap", "bitmap-legacy", "ring"};
	struct kvm_caps caps;

	if (kvm_query_caps(NULL, &caps) < 0) {
		test_skip("kvm-truth", "%s", dpt_last_error());
		return test_done();
	}
	for (unsigned m = 0; m < 3; m++) {
		if (m == 2 && !caps.ring_max_entries) {
			test_skip("truth/ring", "this KVM has no dirty ring");
			continue;
		}
		for (unsigned p = 0; p <= VM_PATTERN_STRIDE; p++) {
			run_case(&(struct tcase){modes[m], 1, p, false, 0});
			run_case(&(struct tcase){modes[m], 2, p, false, 0});
			run_case(&(struct tcase){modes[m], 2, p, true, 0});
		}
	}
	if (caps.ring_max_entries) {
		run_case(&(struct tcase){"ring", 1, VM_PATTERN_SEQ, false, KVM_RING_MIN_ENTRIES});
		run_case(
		    &(struct tcase){"ring", 2, VM_PATTERN_RANDOM, false, KVM_RING_MIN_ENTRIES});
	}
	return test_done();
}
