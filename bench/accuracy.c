/* accuracy.c - the micro-VM half of the side-by-side accuracy bench (bench/accuracy.sh,
 * docs/accuracy.md): the workloads, their ground truth by construction, and the kvm tracker's
 * counts and overhead on dpt's own micro-VM.
 *
 *	build/bench/accuracy               every workload on the micro-VM: kvm tracker against
 *	                                   the truth, and its overhead; a markdown table
 *	build/bench/accuracy list          the workloads, one a line, tab-separated: name, truth
 *	                                   per 1 s interval, truth after the phase change (or -),
 *	                                   phase change time in s (or 0), overhead group, the
 *	                                   multiboot guest's command line for the same workload
 *	build/bench/accuracy run NAME [--unpaced] [--untracked] [--intervals N]
 *	                                   one run, one line per 1 s interval:
 *	                                   "interval K SECONDS DIRTY STAMPED WRITES"
 *
 * A run: a micro-VM of 256 MiB and one vCPU (as the QEMU guest: -m 256M -smp 1) writing the
 * workload, 0.5 s of warm-up (first touches), then 1 s intervals on an absolute schedule. At
 * each boundary the VM is quiesced, the kvm tracker (bitmap mode) collects, and the bench
 * counts the pages holding the interval's stamp (STAMPED: the page-by-page truth, as in
 * tests/integration/kvm-truth) and the page writes the guest made (WRITES, repeats included).
 * A phase change is vm_set_rate() at its boundary, while quiesced. --untracked: no dirty
 * logging and no quiescing at all; DIRTY and STAMPED are then -1, WRITES read on the fly.
 * --unpaced: the same pattern and working set written as fast as the vCPU goes (the overhead
 * runs).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpt/log.h"
#include "dpt/tracker.h"
#include "vm/vm.h"

#define MEM_BYTES   (256ULL << 20)
#define WARMUP_NS   500000000ULL
#define INTERVAL_NS 1000000000ULL
#define HOT_SHARE   90
#define HOT_FRAC    10

struct workload {
	const char *name;
	enum vm_pattern pattern;
	uint64_t pages;	   /* working set */
	double rate;	   /* pages/s */
	unsigned phase_s;  /* 0, or: from this boundary on, phase_rate */
	double phase_rate; /* pages/s */
};

static const char *const pattern_names[] = {"seq", "random", "hotcold", "stride"};

/* The rates are what the guest sustains under PVM with room to spare (a page write costs it
 * about 3 us); the working sets what 256 MiB of guest RAM holds. */
static const struct workload workloads[] = {
    {"seq-2k", VM_PATTERN_SEQ, 16384, 2000, 0, 0},
    {"seq-8k", VM_PATTERN_SEQ, 16384, 8000, 0, 0},
    {"loop-1k", VM_PATTERN_SEQ, 1000, 4000, 0, 0},
    {"random", VM_PATTERN_RANDOM, 16384, 4000, 0, 0},
    {"hotcold", VM_PATTERN_HOTCOLD, 16384, 4000, 0, 0},
    {"phase", VM_PATTERN_SEQ, 16384, 2000, 5, 8000},
};

#define NR_WORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

/* Expected distinct pages among n uniform writes over w pages. */
static double distinct(double w, double n)
{
	return w < 1 ? 0 : w * -expm1(n * log1p(-1 / w));
}

/* Distinct pages written in 1 s at rate r, by construction. */
static double truth(const struct workload *w, double r)
{
	double n = r, pages = (double)w->pages, hot;

	switch (w->pattern) {
	case VM_PATTERN_RANDOM:
		return distinct(pages, n);
	case VM_PATTERN_HOTCOLD:
		hot = (double)(w->pages * HOT_FRAC / 100 ? w->pages * HOT_FRAC / 100 : 1);
		return distinct(hot, n * HOT_SHARE / 100) +
		       distinct(pages - hot, n * (100 - HOT_SHARE) / 100);
	default: /* seq, stride: every write a new page until the set is covered */
		return n < pages ? n : pages;
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ULL),
			      .tv_nsec = (long)(ns % 1000000000ULL)};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

struct interval {
	double secs;
	int64_t dirty, stamped; /* -1 when untracked */
	uint64_t writes;
};

static uint64_t stamped(const struct vm *vm, uint64_t stamp)
{
	uint64_t n = 0, pages = vm_workload_pages(vm);

	for (uint64_t i = 0; i < pages; i++)
		n += vm_page_stamp(vm, i) == stamp;
	return n;
}

