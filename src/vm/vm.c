/* vm.c - the micro-VM's life cycle: create (KVM VM, two memory slots, dirty-log mode, vCPUs),
 * start (one thread per vCPU), quiesce/resume (park every vCPU at its next yield), destroy,
 * and the bounds-checked view of guest memory.
 *
 * 1. vm_create checks the config, opens the device, creates the VM, enables the dirty-log
 *    mode (manual protect for bitmap mode, the dirty ring for ring mode: before any vCPU),
 *    maps slot 0 (code, tables, params) and slot 1 (workload, KVM_MEM_LOG_DIRTY_PAGES),
 *    writes slot 0 (x86.c) and creates the vCPUs.
 * 2. vm_start records t0 and starts the vCPU threads (vcpu.c); pacing and parking happen at
 *    the guest's yields (pio.c).
 * 3. vm_quiesce raises a counter and waits until every live vCPU thread is parked.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "dpt/log.h"
#include "vm/vm-priv.h"

#define VM_DEFAULT_RING_ENTRIES 16384

uint64_t vm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int map_slot(struct vm *vm, uint32_t id, uint64_t gpa, uint64_t size, uint32_t flags)
{
	struct vm_slot *s = &vm->slot[id];
	struct kvm_userspace_memory_region r;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return dpt_fail(-errno, "mmap of %llu bytes of guest memory: %s",
				(unsigned long long)size, strerror(errno));
	s->id = id;
	s->gpa = gpa;
	s->size = size;
	s->host = p;
	r = (struct kvm_userspace_memory_region){
	    .slot = id,
	    .flags = flags,
	    .guest_phys_addr = gpa,
	    .memory_size = size,
	    .userspace_addr = (uintptr_t)p,
	};
	return VM_IOCTL(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
}

static int enable_cap(struct vm *vm, uint32_t cap, uint64_t arg0, const char *name)
{
	struct kvm_enable_cap c = {.cap = cap, .args = {arg0}};
	int rc = VM_IOCTL(vm->vm_fd, KVM_ENABLE_CAP, &c);

	return rc < 0 ? dpt_fail_ctx(rc, "enabling %s", name) : 0;
}

int vm_set_manual_protect(struct vm *vm, uint32_t flags)
{
	int rc = enable_cap(vm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, flags,
			    "KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2");

	if (rc == 0)
		vm->manual_protect = flags;
	return rc;
}

static int setup_log_mode(struct vm *vm, const struct kvm_caps *caps)
{
	uint32_t want = vm->cfg.ring_entries;

	if (vm->cfg.log_mode == VM_LOG_BITMAP) {
		uint32_t f = caps->manual_protect &
			     (KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET);
		/* Without manual protect the tracker falls back to get-and-clear. */
		return f ? vm_set_manual_protect(vm, f) : 0;
	}
	if (vm->cfg.log_mode != VM_LOG_RING)
		return 0;
	if (!caps->ring_max_entries)
		return dpt_fail(-EOPNOTSUPP, "this KVM has no dirty ring (KVM_CAP_DIRTY_LOG_RING)");
	if (!want)
		want = VM_DEFAULT_RING_ENTRIES < caps->ring_max_entries ? VM_DEFAULT_RING_ENTRIES
									: caps->ring_max_entries;
	if (want < caps->ring_min_entries || want > caps->ring_max_entries)
		return dpt_fail(-EINVAL, "--ring-entries %u: KVM offers %u to %u entries per vCPU",
				want, caps->ring_min_entries, caps->ring_max_entries);
	vm->ring_acq_rel = caps->ring_acq_rel;
	vm->ring_entries = want;
	return enable_cap(
	    vm, caps->ring_acq_rel ? KVM_CAP_DIRTY_LOG_RING_ACQ_REL : KVM_CAP_DIRTY_LOG_RING,
	    (uint64_t)want * sizeof(struct kvm_dirty_gfn),
	    caps->ring_acq_rel ? "KVM_CAP_DIRTY_LOG_RING_ACQ_REL" : "KVM_CAP_DIRTY_LOG_RING");
}

