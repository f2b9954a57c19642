/* cmd-predict.c - `dpt predict FILE.dpt --bandwidth BW`: how long QEMU 7.2 would take to
 * live-migrate the traced VM, with what downtime and bytes, or that it would not converge.
 *
 * 1. Parse the options (bandwidths in bytes/s, times in seconds).
 * 2. predict_run() / predict_sweep() (src/analysis/predict.c) replay QEMU's precopy on the
 *    trace; docs/predict.md gives the rules and their QEMU source lines.
 * 3. A migration that does not converge: one sweep over higher bandwidths (and one over larger
 *    downtime limits) finds where it would, refined by a second sweep between the two
 *    candidates that bracket it.
 * 4. Print text, or --json; --sweep prints the bandwidth x downtime-limit table.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/predict.h"
#include "cmd.h"
#include "dpt/log.h"
#include "dpt/parse.h"

static const char usage_text[] =
	"usage: dpt predict FILE.dpt --bandwidth BW [--downtime-limit DUR] [--start T] [options]\n"
	"       dpt predict FILE.dpt --sweep [--bandwidths LIST] [--limits LIST] [options]\n"
	"\n"
	"Replays QEMU 7.2's precopy live migration, with its default settings, on the dirty pages\n"
	"a trace recorded (docs/predict.md): converges or not, total time, downtime, bytes, passes.\n"
	"\n"
	"  --bandwidth BW        QEMU's max-bandwidth (or the link's speed if lower): 64M = 64 MiB/s,\n"
	"                        1G, 10Gbit; 0 = unlimited (then --link is needed)\n"
	"  --downtime-limit DUR  QEMU's downtime-limit (default 300ms)\n"
	"  --start T             the migration starts T after the trace's start (default 0)\n"
	"  --link BW             the network's speed: QEMU sends the last pages and the device state\n"
	"                        with no rate limit (default: the bandwidth, an upper bound on the\n"
	"                        downtime); also paces the iterations\n"
	"  --device-state SIZE   device state sent during the downtime (default 0)\n"
	"  --setup DUR           QEMU's setup time, added at the start (default 0)\n"
	"  --max-time DUR        give up after this much migration time (default 1h)\n"
	"  --no-loop             stop at the trace's end instead of replaying it from its start\n"
	"  --all-nonzero         ignore the trace's non-zero records: every page holds data\n"
	"  --dest-hugepage-cost DUR\n"
	"                        the destination's time for each 2 MiB of its RAM that receives its\n"
	"                        first page of data (transparent huge pages: `dpt check\n"
	"                        --destination` on the destination measures it; default 0)\n"
	"  --dest-buffer SIZE    how far the stream runs ahead of a destination that stalls: the\n"
	"                        socket buffers between them (default 4M, measured on 127.0.0.1)\n"
	"  --sweep               the table over bandwidths x downtime limits\n"
	"  --bandwidths LIST     for --sweep: comma-separated (default 20 from 16M to 11.3G)\n"
	"  --limits LIST         for --sweep: comma-separated (default 100ms,300ms,1s,3s)\n"
	"  --json                one JSON object\n"
	"  -v, --verbose         every pass\n"
	"  -h, --help            this text\n";

enum {
	OPT_BW = 0x100,
	OPT_LIMIT,
	OPT_START,
	OPT_LINK,
	OPT_DEVICE,
	OPT_SETUP,
	OPT_MAXT,
	OPT_NOLOOP,
	OPT_ALLNZ,
	OPT_DEST,
	OPT_DEST_BUF,
	OPT_SWEEP,
	OPT_BWS,
	OPT_LIMITS,
	OPT_JSON,
};

static const struct option longopts[] = {
	{"bandwidth", required_argument, 0, OPT_BW},
	{"downtime-limit", required_argument, 0, OPT_LIMIT},
	{"start", required_argument, 0, OPT_START},
	{"link", required_argument, 0, OPT_LINK},
	{"device-state", required_argument, 0, OPT_DEVICE},
	{"setup", required_argument, 0, OPT_SETUP},
	{"max-time", required_argument, 0, OPT_MAXT},
	{"no-loop", no_argument, 0, OPT_NOLOOP},
	{"all-nonzero", no_argument, 0, OPT_ALLNZ},
	{"dest-hugepage-cost", required_argument, 0, OPT_DEST},
	{"dest-buffer", required_argument, 0, OPT_DEST_BUF},
	{"sweep", no_argument, 0, OPT_SWEEP},
	{"bandwidths", required_argument, 0, OPT_BWS},
	{"limits", required_argument, 0, OPT_LIMITS},
	{"json", no_argument, 0, OPT_JSON},
	{"verbose", no_argument, 0, 'v'},
	{"help", no_argument, 0, 'h'},
	{0, 0, 0, 0},
};

#define MAX_LIST CMD_PREDICT_MAX_LIST

struct args {
	struct predict_opts o;
	const char *path;
	bool have_bw, have_dest, sweep, json, verbose;
	double bws[MAX_LIST], limits[MAX_LIST];
	unsigned nr_bws, nr_limits;
};

static int bw_arg(const char *name, const char *s, double *out)
{
	int err = parse_bandwidth(s, out);

	if (err == -ERANGE)
		return dpt_fail(-EINVAL, "%s: '%s' is more than any link carries", name, s);
	if (err)
		return dpt_fail(-EINVAL, "%s: '%s' is not a bandwidth (64M = 64 MiB/s, 1G, 10Gbit)",
				name, s);
	return 0;
}

static int dur_arg(const char *name, const char *s, double *out)
{
	uint64_t ns;

	if (parse_duration_ns(s, &ns) || ns > 100000ull * 86400 * 1000000000)
		return dpt_fail(-EINVAL, "%s: '%s' is not a duration (300ms, 2s, 1.5)", name, s);
	*out = ns / 1e9;
	return 0;
}

static int size_arg(const char *name, const char *s, uint64_t *out)
{
	if (parse_size(s, out) || *out > (1ull << 40))
		return dpt_fail(-EINVAL, "%s: '%s' is not a size up to 1T (256K, 4M)", name, s);
	return 0;
}

static int list_arg(const char *name, const char *s, double *v, unsigned *n, bool bw)
{
	char buf[1024], *save = NULL;

	if (strlen(s) >= sizeof(buf))
		return dpt_fail(-EINVAL, "%s: list too long", name);
	strcpy(buf, s);
	*n = 0;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (*n == MAX_LIST)
			return dpt_fail(-EINVAL, "%s: at most %d values", name, MAX_LIST);
		int err = bw ? bw_arg(name, t, &v[*n]) : dur_arg(name, t, &v[*n]);
		if (err)
			return err;
		if (bw && v[*n] == 0)
			return dpt_fail(-EINVAL, "%s: 0 (unlimited) has no place in a sweep", name);
		(*n)++;
	}
	if (!*n)
		return dpt_fail(-EINVAL, "%s: empty list", name);
	return 0;
}

int cmd_predict_arg(const char *name, const char *s, double *v, unsigned *n, bool bw)
{
	return n ? list_arg(name, s, v, n, bw) : dur_arg(name, s, v);
}

void cmd_predict_defaults(double *bws, unsigned *nr_bws, double *limits, unsigned *nr_limits)
{
	const double d[] = {0.1, 0.3, 1, 3};

	if (!*nr_bws) {
		for (unsigned i = 0; i < 20; i++)
			bws[i] = 16.0 * 1048576 * pow(2, i / 2.0);
		*nr_bws = 20;
	}
	if (!*nr_limits) {
		memcpy(limits, d, sizeof(d));
		*nr_limits = 4;
	}
}

static int parse_args(int argc, char **argv, struct args *a)
{
	int opt, err = 0;

	memset(a, 0, sizeof(*a));
	a->o = predict_defaults();
	optind = 1;
	while ((opt = getopt_long(argc, argv, "vh", longopts, NULL)) != -1 && !err) {
		switch (opt) {
		case OPT_BW:
			err = bw_arg("--bandwidth", optarg, &a->o.bandwidth);
			a->have_bw = true;
			break;
		case OPT_LIMIT:
			err = dur_arg("--downtime-limit", optarg, &a->o.downtime_limit);
			break;
		case OPT_START:
			err = dur_arg("--start", optarg, &a->o.start);
			break;
		case OPT_LINK:
			err = bw_arg("--link", optarg, &a->o.link);
			if (!err && a->o.link == 0)
				err = dpt_fail(-EINVAL, "--link: the link's speed cannot be 0");
			break;
		case OPT_DEVICE:
			err = size_arg("--device-state", optarg, &a->o.device_bytes);
			break;
		case OPT_SETUP:
			err = dur_arg("--setup", optarg, &a->o.setup);
			break;
		case OPT_MAXT:
			err = dur_arg("--max-time", optarg, &a->o.max_time);
			if (!err && a->o.max_time <= 0)
				err = dpt_fail(-EINVAL, "--max-time must be positive");
			break;
		case OPT_NOLOOP:
			a->o.no_loop = true;
			break;
		case OPT_ALLNZ:
			a->o.all_nonzero = true;
			break;
		case OPT_DEST:
			err = dur_arg("--dest-hugepage-cost", optarg, &a->o.dest_hugepage);
			if (!err && a->o.dest_hugepage > 1)
				err = dpt_fail(-EINVAL, "--dest-hugepage-cost: '%s' is more than 1 s "
						       "for 2 MiB: not a page allocation",
					       optarg);
			a->have_dest = true;
			break;
		case OPT_DEST_BUF:
			err = size_arg("--dest-buffer", optarg, &a->o.dest_buffer);
			break;
		case OPT_SWEEP:
			a->sweep = true;
			break;
		case OPT_BWS:
			err = list_arg("--bandwidths", optarg, a->bws, &a->nr_bws, true);
			break;
		case OPT_LIMITS:
			err = list_arg("--limits", optarg, a->limits, &a->nr_limits, false);
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case 'v':
			a->verbose = true;
			break;
		case 'h':
			return 1;
		default:
			return dpt_fail(-EINVAL, "unknown option '%s' or missing its value",
					argv[optind - 1]);
		}
	}
	if (err)
		return err;
	if (optind != argc - 1)
		return dpt_fail(-EINVAL, optind == argc ? "which trace? (FILE.dpt)"
							 : "one trace at a time");
	a->path = argv[optind];
	if (!a->sweep && !a->have_bw)
		return dpt_fail(-EINVAL, "--bandwidth BW is needed (QEMU's default is 128M)");
	if ((a->nr_bws || a->nr_limits) && !a->sweep)
		return dpt_fail(-EINVAL, "--bandwidths and --limits go with --sweep");
	if (!a->sweep && a->o.bandwidth == 0 && a->o.link == 0)
		return dpt_fail(-EINVAL, "--bandwidth 0 (unlimited) needs --link, the network's "
					 "speed");
	if (a->sweep)
		cmd_predict_defaults(a->bws, &a->nr_bws, a->limits, &a->nr_limits);
	return 0;
}

/* ---- where it would converge ------------------------------------------------------------ */

