/* cmd-vm.c - `dpt vm`: run the built-in micro-VM and track it with the kvm tracker.
 *
 * Creates the VM (the dirty-log mode is fixed at creation, since a dirty ring must exist before
 * the vCPUs), opens the tracker, starts the vCPUs, runs the interval loop, tears down.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "dpt/log.h"
#include "dpt/parse.h"
#include "vm/vm.h"

enum {
	OPT_VCPUS = OPT_RUN_LAST,
	OPT_MEM,
	OPT_WSS,
	OPT_PATTERN,
	OPT_RATE,
	OPT_LOG_MODE,
	OPT_RING,
	OPT_KVM_DEV,
	OPT_SHARED,
	OPT_HOT_SHARE,
	OPT_HOT_FRACTION,
	OPT_STRIDE,
	OPT_SEED,
	OPT_BATCH,
};

static const struct option vm_longopts[] = {
	RUN_LONGOPTS,
	{"vcpus", required_argument, 0, OPT_VCPUS},
	{"mem", required_argument, 0, OPT_MEM},
	{"wss", required_argument, 0, OPT_WSS},
	{"pattern", required_argument, 0, OPT_PATTERN},
	{"rate", required_argument, 0, OPT_RATE},
	{"log-mode", required_argument, 0, OPT_LOG_MODE},
	{"ring-entries", required_argument, 0, OPT_RING},
	{"kvm-device", required_argument, 0, OPT_KVM_DEV},
	{"shared", no_argument, 0, OPT_SHARED},
	{"hot-share", required_argument, 0, OPT_HOT_SHARE},
	{"hot-fraction", required_argument, 0, OPT_HOT_FRACTION},
	{"stride", required_argument, 0, OPT_STRIDE},
	{"seed", required_argument, 0, OPT_SEED},
	{"batch", required_argument, 0, OPT_BATCH},
	{0},
};

static const char vm_usage[] =
	"usage: dpt vm [OPTIONS]\n\n"
	"Run dpt's built-in micro-VM, whose guest dirties memory with a known pattern and rate,\n"
	"and measure it exactly with KVM's dirty log.\n\n"
	"workload:\n"
	"      --vcpus N          vCPUs, one thread each (default 1, at most 64)\n"
	"      --mem SIZE         guest workload memory (default 256M; a multiple of 2M)\n"
	"      --wss SIZE         working set written by the guest (default 64M, <= --mem)\n"
	"      --pattern P        seq | random | hotcold | stride (default seq)\n"
	"      --rate RATE        write rate of the whole VM: 16 or 16M or 16MiB/s (MiB/s),\n"
	"                         512K (KiB/s), 4000p or 4000pages/s, or max (default 16M)\n"
	"      --shared           vCPUs share the working set (default: each writes its own part)\n"
	"      --hot-share PCT    hotcold: percent of writes to the hot part (default 90)\n"
	"      --hot-fraction PCT hotcold: percent of the working set that is hot (default 10)\n"
	"      --stride N         stride: pages between writes (default 16)\n"
	"      --batch N          pages the guest writes between yields (default 16)\n"
	"      --seed N           random seed (default 1)\n"
	"tracking:\n"
	"      --log-mode M       bitmap (KVM_GET/CLEAR_DIRTY_LOG) | ring (per-vCPU dirty ring)\n"
	"                         (default bitmap)\n"
	"      --ring-entries N   dirty ring entries per vCPU (default 16384, or the host's most\n"
	"                         if smaller)\n"
	"      --kvm-device PATH  KVM device (default /dev/kvm)\n" RUN_USAGE;

static int parse_pattern(const char *s, enum vm_pattern *p)
{
	static const char *const names[] = {"seq", "random", "hotcold", "stride"};

	for (unsigned i = 0; i < 4; i++)
		if (!strcmp(s, names[i])) {
			*p = (enum vm_pattern)i;
			return 0;
		}
	return dpt_fail(-EINVAL, "--pattern: '%s' is not seq, random, hotcold or stride", s);
}

static int parse_percent(const char *opt, const char *s, unsigned *out)
{
	uint64_t v;

	if (parse_uint(s, 0, 100, &v))
		return dpt_fail(-EINVAL, "%s: '%s' is not a percentage (0-100)", opt, s);
	*out = (unsigned)v;
	return 0;
}

static int vm_parse_one(struct vm_config *cfg, const char **log_mode, int opt, const char *arg)
{
	uint64_t v;

	switch (opt) {
	case OPT_VCPUS:
		if (parse_uint(arg, 1, VM_MAX_VCPUS, &v))
			return dpt_fail(-EINVAL, "--vcpus: '%s' is not a number from 1 to %d", arg,
					VM_MAX_VCPUS);
		cfg->nr_vcpus = (unsigned)v;
		return 0;
	case OPT_MEM:
	case OPT_WSS:
		if (parse_size(arg, &v) || v == 0)
			return dpt_fail(-EINVAL, "%s: '%s' is not a size (e.g. 256M, 1G)",
					opt == OPT_MEM ? "--mem" : "--wss", arg);
		*(opt == OPT_MEM ? &cfg->mem_bytes : &cfg->wss_bytes) = v;
		return 0;
	case OPT_PATTERN:
		return parse_pattern(arg, &cfg->pattern);
	case OPT_RATE:
		if (!strcmp(arg, "max")) {
			cfg->rate_pages = 0;
			return 0;
		}
		if (parse_rate_pages(arg, &cfg->rate_pages) || !(cfg->rate_pages > 0))
			return dpt_fail(-EINVAL,
					"--rate: '%s' is not a positive rate (e.g. 16M, 4000p, max)",
					arg);
		return 0;
	case OPT_LOG_MODE:
		if (strcmp(arg, "bitmap") && strcmp(arg, "ring") && strcmp(arg, "bitmap-legacy"))
			return dpt_fail(-EINVAL, "--log-mode: '%s' is not bitmap or ring", arg);
		*log_mode = arg;
		cfg->log_mode = strcmp(arg, "ring") ? VM_LOG_BITMAP : VM_LOG_RING;
		return 0;
	case OPT_RING:
		if (parse_uint(arg, 1, 1u << 30, &v))
			return dpt_fail(-EINVAL, "--ring-entries: '%s' is not a number", arg);
		cfg->ring_entries = (uint32_t)v;
		return 0;
	case OPT_KVM_DEV:
		cfg->kvm_device = arg;
		return 0;
	case OPT_SHARED:
		cfg->shared = true;
		return 0;
	case OPT_HOT_SHARE:
		return parse_percent("--hot-share", arg, &cfg->hot_share);
	case OPT_HOT_FRACTION:
		return parse_percent("--hot-fraction", arg, &cfg->hot_fraction);
	case OPT_STRIDE:
		if (parse_uint(arg, 1, 1u << 30, &v))
			return dpt_fail(-EINVAL, "--stride: '%s' is not a positive number", arg);
		cfg->stride = (unsigned)v;
		return 0;
	case OPT_BATCH:
		if (parse_uint(arg, 1, 1u << 20, &v))
			return dpt_fail(-EINVAL, "--batch: '%s' is not a positive number", arg);
		cfg->batch_pages = (unsigned)v;
		return 0;
	case OPT_SEED:
		if (parse_uint(arg, 0, UINT64_MAX, &v))
			return dpt_fail(-EINVAL, "--seed: '%s' is not a number", arg);
		cfg->seed = v;
		return 0;
	}
	return -ENOENT;
}

/* Parse argv into cfg and ro; returns 0, or an exit status (help: 0 with *done set). */
static int vm_parse(int argc, char **argv, struct vm_config *cfg, const char **log_mode,
		    struct run_opts *ro, bool *done)
{
	int opt;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, RUN_SHORTOPTS, vm_longopts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(vm_usage, stdout);
			*done = true;
			return 0;
		}
		if (opt == '?') {
			if (optopt)
				return cmd_usage_error("vm", "option -%c: unknown or missing its value",
						       optopt);
			return cmd_usage_error("vm", "unknown option '%s' or missing its value",
					       argv[optind - 1]);
		}
		int r = run_opts_parse(ro, opt, optarg);
		if (r < 0)
			return cmd_usage_error("vm", "%s", dpt_last_error());
		if (r == 0 && vm_parse_one(cfg, log_mode, opt, optarg))
			return cmd_usage_error("vm", "%s", dpt_last_error());
	}
	if (optind < argc)
		return cmd_usage_error("vm", "unexpected argument '%s'", argv[optind]);
	return 0;
}