static int create_vcpu(struct vm *vm, unsigned i, int run_size)
{
	struct vm_vcpu *v = &vm->vcpu[i];
	void *p;
	int rc;

	v->vm = vm;
	v->index = i;
	v->fd = VM_IOCTL(vm->vm_fd, KVM_CREATE_VCPU, (void *)(uintptr_t)i);
	if (v->fd < 0)
		return v->fd;
	vm->nr_vcpus_created = i + 1;
	p = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (p == MAP_FAILED)
		return dpt_fail(-errno, "mmap of vcpu %u's kvm_run: %s", i, strerror(errno));
	v->run = p;
	v->run_size = (size_t)run_size;
	if (vm->ring_entries) {
		v->ring_bytes = (size_t)vm->ring_entries * sizeof(struct kvm_dirty_gfn);
		p = mmap(NULL, v->ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd,
			 KVM_DIRTY_LOG_PAGE_OFFSET * sysconf(_SC_PAGESIZE));
		if (p == MAP_FAILED) {
			v->ring_bytes = 0;
			return dpt_fail(-errno, "mmap of vcpu %u's dirty ring: %s", i,
					strerror(errno));
		}
		v->ring = p;
	}
	rc = vm_x86_setup_vcpu(vm, v);
	return rc < 0 ? dpt_fail_ctx(rc, "vcpu %u", i) : 0;
}

static int init_sync(struct vm *vm)
{
	pthread_condattr_t attr;

	pthread_mutex_init(&vm->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&vm->wake, &attr);
	pthread_cond_init(&vm->parked_cond, &attr);
	pthread_condattr_destroy(&attr);
	vm->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->event_fd < 0)
		return dpt_fail(-errno, "eventfd: %s", strerror(errno));
	return 0;
}

static struct vm *vm_alloc(const struct vm_config *cfg)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	if (!vm)
		return NULL;
	vm->cfg = *cfg;
	vm->kvm_fd = vm->vm_fd = vm->event_fd = -1;
	for (unsigned i = 0; i < VM_MAX_VCPUS; i++)
		vm->vcpu[i].fd = -1;
	vm->pass = 1;
	return vm;
}