/* Where a migration that does not converge would: the smallest bandwidth from o's up to 256x,
 * and the smallest downtime limit from o's up to 1000x, at which the replay converges (0:
 * none). Two rounds, each one sweep holding both searches (one read of the trace): 16 steps
 * of the range's 16th root, then 16 steps between the two that bracket the edge: within
 * (256^(1/16) - 1) / 17 = 2 % for the bandwidth, 3 % for the limit. */
static int find_edges(const char *path, const struct predict_opts *o, double *bw_edge,
		      double *limit_edge)
{
	enum { N = 16 };
	const double factor[2] = {256, 1000};
	double lo[2] = {o->bandwidth, o->downtime_limit > 0 ? o->downtime_limit : 0.001};
	double hi[2] = {0, 0};
	bool done[2] = {o->bandwidth == 0, false}; /* unlimited: no bandwidth to search */
	struct predict_opts v[2 * N];
	struct predict_result r[2 * N];
	double x[2][N];

	for (int round = 0; round < 2; round++) {
		size_t n = 0;
		for (int k = 0; k < 2; k++)
			for (int i = 0; i < N && !done[k]; i++) {
				double step = pow(factor[k], 1.0 / N);
				x[k][i] = hi[k] ? lo[k] + (hi[k] - lo[k]) * (i + 1) / (N + 1)
						: lo[k] * pow(step, i + 1);
				v[n] = *o;
				*(k ? &v[n].downtime_limit : &v[n].bandwidth) = x[k][i];
				n++;
			}
		if (!n)
			break;
		int err = predict_sweep(path, v, n, r);
		if (err)
			return err;
		size_t at = 0;
		for (int k = 0; k < 2; k++) {
			if (done[k])
				continue;
			int first = -1;
			for (int i = 0; i < N; i++, at++) {
				if (first < 0 && r[at].status == PREDICT_CONVERGED)
					first = i;
				predict_result_fini(&r[at]);
			}
			if (first < 0) {
				done[k] = true; /* none converges: the edge stays where it was */
				continue;
			}
			lo[k] = first ? x[k][first - 1] : lo[k];
			hi[k] = x[k][first];
		}
	}
	*bw_edge = hi[0];
	*limit_edge = hi[1];
	return 0;
}

