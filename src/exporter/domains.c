/* domains.c - dpt exporter's --domain NAME source: libvirt domains by name, each its running
 * QEMU (dpt_libvirt_domain(): the pid, checked against the domain's UUID, and QEMU's QMP
 * through libvirt for the pid tracker's layout), listed with the domain's name as the vm label.
 *
 * A domain resolved stays the same QEMU while that process lives (its /proc starttime): it is
 * not asked of libvirt again each interval. When the process is gone (the domain stopped, was
 * destroyed, migrated away, or restarted with a new QEMU) the domain is resolved afresh: a new
 * QEMU is listed (the old pid drops out, and the exporter drops its target), none is a target
 * error ("not running"), looked for again each interval. The struct dpt_libvirt_domain a
 * target's tracker uses (its qmp) is never moved: one that is no longer listed is freed at the
 * next list(), after the exporter has dropped its target (exp_want's contract).
 *
 * The connection: made at the first list(); checked with one round trip at each list(); when
 * lost (libvirtd restarted), made again 1 s, 2 s ... 30 s apart. The domains tracked meanwhile
 * stay tracked (their QEMU runs on), and once connected again each one's libvirt handle is
 * swapped for one of the new connection in place, so that its tracker's QMP works again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dpt/log.h"
#include "exporter/exporter.h"
#include "trackers/libvirt.h"

#define RETRY_MAX_S 30.0

struct dom {
	const char *name;
	struct dpt_libvirt_domain *d;	/* its running QEMU, or NULL */
	struct dpt_libvirt_domain *old; /* no longer listed: freed at the next list() */
	unsigned long long start;	/* d->pid's starttime */
	bool stale;			/* d->dom is of a connection since lost */
	char error[300];		/* why it is not resolved */
	double retry_at, backoff;	/* after an error other than "none" or "not running" */
};

struct domains {
	const char *uri;
	struct dpt_libvirt *c;
	bool connected_once;
	char conn_error[300]; /* why there is no connection */
	double retry_at, backoff;
	unsigned nr;
	struct dom *v;
};

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double next_backoff(double b)
{
	return !b ? 1 : b * 2 > RETRY_MAX_S ? RETRY_MAX_S : b * 2;
}

static const char *last_error(int err)
{
	return dpt_last_error() ? dpt_last_error() : strerror(-err);
}

static void dom_free(struct dpt_libvirt_domain *d)
{
	if (d) {
		dpt_libvirt_domain_fini(d);
		free(d);
	}
}

/* Its QEMU no longer listed (the exporter drops the target at this discovery). */
static void retire(struct dom *m)
{
	dom_free(m->old);
	m->old = m->d;
	m->d = NULL;
	m->stale = false;
}

/* The connection is gone: the next list() connects again. */
static void lost(struct domains *D, int err)
{
	snprintf(D->conn_error, sizeof(D->conn_error), "%s", last_error(err));
	dpt_warn("%s; connecting again (up to every %.0f s), the domains tracked stay tracked",
		 D->conn_error, RETRY_MAX_S);
	dpt_libvirt_close(D->c);
	D->c = NULL;
	D->backoff = 0;
	D->retry_at = 0;
	for (unsigned i = 0; i < D->nr; i++)
		D->v[i].stale = D->v[i].d != NULL;
}

static void connect_(struct domains *D, double now)
{
	int err;

	if (D->c && (err = dpt_libvirt_ping(D->c)))
		lost(D, err);
	if (D->c || now < D->retry_at)
		return;
	dpt_clear_error();
	if ((err = dpt_libvirt_open(D->uri, &D->c))) {
		/* said by each domain not tracked (a target error), not here */
		snprintf(D->conn_error, sizeof(D->conn_error), "%s", last_error(err));
		D->backoff = next_backoff(D->backoff);
		D->retry_at = now + D->backoff;
		return;
	}
	if (D->connected_once)
		dpt_info("libvirt at %s: connected again", dpt_libvirt_uri(D->c));
	D->connected_once = true;
	D->conn_error[0] = 0;
	D->backoff = 0;
}

