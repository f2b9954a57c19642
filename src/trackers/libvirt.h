/* libvirt.h - libvirt domains: a domain's name to its QEMU process and RAM layout, the running
 * domains, QMP passthrough, and the libvirt tracker (libvirt's own dirty-rate estimate).
 *
 * For `dpt track --domain NAME [--connect URI] [--estimate]` and for `dpt exporter`:
 *
 *	struct dpt_libvirt *c;
 *	struct dpt_libvirt_domain d;
 *	dpt_libvirt_open(NULL, &c);                  qemu:///system
 *	dpt_libvirt_domain(c, "vm1", &d);            d.pid, d.blocks (RAM layout), d.qmp
 *	  ... the pid tracker on d.pid with pid_tracker_opts.qmp_via = &d.qmp, .qemu = PID_QEMU_ON
 *	dpt_libvirt_domain_fini(&d);
 *	dpt_libvirt_close(c);
 *
 * libvirt owns QEMU's QMP socket, so QEMU is asked through libvirt's passthrough
 * (virDomainQemuMonitorCommand): "info ramblock" for the RAM blocks, query-cpus-fast for the
 * pid (the vCPU threads' process, checked against the domain's UUID on QEMU's command line,
 * so a domain on another host is refused). libvirt marks a domain whose monitor was used this
 * way as tainted ("custom-monitor", a line in its log); nothing else changes in the domain.
 *
 * Optional at build time (LIBVIRT=no, or no libvirt-dev): then dpt_libvirt_available() is
 * false and every function fails with -ENOSYS and "dpt was built without libvirt: ...".
 * Library code: 0 or -errno with the reason recorded by dpt_fail(); nothing here prints or
 * exits (libvirt's own printing of errors is turned off).
 */
#ifndef DPT_LIBVIRT_H
#define DPT_LIBVIRT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "dpt/tracker.h"
#include "trackers/pid/pid.h"

#define DPT_LIBVIRT_URI "qemu:///system" /* the default connection */

struct dpt_libvirt; /* a connection to libvirt */

struct dpt_libvirt_domain {
	char name[256];
	char uuid[40];
	pid_t pid;		       /* its QEMU process, on this host */
	struct pid_qemu_block *blocks; /* its RAM blocks, in RAM-offset order */
	unsigned nr_blocks;
	struct pid_qmp_via qmp;	       /* QEMU's QMP through libvirt, for the pid tracker */
	char what[300];		       /* "libvirt domain NAME", for messages */
	void *dom;		       /* libvirt's virDomainPtr */
};

/* Was dpt built with libvirt? */
bool dpt_libvirt_available(void);
/* Connect to uri (NULL: DPT_LIBVIRT_URI). -ECONNREFUSED when no daemon answers or the URI is
 * not one libvirt can open, with libvirt's reason. */
int dpt_libvirt_open(const char *uri, struct dpt_libvirt **c);
void dpt_libvirt_close(struct dpt_libvirt *c);
const char *dpt_libvirt_uri(const struct dpt_libvirt *c);
/* Does the connection still answer (one round trip to the daemon)? 0, or -ECONNRESET with
 * libvirt's reason: the daemon went away (restarted); open a new connection. */
int dpt_libvirt_ping(struct dpt_libvirt *c);
/* The running domain named name: its pid and RAM blocks (asked of QEMU through libvirt).
 * -ENOENT no such domain, -ESRCH not running (or its QEMU is not on this host), -EOPNOTSUPP
 * not a QEMU domain. Free with dpt_libvirt_domain_fini() in every case. */
int dpt_libvirt_domain(struct dpt_libvirt *c, const char *name, struct dpt_libvirt_domain *d);
void dpt_libvirt_domain_fini(struct dpt_libvirt_domain *d);
/* The names of the running domains (*names: an array of nr malloc'ed strings, itself
 * malloc'ed; free with dpt_libvirt_names_free()). */
int dpt_libvirt_list(struct dpt_libvirt *c, char ***names, unsigned *nr);
void dpt_libvirt_names_free(char **names, unsigned nr);
/* One QMP command through libvirt (struct pid_qmp_via's execute): args stolen, *ret a new
 * reference to "return". A refusal by QEMU: -EOPNOTSUPP (CommandNotFound) or -EINVAL. */
int dpt_libvirt_qmp(struct dpt_libvirt_domain *d, const char *cmd, json_t *args, json_t **ret);

/*
 * The libvirt tracker: libvirt's own dirty-rate measurement (virDomainStartDirtyRateCalc,
 * then the "dirtyrate" group of virDomainListGetStats), back to back, one per interval, as
 * the qmp tracker does with QMP. QEMU's page-sampling mode: an estimate (t->estimate), in
 * whole MiB/s, over whole seconds (1 to 60). target: kind DPT_TARGET_LIBVIRT, domain, uri.
 */
struct libvirt_tracker_opts {
	uint64_t interval_ns; /* the loop's interval: each measurement's length; 0 = 1 s */
};

#endif
