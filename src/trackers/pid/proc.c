/* proc.c - one process of the pid tracker: checked, attached, laid out, armed, collected.
 *
 * Mechanism:
 *  1. open: check the process (exists, has memory, may be traced, holds no userfaultfd of its
 *     own, not tracked already), open its /proc files, choose its regions (maps.c; QEMU RAM
 *     blocks, qemu.c) and attach (the method: uffd injects, soft-dirty opens clear_refs).
 *  2. start: read /proc/PID/maps, lay the regions out, arm every area (counting nothing),
 *     noting which pages hold data.
 *  3. collect: read the maps again, so mappings that came or went are followed (and an
 *     execve: a new program is attached afresh); arm the new areas; let the method set the bits
 *     of the pages written since the last collect and find those emptied; keep the discarded
 *     ones (emptied pages that held data).
 *  4. close: the method lets go; nothing of dpt's stays in the process.
 * A process knows nothing of the tracker around it (pid.c): exits, keepers and following
 * processes are the tracker's business.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "trackers/pid/inject.h"
#include "trackers/pid/int.h"
#include "trackers/pid/kabi.h"

#define PF_KTHREAD 0x00200000UL

void pid_read_comm(pid_t pid, char *comm, size_t size)
{
	char path[64];
	int n;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	n = pid_read_file(path, comm, size);
	if (n <= 0)
		snprintf(comm, size, "?");
	else if (comm[n - 1] == '\n')
		comm[n - 1] = 0;
}

static int count_entries(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* Open /proc/PID/pagemap and maps and read the maps. */
static int open_proc_files(struct pid_proc *p)
{
	char path[64];
	int err;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", p->pid);
	p->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (p->pagemap_fd < 0 && (errno == EACCES || errno == EPERM))
		return pid_permission_denied(p->pid, "read the page tables of");
	if (p->pagemap_fd < 0)
		return dpt_fail(errno == ENOENT ? -ESRCH : -errno, "%s: %s", path, strerror(errno));
	/* for the non-zero scan only: a failure says itself when a scan is asked for */
	snprintf(path, sizeof(path), "/proc/%d/mem", p->pid);
	p->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/maps", p->pid);
	p->maps_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (p->maps_fd < 0)
		return dpt_fail(errno == ENOENT ? -ESRCH : -errno, "%s: %s", path, strerror(errno));
	err = pid_maps_read_fd(&p->maps, p->maps_fd);
	if (err)
		return dpt_fail(err, "%s: %s", path, strerror(-err));
	if (!p->maps.nr)
		return dpt_fail(-ESRCH, "pid %d (%s) has no memory (exiting?)", p->pid, p->comm);
	return 0;
}

/* Before anything touches the target: it exists, is a user process with memory, and dpt
 * may read its page tables. */
static int check_target(struct pid_proc *p)
{
	char path[64], state;
	unsigned long flags;
	int err;

	err = pid_inject_task_state(p->pid, p->pid, &state, &flags);
	if (err == -ENOENT || err == -ESRCH)
		return dpt_fail(-ESRCH, "no process with pid %d", p->pid);
	if (err)
		return dpt_fail(err, "pid %d: /proc/%d/stat: %s", p->pid, p->pid, strerror(-err));
	pid_read_comm(p->pid, p->comm, sizeof(p->comm));
	if (flags & PF_KTHREAD)
		return dpt_fail(-EINVAL,
				"pid %d (%s) is a kernel thread: it has no user memory to "
				"track",
				p->pid, p->comm);
	if (state == 'Z' || state == 'X') {
		/*
		 * A zombie -- or a live process whose main thread exited (pthread_exit):
		 * /proc/PID shows the main thread, which has no memory any more, so its maps
		 * and pagemap are empty even though other threads run on.
		 */
		snprintf(path, sizeof(path), "/proc/%d/task", p->pid);
		if (count_entries(path) > 1)
			return dpt_fail(-ESRCH,
					"pid %d (%s): its main thread has exited; dpt "
					"cannot reach its memory through /proc/%d",
					p->pid, p->comm, p->pid);
		return dpt_fail(-ESRCH,
				"pid %d (%s) is a zombie: it has exited and holds no memory",
				p->pid, p->comm);
	}
	return open_proc_files(p);
}

