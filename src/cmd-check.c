/* cmd-check.c - `dpt check`: what works on this host, probed by doing it.
 *
 * Each probe has three outcomes, as in CRIU: works, unsupported (with the reason), error.
 * 1. KVM: open the device and read its dirty-log caps; then, per log mode, run a scratch
 *    micro-VM for a moment and check that the kvm tracker saw exactly the pages its guest
 *    stamped in that interval.
 * 2. Host page tables: userfaultfd with WP_ASYNC|WP_UNPOPULATED (asked of the kernel in
 *    dpt's own process), PAGEMAP_SCAN on dpt's own pagemap, then each pid tracker method's
 *    own probe (the whole mechanism on a scratch mapping; soft-dirty: write a page, read
 *    bit 55 back).
 * 3. --destination (run on a migration's destination host instead): the transparent huge page
 *    settings, and what the first write into each 2 MiB of a fresh mapping costs when it is
 *    mapped as QEMU maps guest RAM (2 MiB aligned, MADV_HUGEPAGE): the figure for
 *    `dpt predict --dest-hugepage-cost` (docs/predict.md, R11).
 * Text by default, --json for scripts. Exit 0 unless the command line is wrong.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/parse.h"
#include "dpt/tracker.h"
#include "trackers/pid/kabi.h"
#include "vm/vm.h"

enum outcome { WORKS, UNSUPPORTED, ERROR };
static const char *const outcome_names[] = {"works", "unsupported", "error"};

struct result {
	const char *name;
	enum outcome outcome;
	char detail[384];
};

#define MAX_RESULTS 16
static struct result results[MAX_RESULTS];
static unsigned nr_results;

static struct result *add(const char *name, enum outcome o, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static struct result *add(const char *name, enum outcome o, const char *fmt, ...)
{
	struct result *r = &results[nr_results < MAX_RESULTS - 1 ? nr_results++ : nr_results];
	va_list ap;

	r->name = name;
	r->outcome = o;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
	return r;
}

/* Unsupported for "not there" errnos, error for anything else. */
static enum outcome classify(int err)
{
	switch (-err) {
	case ENOENT: case ENODEV: case ENXIO: case ENOTTY: case EOPNOTSUPP: case ENOSYS:
	case EINVAL: case EPERM: case EACCES:
		return UNSUPPORTED;
	}
	return ERROR;
}

static const char *last_error(const char *fallback)
{
	const char *e = dpt_last_error();
	return e ? e : fallback;
}

/* Run a scratch micro-VM in one log mode for a moment; exact or not. */
static int kvm_try_mode(const char *dev, const char *mode, char *why, size_t len)
{
	struct vm_config cfg = {
		.kvm_device = dev, .nr_vcpus = 1, .mem_bytes = 2 << 20, .wss_bytes = 2 << 20,
		.pattern = VM_PATTERN_RANDOM, .rate_pages = 20000, .seed = 7,
		.log_mode = strcmp(mode, "ring") ? VM_LOG_BITMAP : VM_LOG_RING,
		.ring_entries = 256,
	};
	struct dpt_tracker t;
	struct dpt_sample s = {0};
	struct vm *vm;
	int err;

	dpt_clear_error();
	err = kvm_vm_start(&cfg, mode, &vm, &t);
	if (err)
		goto out;
	err = t.ops->start(&t);
	if (err)
		goto out_stop;
	nanosleep(&(struct timespec){0, 30 * 1000000L}, NULL);
	err = vm_quiesce(vm);
	if (err)
		goto out_stop;
	uint64_t pass = vm_pass(vm), want = 0, wrong = 0;
	err = t.ops->collect(&t, &s);
	for (uint64_t i = 0; !err && i < s.total; i++) {
		bool stamped = vm_page_stamp(vm, i) == pass;
		want += stamped;
		wrong += stamped != bitmap_test(s.bitmap, i);
	}
	vm_resume(vm);
	if (!err && (wrong || !want))
		err = dpt_fail(-EIO, "%llu of %llu pages wrong after one interval",
			       (unsigned long long)wrong, (unsigned long long)want);
	else if (!err)
		snprintf(why, len, "exact: %llu of %llu pages seen in a test interval (mode %s)",
			 (unsigned long long)want, (unsigned long long)s.total, t.mode);
out_stop:
	kvm_vm_stop(vm, &t);
out:
	if (err)
		snprintf(why, len, "%s", last_error(strerror(-err)));
	return err;
}

