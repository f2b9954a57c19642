/* cmd.h - subcommands, and what they share: the output and loop options and the run itself.
 *
 * Every cmd_*() returns the process exit status: 0 success, 1 failure (one "dpt: ..." line
 * printed), 2 bad usage.
 */
#ifndef DPT_CMD_H
#define DPT_CMD_H

#include <getopt.h>
#include <stdbool.h>

#include "dpt/tracker.h"
#include "dpt/writer.h"
#include "loop.h"

int cmd_vm(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_predict(int argc, char **argv);

/* dpt predict's option values, for dpt plot --kind predict: a duration (n NULL) or a
 * comma-separated list of bandwidths (bw) or durations into v[CMD_PREDICT_MAX_LIST]; and the
 * sweep's default lists where none was given (*nr 0). 0 or -EINVAL, the reason recorded. */
#define CMD_PREDICT_MAX_LIST 64
int cmd_predict_arg(const char *name, const char *s, double *v, unsigned *n, bool bw);
void cmd_predict_defaults(double *bws, unsigned *nr_bws, double *limits, unsigned *nr_limits);

/* bytes as "12 bytes", "1.5 KiB", "3.2 GiB" into buf; returns buf. */
const char *cmd_human(double bytes, char *buf, size_t len);
int cmd_simgrid(int argc, char **argv);

/* dpt's command line, as typed (for trace headers). */
extern const char *cmd_line;
int cmd_track(int argc, char **argv);
int cmd_exporter(int argc, char **argv);
/* The pid tracker's --method value: uffd, soft-dirty or auto; 0 or -EINVAL (reason recorded). */
int cmd_pid_method_arg(const char *arg);

#define RUN_MAX_OUTPUTS 8

/* Options every tracking command takes. */
struct run_opts {
	struct loop_opts loop;
	const char *bitmaps_dir;
	bool quiet; /* no per-interval lines on stderr */
	const char *outputs[RUN_MAX_OUTPUTS];
	unsigned nr_outputs;
	uint64_t min_interval_ns;
};

enum {
	OPT_COMPAT = 0x1000,
	OPT_ZERO_SCAN,
	OPT_RUN_LAST, /* commands number their own long-only options from here */
};

#define RUN_LONGOPTS                                                                               \
	{"interval", required_argument, 0, 'i'}, {"count", required_argument, 0, 'c'},            \
		{"duration", required_argument, 0, 'd'}, {"bitmaps", required_argument, 0, 'b'},   \
		{"compat", no_argument, 0, OPT_COMPAT}, {"output", required_argument, 0, 'o'},     \
		{"monitor", required_argument, 0, 'm'}, {"quiet", no_argument, 0, 'q'},            \
		{"verbose", no_argument, 0, 'v'}, {"help", no_argument, 0, 'h'},                  \
		{"zero-scan-every", required_argument, 0, OPT_ZERO_SCAN}
#define RUN_SHORTOPTS "i:c:d:b:o:m:qvh"

#define RUN_USAGE                                                                                  \
	"  -i, --interval DUR     interval length (default 1s; 10ms at least): 1s, 100ms, 0.5\n"  \
	"  -c, --count N          stop after N intervals\n"                                        \
	"  -d, --duration DUR     stop after DUR (the last interval may be partial)\n"             \
	"  -b, --bitmaps DIR      write a Qemu-DPT bitmap file per interval into DIR\n"            \
	"      --compat           Qemu-DPT's all-dirty first bitmap and final bitmap naming\n"     \
	"  -o, --output FMT:FILE  also write FMT to FILE: trace (a .dpt trace for dpt report),\n"  \
	"                         csv, ndjson, text; repeatable\n"                                  \
	"      --zero-scan-every DUR  with -o trace: record which pages are not all zeros at\n"   \
	"                         the start, every DUR and at the end (default 10s; 0: never)\n"  \
	"  -m, --monitor WHERE    control with dpt_start/dpt_stop on stdio or unix:PATH;\n"        \
	"                         tracking then waits for dpt_start\n"                             \
	"  -q, --quiet            no per-interval lines on stderr\n"                               \
	"  -v, --verbose          more messages\n"                                                 \
	"  -h, --help             this text\n"

void run_opts_init(struct run_opts *ro);
/* Take one of RUN_LONGOPTS: 1 if it was one, 0 if not ours, -EINVAL (reason recorded). */
int run_opts_parse(struct run_opts *ro, int opt, const char *arg);

/* Open the writers (stderr lines unless quiet, then each -o), run the loop, close the
 * writers. Reports the end of the target or a signal on stderr. Returns the exit status. */
int run_tracking(struct run_opts *ro, struct dpt_tracker *t);

/* Print "dpt: " + the recorded error (or fallback) and return 1. */
int cmd_error(const char *fallback);
/* Print "dpt: CMD: msg" plus a hint to --help, return 2. */
int cmd_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
