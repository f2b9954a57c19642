/* cmd-simgrid.c - `dpt simgrid FILE.dpt --bandwidth BW`: a trace turned into SimGrid 3.32's
 * live-migration parameters and run through SimGrid's own model; --vms: several VMs leaving
 * one host at once over the shared link.
 *
 * 1. Options. Bandwidths are dpt's rates: "64M" = "64MiB/s" = "64MB/s" = 64 MiB/s (binary, as
 *    everywhere in dpt); SimGrid is given bytes per second.
 * 2. Per trace: its parameters (simgrid_params_derive, src/analysis/simgrid-model.c).
 *    --params prints them alone (JSON, or a C snippet with --params=c) and stops.
 * 3. Convergence is decided before simulating, by SimGrid's own rule replayed in dpt
 *    (simgrid_all_converge): SimGrid 3.32 runs a migration that does not converge for 10^7
 *    simulated seconds and then aborts. Such a run is reported, not simulated: exit 3.
 * 4. Otherwise SimGrid runs it (src/analysis/simgrid.c); text or --json, with a `dpt predict`
 *    column beside SimGrid's for one VM.
 * Exit status: 0 migrated, 1 failure, 2 usage (or dpt built without SimGrid), 3 does not
 * converge.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/predict.h"
#include "analysis/simgrid.h"
#include "cmd.h"
#include "cmd-json.h"
#include "dpt/log.h"
#include "dpt/parse.h"

#define SIMGRID_MAX_VMS 64

static const char usage_text[] =
	"usage: dpt simgrid FILE.dpt --bandwidth BW [--latency L] [--downtime-limit D]\n"
	"                   [--start T] [--cpu-share S] [--working-set SIZE] [--json] [-v]\n"
	"       dpt simgrid --vms A.dpt,B.dpt,... --bandwidth BW [...]\n"
	"       dpt simgrid FILE.dpt --bandwidth BW --params[=json|c]\n"
	"\n"
	"Turn a trace into SimGrid 3.32's live-migration parameters (RAM, dirty-page intensity,\n"
	"working set, migration speed) and migrate the VM with SimGrid's own precopy model over a\n"
	"link from one host to another. Model, derivation and units: docs/simgrid.md.\n"
	"\n"
	"  -b, --bandwidth BW      the link's bandwidth, also SimGrid's migration speed:\n"
	"                          64M = 64MiB/s = 64MB/s = 64 MiB/s (binary units), 512K, 1G\n"
	"  -l, --latency L         the link's latency (default 0): 1ms, 0.0005\n"
	"      --downtime-limit D  for the dpt predict column (default 30ms); SimGrid 3.32 fixes\n"
	"                          its own at 30 ms\n"
	"      --start T           the migration starts T after the trace's start: only the\n"
	"                          intervals from there are used (10, 1.5, 2m, 500ms)\n"
	"      --cpu-share S       the share of a host core the VM computes at, in (0, 1]\n"
	"                          (default 1): SimGrid dirties memory per flop computed\n"
	"      --working-set SIZE  impose the working set (bytes: 16M) instead of N(t)\n"
	"      --vms LIST          several traces, one VM each, leaving the host at once over\n"
	"                          the one link: a host evacuation (a trace may be repeated)\n"
	"      --params[=json|c]   print the parameters alone, as JSON (default) or as C for\n"
	"                          your own SimGrid simulation, and do not simulate\n"
	"      --json              one JSON object\n"
	"  -v, --verbose           SimGrid's log and each stage it sends, on stderr\n"
	"  -h, --help              this text\n"
	"\n"
	"Exit status: 0 migrated, 1 failure, 2 usage or no SimGrid, 3 does not converge.\n";

enum { OPT_DOWNTIME = 0x100, OPT_START, OPT_SHARE, OPT_WSS, OPT_VMS, OPT_PARAMS, OPT_JSON };

static const struct option simgrid_longopts[] = {
	{"bandwidth", required_argument, 0, 'b'}, {"latency", required_argument, 0, 'l'},
	{"downtime-limit", required_argument, 0, OPT_DOWNTIME},
	{"start", required_argument, 0, OPT_START}, {"cpu-share", required_argument, 0, OPT_SHARE},
	{"working-set", required_argument, 0, OPT_WSS}, {"vms", required_argument, 0, OPT_VMS},
	{"params", optional_argument, 0, OPT_PARAMS}, {"json", no_argument, 0, OPT_JSON},
	{"verbose", no_argument, 0, 'v'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
};

struct simgrid_cmd {
	struct simgrid_link link;
	struct simgrid_derive_opts derive;
	double downtime_limit;
	const char *paths[SIMGRID_MAX_VMS];
	char *vms; /* --vms, split in place */
	unsigned n;
	const char *params; /* NULL, "json" or "c" */
	bool json, verbose;
};