static void probe_kvm(const char *dev)
{
	struct kvm_caps caps;
	char why[256];

	dpt_clear_error();
	int err = kvm_query_caps(dev, &caps);
	if (err) {
		add("kvm device", classify(err), "%s", last_error(strerror(-err)));
		return;
	}
	add("kvm device", WORKS, "%s: API %d, up to %d vCPUs, %d memory slots", dev,
	    caps.api_version, caps.max_vcpus, caps.nr_memslots);
	if (caps.manual_protect)
		add("kvm manual dirty-log protect", WORKS,
		    "KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 = %u (GET + CLEAR%s)", caps.manual_protect,
		    caps.manual_protect & 2 ? ", initially set" : "");
	else
		add("kvm manual dirty-log protect", UNSUPPORTED,
		    "no KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: bitmap mode uses plain GET_DIRTY_LOG");
	if (caps.ring_max_entries)
		add("kvm dirty ring", WORKS, "%u to %u entries per vCPU%s%s", caps.ring_min_entries,
		    caps.ring_max_entries, caps.ring_acq_rel ? ", acquire/release" : "",
		    caps.ring_with_bitmap ? ", with bitmap" : "");
	else
		add("kvm dirty ring", UNSUPPORTED, "no KVM_CAP_DIRTY_LOG_RING");
	err = kvm_try_mode(dev, "bitmap", why, sizeof(why));
	add("tracker kvm, bitmap mode", err ? classify(err) : WORKS, "%s", why);
	if (caps.ring_max_entries) {
		err = kvm_try_mode(dev, "ring", why, sizeof(why));
		add("tracker kvm, ring mode", err ? classify(err) : WORKS, "%s", why);
	}
}

static void probe_uffd_wp_async(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	struct uffdio_api api = {.api = UFFD_API,
				 .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED};

	if (fd < 0) {
		add("userfaultfd write-protect async", classify(-errno), "userfaultfd(): %s",
		    strerror(errno));
		return;
	}
	if (ioctl(fd, UFFDIO_API, &api))
		add("userfaultfd write-protect async", UNSUPPORTED,
		    "UFFDIO_API refuses WP_ASYNC|WP_UNPOPULATED: %s (Linux >= 6.7 has them)",
		    strerror(errno));
	else
		add("userfaultfd write-protect async", WORKS, "WP_ASYNC and WP_UNPOPULATED");
	close(fd);
}

static void probe_pagemap_scan(void)
{
	static char page[4096] __attribute__((aligned(4096)));
	struct page_region vec[4];
	struct pm_scan_arg arg = {
		.size = sizeof(arg), .start = (uint64_t)(uintptr_t)page,
		.end = (uint64_t)(uintptr_t)page + sizeof(page), .vec = (uint64_t)(uintptr_t)vec,
		.vec_len = 4, .category_mask = PAGE_IS_PRESENT, .return_mask = PAGE_IS_PRESENT,
	};
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	page[0] = 1;
	if (fd < 0) {
		add("PAGEMAP_SCAN", ERROR, "/proc/self/pagemap: %s", strerror(errno));
		return;
	}
	long n = ioctl(fd, PAGEMAP_SCAN, &arg);
	if (n < 0)
		add("PAGEMAP_SCAN", classify(-errno), "ioctl on /proc/self/pagemap: %s%s",
		    strerror(errno), errno == ENOTTY ? " (Linux >= 6.7 has it)" : "");
	else if (n != 1)
		add("PAGEMAP_SCAN", ERROR, "a present page was reported in %ld regions", n);
	else
		add("PAGEMAP_SCAN", WORKS, "a written page reads back as present");
	close(fd);
}