/*
 * Another dpt (or anything else using userfaultfd on these ranges) shows in /proc/PID/smaps:
 * VmFlags "uw" (write-protect), "um" (missing), "ui" (minor) on the ranges it registered. The
 * kernel would refuse us with EBUSY anyway; checking first means we refuse before stopping any
 * thread of the target, with the reason. (A userfaultfd the target holds itself was refused
 * before: check_own_userfaultfd.)
 */
static int check_not_tracked(struct pid_proc *p)
{
	char path[64], line[4096];
	uint64_t s = 0, e = 0;
	bool ours = false;
	int err = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", p->pid);
	f = fopen(path, "re");
	if (!f)
		return 0; /* not fatal: EBUSY at register time says the same */
	while (!err && fgets(line, sizeof(line), f)) {
		uint64_t ls, le;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " ", &ls, &le) == 2 && strchr(line, ' ') &&
		    strchr(line, ':') > strchr(line, ' ')) {
			s = ls;
			e = le;
			ours = false;
			for (unsigned i = 0; i < p->cur.nr_areas && !ours; i++)
				ours = p->cur.areas[i].start < e && s < p->cur.areas[i].end;
			continue;
		}
		if (ours && !strncmp(line, "VmFlags:", 8) && strstr(line, " uw"))
			err = dpt_fail(-EBUSY,
				       "pid %d: 0x%" PRIx64 "-0x%" PRIx64 " is already "
				       "write-protected with a userfaultfd that the target does "
				       "not hold (is another dpt tracking it?)",
				       p->pid, s, e);
		else if (ours && !strncmp(line, "VmFlags:", 8) &&
			 (strstr(line, " um") || strstr(line, " ui")))
			err = dpt_fail(-EBUSY,
				       "pid %d: 0x%" PRIx64 "-0x%" PRIx64 " is registered with a "
				       "userfaultfd for missing pages, served by another process "
				       "(a snapshot restored through a page-fault handler, CRIU "
				       "lazy pages): dpt cannot track it without making that fail",
				       p->pid, s, e);
	}
	fclose(f);
	return err;
}

/* The regions: the QEMU layout (every RAM block, or those --region names), or --region's
 * selectors, or none (every private writable mapping). */
static int setup_regions(struct pid_proc *p, const struct pid_proc_opts *o)
{
	int err;

	if (o->qemu == PID_QEMU_ON || (o->qemu == PID_QEMU_AUTO && pid_qemu_detect(p->pid))) {
		p->qemu = calloc(1, sizeof(*p->qemu));
		if (!p->qemu)
			return dpt_fail(-ENOMEM, "out of memory");
		/* --region names its RAM blocks (or mappings); a launched QEMU has no RAM before
		 * its first instruction: its blocks are looked for at each collect */
		return pid_qemu_open(p->qemu, p->pid, &o->qmp, o->nr_regions ? o->regions : NULL,
				     o->nr_regions, o->launched, p->method == &pid_method_uffd);
	}
	if (!o->nr_regions)
		return 0;
	p->sels = calloc(o->nr_regions, sizeof(*p->sels));
	if (!p->sels)
		return dpt_fail(-ENOMEM, "out of memory");
	for (unsigned i = 0; i < o->nr_regions; i++) {
		err = pid_sel_parse(&p->sels[i], o->regions[i]);
		if (err)
			return err;
	}
	p->nr_sels = o->nr_regions;
	return 0;
}
/* The selectors in force: the QEMU layout's, or the process layout's. */
static const struct pid_sel *selectors(const struct pid_proc *p, unsigned *nr)
{
	*nr = p->qemu ? p->qemu->nr_sels : p->nr_sels;
	return p->qemu ? p->qemu->sels : p->sels;
}

void pid_proc_describe(const struct pid_proc *p, char *buf, size_t size)
{
	char q[64];

	if (p->qemu) {
		pid_qemu_describe(p->qemu, q, sizeof(q));
		snprintf(buf, size, "pid %d (%s, %s)", p->pid, p->comm, q);
	} else {
		snprintf(buf, size, "pid %d (%s)", p->pid, p->comm);
	}
}

/*
 * A userfaultfd of the target's own: one in its fd table means it registers (or will) some
 * of its memory with it -- QEMU receiving a postcopy migration or taking a background
 * snapshot, Firecracker restoring a snapshot through a page-fault handler, CRIU lazy pages.
 * A range can be registered with one userfaultfd only, so dpt registering first would make
 * the target's own registration fail (EBUSY), and the target with it: refused. Its fd number,
 * or 0 if it holds none.
 */