/* A failure to resolve: "no such domain" and "not running" are looked at again at the next
 * list(), others later and later; a lost connection is made again. */
static void failed(struct domains *D, struct dom *m, int err, double now)
{
	snprintf(m->error, sizeof(m->error), "%s", last_error(err));
	if (err == -ENOENT || err == -ESRCH) {
		m->backoff = 0;
		m->retry_at = 0;
		return;
	}
	m->backoff = next_backoff(m->backoff);
	m->retry_at = now + m->backoff;
	if ((err = dpt_libvirt_ping(D->c)))
		lost(D, err);
}

static void resolve(struct domains *D, struct dom *m, double now)
{
	struct dpt_libvirt_domain *d = calloc(1, sizeof(*d));
	int err;

	if (!d) {
		snprintf(m->error, sizeof(m->error), "out of memory");
		return;
	}
	dpt_clear_error();
	err = dpt_libvirt_domain(D->c, m->name, d);
	if (!err && !(m->start = exp_start_time(d->pid)))
		err = dpt_fail(-ESRCH, "%s: its QEMU (pid %d) ended", d->what, d->pid);
	if (err) {
		dom_free(d);
		failed(D, m, err, now);
		return;
	}
	m->d = d;
	m->error[0] = 0;
	m->backoff = 0;
}

/* Connected again: the same QEMU takes the new connection's handle, in place (its tracker
 * holds &d->qmp); another one, or none, replaces it. */
static void refresh(struct domains *D, struct dom *m, double now)
{
	struct dpt_libvirt_domain n;
	int err;

	dpt_clear_error();
	err = dpt_libvirt_domain(D->c, m->name, &n);
	if (!err && n.pid == m->d->pid && !strcmp(n.uuid, m->d->uuid)) {
		void *dom = m->d->dom;

		m->d->dom = n.dom;
		n.dom = dom;
		m->stale = false;
	} else if (!err || err == -ENOENT || err == -ESRCH) {
		retire(m);
	} else {
		failed(D, m, err, now); /* stays tracked, its handle stale */
	}
	dpt_libvirt_domain_fini(&n);
}

static int domains_list(struct exp_source *s, struct exp_wants *out)
{
	struct domains *D = s->priv;
	double now = mono();
	int err = 0;

	for (unsigned i = 0; i < D->nr; i++) {
		dom_free(D->v[i].old);
		D->v[i].old = NULL;
	}
	connect_(D, now);
	for (unsigned i = 0; i < D->nr && !err; i++) {
		struct dom *m = &D->v[i];

		if (m->d && exp_start_time(m->d->pid) != m->start)
			retire(m); /* stopped, or restarted: a new QEMU */
		if (m->d && m->stale && D->c)
			refresh(D, m, now);
		if (!m->d && D->c && now >= m->retry_at)
			resolve(D, m, now);
		if (m->d) {
			struct pid_qemu_qmp q = {.via = &m->d->qmp};

			err = exp_wants_add(out, m->d->pid, m->name, &q);
		} else {
			err = exp_wants_add_error(out, m->name, D->c ? m->error : D->conn_error);
		}
	}
	return err;
}

static void domains_fini(struct exp_source *s)
{
	struct domains *D = s->priv;

	if (D) {
		for (unsigned i = 0; i < D->nr; i++) {
			dom_free(D->v[i].d);
			dom_free(D->v[i].old);
		}
		free(D->v);
		dpt_libvirt_close(D->c);
		free(D);
	}
	s->priv = NULL;
}

int exp_source_domains(struct exp_source *s, const char *const *names, unsigned nr,
		       const char *uri)
{
	struct domains *D = calloc(1, sizeof(*D));

	*s = (struct exp_source){.name = "libvirt", .list = domains_list, .fini = domains_fini,
				 .priv = D};
	if (!D || !(D->v = calloc(nr + 1, sizeof(*D->v)))) {
		domains_fini(s);
		return dpt_fail(-ENOMEM, "out of memory");
	}
	D->uri = uri;
	D->nr = nr;
	for (unsigned i = 0; i < nr; i++)
		D->v[i].name = names[i];
	return 0;
}