static void probe_tracker_modes(void)
{
	static const struct {
		const char *tracker, *mode, *label;
	} modes[] = {
		{"pid", "uffd", "tracker pid, uffd method"},
		{"pid", "soft-dirty", "tracker pid, soft-dirty method"},
	};
	for (unsigned i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		const struct dpt_tracker_ops *ops = tracker_find(modes[i].tracker);
		struct dpt_tracker_opts opts = {.mode = modes[i].mode};
		if (!ops || !ops->probe)
			continue;
		dpt_clear_error();
		int err = ops->probe(&opts);
		add(modes[i].label, err ? classify(err) : WORKS, "%s",
		    err ? last_error(strerror(-err)) : "probed on a scratch mapping of dpt's own");
	}
}

/* ---- the destination: transparent huge pages ------------------------------------------ */

#define THP_DIR	     "/sys/kernel/mm/transparent_hugepage/"
#define HUGE_BYTES   (2ul << 20)
#define DEST_REGIONS_MIN 8

struct dest_probe {
	char enabled[16], defrag[16]; /* the bracketed choices, "" when unreadable */
	uint64_t size, regions;	      /* the mapping written, its 2 MiB regions */
	uint64_t huge_bytes;	      /* AnonHugePages the writes brought (dpt's own process) */
	double first, first_median;   /* s per 2 MiB: the first write into a region */
	double after_read;	      /* s: the first write into a region read before */
	double plain;		      /* s: the first write into 2 MiB of 4 KiB pages */
	double cost;		      /* s: the figure for --dest-hugepage-cost */
};

