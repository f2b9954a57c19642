/* pio.c - the micro-VM's only devices: a static table of I/O ports and their handlers.
 *
 *	GUEST_PORT_YIELD   IN 32: pace, park while quiesced, hand the guest its next pass
 *	GUEST_PORT_CONSOLE OUT 8: a character of a debug line (printed with dpt_debug)
 *	GUEST_PORT_PANIC   OUT 32: the guest found its parameters impossible; stop with an error
 *
 * Pacing keeps an absolute schedule per vCPU: batch b of a vCPU is due at t0 + b * batch_ns,
 * where batch_ns = batch_pages * nr_vcpus / rate. Time spent parked (quiesced) or behind
 * schedule is caught up afterwards, so the long-run rate stays the requested one. The sleep is
 * a timed wait on CLOCK_MONOTONIC with an absolute deadline (like clock_nanosleep with
 * TIMER_ABSTIME) so that vm_quiesce() and vm_destroy() can cut it short.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "dpt/log.h"
#include "vm/vm-priv.h"

struct pio_port {
	uint16_t port;
	uint8_t direction; /* KVM_EXIT_IO_IN or KVM_EXIT_IO_OUT */
	uint8_t size;
	int (*handler)(struct vm_vcpu *v, uint8_t *data);
};

static struct timespec ns_to_ts(uint64_t ns)
{
	return (struct timespec){.tv_sec = (time_t)(ns / 1000000000ULL),
				 .tv_nsec = (long)(ns % 1000000000ULL)};
}

/* Called with vm->lock held; returns with it held. The deadline is read anew after every
 * wake-up: vm_set_rate() may have changed the schedule meanwhile. */
static int yield_wait(struct vm_vcpu *v)
{
	struct vm *vm = v->vm;

	for (;;) {
		if (vm->stopping)
			return VM_STOP;
		if (vm->quiesce) {
			vm->parked++;
			pthread_cond_broadcast(&vm->parked_cond);
			while (vm->quiesce && !vm->stopping)
				pthread_cond_wait(&vm->wake, &vm->lock);
			vm->parked--;
			continue;
		}
		if (!(vm->batch_ns > 0))
			return VM_CONTINUE;
		uint64_t due = vm->t0_ns + (uint64_t)((double)v->batches * vm->batch_ns);
		if (vm_now_ns() >= due)
			return VM_CONTINUE;
		struct timespec ts = ns_to_ts(due);
		pthread_cond_timedwait(&vm->wake, &vm->lock, &ts);
	}
}

static int pio_yield(struct vm_vcpu *v, uint8_t *data)
{
	struct vm *vm = v->vm;
	int rc;

	pthread_mutex_lock(&vm->lock);
	rc = yield_wait(v);
	if (rc == VM_CONTINUE) {
		vm->params->vcpu[v->index].pass = __atomic_load_n(&vm->pass, __ATOMIC_ACQUIRE);
		v->batches++;
	}
	pthread_mutex_unlock(&vm->lock);
	memset(data, 0, 4);
	return rc;
}

static int pio_console(struct vm_vcpu *v, uint8_t *data)
{
	static __thread char line[128];
	static __thread unsigned len;

	if (data[0] == '\n' || len == sizeof(line) - 1) {
		line[len] = 0;
		dpt_debug("guest vcpu %u: %s", v->index, line);
		len = 0;
	}
	if (data[0] != '\n')
		line[len++] = (char)data[0];
	return VM_CONTINUE;
}

static int pio_panic(struct vm_vcpu *v, uint8_t *data)
{
	uint32_t code;

	memcpy(&code, data, sizeof(code));
	return dpt_fail(-EPROTO, "guest panic %u (%s)", code,
			code == GUEST_PANIC_MAGIC    ? "parameter block version mismatch"
			: code == GUEST_PANIC_PARAMS ? "impossible parameters"
						     : "unknown");
}

static const struct pio_port pio_table[] = {
    {GUEST_PORT_YIELD, KVM_EXIT_IO_IN, 4, pio_yield},
    {GUEST_PORT_CONSOLE, KVM_EXIT_IO_OUT, 1, pio_console},
    {GUEST_PORT_PANIC, KVM_EXIT_IO_OUT, 4, pio_panic},
};

int vm_pio_dispatch(struct vm_vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;

	for (size_t i = 0; i < sizeof(pio_table) / sizeof(pio_table[0]); i++) {
		const struct pio_port *p = &pio_table[i];

		if (p->port != run->io.port)
			continue;
		if (p->direction != run->io.direction || p->size != run->io.size ||
		    run->io.count != 1)
			break;
		if (run->io.data_offset + p->size > v->run_size)
			return dpt_fail(-EPROTO, "port I/O data outside kvm_run");
		return p->handler(v, data);
	}
	return dpt_fail(-EPROTO, "unexpected port I/O: %s port 0x%x, %u byte(s) x %u",
			run->io.direction == KVM_EXIT_IO_IN ? "in from" : "out to", run->io.port,
			run->io.size, run->io.count);
}
