/* qmp.c - the qmp tracker: an unmodified QEMU's own dirty-rate measurement, through QMP.
 *
 * 1. open: connect (qmp-client.c); query-kvm; query-dirty-rate (QEMU >= 5.2; a measurement
 *    someone else started is waited for, never clobbered); query-memory-size-summary (total
 *    pages); query-cpus-fast (vCPUs); choose the mode and, where QEMU may refuse it, try it.
 * 2. start: wait out any measurement in flight, then calc-dirty-rate with calc-time = the
 *    interval (seconds before QEMU 8.2, "calc-time-unit": "millisecond" from 8.2).
 * 3. collect: poll query-dirty-rate until that measurement is "measured" (bounded: its length
 *    plus the timeout), start the next one at once, and report dirty = rate (MiB/s, an
 *    integer) x 256 x the interval's seconds; per vCPU in dirty-ring mode. So interval k
 *    reports the measurement started at collect k-1, and every interval has one.
 * 4. close: drop the connection. There is no way to cancel a measurement: the one started by
 *    the last collect finishes inside QEMU on its own, at most one interval later.
 *
 * Modes: page-sampling hashes sample-pages random pages per GiB before and after: an estimate
 * (t->estimate). dirty-bitmap (KVM's dirty log) and dirty-ring (ring entries per vCPU) count
 * exactly what KVM logged over QEMU's window, but QEMU only reports whole MiB/s: the counts are
 * rates, granular to 256 pages per second. "auto": dirty-ring if the VM has a ring, else
 * dirty-bitmap under KVM, else page-sampling. QEMU 7.2 keeps its accelerator out of the QOM
 * tree (qom-get /machine/accel: DeviceNotFound), so whether the VM has a ring is learnt by
 * doing: under KVM, calc-dirty-rate in dirty-ring mode is refused at once ("mode dirty-ring is
 * not enabled") when there is no ring, and is otherwise a short (1 s, or 50 ms on 8.2+)
 * measurement that start() waits out.
 *
 * Never harm the VM: QEMU 7.2 to 9.0 crash (NULL kvm_state) on dirty-bitmap or dirty-ring mode
 * when the accelerator is not KVM. Without KVM, before 9.1, dpt never sends those modes: it
 * warns and uses page-sampling.
 *
 * QEMU's end: t->end_fd stays -1 (the QMP socket is readable for events too, so it cannot be
 * the loop's end signal). A QEMU that quits shows at the next collect, which fails with one
 * line naming it (and the SHUTDOWN event's reason when one came): that interval has no result.
 *
 * Timing: measurements run back to back, but each starts a few ms after the previous one ends
 * (polling, round trip). With millisecond calc-time the measurement is cut that much shorter
 * than the interval; with whole seconds (QEMU < 8.2) the lag grows by that much per interval
 * and, after some hundreds of intervals, the loop skips one boundary (an interval overrun).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpt/log.h"
#include "dpt/tracker.h"
#include "qmp-client.h"
#include "qmp.h"

enum qmp_mode { QMP_AUTO = -1, QMP_PAGE_SAMPLING, QMP_DIRTY_BITMAP, QMP_DIRTY_RING };
static const char *const mode_names[] = {"page-sampling", "dirty-bitmap", "dirty-ring"};

#define QMP_GUARD_MS 10 /* millisecond calc-time: left for the gap between measurements */