/* The bracketed word of a THP setting ("always [madvise] never") into out, or -errno. */
static int thp_setting(const char *name, char *out, size_t len)
{
	char path[128], buf[128];

	snprintf(path, sizeof(path), THP_DIR "%s", name);
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	char *line = fgets(buf, sizeof(buf), f);
	fclose(f);
	char *a = line ? strchr(buf, '[') : NULL, *b = a ? strchr(a, ']') : NULL;
	if (!b || (size_t)(b - a) > len)
		return -EINVAL;
	snprintf(out, len, "%.*s", (int)(b - a - 1), a + 1);
	return 0;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* AnonHugePages of dpt's own process, bytes (0 if unreadable). */
static uint64_t anon_huge_bytes(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "re");
	char line[256];
	unsigned long long kib = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %llu kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib * 1024;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* A fresh anonymous mapping of n regions, aligned to 2 MiB and advised as QEMU's RAM is
 * (qemu_anon_ram_alloc: QEMU_VMALLOC_ALIGN; ram_block_add: MADV_HUGEPAGE). Then, as the
 * migration stream does: a zero page read (ram_handle_compressed's buffer_is_zero) in every
 * odd region, then a page of data copied (qemu_get_buffer) into every region, each write
 * timed: t[i] in s. Returns the AnonHugePages it brought, or -errno. */
static int64_t dest_write(uint64_t n, int advice, bool read_odd, double *t)
{
	size_t size = n * HUGE_BYTES;
	char *map = mmap(NULL, size + HUGE_BYTES, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	static char page[4096];

	if (map == MAP_FAILED)
		return -errno;
	char *p = (char *)(((uintptr_t)map + HUGE_BYTES - 1) & ~(uintptr_t)(HUGE_BYTES - 1));
	madvise(p, size, advice); /* as QEMU: an error (no THP in the kernel) is ignored */
	uint64_t huge0 = anon_huge_bytes();
	volatile uint64_t sink = 0;
	for (uint64_t i = 1; read_odd && i < n; i += 2)
		for (unsigned k = 0; k < 4096 / 8; k++)
			sink |= ((volatile uint64_t *)(p + i * HUGE_BYTES))[k];
	memset(page, 0xa5, sizeof(page));
	for (uint64_t i = 0; i < n; i++) {
		double t0 = now_s();
		memcpy(p + i * HUGE_BYTES + 7 * 4096, page, sizeof(page));
		t[i] = now_s() - t0;
	}
	int64_t huge = (int64_t)(anon_huge_bytes() - huge0);
	munmap(map, size + HUGE_BYTES);
	return huge < 0 ? 0 : huge;
}

static int probe_destination(uint64_t size, struct dest_probe *d)
{
	memset(d, 0, sizeof(*d));
	d->regions = size / HUGE_BYTES < DEST_REGIONS_MIN ? DEST_REGIONS_MIN : size / HUGE_BYTES;
	d->size = d->regions * HUGE_BYTES;
	int e1 = thp_setting("enabled", d->enabled, sizeof(d->enabled));
	int e2 = thp_setting("defrag", d->defrag, sizeof(d->defrag));
	if (e1)
		add("destination THP settings", classify(e1), THP_DIR "enabled: %s: no transparent "
		    "huge pages, a first write costs a 4 KiB page", strerror(-e1));
	else
		add("destination THP settings", WORKS, "enabled %s, defrag %s (" THP_DIR "): %s",
		    d->enabled, e2 ? "unknown" : d->defrag,
		    !strcmp(d->enabled, "never") ? "no huge pages"
		    : !strcmp(d->enabled, "always") ? "anonymous memory gets huge pages"
						      : "QEMU's guest RAM (MADV_HUGEPAGE) gets huge pages");

	uint64_t n = d->regions, half = n / 2, nplain = n / 4 < DEST_REGIONS_MIN ? DEST_REGIONS_MIN
										: n / 4;
	double *t = calloc(n, sizeof(*t)), *first = calloc(n - half, sizeof(*first));
	if (!t || !first) {
		free(t);
		free(first);
		add("destination first write", ERROR, "out of memory");
		return -ENOMEM;
	}
	int64_t huge = dest_write(n, MADV_HUGEPAGE, true, t);
	if (huge < 0) {
		add("destination first write", classify((int)huge), "mmap of %llu MiB: %s",
		    (unsigned long long)(d->size >> 20), strerror((int)-huge));
		free(t);
		free(first);
		return (int)huge;
	}
	d->huge_bytes = (uint64_t)huge;
	for (uint64_t i = 0; i < n; i++) {
		if (i % 2)
			d->after_read += t[i] / (double)half;
		else
			d->first += (first[i / 2] = t[i]) / (double)(n - half);
	}
	qsort(first, n - half, sizeof(*first), cmp_double);
	d->first_median = first[(n - half) / 2];
	int64_t e3 = dest_write(nplain, MADV_NOHUGEPAGE, false, t);
	for (uint64_t i = 0; e3 >= 0 && i < nplain; i++)
		d->plain += t[i] / (double)nplain;
	free(t);
	free(first);
	/* THP off (or absent): no huge page, the first write costs what any page of data does */
	d->cost = e1 || !strcmp(d->enabled, "never") ? 0 : d->first;
	add("destination first write", WORKS,
	    "%.3f ms per 2 MiB (mean; median %.3f ms) over the %llu of %llu regions of a fresh "
	    "%llu MiB mapping (2 MiB aligned, MADV_HUGEPAGE, as QEMU's RAM) written first: %llu MiB "
	    "of huge pages; the others, read first: %.3f ms; 4 KiB pages: %.1f us",
	    d->first * 1e3, d->first_median * 1e3, (unsigned long long)(n - half),
	    (unsigned long long)n, (unsigned long long)(d->size >> 20),
	    (unsigned long long)(d->huge_bytes >> 20), d->after_read * 1e3, d->plain * 1e6);
	add("dpt predict option", WORKS, "--dest-hugepage-cost %.3fms", d->cost * 1e3);
	return 0;
}

static json_t *dest_json(const struct dest_probe *d)
{
	char opt[64];

	snprintf(opt, sizeof(opt), "--dest-hugepage-cost %.3fms", d->cost * 1e3);
	return json_pack("{s:s,s:s,s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:s}", "thp_enabled",
			 d->enabled, "thp_defrag", d->defrag, "size", (json_int_t)d->size,
			 "regions", (json_int_t)d->regions, "huge_bytes", (json_int_t)d->huge_bytes,
			 "first_write", d->first, "first_write_median", d->first_median,
			 "first_write_after_read", d->after_read, "first_write_4k", d->plain,
			 "dest_hugepage_cost", d->cost, "option", opt);
}

static int print_json(json_t *destination)
{
	json_t *arr = json_array();

	for (unsigned i = 0; i < nr_results; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "name", results[i].name,
						     "status", outcome_names[results[i].outcome],
						     "detail", results[i].detail));
	json_t *root = json_pack("{s:o}", "probes", arr);
	if (root && destination)
		json_object_set_new(root, "destination", destination);
	char *s = json_dumps(root, JSON_INDENT(2));
	puts(s ? s : "{}");
	free(s);
	json_decref(root);
	return 0;
}

int cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, 0, 'j'}, {"kvm-device", required_argument, 0, 'k'},
		{"destination", no_argument, 0, 'd'}, {"size", required_argument, 0, 's'},
		{"help", no_argument, 0, 'h'}, {0},
	};
	const char *dev = "/dev/kvm";
	bool json = false, destination = false, have_size = false;
	uint64_t size = 256ull << 20;
	struct dest_probe d;
	int opt;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
		if (opt == 'j')
			json = true;
		else if (opt == 'k')
			dev = optarg;
		else if (opt == 'd')
			destination = true;
		else if (opt == 's') {
			if (parse_size(optarg, &size) || size < HUGE_BYTES || size > (1ull << 40))
				return cmd_usage_error("check", "--size: '%s' is not a size from 2M "
						       "to 1T", optarg);
			have_size = true;
		} else if (opt == 'h') {
			printf("usage: dpt check [--json] [--kvm-device PATH]\n"
			       "       dpt check --destination [--size SIZE] [--json]\n\n"
			       "Probe, by doing them, the mechanisms dpt's trackers use on this "
			       "host.\n\n"
			       "  -j, --json             one JSON object: the probes, each with its "
			       "status and detail\n"
			       "      --kvm-device PATH  KVM device (default /dev/kvm)\n"
			       "      --destination      instead, on a migration's destination host: "
			       "what the\n"
			       "                         first write into each 2 MiB of guest RAM "
			       "costs\n"
			       "                         (transparent huge pages), the figure for dpt "
			       "predict\n"
			       "                         --dest-hugepage-cost\n"
			       "      --size SIZE        with --destination: the fresh mapping "
			       "measured (256M)\n"
			       "  -h, --help             this text\n");
			return 0;
		} else
			return cmd_usage_error("check", "unknown option '%s'", argv[optind - 1]);
	}
	if (optind < argc)
		return cmd_usage_error("check", "unexpected argument '%s'", argv[optind]);
	if (have_size && !destination)
		return cmd_usage_error("check", "--size goes with --destination");
	if (loop_block_signals())
		return cmd_error("cannot block signals");
	if (destination) {
		probe_destination(size, &d);
	} else {
		probe_kvm(dev);
		probe_uffd_wp_async();
		probe_pagemap_scan();
		probe_tracker_modes();
	}
	if (json)
		return print_json(destination && d.regions ? dest_json(&d) : NULL);
	for (unsigned i = 0; i < nr_results; i++)
		printf("%-34s %-11s %s\n", results[i].name, outcome_names[results[i].outcome],
		       results[i].detail);
	return 0;
}