/* ---- output ------------------------------------------------------------------------------ */

static const char *bw_str(double b, char *buf, size_t len)
{
	if (b == 0)
		return snprintf(buf, len, "unlimited"), buf;
	cmd_human(b, buf, len > 2 ? len - 2 : len);
	strcat(buf, "/s");
	return buf;
}

static void text_assumptions(const struct args *a, const struct predict_result *r)
{
	char b1[32], b2[32];

	printf("trace       %s, migration from %.3f s\n", a->path, a->o.start);
	if (a->sweep)
		printf("QEMU 7.2    precopy, every capability off; max-bandwidth and downtime-limit "
		       "as in the table\n");
	else
		printf("QEMU 7.2    precopy, every capability off; max-bandwidth %s, downtime-limit "
		       "%.0f ms\n",
		       bw_str(a->o.bandwidth, b1, sizeof(b1)), a->o.downtime_limit * 1000);
	printf("link        %s\n",
	       a->o.link ? bw_str(a->o.link, b2, sizeof(b2))
			 : "not given: the stop-and-copy is taken at the bandwidth (--link)");
	if (a->have_dest)
		printf("destination %.3f ms for each 2 MiB of its RAM receiving its first page of "
		       "data (--dest-hugepage-cost), the stream up to %s ahead of it "
		       "(--dest-buffer)\n",
		       a->o.dest_hugepage * 1000, cmd_human((double)a->o.dest_buffer, b1, sizeof(b1)));
	else
		printf("destination assumed to take no huge pages: no cost for a first write into "
		       "its RAM (--dest-hugepage-cost; dpt check --destination measures it)\n");
	printf("RAM         %" PRIu64 " pages (%s)", r->total_pages,
	       cmd_human((double)r->total_pages * 4096, b1, sizeof(b1)));
	if (r->counts_only)
		printf("; the trace has counts, no sets (qmp tracker): a constant-rate forecast, "
		       "each page dirtied taken as a new one and holding data\n");
	else if (r->zero_known)
		printf("; %" PRIu64 " hold zeros at the start (non-zero record at %.3f s)\n",
		       r->initial_zero, r->zero_record_at);
	else
		printf("; the trace has no non-zero record: every page taken to hold data (an "
		       "upper bound on time and bytes)\n");
	if (r->regions_changed)
		printf("note        the trace's memory layout changed: pages beyond its first "
		       "layout are left out\n");
}