static int own_userfaultfd(pid_t pid)
{
	char path[32], link[64], fp[320];
	struct dirent *de;
	int fd = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	while (d && !fd && (de = readdir(d))) {
		ssize_t n;

		snprintf(fp, sizeof(fp), "%s/%s", path, de->d_name);
		n = readlink(fp, link, sizeof(link) - 1);
		if (n > 0 && (link[n] = 0, !strcmp(link, "anon_inode:[userfaultfd]")))
			fd = atoi(de->d_name);
	}
	if (d)
		closedir(d);
	return fd;
}

static int check_own_userfaultfd(struct pid_proc *p)
{
	int fd = own_userfaultfd(p->pid);

	if (!fd)
		return 0;
	return dpt_fail(-EBUSY,
			"pid %d (%s) holds a userfaultfd of its own (fd %d): it registers memory "
			"with it (a postcopy migration or background snapshot in QEMU, a snapshot "
			"restored through a page-fault handler, CRIU lazy pages), and a range can "
			"have one userfaultfd only, so dpt's would make its own fail; track it once "
			"it has let go of it (for QEMU: once the migration or snapshot has "
			"completed), or use --method soft-dirty where the kernel has it",
			p->pid, p->comm, fd);
}

int pid_proc_check(pid_t pid)
{
	struct pid_proc p = {.pid = pid, .pidfd = -1, .maps_fd = -1, .pagemap_fd = -1,
			     .mem_fd = -1, .uffd = -1, .clear_refs_fd = -1};
	int err = check_target(&p);

	pid_proc_close(&p);
	return err;
}

int pid_proc_open(struct pid_proc *p, pid_t pid, const struct pid_method *m,
		  const struct pid_proc_opts *o)
{
	const struct pid_sel *sels;
	unsigned nr_sels;
	int err;

	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->method = m;
	p->pidfd = p->maps_fd = p->pagemap_fd = p->mem_fd = p->uffd = p->clear_refs_fd = -1;
	err = check_target(p);
	if (!err && m == &pid_method_uffd)
		err = check_own_userfaultfd(p);
	if (!err)
		err = setup_regions(p, o);
	if (err)
		return err;
	/* strict: a region that is not (entirely) mapped is an error; a QEMU that waits has an
	 * empty layout */
	sels = selectors(p, &nr_sels);
	if (!p->qemu || p->qemu->wait == PID_QEMU_READY)
		err = pid_layout_build(&p->cur, &p->maps, sels, nr_sels, !o->lax, p->pid);
	if (err == -ENXIO && p->qemu && p->qemu->block_names[0]) {
		char why[512];

		snprintf(why, sizeof(why), "%s", dpt_last_error());
		dpt_clear_error();
		err = dpt_fail(err, "%s, nor a RAM block of that name (its RAM blocks: %s)", why,
			       p->qemu->block_names);
	}
	if (!err && m == &pid_method_uffd)
		err = check_not_tracked(p);
	if (err)
		return err;
	p->pidfd = syscall(SYS_pidfd_open, p->pid, 0);
	if (p->pidfd < 0)
		return dpt_fail(errno == ESRCH ? -ESRCH : -errno, "pid %d: pidfd_open: %s", p->pid,
				strerror(errno));
	return m->attach(p);
}

bool pid_proc_exited(const struct pid_proc *p)
{
	struct pollfd pfd = {.fd = p->pidfd, .events = POLLIN};

	return p->pidfd >= 0 && poll(&pfd, 1, 0) == 1;
}

static int exited_err(struct pid_proc *p)
{
	dpt_clear_error();
	return dpt_fail(-ESRCH, "pid %d (%s) exited", p->pid, p->comm);
}

/*
 * The target called execve(): same pid, a new address space. Our userfaultfd, pagemap and
 * maps fds belong to the old one, which is gone. Attach again as open() did -- inject into the
 * new program, reopen the /proc files -- and forget the old layout, so every mapping is fresh:
 * the next sample counts what the new program populated since its exec, in its own regions
 * (regions_changed). A wrapper that execs (env, nice, taskset, sh -c 'exec ...') is thus
 * followed into the program it runs. QEMU block layouts are not carried over.
 */
