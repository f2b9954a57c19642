/* libvirt.c - libvirt domains (libvirt.h) and the libvirt tracker, libvirt's own dirty rate.
 *
 * Domains: connect (virConnectOpen), find the domain by name, check it runs, then ask its QEMU
 * through libvirt's QMP passthrough: query-cpus-fast gives the vCPU threads, whose process
 * (Tgid) is QEMU's pid -- checked against the domain's UUID on that process's command line
 * (-uuid), so that a URI naming another host is refused rather than a local process tracked
 * --; "info ramblock" gives the RAM blocks (the pid tracker's QEMU layout, qemu.c).
 *
 * The tracker: virDomainStartDirtyRateCalc (page-sampling) with the interval's whole seconds,
 * then, at each collect, virDomainListGetStats(VIR_DOMAIN_STATS_DIRTYRATE) polled until that
 * measurement is "measured" (its calc_start_time tells it from the previous one), the next one
 * started at once, and dirtyrate.megabytes_per_second x 256 x the interval reported, flagged
 * estimate. One measured by someone else (virsh domdirtyrate-calc) is waited for, never
 * interrupted. As with the qmp tracker, the window started by the last collect finishes in
 * QEMU after dpt has gone (libvirt cannot cancel one).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dpt/log.h"
#include "trackers/libvirt.h"
#include "trackers/qmp.h"

#define BUILT_WITHOUT "dpt was built without libvirt: install libvirt-dev and rebuild"

#ifdef HAVE_LIBVIRT

#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <time.h>

#define WAIT_MS 5000 /* beyond a measurement's end, how long libvirt is waited for */

struct dpt_libvirt {
	virConnectPtr conn;
	char uri[256];
};

bool dpt_libvirt_available(void)
{
	return true;
}

static void quiet(void *arg, virErrorPtr e)
{
}

/* libvirt's reason for the last failure. */
static const char *why(void)
{
	const char *m = virGetLastErrorMessage();

	return m && *m ? m : "unknown libvirt error";
}

int dpt_libvirt_open(const char *uri, struct dpt_libvirt **out)
{
	struct dpt_libvirt *c;

	*out = NULL;
	uri = uri ? uri : DPT_LIBVIRT_URI;
	virSetErrorFunc(NULL, quiet);
	if (virInitialize() < 0)
		return dpt_fail(-EIO, "libvirt: cannot initialize: %s", why());
	c = calloc(1, sizeof(*c));
	if (!c)
		return dpt_fail(-ENOMEM, "out of memory");
	snprintf(c->uri, sizeof(c->uri), "%s", uri);
	c->conn = virConnectOpen(uri);
	if (!c->conn) {
		int err = dpt_fail(-ECONNREFUSED, "cannot connect to libvirt at %s: %s", uri, why());

		free(c);
		return err;
	}
	*out = c;
	return 0;
}

void dpt_libvirt_close(struct dpt_libvirt *c)
{
	if (!c)
		return;
	if (c->conn)
		virConnectClose(c->conn);
	free(c);
}

const char *dpt_libvirt_uri(const struct dpt_libvirt *c)
{
	return c->uri;
}

int dpt_libvirt_ping(struct dpt_libvirt *c)
{
	unsigned long v;

	if (virConnectGetLibVersion(c->conn, &v) < 0 || virConnectIsAlive(c->conn) != 1)
		return dpt_fail(-ECONNRESET, "libvirt at %s: connection lost: %s", c->uri, why());
	return 0;
}

void dpt_libvirt_names_free(char **names, unsigned nr)
{
	for (unsigned i = 0; i < nr; i++)
		free(names[i]);
	free(names);
}