static void text_result(const struct args *a, const struct predict_result *r)
{
	char b1[32], b2[32];

	switch (r->status) {
	case PREDICT_CONVERGED:
		printf("converges   yes, after %u pass%s\n", r->nr_passes - 1,
		       r->nr_passes - 1 == 1 ? "" : "es");
		break;
	case PREDICT_DIVERGES:
		printf("converges   no: clear after %u passes (%.1f s): what is left after a pass "
		       "does not shrink toward the %s threshold\n",
		       r->clear_after, r->total_time, cmd_human(r->threshold, b1, sizeof(b1)));
		break;
	case PREDICT_TIMEOUT:
		printf("converges   not decided within %.0f s of migration%s\n", r->total_time,
		       a->o.no_loop ? " (the trace's end: --no-loop)" : "");
		break;
	}
	if (r->replays)
		printf("note        the migration outlasted the trace from --start: the trace was "
		       "replayed from its start %u time%s\n",
		       r->replays, r->replays == 1 ? "" : "s");
	if (r->status == PREDICT_CONVERGED) {
		printf("total time  %.3f s\n", r->total_time);
		printf("downtime    %.3f s: %" PRIu64 " bytes sent with the VM stopped at %s%s\n",
		       r->downtime, r->downtime_bytes,
		       bw_str(a->o.link ? a->o.link : a->o.bandwidth, b1, sizeof(b1)),
		       a->o.device_bytes ? "" : ", device state not counted (--device-state)");
	} else {
		printf("time        %.3f s replayed\n", r->total_time);
	}
	printf("transferred %" PRIu64 " bytes (%s; QEMU's ram.transferred), %" PRIu64
	       " on the wire\n",
	       r->transferred, cmd_human((double)r->transferred, b2, sizeof(b2)), r->stream_bytes);
	printf("pages       %" PRIu64 " normal (%s), %" PRIu64 " zero\n", r->normal_pages,
	       cmd_human((double)r->normal_bytes, b1, sizeof(b1)), r->zero_pages);
	printf("dirty syncs %" PRIu64 " (QEMU's dirty-sync-count: setup, one per pass, %s)\n",
	       r->dirty_syncs, r->status == PREDICT_CONVERGED ? "completion" : "no completion");
	printf("destination %" PRIu64 " regions of 2 MiB received their first page of data: %.3f s "
	       "of its time (%.3f ms each), %.3f s of the sender's\n",
	       r->dest_regions, r->dest_stall, a->o.dest_hugepage * 1000, r->dest_wait);
	if (!a->verbose && r->nr_passes > 12)
		printf("passes      %u (-v lists them)\n", r->nr_passes);
	else {
		printf("passes      %-4s %10s %10s %12s %10s %10s %10s\n", "", "start s", "end s",
		       "pending", "added", "sent", "zero");
		for (unsigned i = 0; i < r->nr_passes; i++) {
			const struct predict_pass *p = &r->passes[i];
			printf("            %-4u %10.3f %10.3f %12" PRIu64 " %10" PRIu64 " %10" PRIu64
			       " %10" PRIu64 "%s\n",
			       i, p->start, p->end, p->pending, p->added, p->sent, p->zero,
			       i + 1 == r->nr_passes && r->status == PREDICT_CONVERGED
				       ? "  (stop-and-copy)"
				       : "");
		}
	}
}

