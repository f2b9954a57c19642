/* kvm.c - the kvm tracker: KVM's own dirty log of dpt's micro-VM (src/vm/).
 *
 * Modes (opts->mode), chosen with the VM's log mode at vm_create (the ring must exist before
 * the vCPUs do; open() fails if the two do not match):
 *
 * "bitmap" (default; VM_LOG_BITMAP): KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 with
 *    MANUAL_PROTECT_ENABLE | INITIALLY_SET (enabled by vm_create when offered).
 *    1. vm_quiesce: every vCPU parks at its next yield, so no write is half-way.
 *    2. KVM_GET_DIRTY_LOG copies the workload slot's bitmap (it only reads).
 *    3. KVM_CLEAR_DIRTY_LOG with that same bitmap re-protects exactly those pages (whole slot:
 *       first_page 0, num_pages a multiple of 64 since the slot is a multiple of 2 MiB).
 *    4. vm_next_pass, vm_resume. start() does 1-3 and discards (the initial all-ones too).
 * "bitmap-legacy" (VM_LOG_BITMAP): manual protect turned off (restored on close); step 2's
 *    KVM_GET_DIRTY_LOG gets, clears and re-protects atomically; no step 3. "bitmap" falls back
 *    to it when KVM does not offer manual protect, and then says so in t->mode.
 * "ring" (VM_LOG_RING): per-vCPU dirty rings (KVM_CAP_DIRTY_LOG_RING_ACQ_REL if offered).
 *    1. vm_quiesce; 2. harvest each vCPU's ring in order into the interval's accumulating
 *    bitmap; an entry counts for its vCPU only if its page's bit was not yet set, so the first
 *    writer gets the credit and the per-vCPU counts add up to dirty; 3. KVM_RESET_DIRTY_RINGS;
 *    4. swap the accumulating and the sample's buffers, vm_next_pass, vm_resume.
 *    KVM_EXIT_DIRTY_RING_FULL in between: the vCPU thread harvests its own ring into the same
 *    accumulating bitmap under priv->lock, resets, and re-enters the guest.
 *
 * Only the workload slot (VM_WORKLOAD_SLOT) is reported: one region "ram" at the workload's
 * guest-physical base, page i = bit i. opts->extra may point to a struct kvm_tracker_extra
 * (src/vm/vm.h) naming the KVM device for probe(). close() the tracker before vm_destroy():
 * in ring mode it takes its ring-full handler back from the VM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/tracker.h"
#include "vm/vm.h"

#include <linux/kvm.h>

enum kvm_mode {
	KVM_MODE_BITMAP,
	KVM_MODE_LEGACY,
	KVM_MODE_RING,
};

struct kvm_priv {
	struct vm *vm;
	enum kvm_mode mode;
	uint64_t pages;
	unsigned nr_vcpus;
	uint64_t *out; /* the sample's bitmap */
	uint64_t *acc; /* ring: the current interval's accumulating bitmap */
	uint64_t out_vcpu[VM_MAX_VCPUS];
	uint64_t acc_vcpu[VM_MAX_VCPUS];
	uint64_t foreign;     /* ring entries outside the workload slot (ignored) */
	pthread_mutex_t lock; /* ring: acc, acc_vcpu, foreign */
	bool lock_ready;
	bool handler_set;
	bool restore_protect;
	uint32_t saved_protect;
	bool first;
	struct dpt_region region;
};

static const char *const mode_names[] = {
    [KVM_MODE_BITMAP] = "bitmap",
    [KVM_MODE_LEGACY] = "bitmap-legacy",
    [KVM_MODE_RING] = "ring",
};

static int parse_mode(const char *s, enum kvm_mode *out)
{
	for (unsigned i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (!strcmp(s ? s : "bitmap", mode_names[i])) {
			*out = i;
			return 0;
		}
	}
	return dpt_fail(-EINVAL, "kvm tracker: unknown mode '%s' (bitmap, bitmap-legacy, ring)", s);
}

/* --- bitmap modes ------------------------------------------------------------------------- */

static int get_log(struct kvm_priv *p, uint64_t *bm)
{
	struct kvm_dirty_log log = {.slot = VM_WORKLOAD_SLOT, .dirty_bitmap = bm};

	if (ioctl(vm_fd(p->vm), KVM_GET_DIRTY_LOG, &log) < 0)
		return dpt_fail(-errno, "KVM_GET_DIRTY_LOG: %s", strerror(errno));
	return 0;
}

static int clear_log(struct kvm_priv *p, uint64_t *bm)
{
	struct kvm_clear_dirty_log c = {
	    .slot = VM_WORKLOAD_SLOT,
	    .first_page = 0,
	    .num_pages = (uint32_t)p->pages,
	    .dirty_bitmap = bm,
	};

	if (ioctl(vm_fd(p->vm), KVM_CLEAR_DIRTY_LOG, &c) < 0)
		return dpt_fail(-errno, "KVM_CLEAR_DIRTY_LOG: %s", strerror(errno));
	return 0;
}

