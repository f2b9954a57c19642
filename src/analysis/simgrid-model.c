/* simgrid-model.c - SimGrid 3.32's live-migration parameters from a trace, and SimGrid's precopy
 * loop replayed in dpt (no SimGrid needed).
 *
 * SimGrid's model (src/plugins/vm/VmLiveMigration.cpp, dirty_page_tracking.cpp at v3.32):
 * 1. Stage 1 sends the whole RAM (ramsize bytes) at min(link, mig_speed).
 * 2. After each send, the bytes dirtied meanwhile are min(flops the VM computed during the send
 *    x mig_speed x intensity / host speed, working_set): with the VM computing at cpu_share of
 *    the host's speed, min(cpu_share x mig_speed x intensity x send time, working_set).
 * 3. threshold = (bytes just sent / its send time) x 30 ms; stage 2 sends rounds while the
 *    bytes dirtied are above it; stage 3 suspends the VM and sends the rest.
 * So the derivation (docs/simgrid.md): ramsize = pages x page size; mig_speed = the link's
 * bandwidth; intensity = the trace's dirty rate / (mig_speed x cpu_share), which makes SimGrid
 * dirty at the trace's rate; working_set = N(T1) x page size, the distinct pages the trace
 * dirties in a window of stage 1's length T1 (the first and longest round, whose dirty set is
 * exactly that window's): SimGrid's min(rate x t, working_set) is then the smallest linear-
 * with-a-cap curve above the trace's N(t) for every round no longer than stage 1.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "analysis/report.h"
#include "analysis/simgrid.h"
#include "dpt/log.h"

/* Rounds replayed at most (a tenth of a second here). */
#define SIMGRID_MAX_ROUNDS 10000000

/* N(t) in pages for a window of k intervals, k real: interpolated between whole windows,
 * scaled down below one interval, the whole cut's distinct pages above n intervals. */
static double wss_at(const struct report *rp, double k)
{
	uint64_t n = rp->curve->intervals, lo;
	double nlo, nhi;

	if (k <= 1)
		return wss_mean(rp->wss, 1) * k;
	if (k >= (double)n)
		return (double)rp->curve->distinct;
	lo = (uint64_t)floor(k);
	nlo = wss_mean(rp->wss, lo);
	nhi = wss_mean(rp->wss, lo + 1);
	return nlo + (nhi - nlo) * (k - (double)lo);
}

static void derive_ws(struct simgrid_params *p, const struct report *rp,
		      const struct simgrid_derive_opts *o)
{
	const char *missing = report_sets_missing(rp);

	p->window_k = p->interval_s > 0 ? p->window / p->interval_s : 0;
	if (o->working_set >= 0) {
		p->working_set = (uint64_t)o->working_set;
		p->ws_imposed = true;
		return;
	}
	if (missing || !rp->curve || !rp->curve->intervals) {
		/* no N(t): the cap may never bind (every byte dirtied counts as new) */
		p->working_set = p->ramsize;
		snprintf(p->note, sizeof(p->note),
			 "working set unknown (%s): taken as the whole RAM, an upper bound; "
			 "--working-set SIZE imposes one",
			 missing ? missing : "no interval in the cut");
		return;
	}
	p->ws_measured = true;
	p->working_set = (uint64_t)llround(wss_at(rp, p->window_k) * p->page_size);
	if (p->window_k > (double)rp->curve->intervals)
		snprintf(p->note, sizeof(p->note),
			 "the cut (%.3f s) is shorter than stage 1 (%.3f s): working set = every "
			 "page dirtied in the cut, a lower bound",
			 p->seconds, p->window);
}

int simgrid_params_derive(struct simgrid_params *p, const char *path,
			  const struct simgrid_link *l, const struct simgrid_derive_opts *o)
{
	struct report_opts ro = {.from_ns = o->start_ns, .to_ns = -1, .top = 1};
	struct report rp;
	unsigned vms = l->vms ? l->vms : 1;
	int err;

	memset(p, 0, sizeof(*p));
	p->path = path;
	if ((err = report_compute(&rp, path, &ro))) {
		report_fini(&rp);
		return err;
	}
	if (!rp.counted || rp.seconds <= 0) {
		report_fini(&rp);
		return dpt_fail(-EINVAL, "%s: no interval %s", path,
				o->start_ns ? "after --start" : "in the trace");
	}
	snprintf(p->tracker, sizeof(p->tracker), "%s", rp.h.tracker);
	p->page_size = rp.h.page_size;
	p->pages = rp.pages_max;
	p->ramsize = p->pages * p->page_size;
	p->seconds = rp.seconds;
	p->intervals = rp.counted;
	p->interval_s = report_interval_s(&rp);
	p->dirty_rate = rp.rates.overall * p->page_size;
	p->cpu_share = o->cpu_share;
	p->mig_speed = l->bandwidth;
	p->intensity = p->dirty_rate / (p->mig_speed * p->cpu_share);
	/* stage 1: latency + RAM at the VM's share of the link */
	p->window = l->latency + (double)p->ramsize / (l->bandwidth / vms);
	derive_ws(p, &rp, o);
	report_fini(&rp);
	if (!p->ramsize)
		return dpt_fail(-EINVAL, "%s: no page tracked", path);
	return 0;
}