/* ---- options ---- */

static int parse_seconds(const char *opt, const char *arg, double max, double *out)
{
	uint64_t ns;

	if (parse_duration_ns(arg, &ns) || (double)ns / 1e9 > max)
		return dpt_fail(-EINVAL, "%s: '%s' is not a time from 0 to %g s (1ms, 0.5, 2m)",
				opt, arg, max);
	*out = (double)ns / 1e9;
	return 0;
}

/* dpt predict's units (lib/parse.c parse_bandwidth: 64M = 64 MiB/s, 10Gbit), within what a
 * SimGrid link can be given here. */
static int bandwidth_arg(const char *arg, double *out)
{
	if (parse_bandwidth(arg, out))
		return dpt_fail(-EINVAL, "--bandwidth: '%s' is not a rate (64M = 64 MiB/s, 512K, "
					 "1G, 10Gbit)", arg);
	if (*out < 1024 || *out > 1099511627776.0)
		return dpt_fail(-EINVAL, "--bandwidth: '%s' is out of range: from 1 KiB/s to "
					 "1 TiB/s", arg);
	return 0;
}

static int parse_share(const char *arg, double *out)
{
	char *e;

	*out = strtod(arg, &e);
	if (e == arg || *e || !(*out > 0 && *out <= 1))
		return dpt_fail(-EINVAL, "--cpu-share: '%s' is not a share in (0, 1]", arg);
	return 0;
}

static int split_vms(struct simgrid_cmd *c, char *list)
{
	char *save, *p;

	for (p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		if (c->n == SIMGRID_MAX_VMS)
			return dpt_fail(-EINVAL, "--vms: %u traces at most", SIMGRID_MAX_VMS);
		c->paths[c->n++] = p;
	}
	if (!c->n)
		return dpt_fail(-EINVAL, "--vms: which traces? (A.dpt,B.dpt)");
	return 0;
}

static int parse_opt(struct simgrid_cmd *c, int opt, const char *arg, bool *bw)
{
	uint64_t v;

	switch (opt) {
	case 'b':
		*bw = true;
		return bandwidth_arg(arg, &c->link.bandwidth);
	case 'l':
		return parse_seconds("--latency", arg, 10, &c->link.latency);
	case OPT_DOWNTIME:
		return parse_seconds("--downtime-limit", arg, 60, &c->downtime_limit);
	case OPT_START:
		if (parse_duration_ns(arg, &v) || v > INT64_MAX)
			return dpt_fail(-EINVAL, "--start: '%s' is not a time (10, 1.5, 2m, 500ms)",
					arg);
		c->derive.start_ns = (int64_t)v;
		return 0;
	case OPT_SHARE:
		return parse_share(arg, &c->derive.cpu_share);
	case OPT_WSS:
		if (parse_size(arg, &v))
			return dpt_fail(-EINVAL, "--working-set: '%s' is not a size (16M, 4096)", arg);
		c->derive.working_set = (double)v;
		return 0;
	case OPT_VMS:
		c->vms = strdup(arg);
		return c->vms ? split_vms(c, c->vms) : -ENOMEM;
	case OPT_PARAMS:
		c->params = arg ? arg : "json";
		if (strcmp(c->params, "json") && strcmp(c->params, "c"))
			return dpt_fail(-EINVAL, "--params=%s: json or c", arg);
		return 0;
	case OPT_JSON:
		c->json = true;
		return 0;
	case 'v':
		c->verbose = true;
		return 0;
	case 'h':
		return 1;
	}
	return dpt_fail(-EINVAL, "unknown option or missing value");
}