static json_t *result_json(const struct args *a, const struct predict_result *r)
{
	static const char *const st[] = {"converges", "does not converge", "undecided"};
	json_t *passes = json_array();

	for (unsigned i = 0; i < r->nr_passes && passes; i++) {
		const struct predict_pass *p = &r->passes[i];
		json_array_append_new(passes, json_pack("{s:f,s:f,s:I,s:I,s:I,s:I}", "start",
							p->start, "end", p->end, "pending",
							(json_int_t)p->pending, "added",
							(json_int_t)p->added, "sent",
							(json_int_t)p->sent, "zero", (json_int_t)p->zero));
	}
	json_t *o = json_pack(
		"{s:s,s:b,s:f,s:f,s:f,s:f,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "status",
		st[r->status], "converged", r->status == PREDICT_CONVERGED, "bandwidth",
		a->o.bandwidth, "downtime_limit", a->o.downtime_limit, "total_time", r->total_time,
		"downtime", r->status == PREDICT_CONVERGED ? r->downtime : 0.0, "threshold",
		r->threshold, "transferred", (json_int_t)r->transferred, "stream_bytes",
		(json_int_t)r->stream_bytes, "normal", (json_int_t)r->normal_pages, "duplicate",
		(json_int_t)r->zero_pages, "normal_bytes", (json_int_t)r->normal_bytes,
		"downtime_bytes", (json_int_t)r->downtime_bytes, "dirty_sync_count",
		(json_int_t)r->dirty_syncs, "total_pages", (json_int_t)r->total_pages,
		"clear_after", (json_int_t)r->clear_after, "passes", passes ? passes : json_null());
	if (o) {
		json_object_set_new(o, "replays", json_integer(r->replays));
		json_object_set_new(o, "zero_known", json_boolean(r->zero_known));
		json_object_set_new(o, "initial_zero", json_integer((json_int_t)r->initial_zero));
		json_object_set_new(o, "counts_only", json_boolean(r->counts_only));
		json_object_set_new(o, "dest_hugepage_cost", json_real(a->o.dest_hugepage));
		json_object_set_new(o, "dest_regions", json_integer((json_int_t)r->dest_regions));
		json_object_set_new(o, "dest_stall", json_real(r->dest_stall));
		json_object_set_new(o, "dest_buffer", json_integer((json_int_t)a->o.dest_buffer));
		json_object_set_new(o, "dest_wait", json_real(r->dest_wait));
	}
	return o;
}