int pid_proc_exec(struct pid_proc *p)
{
	int err;

	if (p->qemu)
		return dpt_fail(-ESRCH,
				"pid %d (%s) replaced its program (execve): its QEMU "
				"RAM blocks are gone",
				p->pid, p->comm);
	if (p->method == &pid_method_uffd && check_own_userfaultfd(p))
		return -EBUSY;
	p->method->detach(p);
	close(p->maps_fd);
	close(p->pagemap_fd);
	if (p->mem_fd >= 0)
		close(p->mem_fd);
	p->maps_fd = p->pagemap_fd = p->mem_fd = -1;
	free(p->scratch);
	p->scratch = NULL;
	pid_read_comm(p->pid, p->comm, sizeof(p->comm));
	err = open_proc_files(p);
	if (!err)
		err = p->method->attach(p);
	if (err)
		return pid_proc_exited(p) ? exited_err(p)
					  : dpt_fail_ctx(err, "pid %d: after its execve", p->pid);
	pid_proc_fresh(p);
	p->execs++;
	dpt_debug("pid %d replaced its program with %s: tracking it afresh", p->pid, p->comm);
	return 0;
}

/* Read the maps again; follow an execve, report an exit. */
static int reread_maps(struct pid_proc *p)
{
	int err = pid_maps_read_fd(&p->maps, p->maps_fd);

	if (!err && p->maps.nr)
		return 0;
	if (pid_proc_exited(p))
		return exited_err(p);
	return pid_proc_exec(p);
}

/*
 * The layout of the maps just read, under the selectors. A QEMU target is brought up to date
 * first (qemu.c): it may have stopped waiting, or gained or lost RAM blocks; its layout is
 * empty while it waits (a launched QEMU before it maps its RAM, one receiving a migration).
 */
static int build_layout(struct pid_proc *p, struct pid_layout *l)
{
	const struct pid_sel *sels;
	unsigned nr;

	if (p->qemu) {
		int r = pid_qemu_update(p->qemu, &p->maps);

		if (r < 0)
			return r;
		if (p->qemu->wait != PID_QEMU_READY) {
			l->nr_areas = l->nr_regions = 0;
			l->total = 0;
			return 0;
		}
	}
	sels = selectors(p, &nr);
	return pid_layout_build(l, &p->maps, sels, nr, false, p->pid);
}

/* Room for the per-page bitmaps of a layout of total pages. */
static int bitmaps_reserve(struct pid_proc *p, uint64_t total)
{
	size_t words = bitmap_words(total) ? bitmap_words(total) : 1;
	uint64_t **v[] = {&p->bitmap, &p->discarded, &p->has_data, &p->has_data_next};

	if (words <= p->bitmap_words)
		return 0;
	for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint64_t *bm = realloc(*v[i], words * sizeof(uint64_t));

		if (!bm)
			return dpt_fail(-ENOMEM, "out of memory");
		*v[i] = bm;
	}
	p->bitmap_words = words;
	return 0;
}

/*
 * Discarded pages: those found empty (gone, from the method) that held data -- present when
 * tracking began, or written since, and not discarded since -- and were not written again.
 * What held data is carried from one layout to the next by address: a page keeps its data
 * when its VMA is split, merged or replaced in place (munmap + mmap: the method then finds it
 * empty, and it counts as discarded); an address tracked for the first time holds none. On
 * return p->discarded holds the discarded pages of the interval and p->has_data what holds
 * data now, both numbered as p->next.
 */
static void account_discards(struct pid_proc *p, const uint64_t *bm, uint64_t *gone)
{
	size_t words = bitmap_words(p->next.total);
	uint64_t *data = p->has_data_next;

	memset(data, 0, words * sizeof(*data));
	pid_layout_carry(&p->next, data, &p->cur, p->has_data);
	for (size_t i = 0; i < words; i++) {
		uint64_t d = gone[i] & data[i] & ~bm[i];

		data[i] = (data[i] & ~gone[i]) | bm[i];
		gone[i] = d;
	}
	p->has_data_next = p->has_data;
	p->has_data = data;
}

/*
 * What this interval leaves out, said when it changes: areas another userfaultfd holds (the
 * target's own, registered since we armed its other memory), and, with the default
 * selection, shared writable memory. Both flag the sample as untracked.
 */