static int parse_args(struct simgrid_cmd *c, int argc, char **argv)
{
	bool bw = false;
	int opt, err;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "b:l:vh", simgrid_longopts, NULL)) != -1) {
		if (opt == '?')
			return dpt_fail(-EINVAL, "unknown option '%s' or missing its value",
					argv[optind - 1]);
		if ((err = parse_opt(c, opt, optarg, &bw)))
			return err;
	}
	if (c->n && optind != argc)
		return dpt_fail(-EINVAL, "a trace or --vms, not both");
	if (!c->n && optind != argc - 1)
		return dpt_fail(-EINVAL, optind == argc ? "which trace? (FILE.dpt)"
							 : "one trace at a time (--vms for several)");
	if (!c->n)
		c->paths[c->n++] = argv[optind];
	if (!bw)
		return dpt_fail(-EINVAL, "--bandwidth is needed (64M = 64 MiB/s)");
	if (c->params && c->json)
		return dpt_fail(-EINVAL, "--params prints JSON already (--params=c for C)");
	c->link.vms = c->n;
	return 0;
}

/* ---- output ---- */

/* Everything known about one VM, SimGrid's and predict's results included. */
struct vm_out {
	struct simgrid_params p;
	struct simgrid_replay rep; /* with bandwidth / n: the convergence check's */
	struct simgrid_result sim;
	bool stuck, simulated;
	const struct predict_result *pr; /* NULL: no predict column */
};

static const char *mib(double bytes, char *buf, size_t len)
{
	snprintf(buf, len, "%.1f MiB", bytes / 1048576);
	return buf;
}

static void text_link(const struct simgrid_cmd *c)
{
	printf("link         %.6g MiB/s (%.0f B/s), latency %.6g s; SimGrid %s, network model "
	       "CM02 without cross traffic or TCP window\n",
	       c->link.bandwidth / 1048576, c->link.bandwidth, c->link.latency, "3.32");
}

static void text_params(const struct vm_out *v)
{
	const struct simgrid_params *p = &v->p;
	char b[32];

	printf("trace        %s: %s tracker, %" PRIu64 " intervals of %.4g s (%.3f s)\n", p->path,
	       p->tracker, p->intervals, p->interval_s, p->seconds);
	printf("  ramsize          %" PRIu64 " bytes (%s): %" PRIu64 " pages of %u bytes\n",
	       p->ramsize, mib((double)p->ramsize, b, sizeof(b)), p->pages, p->page_size);
	printf("  migration speed  %.0f B/s: the link's bandwidth\n", p->mig_speed);
	printf("  cpu share        %.6g: the VM's bound, a share of the host's speed\n",
	       p->cpu_share);
	printf("  intensity        %.6g: dirty rate %.4f MiB/s / (migration speed x cpu share)\n",
	       p->intensity, p->dirty_rate / 1048576);
	printf("  working set      %" PRIu64 " bytes (%s): ", p->working_set,
	       mib((double)p->working_set, b, sizeof(b)));
	if (p->ws_imposed)
		printf("--working-set\n");
	else if (p->ws_measured)
		printf("N(%.4g s), the distinct pages dirtied in a window of stage 1's length "
		       "(%.4g intervals)\n",
		       p->window, p->window_k);
	else
		printf("the whole RAM\n");
	if (p->note[0])
		printf("  note             %s\n", p->note);
	if (p->intensity == 0 || p->working_set == 0)
		printf("  note             nothing is dirtied: SimGrid sends the RAM once (stage 1) "
		       "and stops\n");
}

/* One row: SimGrid's value, and predict's beside it when there is a predict column. */
static void text_row(const char *name, const char *fmt, bool have, double s,
		     const struct predict_result *pr, bool have_pv, double pv)
{
	char a[32] = "-", b[32] = "-";

	if (have)
		snprintf(a, sizeof(a), fmt, s);
	if (pr && have_pv)
		snprintf(b, sizeof(b), fmt, pv);
	printf("  %-16s %16s", name, a);
	printf(pr ? " %16s\n" : "\n", b);
}