struct qmp_priv {
	struct qmp_client c;
	enum qmp_mode mode;
	bool kvm;	   /* the accelerator is KVM (query-kvm "enabled") */
	bool ms_unit;	   /* calc-time-unit exists (QEMU >= 8.2) */
	bool mode_arg;	   /* calc-dirty-rate takes "mode" (QEMU >= 6.2) */
	int64_t calc_time; /* seconds, or ms with ms_unit */
	double interval_s; /* the loop's interval, as asked for */
	unsigned sample_pages;
	bool in_flight;	      /* a measurement of ours is running */
	int64_t end_ms;	      /* when it ends at the earliest (monotonic ms) */
	struct timespec prev; /* the previous collect, or start */
	unsigned nr_vcpus;
	uint64_t *vcpu_dirty;
	struct dpt_region region;
	char shutdown[64]; /* reason of a SHUTDOWN event, "" if none came */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t calc_ms(const struct qmp_priv *p, int64_t calc_time)
{
	return p->ms_unit ? calc_time : calc_time * 1000;
}

static int qmp_probe(const struct dpt_tracker_opts *opts)
{
	return 0; /* needs only a socket, and jansson is linked in */
}

/* Pop queued events; remember why QEMU shut down. */
static void drain_events(struct qmp_priv *p)
{
	json_t *ev;

	while ((ev = qmp_event_pop(&p->c))) {
		const char *name = json_string_value(json_object_get(ev, "event"));
		dpt_debug("qmp: event %s", name ? name : "?");
		if (name && !strcmp(name, "SHUTDOWN")) {
			const char *r = json_string_value(
			    json_object_get(json_object_get(ev, "data"), "reason"));
			snprintf(p->shutdown, sizeof(p->shutdown), "%s", r ? r : "unknown reason");
		}
		json_decref(ev);
	}
}

static const char *status_of(json_t *info)
{
	const char *s = json_string_value(json_object_get(info, "status"));

	return s ? s : "";
}

/* Poll query-dirty-rate until no measurement runs (ours: also not "unstarted", which is what
 * QEMU shows between our command and its thread's start). *info: the last answer. */
static int wait_done(struct qmp_priv *p, bool ours, int64_t end, int64_t deadline, json_t **info)
{
	int64_t next = end; /* no use asking before it can have ended */
	int err;

	for (;;) {
		int64_t now = now_ms();
		if (next > now && (err = qmp_wait(&p->c, (int)(next - now))))
			return err;
		err = qmp_execute(&p->c, "query-dirty-rate", NULL, info);
		if (err)
			return err;
		const char *st = status_of(*info);
		if (!strcmp(st, "measured") || (!ours && strcmp(st, "measuring")))
			return 0;
		json_decref(*info);
		*info = NULL;
		now = now_ms();
		if (now >= deadline)
			return dpt_fail(-ETIMEDOUT,
					"QEMU's dirty-rate measurement is still running "
					"%lld ms after it should have ended",
					(long long)(now - end));
		/* every ms while it is due (each late ms delays the next measurement), then less */
		next = now + (now - end < 20 ? 1 : now - end < 200 ? 5 : 20);
	}
}

/* Wait for a measurement someone else started (status "measuring"). */
static int wait_foreign(struct qmp_priv *p, json_t *info)
{
	json_int_t secs = json_integer_value(json_object_get(info, "calc-time"));
	json_t *done = NULL;

	if (secs <= 0 || secs > 60)
		secs = 60;
	dpt_info("qmp: waiting for a dirty-rate measurement already running in QEMU (up to %lld "
		 "s); dpt does not interrupt it",
		 (long long)secs);
	int err = wait_done(p, false, now_ms(), now_ms() + secs * 1000 + p->c.timeout_ms, &done);
	json_decref(done);
	if (err == -ETIMEDOUT)
		return dpt_fail_ctx(err, "a measurement started by another QMP client");
	return err;
}

/* Wait for our measurement; *info gets its result. */
static int wait_ours(struct qmp_priv *p, json_t **info)
{
	*info = NULL;
	if (!p->in_flight)
		return dpt_fail(-EINVAL, "qmp: no measurement running (collect before start)");
	int err = wait_done(p, true, p->end_ms, p->end_ms + p->c.timeout_ms, info);
	if (!err)
		p->in_flight = false;
	return err;
}

/* calc-dirty-rate in mode m for calc_time. -EBUSY if another client's measurement runs. */
static int issue(struct qmp_priv *p, enum qmp_mode m, int64_t calc_time)
{
	json_t *args = json_pack("{s:I}", "calc-time", (json_int_t)calc_time);

	if (!args)
		return dpt_fail(-ENOMEM, "out of memory");
	if (p->ms_unit)
		json_object_set_new(args, "calc-time-unit", json_string("millisecond"));
	if (p->mode_arg)
		json_object_set_new(args, "mode", json_string(mode_names[m]));
	if (m == QMP_PAGE_SAMPLING && p->sample_pages)
		json_object_set_new(args, "sample-pages", json_integer(p->sample_pages));
	int64_t t0 = now_ms();
	int err = qmp_execute(&p->c, "calc-dirty-rate", args, NULL);
	if (err && qmp_refused(&p->c) && strstr(p->c.err_desc, "already being measured")) {
		dpt_clear_error();
		return dpt_fail(-EBUSY, "another QMP client started a dirty-rate measurement in "
					"QEMU; dpt does not interrupt it");
	}
	if (err)
		return err;
	p->in_flight = true;
	p->end_ms = t0 + calc_ms(p, calc_time);
	return 0;
}

/* issue(), waiting first for a measurement someone else runs (twice at most). */
static int issue_politely(struct qmp_priv *p, enum qmp_mode m, int64_t calc_time)
{
	for (int tries = 0;; tries++) {
		int err = issue(p, m, calc_time);
		if (err != -EBUSY || tries == 2)
			return err;
		dpt_clear_error();
		json_t *info = NULL;
		err = qmp_execute(&p->c, "query-dirty-rate", NULL, &info);
		if (!err && !strcmp(status_of(info), "measuring"))
			err = wait_foreign(p, info);
		json_decref(info);
		if (err)
			return err;
	}
}

/* Is this result ours? Another client's calc-dirty-rate may have replaced it. */
static int check_owner(struct qmp_priv *p, json_t *info)
{
	const char *mode = json_string_value(json_object_get(info, "mode"));
	json_t *sp = json_object_get(info, "sample-pages");
	json_int_t want = p->sample_pages ? p->sample_pages : 512;

	if ((mode && strcmp(mode, mode_names[p->mode])) ||
	    (p->mode == QMP_PAGE_SAMPLING && json_is_integer(sp) && json_integer_value(sp) != want))
		return dpt_fail(-EBUSY,
				"another QMP client replaced dpt's dirty-rate measurement "
				"with its own (%s mode)",
				mode ? mode : "?");
	return 0;
}

/* Per-vCPU pages (dirty-ring). They replace the total only when every vCPU is known, so
 * that they add up to it. */
static void take_vcpus(struct qmp_priv *p, json_t *info, double secs, struct dpt_sample *s)
{
	json_t *list = json_object_get(info, "vcpu-dirty-rate"), *e;
	uint64_t sum = 0;
	size_t i;

	if (p->mode != QMP_DIRTY_RING || !json_is_array(list) || !p->nr_vcpus)
		return;
	memset(p->vcpu_dirty, 0, p->nr_vcpus * sizeof(*p->vcpu_dirty));
	json_array_foreach(list, i, e)
	{
		json_int_t id = json_integer_value(json_object_get(e, "id"));
		json_int_t r = json_integer_value(json_object_get(e, "dirty-rate"));
		if (id < 0 || (uint64_t)id >= p->nr_vcpus || r < 0) {
			dpt_debug("qmp: vCPU %lld outside 0..%u: no per-vCPU counts", (long long)id,
				  p->nr_vcpus - 1);
			return;
		}
		p->vcpu_dirty[id] += dirty_rate_pages(r, secs);
		sum += dirty_rate_pages(r, secs);
	}
	s->dirty = sum;
	s->nr_vcpus = p->nr_vcpus;
	s->vcpu_dirty = p->vcpu_dirty;
}

static int take_result(struct dpt_tracker *t, json_t *info, double secs, struct dpt_sample *s)
{
	struct qmp_priv *p = t->priv;
	json_t *rate = json_object_get(info, "dirty-rate");
	int err = check_owner(p, info);

	if (err)
		return err;
	if (!json_is_integer(rate) || json_integer_value(rate) < 0)
		return dpt_fail(-EIO,
				"QEMU's dirty-rate measurement failed (no dirty-rate; did its "
				"RAM change?)");
	s->dirty = dirty_rate_pages(json_integer_value(rate), secs);
	take_vcpus(p, info, secs, s);
	s->total = t->total_pages;
	s->page_size = 4096;
	s->flags |= p->mode == QMP_PAGE_SAMPLING ? DPT_SAMPLE_ESTIMATE : 0;
	s->nr_regions = 1;
	s->regions = &p->region;
	return 0;
}

static int lost(struct qmp_priv *p, int err)
{
	if (p->shutdown[0])
		return dpt_fail_ctx(err, "no result for this interval (QEMU shut down: %s)",
				    p->shutdown);
	return dpt_fail_ctx(err, "no result for this interval");
}

static int qmp_collect(struct dpt_tracker *t, struct dpt_sample *s)
{
	struct qmp_priv *p = t->priv;
	struct timespec now;
	json_t *info = NULL;

	clock_gettime(CLOCK_MONOTONIC, &now);
	int err = wait_ours(p, &info);
	if (!err) /* re-arm first: the next interval's measurement starts now */
		err = issue(p, p->mode, p->calc_time);
	drain_events(p);
	if (!err) {
		err = take_result(t, info, dirty_rate_secs(p->interval_s, ts_diff(&now, &p->prev)), s);
		p->prev = now;
	}
	json_decref(info);
	return err ? lost(p, err) : 0;
}

static int qmp_start(struct dpt_tracker *t)
{
	struct qmp_priv *p = t->priv;
	json_t *info = NULL;
	int err = 0;

	if (p->in_flight) /* ours (a probe, or the previous session's last) */
		err = wait_ours(p, &info);
	json_decref(info);
	if (!err)
		err = issue_politely(p, p->mode, p->calc_time);
	drain_events(p);
	clock_gettime(CLOCK_MONOTONIC, &p->prev);
	return err;
}

static void qmp_close(struct dpt_tracker *t)
{
	struct qmp_priv *p = t->priv;

	if (!p)
		return;
	qmp_client_close(&p->c);
	free(p->vcpu_dirty);
	free(p);
	t->priv = NULL;
}

static int parse_mode(const char *s, enum qmp_mode *m)
{
	*m = QMP_AUTO;
	if (!s || !strcmp(s, "auto"))
		return 0;
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, mode_names[i])) {
			*m = (enum qmp_mode)i;
			return 0;
		}
	return dpt_fail(-EINVAL,
			"qmp mode '%s': use auto, page-sampling, dirty-bitmap or "
			"dirty-ring",
			s);
}

