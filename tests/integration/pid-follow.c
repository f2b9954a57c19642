/* pid-follow - ground truth for a followed tree (the pid tracker with follow, uffd method).
 *
 * A synthetic target (pid-util.h) tracked with follow and one region, its buffer, forks
 * children that write known pages of their copy of the buffer: every process's row must hold
 * exactly its own writes -- a child's from its birth (not the pages it shares with its parent,
 * not those its parent writes after the fork), its last ones when it exits (read while the
 * keeper holds it) -- the rows must add up to the sample, and the regions be laid out one
 * process after another. The keeper's births and exits are handled as the interval loop would
 * (ended() when end_fd is readable), also while a command waits: a parent is held at its fork
 * until dpt has armed the child. Skips when this kernel has no uffd method.
 */
#include <poll.h>

#include "../test.h"
#include "pid-util.h"

static const struct dpt_proc *row_of(const struct dpt_sample *s, pid_t pid)
{
	for (unsigned i = 0; i < s->nr_procs; i++)
		if (s->procs[i].pid == pid)
			return &s->procs[i];
	return NULL;
}

/* The region of process pid (named "PID:..."), or -1. */
static int region_of(const struct dpt_sample *s, pid_t pid)
{
	char pfx[16];

	snprintf(pfx, sizeof(pfx), "%d:", pid);
	for (unsigned r = 0; r < s->nr_regions; r++)
		if (!strncmp(s->regions[r].name, pfx, strlen(pfx)))
			return (int)r;
	return -1;
}

/* Do process pid's buffer bits equal pages [a, b) (and nothing else)? */
static bool has_exactly(const struct dpt_sample *s, pid_t pid, unsigned a, unsigned b)
{
	uint8_t want[256] = {0};
	uint64_t first;
	int r = region_of(s, pid);

	memset(want + a, 1, b - a);
	return r >= 0 && s->regions[r].pages == 256 && !region_diff(s, (unsigned)r, want, 256, &first);
}

/* The rows add up to the sample. */
static bool rows_add_up(const struct dpt_sample *s)
{
	uint64_t d = 0, t = 0, x = 0;

	for (unsigned i = 0; i < s->nr_procs; i++) {
		d += s->procs[i].dirty;
		t += s->procs[i].total;
		x += s->procs[i].discarded;
	}
	return s->nr_procs && d == s->dirty && t == s->total && x == s->discarded &&
	       s->dirty == bitmap_weight(s->bitmap, s->total);
}

int main(void)
{
	struct pid_tracker_opts xo = {.nr_regions = 1, .follow = true};
	const struct dpt_proc *pr, *cr;
	struct dpt_tracker t;
	struct dpt_sample s;
	char range[64];
	const char *regions[1] = {range};
	uint64_t c1 = 0, c2 = 0;
	struct tgt g;
	int err;

	dpt_clear_error();
	if (pid_tracker_ops.probe(&(struct dpt_tracker_opts){.mode = "uffd"})) {
		test_skip("pid-follow", "no uffd method here: %s", pid_test_err());
		return test_done();
	}
	if (tgt_start(&g, 256)) {
		TEST_CHECK(0, "follow-target", "cannot start the target");
		return test_done();
	}
	snprintf(range, sizeof(range), "%" PRIx64 "-%" PRIx64, g.base, g.base + 256 * TGT_PAGE);
	xo.regions = regions;
	err = pid_test_open_opts(&t, g.pid, "uffd", &xo);
	TEST_CHECK(!err && t.per_process && t.end_fd >= 0, "follow-open", "%s", pid_test_err());
	if (err)
		goto out;
	err = t.ops->start(&t) || tgt_cmd(&g, "w 0 256") || pid_test_collect(&t, &s);
	TEST_CHECK(!err && s.nr_procs == 1 && s.dirty == 256 && rows_add_up(&s), "follow-root-only",
		   "%s; %u rows, dirty %" PRIu64, pid_test_err(), s.nr_procs, s.dirty);

	/* a child writes its own pages; its parent writes one after the fork */
	err = tgt_cmd_pumped(&g, &t, &c1, "f %u %u", 10, 20) || tgt_cmd(&g, "w 5 6");
	tgt_pump(&t, 100);
	err = err || pid_test_collect(&t, &s);
	pr = err ? NULL : row_of(&s, g.pid);
	cr = err ? NULL : row_of(&s, (pid_t)c1);
	TEST_CHECK(pr && cr && pr->dirty == 1 && has_exactly(&s, g.pid, 5, 6) && cr->dirty == 10 &&
		       has_exactly(&s, (pid_t)c1, 10, 20) && (cr->flags & DPT_PROC_BORN) &&
		       cr->ppid == g.pid && rows_add_up(&s) && s.regions_changed,
		   "follow-child-own-writes",
		   "%s; parent %" PRIu64 " (want 1), child %" PRIu64 " (want 10, flags %x)",
		   pid_test_err(), pr ? pr->dirty : 0, cr ? cr->dirty : 0, cr ? cr->flags : 0);

	/* the parent rewrites what both share: only its own row */
	err = tgt_cmd(&g, "w 10 30") || pid_test_collect(&t, &s);
	pr = err ? NULL : row_of(&s, g.pid);
	cr = err ? NULL : row_of(&s, (pid_t)c1);
	TEST_CHECK(pr && cr && pr->dirty == 20 && cr->dirty == 0 && rows_add_up(&s) &&
		       !s.regions_changed,
		   "follow-parent-cow", "parent %" PRIu64 " (want 20), child %" PRIu64 " (want 0)",
		   pr ? pr->dirty : 0, cr ? cr->dirty : 0);

	/* a child's whole life in one interval: born, writes, exits (held, read at its exit) */
	err = tgt_cmd_pumped(&g, &t, &c2, "g %u %u", 30, 45);
	tgt_pump(&t, 300);
	err = err || pid_test_collect(&t, &s);
	cr = err ? NULL : row_of(&s, (pid_t)c2);
	TEST_CHECK(cr && cr->dirty == 15 && has_exactly(&s, (pid_t)c2, 30, 45) &&
		       (cr->flags & DPT_PROC_BORN) && (cr->flags & DPT_PROC_EXITED) &&
		       !(cr->flags & DPT_PROC_LOST) && rows_add_up(&s),
		   "follow-short-life", "%s; child %" PRIu64 " (want 15), flags %x", pid_test_err(),
		   cr ? cr->dirty : 0, cr ? cr->flags : 0);
	err = err || pid_test_collect(&t, &s);
	TEST_CHECK(!err && !row_of(&s, (pid_t)c2) && s.regions_changed, "follow-exited-dropped",
		   "the exited child still has a row");

	/* the first child is killed: its exit, held, ends its rows */
	kill((pid_t)c1, SIGTERM);
	tgt_pump(&t, 300);
	err = pid_test_collect(&t, &s);
	cr = err ? NULL : row_of(&s, (pid_t)c1);
	TEST_CHECK(cr && (cr->flags & DPT_PROC_EXITED) && !(cr->flags & DPT_PROC_LOST) &&
		       cr->dirty == 0 && rows_add_up(&s),
		   "follow-child-killed", "%s; flags %x", pid_test_err(), cr ? cr->flags : 0);
	t.ops->close(&t);
	{
		char why[128];

		TEST_CHECK(pid_test_clean(g.pid, why, sizeof(why)), "follow-close-clean", "%s",
			   why);
	}
	TEST_CHECK(!tgt_cmd(&g, "w 0 1"), "follow-target-alive", "the target does not answer");
out:
	tgt_stop(&g);
	return test_done();
}