static void text_one(const struct simgrid_cmd *c, const struct vm_out *v)
{
	const struct predict_result *pr = v->pr;
	bool s = v->simulated, st = s && v->sim.stages_seen;

	printf("\nmigration        %16s", "simgrid");
	printf(pr ? " %16s\n" : "\n", "dpt predict");
	printf("  %-16s %16s", "converges", v->stuck ? "no" : "yes");
	printf(pr ? " %16s\n" : "\n", pr && pr->status == PREDICT_CONVERGED ? "yes" : "no");
	if (v->stuck) {
		printf("  SimGrid's rule: %s; SimGrid 3.32 would run it for 10^7 simulated s and "
		       "abort: not simulated\n",
		       v->rep.why ? v->rep.why : "it does not converge at its share of the link");
		return;
	}
	text_row("total time (s)", "%.6f", s, v->sim.time, pr, true, pr ? pr->total_time : 0);
	text_row("bytes", "%.0f", st, v->sim.bytes, pr, true,
		 pr ? (double)pr->stream_bytes : 0);
	text_row("downtime (s)", "%.6f", st, v->sim.downtime, pr, true, pr ? pr->downtime : 0);
	text_row("precopy rounds", "%.0f", st, v->sim.rounds, pr, false, 0);
	if (pr && c->downtime_limit != SIMGRID_MAX_DOWNTIME)
		printf("  downtime limit: %.3g s for predict, 30 ms for SimGrid (fixed in 3.32)\n",
		       c->downtime_limit);
	if (s && !st)
		printf("  SimGrid's stage lines were not found: bytes unknown\n");
}

static void text_all(const struct simgrid_cmd *c, const struct vm_out *v)
{
	double time = 0, bytes = 0;

	printf("\nevacuation: %u VMs leave at once over the one link\n", c->n);
	printf("  %3s %-24s %10s %10s %14s %12s %14s %8s %10s\n", "vm", "trace", "RAM MiB",
	       "intensity", "working set", "time (s)", "bytes", "rounds", "downtime");
	for (unsigned i = 0; i < c->n; i++) {
		const struct vm_out *o = &v[i];
		printf("  %3u %-24s %10.1f %10.4g %14" PRIu64, i, o->p.path,
		       (double)o->p.ramsize / 1048576, o->p.intensity, o->p.working_set);
		if (o->stuck)
			printf(" %12s\n", "does not converge");
		else if (!o->simulated)
			printf(" %12s\n", "-");
		else
			printf(" %12.6f %14.0f %8u %10.6f\n", o->sim.time, o->sim.bytes,
			       o->sim.rounds, o->sim.downtime);
		if (o->sim.time > time)
			time = o->sim.time;
		bytes += o->sim.bytes;
	}
	if (v[0].simulated)
		printf("  all: the last VM left at %.6f s; %.0f bytes over the link\n", time, bytes);
}

static void text_out(const struct simgrid_cmd *c, const struct vm_out *v, bool converges)
{
	text_link(c);
	for (unsigned i = 0; i < c->n; i++) {
		if (c->n > 1)
			printf("\nvm %u\n", i);
		text_params(&v[i]);
	}
	printf("  max downtime     30 ms (fixed in SimGrid 3.32)\n");
	if (c->n == 1)
		text_one(c, v);
	else
		text_all(c, v);
	if (!converges && c->n > 1)
		printf("  does not converge: SimGrid 3.32 would run for 10^7 simulated s and abort: "
		       "not simulated\n");
}

/* ---- JSON ---- */


static json_t *j_params(const struct simgrid_params *p)
{
	json_t *o = json_object(), *from = json_object();

	json_put(o, "ramsize", json_integer((json_int_t)p->ramsize));
	json_put(o, "migration_speed", json_real(p->mig_speed));
	json_put(o, "dirty_page_intensity", json_real(p->intensity));
	json_put(o, "working_set_memory", json_integer((json_int_t)p->working_set));
	json_put(o, "cpu_share", json_real(p->cpu_share));
	json_put(o, "max_downtime", json_real(SIMGRID_MAX_DOWNTIME));
	json_put(from, "trace", json_string(p->path));
	json_put(from, "tracker", json_string(p->tracker));
	json_put(from, "pages", json_integer((json_int_t)p->pages));
	json_put(from, "page_size", json_integer(p->page_size));
	json_put(from, "dirty_rate", json_real(p->dirty_rate));
	json_put(from, "seconds", json_real(p->seconds));
	json_put(from, "intervals", json_integer((json_int_t)p->intervals));
	json_put(from, "interval", json_real(p->interval_s));
	json_put(from, "working_set_window", json_real(p->window));
	json_put(from, "working_set_window_intervals", json_real(p->window_k));
	json_put(from, "working_set_from", json_string(p->ws_imposed    ? "imposed"
						 : p->ws_measured ? "N(t)"
								  : "ramsize"));
	json_put(from, "note", p->note[0] ? json_string(p->note) : json_null());
	json_put(o, "from", from);
	return o;
}