/* Run w for n intervals into iv[]; 0 or -errno with a reason. */
static int run(const struct workload *w, bool unpaced, bool tracked, unsigned n,
	       struct interval *iv)
{
	struct vm_config cfg = {
	    .nr_vcpus = 1,
	    .mem_bytes = MEM_BYTES,
	    .wss_bytes = w->pages * 4096,
	    .pattern = w->pattern,
	    .hot_share = HOT_SHARE,
	    .hot_fraction = HOT_FRAC,
	    .rate_pages = unpaced ? 0 : w->rate,
	    .log_mode = tracked ? VM_LOG_BITMAP : VM_LOG_NONE,
	    .seed = 1,
	};
	struct dpt_tracker t = {.ops = &kvm_tracker_ops, .end_fd = -1};
	struct dpt_target target = {.kind = DPT_TARGET_VM};
	struct dpt_tracker_opts opts = {.mode = "bitmap"};
	struct vm *vm = NULL;
	uint64_t t0, last, w0;
	int rc;

	rc = vm_create(&vm, &cfg);
	target.vm = vm;
	if (rc == 0 && tracked)
		rc = t.ops->open(&t, &target, &opts);
	if (rc == 0)
		rc = vm_start(vm);
	if (rc)
		goto out;
	sleep_until(now_ns() + WARMUP_NS);
	if (tracked) {
		if ((rc = vm_quiesce(vm)) < 0)
			goto out;
		rc = t.ops->start(&t); /* nests in our quiesce: interval 1 starts now */
	}
	w0 = vm_vcpu_writes(vm, 0);
	t0 = now_ns();
	if (tracked)
		vm_resume(vm);
	last = t0;
	for (unsigned k = 0; rc == 0 && k < n; k++) {
		struct dpt_sample s;
		uint64_t end, writes;

		sleep_until(t0 + (k + 1) * INTERVAL_NS);
		memset(&s, 0, sizeof(s));
		iv[k].dirty = iv[k].stamped = -1;
		if (tracked && (rc = vm_quiesce(vm)) < 0)
			break;
		end = now_ns();
		/* the new rate's schedule starts at the boundary, not after the collect */
		if (w->phase_s && k + 1 == w->phase_s && !unpaced)
			rc = vm_set_rate(vm, w->phase_rate);
		if (tracked && rc == 0) {
			uint64_t stamp = vm_pass(vm);

			rc = t.ops->collect(&t, &s);
			if (rc == 0) {
				iv[k].dirty = (int64_t)s.dirty;
				iv[k].stamped = (int64_t)stamped(vm, stamp);
			}
		}
		writes = vm_vcpu_writes(vm, 0);
		if (tracked)
			vm_resume(vm);
		iv[k].secs = (double)(end - last) / 1e9;
		iv[k].writes = writes - w0;
		w0 = writes;
		last = end;
	}
out:
	if (rc)
		dpt_fail_ctx(rc, "%s%s%s", w->name, unpaced ? " unpaced" : "",
			     tracked ? "" : " untracked");
	if (t.priv)
		t.ops->close(&t);
	vm_destroy(vm);
	return rc;
}

static const struct workload *find(const char *name)
{
	for (size_t i = 0; i < NR_WORKLOADS; i++)
		if (!strcmp(workloads[i].name, name))
			return &workloads[i];
	return NULL;
}

static void list(void)
{
	for (size_t i = 0; i < NR_WORKLOADS; i++) {
		const struct workload *w = &workloads[i];

		printf("%s\t%.1f\t", w->name, truth(w, w->rate));
		if (w->phase_s)
			printf("%.1f\t%u\t", truth(w, w->phase_rate), w->phase_s);
		else
			printf("-\t0\t");
		printf("%s/%llup\twss=%llup pattern=%s rate=%.0fp", pattern_names[w->pattern],
		       (unsigned long long)w->pages, (unsigned long long)w->pages,
		       pattern_names[w->pattern], w->rate);
		if (w->pattern == VM_PATTERN_HOTCOLD)
			printf(" hot-share=%d hot-fraction=%d", HOT_SHARE, HOT_FRAC);
		if (w->phase_s)
			printf(" phase=%u:%.0fp", w->phase_s, w->phase_rate);
		printf("\n");
	}
}