static unsigned say_untracked(struct pid_proc *p)
{
	char names[512], sz[32];
	uint64_t shared = !p->qemu && !p->nr_sels ? pid_maps_shared(&p->maps, names, sizeof(names))
						   : 0;

	if (p->untracked != p->untracked_said && p->untracked)
		dpt_warn("pid %d (%s): %s of its memory is registered with a userfaultfd "
			 "that is not dpt's (its own?): not tracked while it is",
			 p->pid, p->comm, pid_size(sz, sizeof(sz), p->untracked));
	else if (p->untracked != p->untracked_said)
		dpt_info("pid %d (%s): all of its memory is tracked again", p->pid, p->comm);
	if (shared > p->shared_said)
		dpt_warn("pid %d (%s): %s of shared writable memory is not tracked: %s. "
			 "Shared memory is also written through the other processes that map it, "
			 "which dpt does not see; to track this process's writes to it anyway, "
			 "name it with --region",
			 p->pid, p->comm, pid_size(sz, sizeof(sz), shared), names);
	p->untracked_said = p->untracked;
	if (shared > p->shared_said || !shared)
		p->shared_said = shared; /* said again when it grows (or comes back) */
	return p->untracked || shared ? DPT_SAMPLE_UNTRACKED : 0;
}

/*
 * Regions tracked per huge page (hugetlbfs: a write there counts all the 4 KiB pages of its
 * huge page), said in a line when they first appear; the samples are flagged huge while any
 * is tracked.
 */
static unsigned say_huge(struct pid_proc *p, const struct pid_layout *l)
{
	uint64_t sig = 0;
	unsigned flags = 0;

	for (unsigned r = 0; r < l->nr_regions; r++)
		if (l->regions[r].granule > PID_PAGE) {
			sig = (sig ^ l->regions[r].start ^ l->regions[r].granule) * 1099511628211ULL;
			flags = DPT_SAMPLE_HUGE;
		}
	if (p->thp_bytes > p->thp_said)
		dpt_warn("pid %d (%s): %.1f MiB of its tracked memory is in transparent huge pages, "
			 "where soft-dirty sees writes per 2 MiB: each counts its 512 pages",
			 p->pid, p->comm, p->thp_bytes / 1048576.0);
	if (p->thp_bytes > p->thp_said || !p->thp_bytes)
		p->thp_said = p->thp_bytes;
	if (p->thp_bytes)
		flags = DPT_SAMPLE_HUGE;
	if (sig == p->huge_said)
		return flags;
	p->huge_said = sig;
	for (unsigned r = 0; r < l->nr_regions; r++) {
		const struct dpt_region *g = &l->regions[r];

		if (g->granule > PID_PAGE)
			dpt_warn("pid %d (%s): region %s (0x%" PRIx64 ", %.1f MiB) is backed by "
				 "%u KiB huge pages: writes there are seen per huge page, each "
				 "counting its %u pages",
				 p->pid, p->comm, g->name[0] ? g->name : "anonymous", g->start,
				 g->pages * PID_PAGE / 1048576.0, g->granule >> 10,
				 (unsigned)(g->granule / PID_PAGE));
	}
	return flags;
}

/*
 * A child held at its birth, not armed yet: the pages it already has of its own. After a
 * fork, parent and child share every anonymous page (copy-on-write); a page the child holds
 * alone was written on its behalf before it ran -- by the kernel, writing its thread id into
 * its thread control block (CLONE_CHILD_SETTID, glibc's fork) -- or copied at the fork
 * because the parent had it pinned. Its parent is held too, so that it cannot break the
 * sharing of a page meanwhile (which would leave the child's copy alone, and look written).
 * They are counted in the child's first interval (pid_proc_add_birth_pages). Read from
 * pagemap: present and exclusively mapped (bit 56).
 */