int dpt_libvirt_list(struct dpt_libvirt *c, char ***names, unsigned *nr)
{
	virDomainPtr *doms = NULL;
	int n = virConnectListAllDomains(c->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
	int err = 0;

	*names = NULL;
	*nr = 0;
	if (n < 0)
		return dpt_fail(-EIO, "libvirt at %s: cannot list domains: %s", c->uri, why());
	*names = calloc((size_t)n + 1, sizeof(**names));
	for (int i = 0; i < n; i++) {
		if (*names && !err && !((*names)[*nr] = strdup(virDomainGetName(doms[i]) ?: "?")))
			err = -ENOMEM;
		else if (*names && !err)
			(*nr)++;
		virDomainFree(doms[i]);
	}
	free(doms);
	if (!*names || err) {
		dpt_libvirt_names_free(*names, *nr);
		*names = NULL;
		*nr = 0;
		return dpt_fail(-ENOMEM, "out of memory");
	}
	return 0;
}

static const char *state_name(int state)
{
	static const char *const names[] = {"no state", "running", "blocked", "paused",
					    "shutting down", "shut off", "crashed", "suspended"};

	return state >= 0 && state < (int)(sizeof(names) / sizeof(names[0])) ? names[state] : "?";
}

/* The domain by name, running. */
static int find_domain(struct dpt_libvirt *c, const char *name, virDomainPtr *out)
{
	virDomainPtr dom = virDomainLookupByName(c->conn, name);
	int state = 0, reason = 0;

	*out = NULL;
	if (!dom) {
		if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
			return dpt_fail(-ENOENT, "no libvirt domain '%s' at %s", name, c->uri);
		return dpt_fail(-EIO, "libvirt at %s: domain '%s': %s", c->uri, name, why());
	}
	if (virDomainIsActive(dom) != 1) {
		virDomainGetState(dom, &state, &reason, 0);
		virDomainFree(dom);
		return dpt_fail(-ESRCH, "libvirt domain '%s' is not running (%s)", name,
				state_name(state));
	}
	*out = dom;
	return 0;
}

int dpt_libvirt_qmp(struct dpt_libvirt_domain *d, const char *cmd, json_t *args, json_t **ret)
{
	json_t *req = json_pack("{s:s}", "execute", cmd), *reply, *e;
	char *text = NULL, *result = NULL;
	json_error_t jerr;
	int err = 0;

	if (ret)
		*ret = NULL;
	if (req && args)
		json_object_set(req, "arguments", args);
	json_decref(args);
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!text)
		return dpt_fail(-ENOMEM, "out of memory");
	if (virDomainQemuMonitorCommand(d->dom, text, &result, 0) < 0) {
		err = virGetLastErrorCode() == VIR_ERR_NO_SUPPORT ? -EOPNOTSUPP : -EIO;
		err = dpt_fail(err, "%s: QMP %s through libvirt: %s", d->what, cmd, why());
		free(text);
		return err;
	}
	free(text);
	reply = json_loads(result, 0, &jerr);
	free(result);
	if (!json_is_object(reply)) {
		json_decref(reply);
		return dpt_fail(-EPROTO, "%s: QMP %s: libvirt's reply is not a JSON object", d->what,
				cmd);
	}
	if ((e = json_object_get(reply, "error"))) {
		const char *cls = json_string_value(json_object_get(e, "class")) ?: "";

		err = dpt_fail(!strcmp(cls, "CommandNotFound") ? -EOPNOTSUPP : -EINVAL, "%s: %s",
			       cmd, json_string_value(json_object_get(e, "desc")) ?: cls);
	} else if (ret) {
		*ret = json_incref(json_object_get(reply, "return"));
	}
	json_decref(reply);
	return err;
}

static int via_execute(void *arg, const char *cmd, json_t *args, json_t **ret)
{
	return dpt_libvirt_qmp(arg, cmd, args, ret);
}

/* The value of QEMU's option opt in the NUL-separated command line buf, or NULL. */
/* Is process pid the QEMU of the domain of this UUID (-uuid on its command line)? */
static bool runs_uuid(pid_t pid, const char *uuid)
{
	char v[64];

	return pid_qemu_option(pid, "-uuid", v, sizeof(v)) == 1 && !strcasecmp(v, uuid);
}

/* The process of thread tid (its Tgid), or 0. */
static pid_t tgid_of(pid_t tid)
{
	char path[64], line[256];
	pid_t pid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &pid) == 1)
			break;
	fclose(f);
	return pid;
}

