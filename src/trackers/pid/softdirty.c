/* softdirty.c - the pid tracker's soft-dirty method, for kernels without PAGEMAP_SCAN.
 *
 * Mechanism (CONFIG_MEM_SOFT_DIRTY, Linux >= 3.11):
 *  1. Writing "4" to /proc/PID/clear_refs clears the soft-dirty bit of every pte of the process
 *     and write-protects them; the next write to a page faults and sets the bit again.
 *  2. Each interval, read the 64-bit /proc/PID/pagemap entries of every tracked area, in large
 *     batched preads, back to back; bit 55 is the soft-dirty bit.
 *  3. Right after the last read, write "4" again.
 * Nothing is installed in the target: there is nothing to undo when dpt leaves or dies.
 * The same reads say which pages are neither present nor swapped: the tracker (pid.c) takes
 * those that held data before for discarded pages. A discarded page is never taken for a
 * written one here (an empty entry is not counted, and a read maps the zero page clean).
 *
 * What is exact and what is not. The read and the clear are two steps, and clear_refs works
 * on the whole process at once: a page first written after its entry was read and before the
 * clear reaches its pte loses its bit, and that write is counted in no interval (unless the
 * page is written again). Any order of the two steps has such a window: clearing first would
 * throw away the writes made since the previous read instead. So the window is kept as short
 * as possible: all areas are read back to back into one buffer with no work in between, and
 * the clear follows at once; the lost writes are bounded by the pages first written during
 * that window (its length is reported with dpt_debug). What is exact: every page reported
 * was written in its interval (no false positives, first interval of a fresh area aside); a
 * page written before its entry is read counts in this interval, after the clear in the next.
 * Freezing the target (SIGSTOP or the cgroup freezer) around the window would close it, at
 * the price of stopping the target every interval; dpt does not. Exact, with no window: the
 * uffd method. Also: a process sharing clear_refs with another soft-dirty user (CRIU
 * pre-dump, a second dpt) sees its bits cleared by the other; huge pages are tracked per
 * 2 MiB (a write sets the bit of the huge pmd, reported for all its 512 entries).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "trackers/pid/int.h"
#include "trackers/pid/kabi.h"

#define SD_BATCH_ENTRIES 65536 /* 512 KiB of pagemap per pread */

static int clear_refs(int fd)
{
	if (pwrite(fd, "4", 1, 0) != 1)
		return -errno;
	return 0;
}

static int read_entry(int pagemap, const void *addr, uint64_t *e)
{
	if (pread(pagemap, e, 8, (off_t)((uintptr_t)addr / PID_PAGE * 8)) != 8)
		return -errno;
	return 0;
}

/* Probe by doing, as CRIU does: clear, check the bit is gone, write, check it is back.
 * Without CONFIG_MEM_SOFT_DIRTY the clear succeeds and the bit simply never comes. */
static int sd_probe(void)
{
	volatile char *mem = MAP_FAILED;
	int pm = -1, cr = -1, err = 0;
	uint64_t before = 0, after = 0;

	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	cr = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	mem = mmap(NULL, PID_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pm < 0 || cr < 0 || mem == MAP_FAILED) {
		err = dpt_fail(-EOPNOTSUPP, "soft-dirty probe: %s", strerror(errno));
		goto out;
	}
	mem[0] = 1;
	err = clear_refs(cr);
	if (!err)
		err = read_entry(pm, (const void *)mem, &before);
	mem[0] = 2;
	if (!err)
		err = read_entry(pm, (const void *)mem, &after);
	if (err) {
		err = dpt_fail(-EOPNOTSUPP, "soft-dirty probe: %s", strerror(-err));
		goto out;
	}
	if ((before & PM_ENTRY_SOFT_DIRTY) || !(after & PM_ENTRY_SOFT_DIRTY))
		err = dpt_fail(-EOPNOTSUPP,
			       "this kernel has no soft-dirty tracking "
			       "(CONFIG_MEM_SOFT_DIRTY): a written page does not show pagemap "
			       "bit 55");
out:
	if (mem != MAP_FAILED)
		munmap((void *)mem, PID_PAGE);
	if (pm >= 0)
		close(pm);
	if (cr >= 0)
		close(cr);
	return err;
}

static int sd_attach(struct pid_proc *p)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/clear_refs", p->pid);
	p->clear_refs_fd = open(path, O_WRONLY | O_CLOEXEC);
	if (p->clear_refs_fd < 0)
		return dpt_fail(-errno, "%s: %s", path, strerror(errno));
	p->scratch_size = SD_BATCH_ENTRIES * sizeof(uint64_t);
	p->scratch = malloc(p->scratch_size);
	if (!p->scratch)
		return dpt_fail(-ENOMEM, "out of memory");
	return 0;
}

static int read_area(struct pid_proc *p, struct pid_layout *l, const struct pid_tarea *a,
		     uint64_t *bm, uint64_t *has_data, uint64_t *gone);