/* Read and re-arm the slot's log into p->out. */
static int harvest_bitmap(struct kvm_priv *p)
{
	int rc = get_log(p, p->out);

	if (rc == 0 && p->mode == KVM_MODE_BITMAP &&
	    bitmap_next_set(p->out, p->pages, 0) < p->pages)
		rc = clear_log(p, p->out);
	return rc;
}

/* --- ring mode ---------------------------------------------------------------------------- */

static void ring_entry(void *arg, unsigned vcpu, uint32_t slot, uint64_t offset)
{
	struct kvm_priv *p = arg;

	if (slot != VM_WORKLOAD_SLOT || offset >= p->pages) {
		p->foreign++;
		return;
	}
	if (!bitmap_test(p->acc, offset)) {
		bitmap_set(p->acc, offset);
		p->acc_vcpu[vcpu]++;
	}
}

/* With p->lock held: harvest the rings of vCPUs [first, last) and reset. */
static int harvest_rings(struct kvm_priv *p, unsigned first, unsigned last)
{
	for (unsigned i = first; i < last; i++) {
		int64_t n = vm_ring_harvest(p->vm, i, ring_entry, p);

		if (n < 0)
			return (int)n;
	}
	return vm_ring_reset(p->vm);
}

/* KVM_EXIT_DIRTY_RING_FULL, on the vCPU's own thread. */
static int ring_full(void *arg, unsigned vcpu)
{
	struct kvm_priv *p = arg;
	int rc;

	pthread_mutex_lock(&p->lock);
	rc = harvest_rings(p, vcpu, vcpu + 1);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* Harvest everything into acc, then hand acc over as the sample's bitmap. */
static int harvest_ring_interval(struct kvm_priv *p)
{
	size_t bytes = bitmap_bytes(p->pages);
	uint64_t *t;
	int rc;

	pthread_mutex_lock(&p->lock);
	rc = harvest_rings(p, 0, p->nr_vcpus);
	t = p->out;
	p->out = p->acc;
	p->acc = t;
	memset(p->acc, 0, bytes);
	memcpy(p->out_vcpu, p->acc_vcpu, sizeof(p->out_vcpu));
	memset(p->acc_vcpu, 0, sizeof(p->acc_vcpu));
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static int harvest(struct kvm_priv *p)
{
	return p->mode == KVM_MODE_RING ? harvest_ring_interval(p) : harvest_bitmap(p);
}

/* --- the ops ------------------------------------------------------------------------------ */

static int kvm_probe(const struct dpt_tracker_opts *opts)
{
	const struct kvm_tracker_extra *x = opts ? opts->extra : NULL;
	const char *dev = x && x->kvm_device ? x->kvm_device : "/dev/kvm";
	enum kvm_mode mode;
	struct kvm_caps caps;
	int rc = parse_mode(opts ? opts->mode : NULL, &mode);

	if (rc == 0)
		rc = kvm_query_caps(dev, &caps);
	if (rc < 0)
		return rc;
	dpt_debug("%s: api %d, max vcpus %d, manual protect 0x%x, dirty ring %u..%u entries%s", dev,
		  caps.api_version, caps.max_vcpus, caps.manual_protect, caps.ring_min_entries,
		  caps.ring_max_entries, caps.ring_acq_rel ? " (acq_rel)" : "");
	if (mode == KVM_MODE_RING && !caps.ring_max_entries)
		return dpt_fail(-EOPNOTSUPP, "%s: no dirty ring (KVM_CAP_DIRTY_LOG_RING)", dev);
	return 0;
}

static int check_log_mode(struct kvm_priv *p)
{
	enum vm_log_mode vm_mode = vm_config(p->vm)->log_mode;
	enum vm_log_mode want = p->mode == KVM_MODE_RING ? VM_LOG_RING : VM_LOG_BITMAP;
	static const char *const names[] = {"none", "bitmap", "ring"};

	if (vm_mode == want)
		return 0;
	return dpt_fail(-EINVAL,
			"kvm tracker mode '%s' needs a micro-VM created with dirty-log mode %s, "
			"this one has %s (the mode is fixed when the VM is created)",
			mode_names[p->mode], names[want], names[vm_mode]);
}

static int setup_mode(struct kvm_priv *p)
{
	uint32_t protect = vm_manual_protect(p->vm);
	int rc;

	if (p->mode == KVM_MODE_RING) {
		vm_set_ring_full_handler(p->vm, ring_full, p);
		p->handler_set = true;
		return 0;
	}
	if (p->mode == KVM_MODE_BITMAP && !(protect & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE))
		p->mode = KVM_MODE_LEGACY; /* KVM offers no manual protect */
	if (p->mode == KVM_MODE_LEGACY && protect) {
		rc = vm_set_manual_protect(p->vm, 0);
		if (rc < 0)
			return rc;
		p->saved_protect = protect;
		p->restore_protect = true;
	}
	return 0;
}

static int alloc_bitmaps(struct kvm_priv *p)
{
	size_t bytes = bitmap_bytes(p->pages);

	p->out = calloc(1, bytes);
	if (p->mode == KVM_MODE_RING)
		p->acc = calloc(1, bytes);
	if (!p->out || (p->mode == KVM_MODE_RING && !p->acc))
		return dpt_fail(-ENOMEM, "kvm tracker: out of memory for %zu-byte bitmaps", bytes);
	return 0;
}

static const char *mib(char *buf, size_t len, uint64_t bytes)
{
	if (bytes % (1ULL << 30) == 0)
		snprintf(buf, len, "%llu GiB", (unsigned long long)(bytes >> 30));
	else if (bytes % (1ULL << 20) == 0)
		snprintf(buf, len, "%llu MiB", (unsigned long long)(bytes >> 20));
	else
		snprintf(buf, len, "%llu KiB", (unsigned long long)(bytes >> 10));
	return buf;
}

static void describe(struct dpt_tracker *t, struct vm *vm)
{
	static const char *const patterns[] = {"seq", "random", "hotcold", "stride"};
	const struct vm_config *c = vm_config(vm);
	char mem[32], wss[32], rate[32] = "unpaced";

	if (c->rate_pages > 0)
		snprintf(rate, sizeof(rate), "%.0f pages/s", c->rate_pages);
	snprintf(t->target_desc, sizeof(t->target_desc), "micro-VM %u vCPU%s %s, %s over %s%s, %s",
		 c->nr_vcpus, c->nr_vcpus > 1 ? "s" : "", mib(mem, sizeof(mem), c->mem_bytes),
		 patterns[c->pattern], mib(wss, sizeof(wss), c->wss_bytes),
		 c->shared ? " shared" : "", rate);
}

static void kvm_close(struct dpt_tracker *t);

static int kvm_open(struct dpt_tracker *t, const struct dpt_target *target,
		    const struct dpt_tracker_opts *opts)
{
	struct kvm_priv *p;
	int rc;

	if (target->kind != DPT_TARGET_VM || !target->vm)
		return dpt_fail(-EINVAL, "the kvm tracker only tracks dpt's micro-VM");
	p = calloc(1, sizeof(*p));
	if (!p)
		return dpt_fail(-ENOMEM, "out of memory");
	t->priv = p;
	p->vm = target->vm;
	p->pages = vm_workload_pages(p->vm);
	p->nr_vcpus = vm_nr_vcpus(p->vm);
	pthread_mutex_init(&p->lock, NULL);
	p->lock_ready = true;
	rc = parse_mode(opts ? opts->mode : NULL, &p->mode);
	if (rc == 0)
		rc = check_log_mode(p);
	if (rc == 0)
		rc = alloc_bitmaps(p);
	if (rc == 0)
		rc = setup_mode(p);
	if (rc < 0) {
		kvm_close(t);
		return rc;
	}
	p->region = (struct dpt_region){.start = vm_workload_gpa(p->vm), .pages = p->pages};
	snprintf(p->region.name, sizeof(p->region.name), "ram");
	snprintf(t->mode, sizeof(t->mode), "%s", mode_names[p->mode]);
	t->has_bitmap = true;
	t->total_pages = p->pages;
	t->estimate = false;
	t->counts_discarded = true; /* the micro-VM's guest never discards memory: always 0 */
	t->nr_vcpus = p->mode == KVM_MODE_RING ? p->nr_vcpus : 0;
	t->owner_pid = getpid();
	t->end_fd = vm_event_fd(p->vm);
	describe(t, p->vm);
	return 0;
}

static int kvm_start(struct dpt_tracker *t)
{
	struct kvm_priv *p = t->priv;
	int rc = vm_quiesce(p->vm);

	if (rc < 0)
		return rc;
	rc = harvest(p); /* forget everything written so far */
	vm_next_pass(p->vm);
	vm_resume(p->vm);
	p->first = true;
	return rc;
}

static int kvm_collect(struct dpt_tracker *t, struct dpt_sample *s)
{
	struct kvm_priv *p = t->priv;
	bool stopped = false;
	int rc = vm_quiesce(p->vm);

	if (rc < 0) {
		/* A failed VM has stopped for good: report its last interval, once more if asked.
		 */
		if (!vm_stopped(p->vm))
			return rc;
		snprintf(t->end_reason, sizeof(t->end_reason), "micro-VM stopped: %s",
			 vm_error(p->vm));
		t->end_status = 1;
		dpt_clear_error();
		stopped = true;
	}
	rc = harvest(p);
	if (!stopped) {
		vm_next_pass(p->vm);
		vm_resume(p->vm);
	}
	if (rc < 0)
		return rc;
	s->total = p->pages;
	s->page_size = 4096;
	s->bitmap = p->out;
	s->nr_regions = 1;
	s->regions = &p->region;
	s->regions_changed = p->first;
	p->first = false;
	if (p->mode == KVM_MODE_RING) {
		s->nr_vcpus = p->nr_vcpus;
		s->vcpu_dirty = p->out_vcpu;
		s->dirty = 0;
		for (unsigned i = 0; i < p->nr_vcpus; i++)
			s->dirty += p->out_vcpu[i];
	} else {
		s->nr_vcpus = 0;
		s->vcpu_dirty = NULL;
		s->dirty = bitmap_weight(p->out, p->pages);
	}
	return 0;
}

/*
 * Non-zero pages: the workload memory is mapped in dpt, so the scan reads it in place, a page
 * at a time, while the guest runs (a page written during the scan is seen either way). The
 * memory starts zeroed and the guest writes a non-zero stamp into every page it writes.
 */
struct dpt_zscan {
	const uint8_t *mem;
	uint64_t pages;
	struct dpt_region region;
	uint64_t *bm;
};

static int kvm_zscan_prepare(struct dpt_tracker *t, struct dpt_zscan **zsp)
{
	struct kvm_priv *p = t->priv;
	struct dpt_zscan *zs = calloc(1, sizeof(*zs));

	if (!zs)
		return -ENOMEM;
	zs->pages = p->pages;
	zs->region = p->region;
	zs->mem = vm_mem_ptr(p->vm, vm_workload_gpa(p->vm), p->pages * 4096);
	zs->bm = calloc(bitmap_words(p->pages) + 1, sizeof(uint64_t));
	if (!zs->mem || !zs->bm) {
		free(zs->bm);
		free(zs);
		return dpt_fail(-ENOMEM, "non-zero scan: no workload memory");
	}
	*zsp = zs;
	return 0;
}

static bool page_is_zero(const uint8_t *page)
{
	const uint64_t *w = (const uint64_t *)page;
	uint64_t acc = 0;

	for (unsigned i = 0; i < 4096 / 8; i += 8)
		acc |= w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] |
		       w[i + 7];
	return !acc;
}

static int kvm_zscan_run(struct dpt_zscan *zs, struct dpt_nonzero *z)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < zs->pages; i++)
		if (!page_is_zero(zs->mem + i * 4096)) {
			bitmap_set(zs->bm, i);
			n++;
		}
	z->method = DPT_NZ_CONTENT;
	z->total = zs->pages;
	z->count = n;
	z->bytes_read = zs->pages * 4096;
	z->nr_regions = 1;
	z->regions = &zs->region;
	z->bitmap = zs->bm;
	return 0;
}