static int print_json(json_t *o)
{
	if (!o)
		return dpt_fail(-ENOMEM, "out of memory for the JSON output");
	int err = json_dumpf(o, stdout, JSON_INDENT(2)) ? -EIO : 0;
	json_decref(o);
	putchar('\n');
	return err;
}

/* ---- one forecast ----------------------------------------------------------------------- */

static int one(const struct args *a)
{
	struct predict_result r;
	double bw_edge = 0, limit_edge = 0;
	int err = predict_run(a->path, &a->o, &r);

	if (err)
		return cmd_error("cannot replay the trace");
	if (r.status == PREDICT_DIVERGES) {
		if ((err = find_edges(a->path, &a->o, &bw_edge, &limit_edge)))
			goto fail;
	}
	if (a->json) {
		json_t *o = result_json(a, &r);
		if (o && r.status == PREDICT_DIVERGES) {
			json_object_set_new(o, "converges_at_bandwidth",
					    bw_edge ? json_real(bw_edge) : json_null());
			json_object_set_new(o, "converges_at_downtime_limit",
					    limit_edge ? json_real(limit_edge) : json_null());
		}
		err = print_json(o);
	} else {
		char b1[32];
		text_assumptions(a, &r);
		printf("\n");
		text_result(a, &r);
		if (r.status == PREDICT_DIVERGES) {
			if (bw_edge)
				printf("would       converge at a bandwidth of %s (within 2 %%)\n",
				       bw_str(bw_edge, b1, sizeof(b1)));
			else if (a->o.bandwidth > 0)
				printf("would       not converge even at %s\n",
				       bw_str(a->o.bandwidth * 256, b1, sizeof(b1)));
			if (limit_edge)
				printf("would       converge at this bandwidth with a downtime limit of "
				       "%.3f s (within 3 %%)\n",
				       limit_edge);
			else
				printf("would       not converge at this bandwidth with any downtime "
				       "limit up to %.0f s\n",
				       a->o.downtime_limit * 1000);
		}
	}
	predict_result_fini(&r);
	if (err || fflush(stdout) || ferror(stdout))
		return cmd_error("cannot write the forecast");
	return 0;
fail:
	predict_result_fini(&r);
	return cmd_error("cannot replay the trace");
}