static int cmd_run(int argc, char **argv)
{
	const struct workload *w = argc > 0 ? find(argv[0]) : NULL;
	bool unpaced = false, tracked = true;
	unsigned n = 6;

	if (!w) {
		fprintf(stderr, "accuracy: run: name a workload (accuracy list)\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--unpaced"))
			unpaced = true;
		else if (!strcmp(argv[i], "--untracked"))
			tracked = false;
		else if (!strcmp(argv[i], "--intervals") && i + 1 < argc)
			n = (unsigned)atoi(argv[++i]);
		else {
			fprintf(stderr, "accuracy: run: unknown option '%s'\n", argv[i]);
			return 2;
		}
	}
	if (n < 1 || n > 600) {
		fprintf(stderr, "accuracy: run: --intervals from 1 to 600\n");
		return 2;
	}
	struct interval *iv = calloc(n, sizeof(*iv));
	if (!iv || run(w, unpaced, tracked, n, iv)) {
		fprintf(stderr, "accuracy: %s\n", iv ? dpt_last_error() : "out of memory");
		free(iv);
		return 1;
	}
	for (unsigned k = 0; k < n; k++)
		printf("interval %u %.6f %lld %lld %llu\n", k + 1, iv[k].secs,
		       (long long)iv[k].dirty, (long long)iv[k].stamped,
		       (unsigned long long)iv[k].writes);
	free(iv);
	return 0;
}

/* Page writes per second over intervals [from, n). */
static double throughput(const struct interval *iv, unsigned from, unsigned n)
{
	double w = 0, s = 0;

	for (unsigned k = from; k < n; k++) {
		w += (double)iv[k].writes;
		s += iv[k].secs;
	}
	return s > 0 ? w / s : 0;
}

/* No arguments: the kvm column of bench/accuracy.sh's table, on its own. */
static int all(void)
{
	struct interval iv[16];
	double ratio[NR_WORKLOADS];

	printf("micro-VM (dpt vm), 256 MiB, 1 vCPU; kvm tracker (bitmap) against the truth by "
	       "construction and page by page (stamps); 1 s intervals\n\n");
	printf("| workload | truth | page-by-page truth | kvm | error | throughput tracked / "
	       "untracked |\n|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < NR_WORKLOADS; i++) {
		const struct workload *w = &workloads[i];
		unsigned n = w->phase_s ? 2 * w->phase_s : 6;
		size_t j;

		/* the overhead of a pattern and working set is measured once, unpaced */
		for (j = 0; j < i; j++)
			if (workloads[j].pattern == w->pattern && workloads[j].pages == w->pages)
				break;
		if (j < i) {
			ratio[i] = ratio[j];
		} else {
			double u1, tr, u2;

			if (run(w, true, false, 4, iv))
				goto fail;
			u1 = throughput(iv, 1, 4);
			if (run(w, true, true, 4, iv))
				goto fail;
			tr = throughput(iv, 1, 4);
			if (run(w, true, false, 4, iv))
				goto fail;
			u2 = throughput(iv, 1, 4);
			ratio[i] = tr / ((u1 + u2) / 2);
		}
		if (run(w, false, true, n, iv))
			goto fail;
		for (unsigned ph = 0; ph < (w->phase_s ? 2u : 1u); ph++) {
			unsigned from = ph ? w->phase_s : 0,
				 to = w->phase_s && !ph ? w->phase_s : n;
			double want = truth(w, ph ? w->phase_rate : w->rate), d = 0, st = 0;

			for (unsigned k = from; k < to; k++) {
				d += (double)iv[k].dirty;
				st += (double)iv[k].stamped;
			}
			d /= to - from;
			st /= to - from;
			printf("| %s%s | %.0f | %.1f | %.1f | %+.2f%% | %.3f |\n", w->name,
			       !w->phase_s ? ""
			       : ph	   ? " (after)"
					   : " (before)",
			       want, st, d, (d / want - 1) * 100, ratio[i]);
		}
		fflush(stdout);
	}
	return 0;
fail:
	fprintf(stderr, "accuracy: %s\n", dpt_last_error());
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return all();
	if (!strcmp(argv[1], "list")) {
		list();
		return 0;
	}
	if (!strcmp(argv[1], "run"))
		return cmd_run(argc - 2, argv + 2);
	fprintf(stderr, "usage: accuracy [list | run NAME [--unpaced] [--untracked] "
			"[--intervals N]]\n");
	return 2;
}