/* ---- SimGrid's loop, replayed ---- */

/* Bytes dirtied during a send of t seconds: SimGrid's get_updated_size(), its
 * computed_flops x dp_rate with computed = cpu_share x speed x t, truncated to an integer. */
static double updated(const struct simgrid_params *p, double t)
{
	double v = floor(p->cpu_share * t * p->mig_speed * p->intensity);

	return v > (double)p->working_set ? (double)p->working_set : v;
}

int simgrid_replay(const struct simgrid_params *p, const struct simgrid_link *l,
		   double bandwidth, struct simgrid_replay *r)
{
	double speed = p->mig_speed > 0 && p->mig_speed < bandwidth ? p->mig_speed : bandwidth;
	double t, x, threshold, timeout = SIMGRID_MIG_TIMEOUT;

	memset(r, 0, sizeof(*r));
	if (!(speed > 0))
		return dpt_fail(-EINVAL, "no bandwidth");
	t = l->latency + (double)p->ramsize / speed;
	r->stage1_time = r->total_time = t;
	r->bytes = (double)p->ramsize;
	timeout -= t;
	threshold = floor((double)p->ramsize / t * SIMGRID_MAX_DOWNTIME);
	/* a stage 1 longer than the timeout skips stage 2, and stage 3 sends what
	 * remaining_size holds then: nothing (SimGrid adds the pages dirtied during stage 1
	 * only in stage 2) */
	x = timeout < 0 ? 0 : updated(p, t);
	while (threshold < x) {
		double prev = x;

		t = l->latency + x / speed;
		r->total_time += t;
		r->bytes += x;
		r->rounds++;
		timeout -= t;
		threshold = floor(x / t * SIMGRID_MAX_DOWNTIME);
		x = updated(p, t);
		if (timeout <= 0) {
			r->why = "SimGrid gives up after 10^7 simulated seconds of precopy (it aborts)";
			return 0;
		}
		/* The next size depends on this one alone, through a non-decreasing function:
		 * a round that dirties no less than it sent starts a non-decreasing sequence,
		 * which never gets under the threshold once x > speed x (30 ms - latency)
		 * (there the threshold is below x), nor from a fixed point. */
		if (x >= prev && threshold < x &&
		    (x == prev || x > speed * (SIMGRID_MAX_DOWNTIME - l->latency))) {
			r->why = x >= (double)p->working_set && p->working_set
					 ? "each round dirties the whole working set again, above "
					   "SimGrid's threshold (bandwidth x 30 ms)"
					 : "each round dirties at least what it sent (the dirty rate is "
					   "not below the migration speed)";
			return 0;
		}
		if (r->rounds >= SIMGRID_MAX_ROUNDS) {
			r->why = "not within 10^7 precopy rounds";
			return 0;
		}
	}
	/* stage 3: the rest with the VM suspended, then the destination's 0-byte ACK */
	r->converges = true;
	r->stage3_bytes = x;
	r->downtime = l->latency + x / speed;
	r->bytes += x;
	r->total_time += r->downtime + l->latency;
	return 0;
}

bool simgrid_all_converge(const struct simgrid_params *p, unsigned n,
			  const struct simgrid_link *l, bool *stuck)
{
	unsigned left = n;
	bool done[n];

	memset(done, 0, sizeof(done));
	while (left) {
		unsigned finished = 0;
		struct simgrid_replay r;

		for (unsigned i = 0; i < n; i++)
			if (!done[i] && !simgrid_replay(&p[i], l, l->bandwidth / left, &r) &&
			    r.converges)
				done[i] = true, finished++;
		if (!finished)
			break;
		left -= finished;
	}
	for (unsigned i = 0; i < n; i++)
		stuck[i] = !done[i];
	return !left;
}