static void kvm_zscan_free(struct dpt_zscan *zs)
{
	if (zs)
		free(zs->bm);
	free(zs);
}

static void kvm_close(struct dpt_tracker *t)
{
	struct kvm_priv *p = t->priv;

	if (!p)
		return;
	if (p->handler_set)
		vm_set_ring_full_handler(p->vm, NULL, NULL);
	if (p->restore_protect)
		vm_set_manual_protect(p->vm, p->saved_protect);
	if (p->lock_ready)
		pthread_mutex_destroy(&p->lock);
	free(p->out);
	free(p->acc);
	free(p);
	t->priv = NULL;
}

int kvm_vm_start(const struct vm_config *cfg, const char *mode, struct vm **vm,
		 struct dpt_tracker *t)
{
	struct dpt_tracker_opts opts = {.mode = mode};
	int err;

	*t = (struct dpt_tracker){.ops = &kvm_tracker_ops, .end_fd = -1};
	*vm = NULL;
	err = vm_create(vm, cfg);
	if (err)
		return err;
	struct dpt_target target = {.kind = DPT_TARGET_VM, .vm = *vm};
	err = t->ops->open(t, &target, &opts);
	if (!err)
		err = vm_start(*vm);
	if (err) {
		kvm_vm_stop(*vm, t);
		*vm = NULL;
	}
	return err;
}

void kvm_vm_stop(struct vm *vm, struct dpt_tracker *t)
{
	kvm_close(t);
	vm_destroy(vm);
}

const struct dpt_tracker_ops kvm_tracker_ops = {
    .name = "kvm",
    .probe = kvm_probe,
    .open = kvm_open,
    .start = kvm_start,
    .collect = kvm_collect,
    .close = kvm_close,
	.zscan_prepare = kvm_zscan_prepare,
	.zscan_run = kvm_zscan_run,
	.zscan_free = kvm_zscan_free,
};
