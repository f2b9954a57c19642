/* simgrid.h - a trace turned into SimGrid 3.32's live-migration parameters, SimGrid's precopy
 * loop replayed on them, and the migration run through SimGrid itself (docs/simgrid.md).
 *
 *	struct simgrid_link l = {.bandwidth = 64 << 20, .latency = 0.001, .vms = 1};
 *	struct simgrid_params p;
 *	simgrid_params_derive(&p, "vm.dpt", &l, &(struct simgrid_derive_opts){.cpu_share = 1,
 *			      .working_set = -1});
 *	simgrid_replay(&p, &l, l.bandwidth, &rep);   SimGrid's loop, in dpt: does it converge?
 *	simgrid_simulate(&l, &p, 1, &res, verbose);  SimGrid's own run (needs HAVE_SIMGRID)
 *
 * The derivation and the replay (simgrid-model.c) need no SimGrid; the simulation (simgrid.c)
 * is built only when libsimgrid-dev is there. Library code: 0 or -errno with the reason
 * recorded (dpt_fail), never exits.
 */
#ifndef DPT_ANALYSIS_SIMGRID_H
#define DPT_ANALYSIS_SIMGRID_H

#include <stdbool.h>
#include <stdint.h>

/* SimGrid 3.32 fixes the largest downtime at 30 ms (DirtyPageTrackingExt::max_downtime_, no
 * setter) and gives up after 10^7 simulated seconds (MigrationTx's mig_timeout). */
#define SIMGRID_MAX_DOWNTIME 0.03
#define SIMGRID_MIG_TIMEOUT 1e7

/* The platform: the source host, one link to the destination, the VMs that leave at once. */
struct simgrid_link {
	double bandwidth; /* bytes/s */
	double latency;	  /* s */
	unsigned vms;	  /* VMs sharing the link (the working-set window uses bandwidth / vms) */
};

struct simgrid_derive_opts {
	int64_t start_ns;   /* the cut: from this long after the trace's start */
	double cpu_share;   /* (0, 1]: the share of a host core the VM computes at */
	double working_set; /* bytes, >= 0 to impose it; < 0: from the trace */
};

/* One VM's parameters, as sg_vm_set_*() take them, and where they came from. */
struct simgrid_params {
	const char *path;
	/* SimGrid's */
	uint64_t ramsize;	/* bytes: pages tracked x page size */
	double mig_speed;	/* bytes/s: the link's bandwidth */
	double intensity;	/* dirty rate / (mig_speed x cpu_share) */
	uint64_t working_set;	/* bytes */
	double cpu_share;	/* the VM's bound, as a share of the host's speed */
	/* from the trace */
	uint64_t pages;		/* tracked (the largest number in the cut) */
	unsigned page_size;
	double dirty_rate;	/* bytes/s: dirty pages / seconds over the counted intervals */
	double seconds;		/* of counted intervals */
	uint64_t intervals;	/* counted */
	double interval_s;	/* their mean length */
	double window;		/* s: the working set's window, stage 1's length */
	double window_k;	/* the window in intervals (interpolated between whole ones) */
	bool ws_measured;	/* from the dirty sets (else imposed, or the whole RAM) */
	bool ws_imposed;	/* --working-set */
	char note[256];		/* what could not be derived, or how it was bounded ("" none) */
	char tracker[32];
};

/* Read the trace at path (report_compute over the cut from o->start_ns) and derive its
 * parameters for this link. A counts-only trace (qmp) has a rate but no sets: its working set
 * is o->working_set if given, else the whole RAM (said in p->note). */
int simgrid_params_derive(struct simgrid_params *p, const char *path,
			  const struct simgrid_link *l, const struct simgrid_derive_opts *o);

/* SimGrid's precopy loop (VmLiveMigration.cpp, MigrationTx::operator()) replayed for one VM
 * that has `bandwidth` bytes/s of the link to itself, with the platform dpt builds (CM02, no
 * cross traffic: a message of x bytes takes latency + x / bandwidth). */
struct simgrid_replay {
	bool converges;
	const char *why;       /* when it does not: a sentence */
	unsigned rounds;       /* stage-2 rounds (SimGrid's stage2_round at the end) */
	double stage1_time;    /* s */
	double total_time;     /* s, the final ACK included */
	double downtime;       /* s: stage 3 */
	double bytes;	       /* stage 1 + stage 2 rounds + stage 3 */
	double stage3_bytes;
};

int simgrid_replay(const struct simgrid_params *p, const struct simgrid_link *l,
		   double bandwidth, struct simgrid_replay *r);

/* Whether n VMs leaving together over the link all converge: a VM that converges with
 * bandwidth / m (m: VMs still sending) finishes and frees its share, until none is left or
 * none of those left converges at its share. Conservative: true means SimGrid converges.
 * stuck[i] is set for the VMs that may not. */
bool simgrid_all_converge(const struct simgrid_params *p, unsigned n,
			  const struct simgrid_link *l, bool *stuck);

/* What SimGrid said about one VM's migration. */
struct simgrid_result {
	double time;	       /* s: sg_vm_migrate() called at 0, returned at time */
	double bytes;	       /* sent in all stages (from SimGrid's own stage lines) */
	double stage1_bytes, stage2_bytes, stage3_bytes;
	double downtime;       /* s: stage 3 */
	unsigned rounds;       /* stage-2 rounds */
	bool stages_seen;      /* the stage lines were found (else bytes unknown) */
};

/* True when dpt was built with SimGrid. */
bool simgrid_available(void);

/* Run the migration of n VMs (params p[i]) from one host over the link, all starting at 0, in
 * SimGrid, in a child process (SimGrid aborts on what it cannot handle; its state is global).
 * SimGrid's log goes to stderr only when verbose. Call only for VMs that converge
 * (simgrid_all_converge). -ENOSYS without SimGrid. */
int simgrid_simulate(const struct simgrid_link *l, const struct simgrid_params *p, unsigned n,
		     struct simgrid_result *res, bool verbose);

#endif