/* QEMU's pid: the process of its vCPU threads, with the domain's UUID on its command line. */
static int find_pid(struct dpt_libvirt *c, struct dpt_libvirt_domain *d)
{
	json_t *cpus = NULL, *cpu;
	size_t i;
	int err = dpt_libvirt_qmp(d, "query-cpus-fast", NULL, &cpus);

	if (err == -EOPNOTSUPP) {
		dpt_clear_error();
		return dpt_fail(err, "%s at %s is not a QEMU domain (dpt asks QEMU through libvirt)",
				d->what, c->uri);
	}
	if (err)
		return err;
	json_array_foreach(cpus, i, cpu)
	{
		pid_t pid = tgid_of((pid_t)json_integer_value(json_object_get(cpu, "thread-id")));

		if (pid > 0 && runs_uuid(pid, d->uuid)) {
			d->pid = pid;
			break;
		}
	}
	json_decref(cpus);
	if (!d->pid)
		return dpt_fail(-ESRCH,
				"%s: its QEMU is not a process on this host (%s: dpt tracks local "
				"domains)",
				d->what, c->uri);
	return 0;
}

int dpt_libvirt_domain(struct dpt_libvirt *c, const char *name, struct dpt_libvirt_domain *d)
{
	virDomainPtr dom;
	int err;

	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->what, sizeof(d->what), "libvirt domain %s", name);
	d->qmp = (struct pid_qmp_via){.execute = via_execute, .arg = d, .what = d->what};
	err = find_domain(c, name, &dom);
	if (err)
		return err;
	d->dom = dom;
	if (virDomainGetUUIDString(dom, d->uuid) < 0)
		return dpt_fail(-EIO, "%s: no UUID: %s", d->what, why());
	err = find_pid(c, d);
	if (!err) {
		struct pid_qemu_qmp q = {.via = &d->qmp};

		err = pid_qemu_blocks(d->pid, &q, &d->blocks, &d->nr_blocks);
	}
	return err;
}

void dpt_libvirt_domain_fini(struct dpt_libvirt_domain *d)
{
	if (d->dom)
		virDomainFree(d->dom);
	free(d->blocks);
	d->dom = NULL;
	d->blocks = NULL;
	d->nr_blocks = 0;
}

/* ---- the libvirt tracker ---- */

struct lv_priv {
	struct dpt_libvirt *c;
	virDomainPtr dom;
	char name[256];
	int secs;	    /* each measurement's length */
	double interval_s;  /* the loop's interval, as asked for */
	bool in_flight;	    /* a measurement of ours runs */
	long long prev_start; /* calc_start_time of the measurement before ours */
	int64_t end_ms;	    /* when ours ends at the earliest */
	struct timespec prev;
	struct dpt_region region;
};

struct lv_stats {
	int status; /* VIR_DOMAIN_DIRTYRATE_* */
	int period;
	long long start, mib_s;
	bool has_rate;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	if (ms > 0)
		nanosleep(&ts, NULL);
}

/* The domain's "dirtyrate" statistics. */
static int get_stats(struct lv_priv *p, struct lv_stats *st)
{
	virDomainPtr doms[2] = {p->dom, NULL};
	virDomainStatsRecordPtr *recs = NULL;
	int n = virDomainListGetStats(doms, VIR_DOMAIN_STATS_DIRTYRATE, &recs, 0);

	memset(st, 0, sizeof(*st));
	if (n < 0)
		return dpt_fail(virDomainIsActive(p->dom) == 1 ? -EIO : -ESRCH,
				"libvirt domain %s: dirty-rate statistics: %s", p->name, why());
	if (n >= 1) {
		virTypedParameterPtr v = recs[0]->params;
		int nv = recs[0]->nparams;

		virTypedParamsGetInt(v, nv, "dirtyrate.calc_status", &st->status);
		virTypedParamsGetInt(v, nv, "dirtyrate.calc_period", &st->period);
		virTypedParamsGetLLong(v, nv, "dirtyrate.calc_start_time", &st->start);
		st->has_rate = virTypedParamsGetLLong(v, nv, "dirtyrate.megabytes_per_second",
						      &st->mib_s) == 1;
	}
	virDomainStatsRecordListFree(recs);
	return 0;
}

/* Wait until no measurement runs (someone else's: up to its period and WAIT_MS more). */
static int wait_idle(struct lv_priv *p, struct lv_stats *st)
{
	int64_t deadline = 0;
	int err;

	while (!(err = get_stats(p, st)) && st->status == VIR_DOMAIN_DIRTYRATE_MEASURING) {
		if (!deadline) {
			deadline = now_ms() + (st->period > 0 ? st->period : 60) * 1000 + WAIT_MS;
			dpt_info("libvirt domain %s: waiting for a dirty-rate measurement already "
				 "running (up to %d s); dpt does not interrupt it",
				 p->name, st->period > 0 ? st->period : 60);
		}
		if (now_ms() > deadline)
			return dpt_fail(-ETIMEDOUT,
					"libvirt domain %s: a dirty-rate measurement someone else "
					"started is still running",
					p->name);
		sleep_ms(20);
	}
	return err;
}