/* QEMU's version and what it can measure; wait out a measurement someone else runs. */
static int check_qemu(struct qmp_priv *p)
{
	const struct qmp_version *v = &p->c.version;
	json_t *info = NULL;
	int err = qmp_execute(&p->c, "query-dirty-rate", NULL, &info);

	if (err == -EOPNOTSUPP && qmp_refused(&p->c)) {
		dpt_clear_error();
		return dpt_fail(err,
				"QEMU %d.%d.%d has no calc-dirty-rate/query-dirty-rate: the "
				"qmp tracker needs QEMU 5.2 or later",
				v->major, v->minor, v->micro);
	}
	if (!err && !strcmp(status_of(info), "measuring"))
		err = wait_foreign(p, info);
	json_decref(info);
	p->mode_arg = qmp_version_ge(v, 6, 2);
	p->ms_unit = qmp_version_ge(v, 8, 2);
	if (!err && p->sample_pages && !qmp_version_ge(v, 6, 1))
		return dpt_fail(-EOPNOTSUPP,
				"sample-pages needs QEMU 6.1 or later (this is %d.%d.%d)", v->major,
				v->minor, v->micro);
	return err;
}

/* Accelerator, guest RAM and vCPUs. */
static int query_machine(struct dpt_tracker *t, struct qmp_priv *p)
{
	json_t *r = NULL;
	int err = qmp_execute(&p->c, "query-kvm", NULL, &r);

	if (err && !qmp_refused(&p->c))
		return err;
	dpt_clear_error();
	p->kvm = json_is_true(json_object_get(r, "enabled"));
	json_decref(r);
	err = qmp_execute(&p->c, "query-memory-size-summary", NULL, &r);
	if (err)
		return err;
	t->total_pages = (uint64_t)(json_integer_value(json_object_get(r, "base-memory")) +
				    json_integer_value(json_object_get(r, "plugged-memory"))) /
			 4096;
	json_decref(r);
	err = qmp_execute(&p->c, "query-cpus-fast", NULL, &r);
	if (err)
		return err;
	p->nr_vcpus = (unsigned)json_array_size(r);
	json_decref(r);
	p->vcpu_dirty = calloc(p->nr_vcpus + 1, sizeof(*p->vcpu_dirty));
	if (!p->vcpu_dirty)
		return dpt_fail(-ENOMEM, "out of memory");
	p->region = (struct dpt_region){.pages = t->total_pages, .name = "guest RAM"};
	return 0;
}