/* ---- the sweep ---------------------------------------------------------------------- */

static int sweep(const struct args *a)
{
	size_t n = (size_t)a->nr_bws * a->nr_limits;
	struct predict_result *r = calloc(n, sizeof(*r));
	int err = 0;

	if (!r)
		return cmd_error("out of memory");
	if (predict_grid(a->path, &a->o, a->bws, a->nr_bws, a->limits, a->nr_limits, r)) {
		free(r);
		return cmd_error("cannot replay the trace");
	}
	if (a->json) {
		json_t *arr = json_array();
		for (size_t k = 0; k < n && arr; k++) {
			struct args one = *a;
			one.o.bandwidth = a->bws[k / a->nr_limits];
			one.o.downtime_limit = a->limits[k % a->nr_limits];
			json_t *x = result_json(&one, &r[k]);
			if (x)
				json_object_del(x, "passes");
			json_array_append_new(arr, x);
		}
		err = print_json(arr ? json_pack("{s:s,s:f,s:o}", "trace", a->path, "start",
						  a->o.start, "runs", arr)
				     : NULL);
	} else {
		char b1[32];
		text_assumptions(a, &r[0]);
		printf("\ntotal time / downtime in seconds; 'no' = does not converge (clear after N "
		       "passes), '?' = undecided\n%-14s", "bandwidth");
		for (unsigned j = 0; j < a->nr_limits; j++) {
			char h[32];
			snprintf(h, sizeof(h), "limit %.0f ms", a->limits[j] * 1000);
			printf(" %18s", h);
		}
		printf("\n");
		for (unsigned i = 0; i < a->nr_bws; i++) {
			printf("%-14s", bw_str(a->bws[i], b1, sizeof(b1)));
			for (unsigned j = 0; j < a->nr_limits; j++) {
				const struct predict_result *x = &r[i * a->nr_limits + j];
				char c[40];
				if (x->status == PREDICT_CONVERGED)
					snprintf(c, sizeof(c), "%.2f / %.3f", x->total_time,
						 x->downtime);
				else if (x->status == PREDICT_DIVERGES)
					snprintf(c, sizeof(c), "no (%u)", x->clear_after);
				else
					snprintf(c, sizeof(c), "?");
				printf(" %18s", c);
			}
			printf("\n");
		}
		printf("%-14s", "converges from");
		for (unsigned j = 0; j < a->nr_limits; j++) {
			const char *s = "none";
			for (unsigned i = 0; i < a->nr_bws; i++)
				if (r[i * a->nr_limits + j].status == PREDICT_CONVERGED) {
					s = bw_str(a->bws[i], b1, sizeof(b1));
					break;
				}
			printf(" %18s", s);
		}
		printf("\n");
	}
	for (size_t k = 0; k < n; k++)
		predict_result_fini(&r[k]);
	free(r);
	if (err || fflush(stdout) || ferror(stdout))
		return cmd_error("cannot write the table");
	return 0;
}

int cmd_predict(int argc, char **argv)
{
	struct args a;
	int err;

	opterr = 0;
	err = parse_args(argc, argv, &a);
	if (err > 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (err) {
		err = cmd_usage_error("predict", "%s", dpt_last_error());
		dpt_clear_error();
		return err;
	}
	return a.sweep ? sweep(&a) : one(&a);
}
