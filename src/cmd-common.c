/* cmd-common.c - what every tracking command shares: output and loop options, writers, run. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "dpt/log.h"
#include "dpt/parse.h"

void run_opts_init(struct run_opts *ro)
{
	memset(ro, 0, sizeof(*ro));
	ro->loop.interval_ns = 1000000000ULL;
	ro->min_interval_ns = 10000000ULL;
	ro->loop.zero_scan_ns = 10000000000ULL;
}

int run_opts_parse(struct run_opts *ro, int opt, const char *arg)
{
	uint64_t v;

	switch (opt) {
	case 'i':
		if (parse_duration_ns(arg, &v) || v == 0)
			return dpt_fail(-EINVAL, "--interval: '%s' is not a positive duration", arg);
		if (v < ro->min_interval_ns)
			return dpt_fail(-EINVAL, "--interval %s is below the minimum of %llu ms", arg,
					(unsigned long long)(ro->min_interval_ns / 1000000));
		ro->loop.interval_ns = v;
		return 1;
	case 'c':
		if (parse_uint(arg, 1, UINT64_MAX, &v))
			return dpt_fail(-EINVAL, "--count: '%s' is not a positive number", arg);
		ro->loop.count = v;
		return 1;
	case 'd':
		if (parse_duration_ns(arg, &v) || v == 0)
			return dpt_fail(-EINVAL, "--duration: '%s' is not a positive duration", arg);
		ro->loop.duration_ns = v;
		return 1;
	case 'b':
		ro->bitmaps_dir = arg;
		return 1;
	case OPT_COMPAT:
		ro->loop.compat = true;
		return 1;
	case OPT_ZERO_SCAN:
		if (parse_duration_ns(arg, &v))
			return dpt_fail(-EINVAL, "--zero-scan-every: '%s' is not a duration", arg);
		ro->loop.zero_scan_ns = v;
		return 1;
	case 'o':
		if (ro->nr_outputs == RUN_MAX_OUTPUTS)
			return dpt_fail(-EINVAL, "too many -o outputs (at most %d)", RUN_MAX_OUTPUTS);
		if (!strchr(arg, ':'))
			return dpt_fail(-EINVAL, "-o takes FORMAT:FILE, e.g. csv:out.csv, not '%s'",
					arg);
		ro->outputs[ro->nr_outputs++] = arg;
		return 1;
	case 'm':
		if (strcmp(arg, "stdio") && (strncmp(arg, "unix:", 5) || !arg[5]))
			return dpt_fail(-EINVAL, "--monitor takes stdio or unix:PATH, not '%s'", arg);
		ro->loop.monitor = arg;
		return 1;
	case 'q':
		ro->quiet = true;
		return 1;
	case 'v':
		dpt_verbosity = 2;
		return 1;
	}
	return 0;
}

static void writers_close(struct dpt_writer *w, unsigned nw, bool discard, int *err)
{
	for (unsigned i = nw; i-- > 0;) {
		w[i].discard = discard;
		int e = w[i].ops->close(&w[i]);
		if (e && err && !*err)
			*err = e;
	}
}

static int writer_add(struct dpt_writer *w, unsigned *nw, const char *name, const char *arg,
		      const struct dpt_run_info *info)
{
	const struct dpt_writer_ops *ops = writer_find(name);

	if (!ops)
		return dpt_fail(-EINVAL, "unknown output format '%s'", name);
	w[*nw] = (struct dpt_writer){.ops = ops, .info = *info};
	int err = ops->open(&w[*nw], arg, info);
	if (err)
		return err;
	(*nw)++;
	return 0;
}

static int writers_open(struct run_opts *ro, struct dpt_tracker *t, struct dpt_writer *w,
			unsigned *nw)
{
	struct dpt_run_info info = {
		.tracker = t->ops->name,
		.mode = t->mode,
		.target_desc = t->target_desc,
		.owner_pid = t->owner_pid,
		.interval_ns = ro->loop.interval_ns,
		.nr_vcpus = t->nr_vcpus,
		.estimate = t->estimate,
		.counts_discarded = t->counts_discarded,
		.per_process = t->per_process,
		.has_bitmap = t->has_bitmap,
		.compat = ro->loop.compat,
		.zero_scan_ns = ro->loop.zero_scan_ns,
		.command = cmd_line,
	};
	char text_arg[4200];
	int err = 0;

	*nw = 0;
	if (ro->bitmaps_dir && !t->has_bitmap)
		return dpt_fail(-EINVAL, "--bitmaps: the %s tracker gives no bitmap (%s)",
				t->ops->name, t->estimate ? "its counts are estimates" : "rates only");
	if (!ro->quiet || ro->bitmaps_dir) {
		snprintf(text_arg, sizeof(text_arg), "file=-%s%s%s%s",
			 ro->bitmaps_dir ? ",bitmaps=" : "", ro->bitmaps_dir ? ro->bitmaps_dir : "",
			 ro->loop.compat ? ",compat" : "", dpt_verbosity > 1 ? ",verbose" : "");
		err = writer_add(w, nw, "text", text_arg, &info);
	}
	for (unsigned i = 0; !err && i < ro->nr_outputs; i++) {
		char name[32];
		const char *colon = strchr(ro->outputs[i], ':');
		snprintf(name, sizeof(name), "%.*s", (int)(colon - ro->outputs[i]), ro->outputs[i]);
		if (!strcmp(name, "text")) { /* -o text:FILE: the stderr lines into FILE */
			snprintf(text_arg, sizeof(text_arg), "file=%s", colon + 1);
			err = writer_add(w, nw, name, text_arg, &info);
		} else {
			err = writer_add(w, nw, name, colon + 1, &info);
		}
	}
	if (err)
		writers_close(w, *nw, true, NULL);
	return err;
}

int run_tracking(struct run_opts *ro, struct dpt_tracker *t)
{
	struct dpt_writer w[RUN_MAX_OUTPUTS + 1];
	struct loop_result res;
	unsigned nw;
	int err = writers_open(ro, t, w, &nw);

	if (err)
		return cmd_error("cannot open outputs");
	err = loop_run(t, w, nw, &ro->loop, &res);
	writers_close(w, nw, err && !res.started, &err); /* nothing started: leave no files */
	if (err)
		return cmd_error("tracking failed");
	if (res.target_ended) {
		const char *why = t->end_reason[0] ? t->end_reason : "the target ended";

		if (res.final_written)
			dpt_info("%s; its last partial interval (%.3f s, %llu dirty pages) is written",
				 why, res.final_seconds, (unsigned long long)res.final_dirty);
		else if (res.final_lost[0])
			dpt_info("%s", res.final_lost);
		else
			dpt_info("%s", why);
		return t->end_status;
	}
	if (res.signo)
		dpt_debug("stopped by %s", strsignal(res.signo));
	return 0;
}

int cmd_pid_method_arg(const char *arg)
{
	if (strcmp(arg, "uffd") && strcmp(arg, "soft-dirty") && strcmp(arg, "auto"))
		return dpt_fail(-EINVAL, "--method: '%s' is not uffd, soft-dirty or auto", arg);
	return 0;
}

int cmd_error(const char *fallback)
{
	const char *e = dpt_last_error();

	fprintf(stderr, "dpt: %s\n", e ? e : fallback);
	return 1;
}

int cmd_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dpt %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'dpt %s --help')\n", cmd);
	return 2;
}

const char *cmd_human(double bytes, char *buf, size_t len)
{
	static const char *const u[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
	unsigned i = 0;

	while (bytes >= 1024 && i < 4) {
		bytes /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", bytes, u[i]);
	return buf;
}