/* calc-time from the interval: whole seconds before 8.2, else ms less a guard for the gap. */
static int set_calc_time(struct qmp_priv *p, uint64_t interval_ns)
{
	const struct qmp_version *v = &p->c.version;
	uint64_t ms = (interval_ns ? interval_ns : 1000000000ULL) / 1000000;

	p->interval_s = (interval_ns ? interval_ns : 1000000000ULL) / 1e9;

	if (p->ms_unit) {
		if (ms < 50)
			return dpt_fail(-EINVAL, "QEMU measures 50 ms at least: use an interval of "
						 "50ms or more");
		p->calc_time = ms - QMP_GUARD_MS < 50 ? 50 : (int64_t)ms - QMP_GUARD_MS;
	} else {
		if (ms < 1000)
			return dpt_fail(-EINVAL,
					"QEMU %d.%d.%d measures whole seconds (QEMU 8.2 adds "
					"milliseconds): use an interval of 1s or more",
					v->major, v->minor, v->micro);
		if (ms % 1000)
			dpt_warn("QEMU %d.%d.%d measures whole seconds: each %.3f s interval is "
				 "estimated from a %llu s measurement",
				 v->major, v->minor, v->micro, ms / 1000.0, ms / 1000ULL);
		p->calc_time = (int64_t)(ms / 1000);
	}
	if (calc_ms(p, p->calc_time) > 60000) {
		dpt_warn(
		    "QEMU measures 60 s at most: each interval is estimated from its first 60 s");
		p->calc_time = p->ms_unit ? 60000 : 60;
	}
	return 0;
}

