/* log.c - recorded failure reasons and one-line messages (see include/dpt/log.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dpt/log.h"

int dpt_verbosity = 1;

static __thread char last_error[512];
static __thread int have_error;

int dpt_fail(int err, const char *fmt, ...)
{
	va_list ap;

	if (!have_error) {
		va_start(ap, fmt);
		vsnprintf(last_error, sizeof(last_error), fmt, ap);
		va_end(ap);
		have_error = 1;
	}
	return err;
}

int dpt_fail_ctx(int err, const char *fmt, ...)
{
	char ctx[256], old[sizeof(last_error)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	if (have_error) {
		memcpy(old, last_error, sizeof(old));
		int n = snprintf(last_error, sizeof(last_error), "%s: ", ctx);
		if (n > 0 && (size_t)n < sizeof(last_error))
			snprintf(last_error + n, sizeof(last_error) - (size_t)n, "%.*s",
				 (int)(sizeof(last_error) - (size_t)n - 1), old);
	} else {
		snprintf(last_error, sizeof(last_error), "%s: %s", ctx, strerror(-err));
		have_error = 1;
	}
	return err;
}

const char *dpt_last_error(void)
{
	return have_error ? last_error : NULL;
}

void dpt_clear_error(void)
{
	have_error = 0;
	last_error[0] = 0;
}

void (*dpt_log_hook)(void *arg, const char *line);
void *dpt_log_hook_arg;

static void vmsg(const char *what, const char *fmt, va_list ap, bool hook)
{
	char buf[1024], line[1100];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	snprintf(line, sizeof(line), "%s%s", what, buf);
	if (hook && dpt_log_hook)
		dpt_log_hook(dpt_log_hook_arg, line);
	if (dpt_verbosity >= 1 && (hook || dpt_verbosity >= 2))
		fprintf(stderr, "dpt: %s\n", line);
}

void dpt_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap, true);
	va_end(ap);
}

void dpt_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", fmt, ap, true);
	va_end(ap);
}

void dpt_debug(const char *fmt, ...)
{
	va_list ap;

	if (dpt_verbosity < 2)
		return;
	va_start(ap, fmt);
	vmsg("debug: ", fmt, ap, false);
	va_end(ap);
}
