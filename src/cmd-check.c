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
 * Text by default, --json for scripts. Exit 0 unless the command line is wrong.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/tracker.h"
#include "trackers/pid/kabi.h"
#include "vm/vm.h"

enum outcome { WORKS, UNSUPPORTED, ERROR };
static const char *const outcome_names[] = {"works", "unsupported", "error"};

struct result {
	const char *name;
	enum outcome outcome;
	char detail[256];
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

static int print_json(void)
{
	json_t *arr = json_array();

	for (unsigned i = 0; i < nr_results; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "name", results[i].name,
						     "status", outcome_names[results[i].outcome],
						     "detail", results[i].detail));
	json_t *root = json_pack("{s:o}", "probes", arr);
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
		{"help", no_argument, 0, 'h'}, {0},
	};
	const char *dev = "/dev/kvm";
	bool json = false;
	int opt;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
		if (opt == 'j')
			json = true;
		else if (opt == 'k')
			dev = optarg;
		else if (opt == 'h') {
			printf("usage: dpt check [--json] [--kvm-device PATH]\n\n"
			       "Probe, by doing them, the mechanisms dpt's trackers use on this "
			       "host.\n\n"
			       "  -j, --json             one JSON object: the probes, each with its "
			       "status and detail\n"
			       "      --kvm-device PATH  KVM device (default /dev/kvm)\n"
			       "  -h, --help             this text\n");
			return 0;
		} else
			return cmd_usage_error("check", "unknown option '%s'", argv[optind - 1]);
	}
	if (optind < argc)
		return cmd_usage_error("check", "unexpected argument '%s'", argv[optind]);
	if (loop_block_signals())
		return cmd_error("cannot block signals");
	probe_kvm(dev);
	probe_uffd_wp_async();
	probe_pagemap_scan();
	probe_tracker_modes();
	if (json)
		return print_json();
	for (unsigned i = 0; i < nr_results; i++)
		printf("%-34s %-11s %s\n", results[i].name, outcome_names[results[i].outcome],
		       results[i].detail);
	return 0;
}