/* Start a short measurement in mode m: QEMU refuses a mode the VM cannot do at once. */
static int try_mode(struct qmp_priv *p, enum qmp_mode m)
{
	int err = issue_politely(p, m, p->ms_unit ? 50 : 1);

	if (!err || !qmp_refused(&p->c))
		return err;
	dpt_clear_error();
	if (m == QMP_DIRTY_RING)
		return dpt_fail(-EOPNOTSUPP,
				"dirty-ring mode: QEMU refuses it (%s): the VM needs "
				"-accel kvm,dirty-ring-size=N",
				p->c.err_desc);
	return dpt_fail(
	    -EOPNOTSUPP, "%s mode: QEMU refuses it (%s)%s", mode_names[m], p->c.err_desc,
	    m == QMP_DIRTY_BITMAP && p->kvm ? ": the VM uses a dirty ring, use dirty-ring" : "");
}

static int choose_mode(struct qmp_priv *p, enum qmp_mode want)
{
	const struct qmp_version *v = &p->c.version;
	int err;

	p->mode = QMP_PAGE_SAMPLING;
	if (want == QMP_PAGE_SAMPLING || (want == QMP_AUTO && (!p->kvm || p->sample_pages)))
		return 0;
	if (!p->mode_arg)
		return want == QMP_AUTO ? 0
					: dpt_fail(-EOPNOTSUPP,
						   "%s mode needs QEMU 6.2 or later (this is "
						   "%d.%d.%d)",
						   mode_names[want], v->major, v->minor, v->micro);
	if (!p->kvm && !qmp_version_ge(v, 9, 1)) {
		dpt_warn("QEMU %d.%d.%d without KVM would crash on %s mode (QEMU 7.2 to 9.0; fixed "
			 "in 9.1): using page-sampling instead",
			 v->major, v->minor, v->micro, mode_names[want]);
		return 0;
	}
	if (want == QMP_AUTO) { /* under KVM: a ring if the VM has one, else the bitmap */
		err = try_mode(p, QMP_DIRTY_RING);
		p->mode = err ? QMP_DIRTY_BITMAP : QMP_DIRTY_RING;
		if (err == -EOPNOTSUPP)
			dpt_clear_error();
		return err == -EOPNOTSUPP ? 0 : err;
	}
	err = try_mode(p, want);
	p->mode = want;
	return err;
}