int cmd_vm(int argc, char **argv)
{
	struct vm_config cfg = {
		.nr_vcpus = 1,
		.mem_bytes = 256ULL << 20,
		.wss_bytes = 64ULL << 20,
		.pattern = VM_PATTERN_SEQ,
		.hot_share = 90,
		.hot_fraction = 10,
		.stride = 16,
		.rate_pages = 16 * 256,
		.batch_pages = 16,
		.log_mode = VM_LOG_BITMAP,
		.seed = 1,
	};
	const char *log_mode = "bitmap";
	struct dpt_tracker t;
	struct run_opts ro;
	struct vm *vm;
	bool done = false;
	int status;

	run_opts_init(&ro);
	status = vm_parse(argc, argv, &cfg, &log_mode, &ro, &done);
	if (status || done)
		return status;
	if (loop_block_signals())
		return cmd_error("cannot block signals");

	if (kvm_vm_start(&cfg, log_mode, &vm, &t))
		return cmd_error("cannot start the micro-VM");
	char mem[32], wss[32];
	format_size(cfg.mem_bytes, mem, sizeof(mem));
	format_size(cfg.wss_bytes, wss, sizeof(wss));
	dpt_debug("micro-VM: %u vCPU, --mem %s, --wss %s, %.0f pages/s, kvm tracker (%s)",
		  cfg.nr_vcpus, mem, wss, cfg.rate_pages, t.mode);
	status = run_tracking(&ro, &t);
	kvm_vm_stop(vm, &t);
	return status;
}
