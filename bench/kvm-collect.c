/* kvm-collect.c - what one collect() of the kvm tracker costs per GiB of tracked memory, bitmap
 * mode against ring mode, with 0%, 1% and 100% of the pages dirty in the interval.
 *
 * Method: a micro-VM with 2 vCPUs (split working set, seq pattern, unpaced) whose working set
 * is the wanted fraction of its memory. After the guest has written the whole working set
 * since the last collect, the bench quiesces the VM itself and times collect() alone (its own
 * quiesce and resume nest and cost nothing): that is the harvest and re-arm. The rings are
 * large enough (65536 entries per vCPU, or the host's most) that no ring-full exit harvests
 * early at the default size. Memory defaults to 256 MiB and the figures are scaled to 1 GiB,
 * because dirtying a whole GiB under emulation takes seconds; pass a size to change it.
 *
 *	build/bench/kvm-collect [MEM]     e.g. 256M (default), 1G
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dpt/log.h"
#include "dpt/tracker.h"
#include "vm/vm.h"

#define NR_VCPUS 2

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Has every vCPU written at least its part of the working set since w0[]? */
static bool all_written(struct vm *vm, const uint64_t *w0)
{
	for (unsigned i = 0; i < vm_nr_vcpus(vm); i++) {
		uint64_t first, pages;

		vm_vcpu_part(vm, i, &first, &pages);
		if (vm_vcpu_writes(vm, i) - w0[i] < pages)
			return false;
	}
	return true;
}

/* Let the guest write its whole working set once more, then quiesce (held on return). */
static int dirty_working_set(struct vm *vm, uint64_t wss_pages)
{
	uint64_t w0[NR_VCPUS];
	int rc = vm_quiesce(vm);

	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < NR_VCPUS; i++)
		w0[i] = vm_vcpu_writes(vm, i);
	while (!all_written(vm, w0)) {
		vm_resume(vm);
		usleep(wss_pages > 10000 ? 100000 : 5000);
		rc = vm_quiesce(vm);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Median µs of one collect with pct % of mem dirty; *dirty gets the last count. */
static double measure(const char *mode, uint64_t mem, unsigned pct, int reps, uint64_t *dirty,
		      uint32_t ring_entries, uint64_t *ring_full)
{
	uint64_t wss = pct ? (mem / 4096 * pct / 100) * 4096 : 4096 * NR_VCPUS;
	struct vm_config cfg = {
	    .nr_vcpus = NR_VCPUS,
	    .mem_bytes = mem,
	    .wss_bytes = wss,
	    .pattern = VM_PATTERN_SEQ,
	    .rate_pages = 0,
	    .ring_entries = ring_entries,
	    .log_mode = strcmp(mode, "ring") ? VM_LOG_BITMAP : VM_LOG_RING,
	};
	struct dpt_tracker t = {.ops = &kvm_tracker_ops, .end_fd = -1};
	struct dpt_target target = {.kind = DPT_TARGET_VM};
	struct dpt_tracker_opts opts = {.mode = mode};
	struct dpt_sample s;
	double us[32], result = -1;
	struct vm *vm = NULL;
	int rc, n = 0;

	rc = vm_create(&vm, &cfg);
	target.vm = vm;
	if (rc == 0)
		rc = t.ops->open(&t, &target, &opts);
	if (rc == 0)
		rc = t.ops->start(&t);
	if (rc == 0 && pct)
		rc = vm_start(vm);
	for (; rc == 0 && n < reps; n++) {
		if (pct)
			rc = dirty_working_set(vm, wss / 4096);
		else
			rc = vm_quiesce(vm);
		if (rc < 0)
			break;
		memset(&s, 0, sizeof(s));
		double t0 = now_us();
		rc = t.ops->collect(&t, &s);
		us[n] = now_us() - t0;
		*dirty = s.dirty;
		vm_resume(vm);
	}
	if (rc < 0)
		fprintf(stderr, "kvm-collect: %s %u%%: %s\n", mode, pct, dpt_last_error());
	else {
		qsort(us, (size_t)n, sizeof(us[0]), cmp_double);
		result = us[n / 2];
	}
	*ring_full = vm ? vm_ring_full_exits(vm) : 0;
	if (t.priv)
		t.ops->close(&t);
	vm_destroy(vm);
	return result;
}

static uint64_t parse_mem(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);

	if (*end == 'G' || *end == 'g')
		v <<= 30;
	else if (*end == 'M' || *end == 'm')
		v <<= 20;
	return v;
}

int main(int argc, char **argv)
{
	static const unsigned pcts[] = {0, 1, 100};
	uint64_t mem = argc > 1 ? parse_mem(argv[1]) : 256ULL << 20;
	double scale = (double)(1ULL << 30) / (double)mem;
	struct kvm_caps caps;
	uint32_t ring;

	if (kvm_query_caps(NULL, &caps) < 0 || !caps.ring_max_entries) {
		printf("kvm-collect: skipped: %s\n",
		       dpt_last_error() ? dpt_last_error() : "no dirty ring");
		return 0;
	}
	ring = caps.ring_max_entries < 65536 ? caps.ring_max_entries : 65536;
	printf("kvm tracker: cost of one collect, in us per GiB of tracked memory\n");
	printf("(measured on %llu MiB with %d vCPUs, scaled x%.2f; median of several; rings of %u"
	       " entries per vCPU)\n",
	       (unsigned long long)(mem >> 20), NR_VCPUS, scale, ring);
	printf("%-8s %12s %12s %12s %12s %10s\n", "dirty", "pages", "bitmap", "ring", "ring/bitmap",
	       "ring-full");
	for (unsigned i = 0; i < 3; i++) {
		int reps = pcts[i] == 100 ? 3 : 15;
		uint64_t db = 0, dr = 0, full = 0;
		double b = measure("bitmap", mem, pcts[i], reps, &db, 0, &full);
		double r = measure("ring", mem, pcts[i], reps, &dr, ring, &full);

		if (b < 0 || r < 0)
			return 1;
		printf("%3u%%     %12llu %12.1f %12.1f %12.2f %10llu%s\n", pcts[i],
		       (unsigned long long)db, b * scale, r * scale, r / b,
		       (unsigned long long)full, db == dr ? "" : "  (dirty counts differ!)");
	}
	printf(
	    "ring-full: KVM_EXIT_DIRTY_RING_FULL exits during the ring runs; each one harvests\n"
	    "on a vCPU thread and leaves less for collect(), so a nonzero count there means the\n"
	    "ring figure is not the whole harvest cost.\n");
	return 0;
}