static int issue(struct lv_priv *p)
{
	struct lv_stats st;
	int err = wait_idle(p, &st);
	int64_t t0 = now_ms();

	if (err)
		return err;
	p->prev_start = st.status == VIR_DOMAIN_DIRTYRATE_MEASURED ? st.start : -1;
	if (virDomainStartDirtyRateCalc(p->dom, p->secs, VIR_DOMAIN_DIRTYRATE_MODE_PAGE_SAMPLING) <
	    0)
		return dpt_fail(virDomainIsActive(p->dom) == 1 ? -EIO : -ESRCH,
				"libvirt domain %s: cannot start a dirty-rate measurement: %s",
				p->name, why());
	p->in_flight = true;
	p->end_ms = t0 + p->secs * 1000;
	return 0;
}

/* Wait for ours to be measured: its result in *st. */
static int wait_ours(struct lv_priv *p, struct lv_stats *st)
{
	int64_t deadline = p->end_ms + WAIT_MS;
	int err;

	sleep_ms(p->end_ms - now_ms());
	while (!(err = get_stats(p, st))) {
		if (st->status == VIR_DOMAIN_DIRTYRATE_MEASURED && st->start != p->prev_start) {
			p->in_flight = false;
			dpt_debug("libvirt domain %s: dirtyrate.megabytes_per_second=%lld "
				  "calc_start_time=%lld calc_period=%d",
				  p->name, st->mib_s, st->start, st->period);
			if (!st->has_rate || st->mib_s < 0)
				return dpt_fail(-EIO, "libvirt domain %s: the dirty-rate measurement "
						      "gave no rate",
						p->name);
			return 0;
		}
		int64_t now = now_ms();

		if (now >= deadline)
			return dpt_fail(-ETIMEDOUT,
					"libvirt domain %s: the dirty-rate measurement is still "
					"running %lld ms after it should have ended",
					p->name, (long long)(now - p->end_ms));
		sleep_ms(now - p->end_ms < 20 ? 1 : now - p->end_ms < 200 ? 5 : 20);
	}
	return err;
}

static int lv_probe(const struct dpt_tracker_opts *opts)
{
	return 0;
}

static int lv_start(struct dpt_tracker *t)
{
	struct lv_priv *p = t->priv;
	struct lv_stats st;
	int err = 0;

	if (p->in_flight) /* the previous session's last */
		err = wait_ours(p, &st);
	if (!err)
		err = issue(p);
	clock_gettime(CLOCK_MONOTONIC, &p->prev);
	return err;
}

static int lv_collect(struct dpt_tracker *t, struct dpt_sample *s)
{
	struct lv_priv *p = t->priv;
	struct timespec now;
	struct lv_stats st;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &now);
	err = wait_ours(p, &st);
	if (!err) /* the next interval's measurement starts now */
		err = issue(p);
	if (err)
		return dpt_fail_ctx(err, "no result for this interval");
	s->dirty = dirty_rate_pages(st.mib_s, dirty_rate_secs(p->interval_s, ts_diff(&now, &p->prev)));
	p->prev = now;
	s->total = t->total_pages;
	s->page_size = 4096;
	s->flags |= DPT_SAMPLE_ESTIMATE;
	s->nr_regions = 1;
	s->regions = &p->region;
	return 0;
}

static void lv_close(struct dpt_tracker *t)
{
	struct lv_priv *p = t->priv;

	if (!p)
		return;
	if (p->dom)
		virDomainFree(p->dom);
	dpt_libvirt_close(p->c);
	free(p);
	t->priv = NULL;
}