static int create_machine(struct vm *vm)
{
	const struct vm_config *c = &vm->cfg;
	uint32_t log = c->log_mode == VM_LOG_NONE ? 0 : KVM_MEM_LOG_DIRTY_PAGES;
	struct kvm_caps caps;
	int rc, run_size;

	vm->vm_fd = VM_IOCTL(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return dpt_fail_ctx(vm->vm_fd, "%s", c->kvm_device);
	kvm_caps_from_vm(vm->vm_fd, &caps);
	if (caps.max_vcpus > 0 && c->nr_vcpus > (unsigned)caps.max_vcpus)
		return dpt_fail(-EINVAL, "--vcpus %u: this KVM allows at most %d", c->nr_vcpus,
				caps.max_vcpus);
	rc = setup_log_mode(vm, &caps);
	if (rc == 0)
		rc = map_slot(vm, 0, 0, GUEST_SLOT0_SIZE, 0);
	if (rc == 0)
		rc = map_slot(vm, 1, GUEST_WORKLOAD_GPA, c->mem_bytes, log);
	if (rc == 0)
		rc = vm_x86_setup_memory(vm);
	if (rc < 0)
		return rc;
	run_size = VM_IOCTL(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (run_size < 0)
		return run_size;
	for (unsigned i = 0; i < c->nr_vcpus; i++) {
		rc = create_vcpu(vm, i, run_size);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int vm_create(struct vm **out, const struct vm_config *cfg)
{
	struct vm *vm;
	int rc;

	*out = NULL;
	vm = vm_alloc(cfg);
	if (!vm)
		return dpt_fail(-ENOMEM, "out of memory");
	if (!vm->cfg.kvm_device)
		vm->cfg.kvm_device = "/dev/kvm";
	rc = vm_config_check(&vm->cfg);
	if (rc < 0)
		goto err_free;
	rc = init_sync(vm);
	if (rc < 0)
		goto err_destroy;
	vm->kvm_fd = kvm_open_device(vm->cfg.kvm_device);
	if (vm->kvm_fd < 0) {
		rc = vm->kvm_fd;
		goto err_destroy;
	}
	rc = create_machine(vm);
	if (rc < 0)
		goto err_destroy;
	if (vm->cfg.rate_pages > 0)
		vm->batch_ns = vm->cfg.batch_pages * vm->cfg.nr_vcpus * 1e9 / vm->cfg.rate_pages;
	*out = vm;
	return 0;

err_free:
	free(vm);
	return rc;
err_destroy:
	vm_destroy(vm);
	return rc;
}

int vm_start(struct vm *vm)
{
	int rc = 0;

	pthread_mutex_lock(&vm->lock);
	vm->t0_ns = vm_now_ns();
	for (unsigned i = 0; i < vm->cfg.nr_vcpus; i++) {
		struct vm_vcpu *v = &vm->vcpu[i];

		if (v->thread_started)
			continue;
		rc = -pthread_create(&v->thread, NULL, vm_vcpu_thread, v);
		if (rc < 0) {
			rc = dpt_fail(rc, "vcpu %u: pthread_create: %s", i, strerror(-rc));
			break;
		}
		v->thread_started = true;
		vm->running++;
	}
	pthread_mutex_unlock(&vm->lock);
	return rc;
}

int vm_quiesce(struct vm *vm)
{
	int rc;

	pthread_mutex_lock(&vm->lock);
	if (!vm->failed) {
		vm->quiesce++;
		pthread_cond_broadcast(&vm->wake); /* cut pacing sleeps short */
		while (!vm->failed && vm->parked < vm->running)
			pthread_cond_wait(&vm->parked_cond, &vm->lock);
		if (!vm->failed) {
			pthread_mutex_unlock(&vm->lock);
			return 0;
		}
		vm->quiesce--;
		pthread_cond_broadcast(&vm->wake);
	}
	/* A failed VM stops for good: wait until no vCPU thread touches memory any more. */
	while (vm->running)
		pthread_cond_wait(&vm->parked_cond, &vm->lock);
	rc = dpt_fail(-EIO, "%s", vm->error);
	pthread_mutex_unlock(&vm->lock);
	return rc;
}

int vm_set_rate(struct vm *vm, double rate_pages)
{
	if (!(rate_pages >= 0) || rate_pages > 1e12)
		return dpt_fail(-EINVAL, "rate %g pages/s: not a rate", rate_pages);
	pthread_mutex_lock(&vm->lock);
	vm->cfg.rate_pages = rate_pages;
	vm->batch_ns =
	    rate_pages > 0 ? vm->cfg.batch_pages * vm->cfg.nr_vcpus * 1e9 / rate_pages : 0;
	vm->t0_ns = vm_now_ns();
	for (unsigned i = 0; i < vm->cfg.nr_vcpus; i++)
		vm->vcpu[i].batches = 0;
	pthread_cond_broadcast(&vm->wake); /* sleeping vCPUs read the new schedule */
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->quiesce && --vm->quiesce == 0)
		pthread_cond_broadcast(&vm->wake);
	pthread_mutex_unlock(&vm->lock);
}

bool vm_stopped(struct vm *vm)
{
	bool stopped;

	pthread_mutex_lock(&vm->lock);
	stopped = vm->failed && !vm->running;
	pthread_mutex_unlock(&vm->lock);
	return stopped;
}

void vm_set_failed(struct vm *vm, const char *fmt, ...)
{
	uint64_t one = 1;
	va_list ap;

	pthread_mutex_lock(&vm->lock);
	if (!vm->failed) {
		va_start(ap, fmt);
		vsnprintf(vm->error, sizeof(vm->error), fmt, ap);
		va_end(ap);
		vm->failed = true;
	}
	vm->stopping = true;
	pthread_cond_broadcast(&vm->wake);
	pthread_cond_broadcast(&vm->parked_cond);
	pthread_mutex_unlock(&vm->lock);
	if (write(vm->event_fd, &one, sizeof(one)) < 0) {
		/* The counter can only overflow after 2^64 failures; nothing to do. */
	}
}

static void destroy_vcpu(struct vm_vcpu *v)
{
	if (v->ring)
		munmap(v->ring, v->ring_bytes);
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->fd >= 0)
		close(v->fd);
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	pthread_mutex_lock(&vm->lock);
	vm->stopping = true;
	pthread_cond_broadcast(&vm->wake);
	pthread_mutex_unlock(&vm->lock);
	for (unsigned i = 0; i < VM_MAX_VCPUS; i++)
		if (vm->vcpu[i].thread_started)
			pthread_join(vm->vcpu[i].thread, NULL);
	for (unsigned i = 0; i < VM_MAX_VCPUS; i++)
		destroy_vcpu(&vm->vcpu[i]);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->event_fd >= 0)
		close(vm->event_fd);
	for (unsigned i = 0; i < 2; i++)
		if (vm->slot[i].host)
			munmap(vm->slot[i].host, vm->slot[i].size);
	pthread_cond_destroy(&vm->wake);
	pthread_cond_destroy(&vm->parked_cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

int vm_event_fd(const struct vm *vm)
{
	return vm->event_fd;
}

const char *vm_error(const struct vm *vm)
{
	const char *e;

	pthread_mutex_lock((pthread_mutex_t *)&vm->lock);
	e = vm->failed ? vm->error : NULL;
	pthread_mutex_unlock((pthread_mutex_t *)&vm->lock);
	return e;
}

uint64_t vm_pass(const struct vm *vm)
{
	return __atomic_load_n(&vm->pass, __ATOMIC_ACQUIRE);
}

void vm_next_pass(struct vm *vm)
{
	__atomic_add_fetch(&vm->pass, 1, __ATOMIC_ACQ_REL);
}

uint64_t vm_workload_pages(const struct vm *vm)
{
	return vm->slot[1].size / GUEST_PAGE_SIZE;
}

uint64_t vm_workload_gpa(const struct vm *vm)
{
	return vm->slot[1].gpa;
}

uint64_t vm_page_stamp(const struct vm *vm, uint64_t page)
{
	const volatile uint64_t *p;

	p = vm_mem_ptr((struct vm *)vm, vm->slot[1].gpa + page * GUEST_PAGE_SIZE, 8);
	return p ? *p : 0;
}

uint64_t vm_vcpu_writes(const struct vm *vm, unsigned vcpu)
{
	return vcpu < vm->cfg.nr_vcpus ? vm->params->vcpu[vcpu].writes : 0;
}

unsigned vm_nr_vcpus(const struct vm *vm)
{
	return vm->cfg.nr_vcpus;
}

const struct vm_config *vm_config(const struct vm *vm)
{
	return &vm->cfg;
}

void *vm_mem_ptr(struct vm *vm, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < 2; i++) {
		const struct vm_slot *s = &vm->slot[i];

		if (s->host && gpa >= s->gpa && len <= s->size && gpa - s->gpa <= s->size - len)
			return s->host + (gpa - s->gpa);
	}
	return NULL;
}

void vm_vcpu_part(const struct vm *vm, unsigned vcpu, uint64_t *first_page, uint64_t *pages)
{
	const struct guest_vcpu *g = &vm->params->vcpu[vcpu];

	*first_page = (g->base_gpa - vm->slot[1].gpa) / GUEST_PAGE_SIZE;
	*pages = g->pages;
}

int vm_fd(const struct vm *vm)
{
	return vm->vm_fd;
}

uint32_t vm_manual_protect(const struct vm *vm)
{
	return vm->manual_protect;
}