int pid_proc_note_birth(struct pid_proc *p)
{
	uint64_t e[512];

	/* its layout's areas: what it tracks (not an ASan shadow's terabytes of reservation) */
	for (unsigned i = 0; i < p->cur.nr_areas; i++) {
		const struct pid_tarea *a = &p->cur.areas[i];

		if (a->shared)
			continue;
		for (uint64_t addr = a->start; addr < a->end;) {
			size_t n = (a->end - addr) / PID_PAGE;
			ssize_t got;

			if (n > 512)
				n = 512;
			got = pread(p->pagemap_fd, e, n * 8, (off_t)(addr / PID_PAGE * 8));
			if (got <= 0)
				break;
			for (size_t k = 0; k < (size_t)got / 8; k++) {
				uint64_t *v;

				if ((e[k] & (PM_ENTRY_PRESENT | PM_ENTRY_EXCLUSIVE)) !=
				    (PM_ENTRY_PRESENT | PM_ENTRY_EXCLUSIVE))
					continue;
				v = realloc(p->birth, (p->nr_birth + 1) * sizeof(*v));
				if (!v)
					return dpt_fail(-ENOMEM, "out of memory");
				p->birth = v;
				p->birth[p->nr_birth++] = addr + k * PID_PAGE;
			}
			addr += (uint64_t)got / 8 * PID_PAGE;
		}
	}
	return 0;
}

/* The pages noted at its birth, counted in its first interval, then forgotten. */
void pid_proc_add_birth_pages(struct pid_proc *p)
{
	for (unsigned i = 0; i < p->nr_birth; i++)
		for (unsigned a = 0; a < p->cur.nr_areas; a++) {
			const struct pid_tarea *t = &p->cur.areas[a];

			if (p->birth[i] >= t->start && p->birth[i] < t->end) {
				bitmap_set(p->bitmap, pid_layout_page(&p->cur, t, p->birth[i]));
				break;
			}
		}
	free(p->birth);
	p->birth = NULL;
	p->nr_birth = 0;
}

void pid_proc_fresh(struct pid_proc *p)
{
	p->cur.nr_areas = p->cur.nr_regions = 0;
	p->cur.total = 0;
	p->first = true;
}

int pid_proc_start(struct pid_proc *p)
{
	int err;

	err = reread_maps(p);
	if (!err)
		err = build_layout(p, &p->cur);
	if (!err)
		err = bitmaps_reserve(p, p->cur.total);
	if (err)
		return err;
	memset(p->has_data, 0, bitmap_words(p->cur.total) * sizeof(uint64_t));
	p->untracked = 0;
	err = p->method->arm(p, &p->cur, p->has_data);
	if (err)
		return err;
	say_untracked(p);
	say_huge(p, &p->cur);
	p->first = true;
	return 0;
}

int pid_proc_collect(struct pid_proc *p, unsigned *flags, bool *changed)
{
	struct pid_layout tmp;
	size_t words;
	int err;

	err = reread_maps(p);
	if (!err)
		err = build_layout(p, &p->next);
	if (err)
		return err;
	pid_layout_mark_fresh(&p->next, &p->cur);
	err = bitmaps_reserve(p, p->next.total);
	if (err)
		return err;
	words = bitmap_words(p->next.total);
	memset(p->bitmap, 0, words * sizeof(*p->bitmap));
	memset(p->discarded, 0, words * sizeof(*p->discarded));
	p->untracked = 0;
	err = p->method->collect(p, &p->next, p->bitmap, p->discarded);
	if (err && pid_proc_exited(p))
		return exited_err(p); /* the mm died under the scan: that error means nothing */
	if (err)
		return err;
	account_discards(p, p->bitmap, p->discarded);
	*changed = p->first || !pid_layout_same_regions(&p->next, &p->cur);
	tmp = p->cur;
	p->cur = p->next;
	p->next = tmp;
	p->first = false;
	pid_proc_add_birth_pages(p);
	*flags |= say_untracked(p) | say_huge(p, &p->cur);
	return 0;
}

void pid_proc_close(struct pid_proc *p)
{
	if (p->method)
		p->method->detach(p);
	if (p->pidfd >= 0)
		close(p->pidfd);
	if (p->maps_fd >= 0)
		close(p->maps_fd);
	if (p->pagemap_fd >= 0)
		close(p->pagemap_fd);
	if (p->mem_fd >= 0)
		close(p->mem_fd);
	pid_maps_fini(&p->maps);
	pid_layout_fini(&p->cur);
	pid_layout_fini(&p->next);
	free(p->bitmap);
	free(p->discarded);
	free(p->has_data);
	free(p->has_data_next);
	free(p->scratch);
	free(p->sels);
	free(p->birth);
	if (p->qemu)
		pid_qemu_fini(p->qemu);
	free(p->qemu);
	memset(p, 0, sizeof(*p));
	p->pidfd = p->maps_fd = p->pagemap_fd = p->mem_fd = p->uffd = p->clear_refs_fd = -1;
}