static int lv_open(struct dpt_tracker *t, const struct dpt_target *target,
		   const struct dpt_tracker_opts *opts)
{
	const struct libvirt_tracker_opts *x = opts ? opts->extra : NULL;
	uint64_t ns = x && x->interval_ns ? x->interval_ns : 1000000000ULL;
	struct lv_priv *p;
	virDomainInfo info;
	int err;

	t->end_fd = -1;
	t->priv = NULL;
	if (target->kind != DPT_TARGET_LIBVIRT || !target->domain)
		return dpt_fail(-EINVAL, "the libvirt tracker needs a domain name");
	if (opts && opts->mode && strcmp(opts->mode, "page-sampling"))
		return dpt_fail(-EINVAL, "libvirt tracker: mode '%s': only page-sampling",
				opts->mode);
	if (ns % 1000000000ULL || ns < 1000000000ULL || ns > 60000000000ULL)
		return dpt_fail(-EINVAL, "libvirt measures whole seconds, 1 to 60: use an interval "
					 "of 1s, 2s, ... 60s");
	p = calloc(1, sizeof(*p));
	if (!p)
		return dpt_fail(-ENOMEM, "out of memory");
	t->priv = p;
	p->secs = (int)(ns / 1000000000ULL);
	p->interval_s = (double)p->secs;
	snprintf(p->name, sizeof(p->name), "%s", target->domain);
	err = dpt_libvirt_open(target->uri, &p->c);
	if (!err)
		err = find_domain(p->c, target->domain, &p->dom);
	if (!err && virDomainGetInfo(p->dom, &info) < 0)
		err = dpt_fail(-EIO, "libvirt domain %s: %s", p->name, why());
	if (err) {
		lv_close(t);
		return err;
	}
	t->total_pages = (uint64_t)info.maxMem / 4; /* KiB */
	p->region = (struct dpt_region){.pages = t->total_pages, .name = "guest RAM"};
	snprintf(t->mode, sizeof(t->mode), "page-sampling");
	t->has_bitmap = false;
	t->estimate = true;
	t->nr_vcpus = 0;
	t->owner_pid = 0;
	snprintf(t->target_desc, sizeof(t->target_desc), "libvirt domain %.60s, %u vCPU, %llu MiB",
		 p->name, (unsigned)info.nrVirtCpu, (unsigned long long)(t->total_pages >> 8));
	return 0;
}

#else /* !HAVE_LIBVIRT */

bool dpt_libvirt_available(void)
{
	return false;
}

int dpt_libvirt_open(const char *uri, struct dpt_libvirt **c)
{
	*c = NULL;
	return dpt_fail(-ENOSYS, BUILT_WITHOUT);
}

void dpt_libvirt_close(struct dpt_libvirt *c)
{
}

const char *dpt_libvirt_uri(const struct dpt_libvirt *c)
{
	return DPT_LIBVIRT_URI;
}

int dpt_libvirt_domain(struct dpt_libvirt *c, const char *name, struct dpt_libvirt_domain *d)
{
	memset(d, 0, sizeof(*d));
	return dpt_fail(-ENOSYS, BUILT_WITHOUT);
}

void dpt_libvirt_domain_fini(struct dpt_libvirt_domain *d)
{
}

int dpt_libvirt_list(struct dpt_libvirt *c, char ***names, unsigned *nr)
{
	*names = NULL;
	*nr = 0;
	return dpt_fail(-ENOSYS, BUILT_WITHOUT);
}

int dpt_libvirt_ping(struct dpt_libvirt *c)
{
	return dpt_fail(-ENOSYS, BUILT_WITHOUT);
}

void dpt_libvirt_names_free(char **names, unsigned nr)
{
}

int dpt_libvirt_qmp(struct dpt_libvirt_domain *d, const char *cmd, json_t *args, json_t **ret)
{
	json_decref(args);
	return dpt_fail(-ENOSYS, BUILT_WITHOUT);
}

static int lv_probe(const struct dpt_tracker_opts *opts)
{
	return dpt_fail(-ENOSYS, BUILT_WITHOUT);
}

static int lv_open(struct dpt_tracker *t, const struct dpt_target *target,
		   const struct dpt_tracker_opts *opts)
{
	t->priv = NULL;
	t->end_fd = -1;
	return dpt_fail(-ENOSYS, BUILT_WITHOUT);
}

static int lv_start(struct dpt_tracker *t)
{
	return -ENOSYS;
}

static int lv_collect(struct dpt_tracker *t, struct dpt_sample *s)
{
	return -ENOSYS;
}

static void lv_close(struct dpt_tracker *t)
{
}

#endif

const struct dpt_tracker_ops libvirt_tracker_ops = {
    .name = "libvirt",
    .probe = lv_probe,
    .open = lv_open,
    .start = lv_start,
    .collect = lv_collect,
    .close = lv_close,
};