static int sd_arm(struct pid_proc *p, struct pid_layout *l, uint64_t *has_data)
{
	int err = 0;

	/* which pages hold data now: a read of every entry, then the clear */
	for (unsigned i = 0; i < l->nr_areas; i++) {
		err = read_area(p, l, &l->areas[i], NULL, has_data, NULL);
		if (err == -ESRCH)
			return err;
	}
	err = clear_refs(p->clear_refs_fd);
	if (err)
		return dpt_fail(err, "pid %d: clear_refs: %s", p->pid, strerror(-err));
	for (unsigned i = 0; i < l->nr_areas; i++)
		l->areas[i].fresh = false;
	return 0;
}

/*
 * Which entries count as written (in bm): soft-dirty and present or swapped (a new VMA carries
 * VM_SOFTDIRTY, which marks even its empty entries until the first clear), and in a private
 * file mapping not a page-cache page (bit 61: a written page would have been copied to an
 * anonymous one). In a fresh area every resident page counts, as with the uffd method.
 * has_data: the present or swapped pages; gone: the others. Each may be NULL.
 */
static int read_area(struct pid_proc *p, struct pid_layout *l, const struct pid_tarea *a,
		     uint64_t *bm, uint64_t *has_data, uint64_t *gone)
{
	const uint64_t here = PM_ENTRY_PRESENT | PM_ENTRY_SWAPPED;
	const uint64_t skip_file = a->file && !a->shared ? PM_ENTRY_FILE : 0;
	uint64_t *e = p->scratch;

	for (uint64_t addr = a->start; addr < a->end;) {
		size_t n = (a->end - addr) / PID_PAGE;
		ssize_t got;
		uint64_t page = pid_layout_page(l, a, addr);

		if (n > SD_BATCH_ENTRIES)
			n = SD_BATCH_ENTRIES;
		got = pread(p->pagemap_fd, e, n * 8, (off_t)(addr / PID_PAGE * 8));
		if (got < 0)
			return -errno;
		if (!got)
			return -ESRCH;
		n = got / 8;
		for (size_t i = 0; i < n; i++) {
			uint64_t v = e[i];

			if (!(v & here)) {
				if (gone)
					bitmap_set(gone, page + i);
				continue;
			}
			if (has_data)
				bitmap_set(has_data, page + i);
			if (bm && (v & PM_ENTRY_SOFT_DIRTY) && !(v & skip_file))
				bitmap_set(bm, page + i);
		}
		addr += n * PID_PAGE;
	}
	return 0;
}

/*
 * Transparent huge pages: a write to one sets its pmd's soft-dirty bit, which pagemap shows for
 * all its 512 entries -- the method sees writes there per 2 MiB. Which tracked memory is THP
 * comes from smaps (AnonHugePages of the VMAs tracked), read at most every 10 s: into
 * p->thp_bytes, for the tracker to say and flag (proc.c).
 */
static void look_for_thp(struct pid_proc *p, const struct pid_layout *l)
{
	char path[64], line[512];
	struct timespec now;
	bool tracked = false;
	uint64_t sum = 0;
	long ms;
	FILE *f;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = now.tv_sec * 1000 + now.tv_nsec / 1000000;
	if (ms < p->thp_next_ms)
		return;
	p->thp_next_ms = ms + 10000;
	snprintf(path, sizeof(path), "/proc/%d/smaps", p->pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f)) {
		uint64_t s, e, kb;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " ", &s, &e) == 2 &&
		    strchr(line, ':') > strchr(line, ' ')) {
			tracked = false;
			for (unsigned i = 0; i < l->nr_areas && !tracked; i++)
				tracked = l->areas[i].start < e && s < l->areas[i].end;
		} else if (tracked && sscanf(line, "AnonHugePages: %" SCNu64 " kB", &kb) == 1) {
			sum += kb << 10;
		}
	}
	if (f)
		fclose(f);
	p->thp_bytes = sum;
}

static int sd_collect(struct pid_proc *p, struct pid_layout *l, uint64_t *bm, uint64_t *gone)
{
	struct timespec t0, t1;
	int err;

	look_for_thp(p, l);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned i = 0; i < l->nr_areas; i++) {
		err = read_area(p, l, &l->areas[i], bm, NULL, gone);
		if (err == -ESRCH)
			return err;
		if (err)
			dpt_debug("pid %d: pagemap 0x%" PRIx64 "-0x%" PRIx64 ": %s", p->pid,
				  l->areas[i].start, l->areas[i].end, strerror(-err));
		l->areas[i].fresh = false;
	}
	err = clear_refs(p->clear_refs_fd);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (err)
		return dpt_fail(err, "pid %d: clear_refs: %s", p->pid, strerror(-err));
	dpt_debug("soft-dirty: read-to-clear window %.0f us",
		  (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3);
	return 0;
}

static void sd_detach(struct pid_proc *p)
{
	if (p->clear_refs_fd >= 0)
		close(p->clear_refs_fd);
	p->clear_refs_fd = -1;
}

const struct pid_method pid_method_softdirty = {
    .name = "soft-dirty",
    .probe = sd_probe,
    .attach = sd_attach,
    .arm = sd_arm,
    .collect = sd_collect,
    .detach = sd_detach,
};