static void describe(struct dpt_tracker *t, struct qmp_priv *p)
{
	const struct qmp_version *v = &p->c.version;

	snprintf(t->mode, sizeof(t->mode), "%s", mode_names[p->mode]);
	t->has_bitmap = false;
	t->estimate = p->mode == QMP_PAGE_SAMPLING;
	t->nr_vcpus = p->mode == QMP_DIRTY_RING ? p->nr_vcpus : 0;
	t->owner_pid = p->c.peer_pid;
	snprintf(t->target_desc, sizeof(t->target_desc),
		 "QEMU %d.%d.%d pid %d, %s, %u vCPU, %llu MiB", v->major, v->minor, v->micro,
		 (int)p->c.peer_pid, p->kvm ? "KVM" : "no KVM", p->nr_vcpus,
		 (unsigned long long)(t->total_pages >> 8));
}

static int qmp_open(struct dpt_tracker *t, const struct dpt_target *target,
		    const struct dpt_tracker_opts *opts)
{
	const struct qmp_tracker_opts *x = opts ? opts->extra : NULL;
	enum qmp_mode want;
	struct qmp_priv *p;
	int err;

	t->end_fd = -1;
	t->priv = NULL;
	err = parse_mode(opts ? opts->mode : NULL, &want);
	if (err)
		return err;
	if (target->kind != DPT_TARGET_QMP || !target->qmp_path)
		return dpt_fail(-EINVAL, "the qmp tracker needs a QMP socket path");
	if (x && x->sample_pages && (x->sample_pages < 128 || x->sample_pages > 16384))
		return dpt_fail(-EINVAL, "sample-pages %u: QEMU takes 128 to 16384 pages per GiB",
				x->sample_pages);
	if (x && x->sample_pages && want != QMP_AUTO && want != QMP_PAGE_SAMPLING)
		return dpt_fail(-EINVAL, "sample-pages applies to page-sampling mode only");
	p = calloc(1, sizeof(*p));
	if (!p)
		return dpt_fail(-ENOMEM, "out of memory");
	p->c.fd = -1;
	p->sample_pages = x ? x->sample_pages : 0;
	t->priv = p;
	err = qmp_client_open(&p->c, target->qmp_path, x ? (int)x->timeout_ms : 0);
	if (!err)
		err = check_qemu(p);
	if (!err)
		err = query_machine(t, p);
	if (!err)
		err = set_calc_time(p, x ? x->interval_ns : 0);
	if (!err)
		err = choose_mode(p, want);
	drain_events(p);
	if (err) {
		qmp_close(t);
		return err;
	}
	describe(t, p);
	return 0;
}

const struct dpt_tracker_ops qmp_tracker_ops = {
    .name = "qmp",
    .probe = qmp_probe,
    .open = qmp_open,
    .start = qmp_start,
    .collect = qmp_collect,
    .close = qmp_close,
};