static json_t *j_predict(const struct predict_result *pr)
{
	json_t *o;

	if (!pr)
		return json_null();
	o = json_object();
	json_put(o, "converges", json_boolean(pr->status == PREDICT_CONVERGED));
	json_put(o, "total_time", json_real(pr->total_time));
	json_put(o, "downtime", json_real(pr->downtime));
	json_put(o, "stream_bytes", json_integer((json_int_t)pr->stream_bytes));
	json_put(o, "dirty_syncs", json_integer((json_int_t)pr->dirty_syncs));
	return o;
}

static json_t *j_vm(const struct vm_out *v)
{
	json_t *o = json_object(), *s = json_object();

	json_put(o, "params", j_params(&v->p));
	json_put(s, "converges", json_boolean(!v->stuck));
	json_put(s, "simulated", json_boolean(v->simulated));
	if (v->stuck) {
		json_put(s, "why", json_string(v->rep.why ? v->rep.why
						     : "it does not converge at its share"));
	} else if (v->simulated) {
		json_put(s, "total_time", json_real(v->sim.time));
		json_put(s, "bytes", v->sim.stages_seen ? json_real(v->sim.bytes) : json_null());
		json_put(s, "stage1_bytes", json_real(v->sim.stage1_bytes));
		json_put(s, "stage2_bytes", json_real(v->sim.stage2_bytes));
		json_put(s, "stage3_bytes", json_real(v->sim.stage3_bytes));
		json_put(s, "downtime", json_real(v->sim.downtime));
		json_put(s, "rounds", json_integer(v->sim.rounds));
	}
	json_put(o, "simgrid", s);
	json_put(o, "predict", j_predict(v->pr));
	return o;
}

static int json_out(const struct simgrid_cmd *c, const struct vm_out *v, bool converges,
		    bool params_only)
{
	json_t *root = json_object(), *link = json_object(), *vms = json_array();
	double time = 0, bytes = 0;
	int err;

	json_put(root, "simgrid_version", json_string("3.32"));
	json_put(link, "bandwidth", json_real(c->link.bandwidth));
	json_put(link, "latency", json_real(c->link.latency));
	json_put(link, "network_model", json_string("CM02, no cross traffic, no TCP window"));
	json_put(root, "link", link);
	for (unsigned i = 0; i < c->n; i++) {
		json_array_append_new(vms, params_only ? j_params(&v[i].p) : j_vm(&v[i]));
		time = v[i].sim.time > time ? v[i].sim.time : time;
		bytes += v[i].sim.bytes;
	}
	json_put(root, params_only ? "params" : "vms", vms);
	if (!params_only) {
		json_t *all = json_object();
		json_put(all, "converges", json_boolean(converges));
		json_put(all, "time", converges ? json_real(time) : json_null());
		json_put(all, "bytes", converges ? json_real(bytes) : json_null());
		json_put(root, "evacuation", all);
	}
	err = !root || json_dumpf(root, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(17)) ||
	      fputc('\n', stdout) == EOF;
	json_decref(root);
	return err ? -EIO : 0;
}

static void c_out(const struct simgrid_cmd *c, const struct vm_out *v)
{
	printf("/* SimGrid 3.32 live-migration parameters from dpt simgrid (docs/simgrid.md).\n"
	       " * Call sg_vm_live_migration_plugin_init() before loading the platform; migrate\n"
	       " * with sg_vm_migrate(vm, dst) from an actor; SimGrid dirties memory only while an\n"
	       " * actor computes in the VM (sg_actor_execute), at the VM's bound. */\n");
	for (unsigned i = 0; i < c->n; i++) {
		const struct simgrid_params *p = &v[i].p;
		printf("\n/* %s */\n", p->path);
		printf("sg_vm_t vm%u = sg_vm_create_core(pm, \"vm%u\");\n", i, i);
		printf("sg_vm_set_ramsize(vm%u, %" PRIu64 "); /* bytes */\n", i, p->ramsize);
		printf("sg_vm_set_bound(vm%u, %.17g * sg_host_get_speed(pm)); /* the CPU share */\n",
		       i, p->cpu_share);
		printf("sg_vm_start(vm%u);\n", i);
		printf("sg_vm_set_migration_speed(vm%u, %.17g); /* bytes/s */\n", i, p->mig_speed);
		printf("sg_vm_set_dirty_page_intensity(vm%u, %.17g);\n", i, p->intensity);
		printf("sg_vm_set_working_set_memory(vm%u, %" PRIu64 "); /* bytes */\n", i,
		       p->working_set);
	}
}

