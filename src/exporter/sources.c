/* sources.c - which processes dpt exporter tracks: --pid PID (fixed), --all-qemu (every
 * qemu-system-* process in /proc, looked for at every discovery). A source only names
 * processes; the exporter opens, tracks and drops them (cmd-exporter.c). --domain, libvirt
 * domains by name, is domains.c.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dpt/log.h"
#include "exporter/exporter.h"
#include "trackers/pid/pid.h"

int exp_wants_add(struct exp_wants *w, pid_t pid, const char *name,
		  const struct pid_qemu_qmp *qmp)
{
	for (unsigned i = 0; i < w->nr; i++)
		if (pid ? w->v[i].pid == pid : !w->v[i].pid && !strcmp(w->v[i].name, name))
			return 0;
	if (w->nr == w->cap) {
		unsigned cap = w->cap ? 2 * w->cap : 16;
		struct exp_want *v = realloc(w->v, cap * sizeof(*v));
		if (!v)
			return dpt_fail(-ENOMEM, "out of memory");
		w->v = v;
		w->cap = cap;
	}
	struct exp_want *e = &w->v[w->nr++];
	memset(e, 0, sizeof(*e));
	e->pid = pid;
	snprintf(e->name, sizeof(e->name), "%s", name ? name : "");
	if (qmp)
		e->qmp = *qmp;
	return 0;
}

int exp_wants_add_error(struct exp_wants *w, const char *name, const char *error)
{
	unsigned nr = w->nr;
	int err = exp_wants_add(w, 0, name, NULL);

	if (!err && w->nr > nr)
		snprintf(w->v[w->nr - 1].error, sizeof(w->v[0].error), "%s", error);
	return err;
}

void exp_wants_fini(struct exp_wants *w)
{
	free(w->v);
	memset(w, 0, sizeof(*w));
}

/* ---- --pid ---- */

struct fixed {
	unsigned nr;
	pid_t *pids;
	unsigned long long *start; /* starttime when first seen, 0 before */
};

unsigned long long exp_start_time(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (!(f = fopen(path, "re")))
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')');
	/* after "pid (comm)": state is field 3, starttime field 22 */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
				"%*d %*d %*d %llu",
			 &v) != 1)
		return 0;
	return v;
}

static int fixed_list(struct exp_source *s, struct exp_wants *out)
{
	struct fixed *f = s->priv;
	int err = 0;

	for (unsigned i = 0; i < f->nr && !err; i++) {
		unsigned long long st = exp_start_time(f->pids[i]);
		if (f->start[i] && st != f->start[i])
			continue; /* it ended (or the pid now names another process) */
		if (!f->start[i])
			f->start[i] = st;
		/* one that never existed is still named: the exporter says why it cannot track it */
		err = exp_wants_add(out, f->pids[i], NULL, NULL);
	}
	return err;
}

static void fixed_fini(struct exp_source *s)
{
	struct fixed *f = s->priv;

	if (f) {
		free(f->pids);
		free(f->start);
		free(f);
	}
	s->priv = NULL;
}

int exp_source_pids(struct exp_source *s, const pid_t *pids, unsigned nr)
{
	struct fixed *f = calloc(1, sizeof(*f));

	*s = (struct exp_source){.name = "pid", .list = fixed_list, .fini = fixed_fini, .priv = f};
	if (!f || !(f->pids = calloc(nr + 1, sizeof(pid_t))) ||
	    !(f->start = calloc(nr + 1, sizeof(*f->start)))) {
		fixed_fini(s);
		return dpt_fail(-ENOMEM, "out of memory");
	}
	memcpy(f->pids, pids, nr * sizeof(pid_t));
	f->nr = nr;
	return 0;
}

/* ---- --all-qemu ---- */

static int qemu_list(struct exp_source *s, struct exp_wants *out)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int err = 0;

	if (!d)
		return dpt_fail(-errno, "/proc: %s", strerror(errno));
	while (!err && (e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid_t pid = (pid_t)atoi(e->d_name);
		if (pid != getpid() && pid_qemu_detect(pid))
			err = exp_wants_add(out, pid, NULL, NULL);
	}
	closedir(d);
	return err;
}

double exp_proc_field(const char *path, unsigned field)
{
	double v = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	for (unsigned i = 0; i <= field; i++)
		if (fscanf(f, "%lf", &v) != 1)
			v = 0;
	fclose(f);
	return v;
}

double exp_age(unsigned long long start_time)
{
	return exp_proc_field("/proc/uptime", 0) - (double)start_time / (double)sysconf(_SC_CLK_TCK);
}

int exp_source_all_qemu(struct exp_source *s)
{
	*s = (struct exp_source){.name = "all-qemu", .list = qemu_list};
	return 0;
}
