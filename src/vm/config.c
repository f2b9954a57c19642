/* config.c - checks a struct vm_config and fills its defaults, with reasons that name the
 * command-line option at fault ("--wss 1G is larger than --mem 256M"). Host-independent: the
 * checks that need KVM (vCPU limit, ring sizes) are in vm.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "dpt/log.h"
#include "dpt/parse.h"
#include "vm/vm-priv.h"

#define KIB 1024ULL
#define MIB (1024ULL * KIB)
#define GIB (1024ULL * MIB)

static int check_memory(const struct vm_config *c)
{
	char a[32], b[32];

	if (!c->mem_bytes || c->mem_bytes % (2 * MIB))
		return dpt_fail(-EINVAL, "--mem %s is not a positive multiple of 2 MiB",
				format_size(c->mem_bytes, a, sizeof(a)));
	if (c->mem_bytes > VM_MAX_MEM)
		return dpt_fail(-EINVAL, "--mem %s is larger than the %s the micro-VM supports",
				format_size(c->mem_bytes, a, sizeof(a)),
				format_size(VM_MAX_MEM, b, sizeof(b)));
	if (c->wss_bytes % GUEST_PAGE_SIZE)
		return dpt_fail(-EINVAL, "--wss %s is not a multiple of 4 KiB",
				format_size(c->wss_bytes, a, sizeof(a)));
	if (c->wss_bytes > c->mem_bytes)
		return dpt_fail(-EINVAL, "--wss %s is larger than --mem %s",
				format_size(c->wss_bytes, a, sizeof(a)),
				format_size(c->mem_bytes, b, sizeof(b)));
	if (!c->shared && c->wss_bytes / GUEST_PAGE_SIZE < c->nr_vcpus)
		return dpt_fail(-EINVAL,
				"--wss %s has fewer pages than --vcpus %u to split it among",
				format_size(c->wss_bytes, a, sizeof(a)), c->nr_vcpus);
	return 0;
}

static int check_pattern(const struct vm_config *c)
{
	if ((unsigned)c->pattern > VM_PATTERN_STRIDE)
		return dpt_fail(-EINVAL, "--pattern: unknown pattern %d", (int)c->pattern);
	if (c->hot_share > 100)
		return dpt_fail(-EINVAL, "--pattern hotcold: hot share %u%% is over 100%%",
				c->hot_share);
	if (c->hot_fraction > 100)
		return dpt_fail(-EINVAL, "--pattern hotcold: hot fraction %u%% is over 100%%",
				c->hot_fraction);
	if (c->batch_pages > (1u << 20))
		return dpt_fail(-EINVAL, "batch of %u pages is too large (at most %u)",
				c->batch_pages, 1u << 20);
	return 0;
}

int vm_config_check(struct vm_config *c)
{
	int rc;

	if (c->nr_vcpus == 0)
		return dpt_fail(-EINVAL, "--vcpus 0: the VM needs at least one vCPU");
	if (c->nr_vcpus > VM_MAX_VCPUS)
		return dpt_fail(-EINVAL, "--vcpus %u: at most %u vCPUs", c->nr_vcpus, VM_MAX_VCPUS);
	if (!c->wss_bytes)
		c->wss_bytes = c->mem_bytes;
	rc = check_memory(c);
	if (rc < 0)
		return rc;
	if (!c->hot_share)
		c->hot_share = 90;
	if (!c->hot_fraction)
		c->hot_fraction = 10;
	if (!c->stride)
		c->stride = 16;
	if (!c->batch_pages)
		c->batch_pages = 16;
	rc = check_pattern(c);
	if (rc < 0)
		return rc;
	if (!(c->rate_pages >= 0) || isinf(c->rate_pages))
		return dpt_fail(-EINVAL, "--rate must be a finite number of pages per second >= 0");
	if ((unsigned)c->log_mode > VM_LOG_RING)
		return dpt_fail(-EINVAL, "unknown dirty-log mode %d", (int)c->log_mode);
	if (c->ring_entries && (c->ring_entries & (c->ring_entries - 1)))
		return dpt_fail(-EINVAL, "--ring-entries %u: not a power of two",
				c->ring_entries);
	return 0;
}