/* ---- the run ---- */

static const struct predict_result *predict_column(const struct simgrid_cmd *c,
						   struct predict_result *res)
{
	struct predict_opts o = predict_defaults();

	if (c->n != 1)
		return NULL;
	o.bandwidth = c->link.bandwidth;
	o.link = c->link.bandwidth;
	o.downtime_limit = c->downtime_limit;
	o.start = (double)c->derive.start_ns / 1e9;
	if (predict_run(c->paths[0], &o, res)) {
		dpt_warn("no dpt predict column: %s", dpt_last_error());
		dpt_clear_error();
		predict_result_fini(res);
		return NULL;
	}
	return res;
}

static int run(struct simgrid_cmd *c, struct vm_out *v)
{
	struct simgrid_result res[c->n];
	struct simgrid_params p[c->n];
	bool stuck[c->n], converges;
	int err;

	for (unsigned i = 0; i < c->n; i++)
		if ((err = simgrid_params_derive(&v[i].p, c->paths[i], &c->link, &c->derive)))
			return cmd_error("cannot read the trace");
	if (c->params) {
		if (!strcmp(c->params, "c"))
			c_out(c, v);
		else if (json_out(c, v, true, true))
			return cmd_error("cannot write the parameters");
		return fflush(stdout) ? cmd_error("cannot write the parameters") : 0;
	}
	for (unsigned i = 0; i < c->n; i++)
		p[i] = v[i].p;
	converges = simgrid_all_converge(p, c->n, &c->link, stuck);
	for (unsigned i = 0; i < c->n; i++) {
		v[i].stuck = stuck[i];
		simgrid_replay(&p[i], &c->link, c->link.bandwidth / c->n, &v[i].rep);
	}
	if (converges) {
		if ((err = simgrid_simulate(&c->link, p, c->n, res, c->verbose)))
			return cmd_error("SimGrid failed");
		for (unsigned i = 0; i < c->n; i++)
			v[i].sim = res[i], v[i].simulated = true;
	}
	if (c->json ? json_out(c, v, converges, false) : (text_out(c, v, converges), 0))
		return cmd_error("cannot write the result");
	if (fflush(stdout) || ferror(stdout))
		return cmd_error("cannot write the result");
	return converges ? 0 : 3;
}

int cmd_simgrid(int argc, char **argv)
{
	struct simgrid_cmd c = {.derive = {.cpu_share = 1, .working_set = -1},
				.downtime_limit = SIMGRID_MAX_DOWNTIME};
	struct predict_result pr;
	struct vm_out *v;
	int err;

	opterr = 0;
	err = parse_args(&c, argc, argv);
	if (err > 0) {
		free(c.vms);
		fputs(usage_text, stdout);
		return 0;
	}
	if (err) {
		err = cmd_usage_error("simgrid", "%s", dpt_last_error());
		dpt_clear_error();
		free(c.vms);
		return err;
	}
	if (!c.params && !simgrid_available()) {
		fprintf(stderr, "dpt simgrid: this dpt was built without SimGrid: install "
				"libsimgrid-dev and rebuild\n");
		free(c.vms);
		return 2;
	}
	if (!(v = calloc(c.n, sizeof(*v)))) {
		free(c.vms);
		return cmd_error("out of memory");
	}
	memset(&pr, 0, sizeof(pr));
	if (!c.params)
		v[0].pr = predict_column(&c, &pr);
	err = run(&c, v);
	if (v[0].pr)
		predict_result_fini(&pr);
	free(v);
	free(c.vms);
	return err;
}
