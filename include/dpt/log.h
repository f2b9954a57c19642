/* log.h - one-line errors and warnings.
 *
 * Library code never prints an error and never exits: it records why it failed with
 * dpt_fail() and returns -errno. Only main() and the cmd_*() functions print the recorded
 * message (one line, "dpt: ...") and choose the exit status.
 */
#ifndef DPT_LOG_H
#define DPT_LOG_H

#include <stdarg.h>

/* Record the reason of a failure (printf format) unless one is already recorded, and return
 * err (a negative errno). The first, innermost reason wins; use dpt_failf_ctx to add context. */
int dpt_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like dpt_fail but prefixes an already recorded reason with this context ("ctx: reason"). */
int dpt_fail_ctx(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The recorded reason, or NULL. */
const char *dpt_last_error(void);
void dpt_clear_error(void);

/* Print "dpt: warning: ..." / "dpt: ..." to stderr (one line; a newline is added). */
void dpt_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void dpt_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Called with every warning and info line ("warning: ..." or the line), whatever the
 * verbosity, from whichever thread said it (a trace records them). NULL: none. */
extern void (*dpt_log_hook)(void *arg, const char *line);
extern void *dpt_log_hook_arg;

/* 0 = quiet, 1 = normal (default), 2 = verbose (dpt_debug prints). */
extern int dpt_verbosity;
void dpt_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
