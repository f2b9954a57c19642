/* zscan.c - the pid tracker's non-zero scan: which tracked pages hold anything but zeros.
 *
 * Mechanism (zscan_prepare on the loop's thread, zscan_run on a thread of its own while the
 * tracker collects, zscan_free on the loop's thread again):
 *  1. prepare: snapshot what the last sample numbered -- every live process of the set, its
 *     areas, regions and first pages -- and take descriptors of our own: a dup of each
 *     process's pagemap and mem fds (both bound to the address space they were opened on,
 *     so neither an execve nor a reused pid can make the scan read another program), and for
 *     file and shared areas the mapped file itself (/proc/PID/map_files).
 *  2. run: for each window of 512 pages (2 MiB), read the pagemap entries, then at once the
 *     content of the present pages, in runs of up to 64 pages a pread of /proc/PID/mem; a
 *     page is non-zero if any of its bytes is. Absent pages are never read (that would fault
 *     them in): anonymous memory there is zero; a file or shared mapping shows what its file
 *     holds, read from the page cache when it is resident there.
 *  3. what cannot be read without changing the target is counted non-zero and unknown:
 *     swapped-out pages, file pages that are not in the page cache, pages that vanish under
 *     the read, and what is left of a process that exits during the scan. Nothing is left in
 *     the target: the scan only reads, from outside.
 *
 * Why /proc/PID/mem and not process_vm_readv(), which copies 20% faster: process_vm_readv()
 * pins the pages it reads (FOLL_PIN), and the kernel refuses a read-only pin of an anonymous
 * page that is not exclusive to the process -- one shared copy-on-write with a parent or
 * child since a fork, or merged by KSM -- without unsharing it first (gup_must_unshare()):
 * it copies the page into the target. Reading a forked child's 16 MiB that way made all 4096
 * pages private copies (pagemap bit 56 set in both processes); /proc/PID/mem takes plain
 * references (FOLL_GET) and left them shared. It also takes the target's mmap lock one page at
 * a time, never for a whole batch.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "dpt/tracker.h"
#include "trackers/pid/int.h"
#include "trackers/pid/kabi.h"

#define ZS_WINDOW    512ULL /* pages of pagemap read at once, then their content (2 MiB) */
#define ZS_READ	     64ULL  /* pages of content per pread (256 KiB: bench/pid-zscan) */
#define PM_PFN_MASK  ((1ULL << 55) - 1)
#define PM_SWAP_TYPE 31ULL /* swap type bits of a swap entry (with the PFN visible) */
#define PM_MARKER    31ULL /* the type of a pte marker: the last one (SWP_PTE_MARKER) */

/* what the scan says once a run (struct pid_set's zscan_said) */
#define ZS_SAID_SWAPPED 1u
#define ZS_SAID_FILES	2u

struct zs_pfn {
	bool probed;
	bool visible;	   /* PFNs (and swap types) are shown to dpt: CAP_SYS_ADMIN */
	uint64_t zero_pfn; /* the shared zero page's, when visible */
};

struct zs_proc {
	pid_t pid;
	char comm[16];
	int pagemap_fd, mem_fd; /* ours (dups), -1 if none */
	bool swap_free;		/* VmSwap was 0 at prepare (used when PFNs are hidden) */
	bool gone;		/* its address space went away during the scan */
};

struct zs_area {
	uint64_t start, end; /* page aligned, inside one VMA */
	uint64_t page;	     /* the numbering's page of start */
	unsigned proc;
	bool file;	   /* absent pages show the file's content (a file or shared mapping) */
	bool huge;	   /* hugetlbfs */
	int file_fd;	   /* file: the mapped file, or -1 if it could not be opened */
	uint64_t file_off; /* file: its offset at start */
};

struct dpt_zscan {
	struct zs_proc *procs;
	unsigned nr_procs;
	struct zs_area *areas;
	unsigned nr_areas;
	struct dpt_region *regions;
	unsigned nr_regions;
	uint64_t total;
	uint64_t *bm;
	struct zs_pfn pfn; /* what pagemap shows dpt (probed on the loop's thread) */

	/* scratch of the run */
	uint64_t pm[ZS_WINDOW];
	uint8_t *buf; /* ZS_READ pages, page aligned */
	uint8_t *map; /* file area: our read-only mapping of its file, or MAP_FAILED */
	uint64_t map_len;
	uint8_t res[ZS_WINDOW]; /* mincore() of a window */

	/* results */
	uint64_t unknown, swapped, uncached, bytes;
	unsigned *said;	    /* the tracker's record of the lines said (written at free) */
	unsigned said_then; /* its value at prepare */
	unsigned said_now;  /* lines this scan said */
};

/* ---- what dpt may see in pagemap ---- */

/*
 * pagemap shows page frame numbers, and the type of a swap entry, only to a reader with
 * CAP_SYS_ADMIN; to others they read 0. Probe by doing, once: read-fault two pages of dpt's
 * own (an anonymous read fault maps the shared zero page) and look at their entries: the same
 * non-zero PFN in both is the zero page's (two pages really allocated would differ). With the
 * PFN visible, pages mapped to the zero page are known zero without a read, and a pte marker
 * (a uffd-wp marker on a never-written page: swap type 31) is told from a page really swapped
 * out; without it, both look swapped.
 */
static struct zs_pfn zs_pfn_probe(void)
{
	static struct zs_pfn pfn;
	volatile uint8_t *m[2];
	uint64_t e[2] = {0, 0};
	int fd;

	if (pfn.probed)
		return pfn;
	pfn.probed = true;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	for (unsigned i = 0; i < 2; i++) {
		m[i] = mmap(NULL, PID_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			    0);
		if (m[i] != MAP_FAILED && fd >= 0 && m[i][0] == 0 &&
		    pread(fd, &e[i], 8, (off_t)((uintptr_t)m[i] / PID_PAGE * 8)) != 8)
			e[i] = 0;
	}
	if ((e[0] & PM_ENTRY_PRESENT) && (e[0] & PM_PFN_MASK) && e[0] == e[1]) {
		pfn.visible = true;
		pfn.zero_pfn = e[0] & PM_PFN_MASK;
	}
	for (unsigned i = 0; i < 2; i++)
		if (m[i] != MAP_FAILED)
			munmap((void *)m[i], PID_PAGE);
	if (fd >= 0)
		close(fd);
	return pfn;
}

/* VmSwap of /proc/PID/status: does the process have any page swapped out? */
static bool zs_swap_free(pid_t pid)
{
	char path[64], buf[4096], *s;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (pid_read_file(path, buf, sizeof(buf)) <= 0 || !(s = strstr(buf, "VmSwap:")))
		return false;
	return strtoull(s + 7, NULL, 10) == 0;
}

/* ---- prepare: the snapshot ---- */

static int zs_dup(int fd)
{
	return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

/* The VMA of maps m that holds addr, or NULL. */
static const struct pid_area *zs_vma(const struct pid_maps *m, uint64_t addr)
{
	for (unsigned i = 0; i < m->nr; i++)
		if (m->v[i].start <= addr && addr < m->v[i].end)
			return &m->v[i];
	return NULL;
}

/*
 * The file mapped at area t of p, into a->file_fd: opened through /proc/PID/map_files (which
 * names whole VMAs, and needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE), or -1. A private
 * mapping of /dev/zero is anonymous memory with a device for a file: not a file area.
 */
static void zs_open_file(struct zs_area *a, const struct pid_proc *p, const struct pid_tarea *t)
{
	const struct pid_area *v = zs_vma(&p->maps, t->start);
	char path[96];
	struct stat st;

	if (!v || v->inode != t->inode)
		return;
	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, p->pid, v->start,
		 v->end);
	a->file_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (a->file_fd >= 0 && !fstat(a->file_fd, &st) && S_ISCHR(st.st_mode)) {
		close(a->file_fd);
		a->file_fd = -1;
		a->file = false;
	}
}

static int zs_grow(void **v, unsigned nr, unsigned *cap, size_t size)
{
	void *n;

	if (nr < *cap)
		return 0;
	n = realloc(*v, (*cap ? 2 * *cap : 16) * size);
	if (!n)
		return dpt_fail(-ENOMEM, "out of memory");
	*v = n;
	*cap = *cap ? 2 * *cap : 16;
	return 0;
}

/* /proc/PID/mem could not be opened with the tracker's other files: why (a process of a
 * followed set has its present pages counted unknown instead). */
static int zs_no_mem(const struct pid_proc *p)
{
	char path[64];
	int fd, err;

	snprintf(path, sizeof(path), "/proc/%d/mem", p->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	err = fd < 0 ? -errno : -EBADF;
	if (fd >= 0)
		close(fd);
	return dpt_fail(err, "pid %d (%s): %s: %s", p->pid, p->comm, path, strerror(-err));
}

/* Add process p, its pages numbered from base; following a set, its regions are named
 * "PID:name" as in the samples. */
static int zs_add_proc(struct dpt_zscan *zs, const struct pid_proc *p, uint64_t base, bool set,
		       unsigned *cap_a, unsigned *cap_r, unsigned *cap_p)
{
	const struct pid_layout *l = &p->cur;
	struct zs_proc *pr;
	int err = zs_grow((void **)&zs->procs, zs->nr_procs, cap_p, sizeof(*zs->procs));

	if (err)
		return err;
	pr = &zs->procs[zs->nr_procs++];
	memset(pr, 0, sizeof(*pr));
	pr->pid = p->pid;
	snprintf(pr->comm, sizeof(pr->comm), "%.15s", p->comm);
	pr->pagemap_fd = zs_dup(p->pagemap_fd);
	pr->mem_fd = zs_dup(p->mem_fd);
	if (pr->mem_fd < 0 && !set)
		return zs_no_mem(p);
	pr->swap_free = !zs->pfn.visible && zs_swap_free(p->pid);
	for (unsigned r = 0; r < l->nr_regions; r++) {
		struct dpt_region *g;

		if ((err = zs_grow((void **)&zs->regions, zs->nr_regions, cap_r, sizeof(*g))))
			return err;
		g = &zs->regions[zs->nr_regions++];
		*g = l->regions[r];
		g->first_page += base;
		if (set)
			pid_member_region_name(g->name, sizeof(g->name), p->pid,
					       l->regions[r].name);
	}
	for (unsigned i = 0; i < l->nr_areas; i++) {
		const struct pid_tarea *t = &l->areas[i];
		struct zs_area *a;

		if ((err = zs_grow((void **)&zs->areas, zs->nr_areas, cap_a, sizeof(*a))))
			return err;
		a = &zs->areas[zs->nr_areas++];
		*a = (struct zs_area){
		    .start = t->start,
		    .end = t->end,
		    .page = base + pid_layout_page(l, t, t->start),
		    .proc = zs->nr_procs - 1,
		    .file = t->file || t->shared,
		    .huge = t->granule > PID_PAGE,
		    .file_fd = -1,
		    .file_off = t->offset,
		};
		if (a->file)
			zs_open_file(a, p, t);
	}
	return 0;
}

/*
 * The processes scanned, in the order and numbering of the samples: the one process; or, for
 * a followed set, each member tracked and still there, one after another, as pid_set_collect()
 * lays them out. A member that has exited is left out (its memory is gone), so the scan's
 * numbering is the last sample's less the processes that ended in it; the record carries its
 * own region table.
 */
static int zs_snapshot(struct dpt_zscan *zs, struct pid_set *S)
{
	unsigned cap_a = 0, cap_r = 0, cap_p = 0;
	uint64_t base = 0;
	int err = 0;

	for (unsigned i = 0; i < S->nr && !err; i++) {
		const struct pid_member *m = S->v[i];

		if (m->gone || !m->armed || m->exited)
			continue;
		if (!S->follow && i > 0)
			break;
		err = zs_add_proc(zs, &m->p, base, S->follow, &cap_a, &cap_r, &cap_p);
		base += m->p.cur.total;
	}
	zs->total = base;
	return err;
}

int pid_zscan_prepare(struct dpt_tracker *t, struct dpt_zscan **zsp)
{
	struct pid_set *S = t->priv;
	struct dpt_zscan *zs = calloc(1, sizeof(*zs));
	int err;

	if (!zs)
		return dpt_fail(-ENOMEM, "out of memory");
	zs->map = MAP_FAILED;
	zs->pfn = zs_pfn_probe();
	zs->said = &S->zscan_said;
	zs->said_then = S->zscan_said;
	err = zs_snapshot(zs, S);
	if (!err) {
		zs->bm = calloc(bitmap_words(zs->total) + 1, sizeof(uint64_t));
		/* page aligned: the kernel copies to a buffer 16 bytes off a page boundary (where
		 * malloc puts large blocks) about 3 times slower here (bench/pid-zscan) */
		zs->buf = aligned_alloc(PID_PAGE, ZS_READ * PID_PAGE);
		if (!zs->bm || !zs->buf)
			err = dpt_fail(-ENOMEM, "out of memory");
	}
	if (err) {
		pid_zscan_free(zs);
		return err;
	}
	*zsp = zs;
	return 0;
}

void pid_zscan_free(struct dpt_zscan *zs)
{
	if (!zs)
		return;
	if (zs->said)
		*zs->said |= zs->said_now;
	for (unsigned i = 0; i < zs->nr_procs; i++) {
		if (zs->procs[i].pagemap_fd >= 0)
			close(zs->procs[i].pagemap_fd);
		if (zs->procs[i].mem_fd >= 0)
			close(zs->procs[i].mem_fd);
	}
	for (unsigned i = 0; i < zs->nr_areas; i++)
		if (zs->areas[i].file_fd >= 0)
			close(zs->areas[i].file_fd);
	if (zs->map != MAP_FAILED)
		munmap(zs->map, zs->map_len);
	free(zs->procs);
	free(zs->areas);
	free(zs->regions);
	free(zs->bm);
	free(zs->buf);
	free(zs);
}

/* ---- run: reading ---- */

static bool zs_page_zero(const uint8_t *page)
{
	const uint64_t *w = (const uint64_t *)page;

	for (unsigned i = 0; i < PID_PAGE / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] |
		    w[i + 7])
			return false;
	return true;
}

/* Pages [page, page + n) of the numbering could not be read: non-zero, unknown. */
static void zs_unknown(struct dpt_zscan *zs, uint64_t page, uint64_t n)
{
	bitmap_set_range(zs->bm, page, n);
	zs->unknown += n;
}

/* n pages just read into zs->buf, numbered from page: set the non-zero ones. */
static void zs_test(struct dpt_zscan *zs, uint64_t page, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (!zs_page_zero(zs->buf + i * PID_PAGE))
			bitmap_set(zs->bm, page + i);
	zs->bytes += n * PID_PAGE;
}

/*
 * The content of n present pages of area a from addr, through /proc/PID/mem. A pread stops at
 * the first page it cannot read (the mapping was unmapped or changed under us: EIO, or a short
 * count): that page is unknown, and the read goes on after it. A read of 0 bytes means the
 * address space is gone (the process exited): the caller counts what is left as unknown.
 *
 * The race: a page present when its pagemap entry was read may be swapped out or discarded
 * before its content is read, and this read then faults it back in -- swapped in, or, for a
 * discarded anonymous page, mapped to the shared zero page (which the uffd method then sees
 * as a write, not a discard). The window is the time to read one window of 512 pages (about
 * 1 ms here); nothing closes it from outside the target.
 */
static void zs_read_present(struct dpt_zscan *zs, const struct zs_area *a, struct zs_proc *pr,
			    uint64_t addr, uint64_t n)
{
	uint64_t page = a->page + (addr - a->start) / PID_PAGE;

	if (pr->mem_fd < 0)
		return zs_unknown(zs, page, n);
	while (n) {
		uint64_t k = n < ZS_READ ? n : ZS_READ, done;
		ssize_t got = pread(pr->mem_fd, zs->buf, k * PID_PAGE, (off_t)addr);

		if (got == 0) {
			pr->gone = true;
			break;
		}
		done = got > 0 ? (uint64_t)got / PID_PAGE : 0;
		zs_test(zs, page, done);
		if (done < k) /* the first page it could not read */
			zs_unknown(zs, page + done++, 1);
		addr += done * PID_PAGE;
		page += done;
		n -= done;
	}
	if (n)
		zs_unknown(zs, page, n);
}

/*
 * Is file offset off of area a's file in a hole (SEEK_HOLE, SEEK_DATA)? Offsets are asked in
 * increasing order within an area, so the extent last found is kept: an untouched window of a
 * sparse file costs one lseek or none.
 */
struct zs_extent {
	uint64_t lo, hi; /* [lo, hi): a hole if hole, else data */
	bool hole;
};

static bool zs_hole(int fd, uint64_t off, struct zs_extent *x)
{
	off_t d, h;

	if (off >= x->lo && off < x->hi)
		return x->hole;
	d = lseek(fd, (off_t)off, SEEK_DATA);
	if (d < 0 && errno == ENXIO) { /* no data from off on (or past the end of the file) */
		*x = (struct zs_extent){off, UINT64_MAX, true};
		return true;
	}
	if (d < 0 || (uint64_t)d < off) { /* no SEEK_DATA here: take it for data */
		*x = (struct zs_extent){off, off + PID_PAGE, false};
		return false;
	}
	if ((uint64_t)d > off) {
		*x = (struct zs_extent){off, (uint64_t)d, true};
		return true;
	}
	h = lseek(fd, d, SEEK_HOLE);
	*x = (struct zs_extent){off, h > d ? (uint64_t)h : off + PID_PAGE, false};
	return false;
}

/* Read n pages of area a's file from offset off into zs->buf and test them (a read short of
 * the end of the file leaves zeros: nothing is there). false if it could not be read. */
static bool zs_read_file(struct dpt_zscan *zs, const struct zs_area *a, uint64_t page, uint64_t off,
			 uint64_t n)
{
	ssize_t got = pread(a->file_fd, zs->buf, n * PID_PAGE, (off_t)off);

	if (got < 0)
		return false;
	memset(zs->buf + got, 0, n * PID_PAGE - (uint64_t)got);
	zs_test(zs, page, n);
	return true;
}

/* mincore() of the window at addr of area a, through our own read-only mapping of its file
 * (made once per area); false if it cannot be had. */
static bool zs_resident(struct dpt_zscan *zs, const struct zs_area *a, uint64_t addr, uint64_t n)
{
	if (zs->map == MAP_FAILED) {
		zs->map_len = a->end - a->start;
		zs->map =
		    mmap(NULL, zs->map_len, PROT_READ, MAP_SHARED, a->file_fd, (off_t)a->file_off);
		if (zs->map == MAP_FAILED)
			return false;
	}
	return !mincore(zs->map + (addr - a->start), n * PID_PAGE, zs->res);
}

/* The window being scanned in a file area: where it is, whether mincore() was asked. */
struct zs_win {
	uint64_t addr, n;
	bool have_res, res_ok;
	struct zs_extent x; /* the file's extent last found (kept over the area's windows) */
};

/*
 * Absent pages [addr, addr + n pages) of a file or shared area, inside window w: the target
 * sees its file there (a private file mapping the file's page until it writes it, a shared one
 * the page in the file or shmem object). They are read from the file, never through the
 * target, and only when it costs the target nothing: a hole is zero; a page resident in the
 * page cache is read (pread of the file); a page that is not -- on disk, or a shmem page
 * swapped out -- is unknown, as reading it would load or swap it in. Residency comes from
 * mincore() on a read-only shared mapping of the file of dpt's own (which never touches the
 * target's page tables). hugetlbfs pages are never swapped and its holes read as zeros
 * without being allocated, so its files are simply read.
 */
static void zs_file_pages(struct dpt_zscan *zs, const struct zs_area *a, struct zs_win *w,
			  uint64_t addr, uint64_t n)
{
	uint64_t page = a->page + (addr - a->start) / PID_PAGE;
	uint64_t off = a->file_off + (addr - a->start);
	uint64_t run = 0; /* resident pages waiting to be read, ending before page i */

	if (a->file_fd < 0) {
		zs->uncached += n;
		return zs_unknown(zs, page, n);
	}
	while (a->huge && n) {
		uint64_t k = n < ZS_READ ? n : ZS_READ;

		if (!zs_read_file(zs, a, page, off, k))
			zs_unknown(zs, page, k);
		n -= k;
		page += k;
		off += k * PID_PAGE;
	}
	for (uint64_t i = 0; i <= n; i++) {
		uint64_t o = off + i * PID_PAGE;
		bool resident = false;

		if (i < n && !zs_hole(a->file_fd, o, &w->x)) {
			if (!w->have_res) {
				w->have_res = true;
				w->res_ok = zs_resident(zs, a, w->addr, w->n);
			}
			resident = w->res_ok && (zs->res[(addr - w->addr) / PID_PAGE + i] & 1);
			if (!resident) {
				zs->uncached++;
				zs_unknown(zs, page + i, 1);
			}
		}
		if (run && (!resident || run == ZS_READ)) {
			if (!zs_read_file(zs, a, page + i - run, o - run * PID_PAGE, run)) {
				zs->uncached += run;
				zs_unknown(zs, page + i - run, run);
			}
			run = 0;
		}
		run += resident;
	}
}

/* ---- run: the walk ---- */

enum zs_kind {
	ZS_ZERO,    /* absent in anonymous memory, or the shared zero page: zero, not read */
	ZS_PRESENT, /* read through /proc/PID/mem */
	ZS_SWAPPED, /* swapped out (or a page in migration): unknown */
	ZS_FILE,    /* absent in a file or shared area: read from the file */
};

/*
 * What pagemap entry e says of a page. A swap entry is not always a page swapped out: the
 * uffd method installs a marker on every page the target never populated (WP_UNPOPULATED),
 * and pagemap shows a marker as a swap entry with the uffd-wp bit, like a protected page that
 * was swapped out. With the PFN visible the swap type tells them apart (a marker is type 31,
 * SWP_PTE_MARKER); without it, a process whose VmSwap was 0 at prepare has no page swapped
 * out, and its swap entries are markers (or pages in migration, for microseconds); in any
 * other case a swap entry is unknown.
 */
static enum zs_kind zs_kind(const struct dpt_zscan *zs, uint64_t e, const struct zs_area *a,
			    const struct zs_proc *pr)
{
	const struct zs_pfn *pfn = &zs->pfn;
	bool marker;

	if (e & PM_ENTRY_PRESENT)
		return pfn->visible && (e & PM_PFN_MASK) == pfn->zero_pfn ? ZS_ZERO : ZS_PRESENT;
	if (e & PM_ENTRY_SWAPPED) {
		marker = pfn->visible ? (e & PM_SWAP_TYPE) == PM_MARKER : pr->swap_free;
		if (!marker)
			return ZS_SWAPPED;
	}
	return a->file ? ZS_FILE : ZS_ZERO;
}

/* One window of area a: pages [w->addr, w->addr + w->n pages). false if its pagemap could not
 * be read: the address space is gone. */
static bool zs_window(struct dpt_zscan *zs, const struct zs_area *a, struct zs_proc *pr,
		      struct zs_win *w)
{
	uint64_t page = a->page + (w->addr - a->start) / PID_PAGE;
	ssize_t got = pr->pagemap_fd < 0 ? -1
					 : pread(pr->pagemap_fd, zs->pm, w->n * 8,
						 (off_t)(w->addr / PID_PAGE * 8));
	uint64_t n = got > 0 ? (uint64_t)got / 8 : 0;

	if (!n) { /* ESRCH, or 0: the address space is gone */
		pr->gone = true;
		return false;
	}
	w->have_res = false;
	for (uint64_t i = 0, j; i < n; i = j) {
		enum zs_kind k = zs_kind(zs, zs->pm[i], a, pr);
		uint64_t addr = w->addr + i * PID_PAGE;

		for (j = i + 1; j < n && zs_kind(zs, zs->pm[j], a, pr) == k;)
			j++;
		if (k == ZS_PRESENT)
			zs_read_present(zs, a, pr, addr, j - i);
		else if (k == ZS_FILE)
			zs_file_pages(zs, a, w, addr, j - i);
		else if (k == ZS_SWAPPED) {
			zs->swapped += j - i;
			zs_unknown(zs, page + i, j - i);
		}
	}
	if (n < w->n) /* a short pagemap read: the rest of the window was not seen */
		zs_unknown(zs, page + n, w->n - n);
	return true;
}

/* Area a, window by window (windows aligned on 2 MiB, so that a huge page is in one). */
static void zs_area(struct dpt_zscan *zs, const struct zs_area *a)
{
	struct zs_proc *pr = &zs->procs[a->proc];
	struct zs_win w = {.x = {0, 0, false}};
	uint64_t addr = a->start;

	while (addr < a->end && !pr->gone) {
		uint64_t next = (addr / (ZS_WINDOW * PID_PAGE) + 1) * ZS_WINDOW * PID_PAGE;

		w.addr = addr;
		w.n = ((next < a->end ? next : a->end) - addr) / PID_PAGE;
		if (!zs_window(zs, a, pr, &w))
			break;
		addr += w.n * PID_PAGE;
	}
	if (addr < a->end) /* its process is gone: the rest is unknown */
		zs_unknown(zs, a->page + (addr - a->start) / PID_PAGE, (a->end - addr) / PID_PAGE);
	if (zs->map != MAP_FAILED)
		munmap(zs->map, zs->map_len);
	zs->map = MAP_FAILED;
}

/* The lines said once a run, from the scan's thread (the log is thread-safe). */
static void zs_say(struct dpt_zscan *zs)
{
	if (zs->swapped && !((zs->said_then | zs->said_now) & ZS_SAID_SWAPPED)) {
		dpt_warn("%" PRIu64 " tracked pages are swapped out: the non-zero scan does not "
			 "read them (that would swap them in) and counts them non-zero, as unknown",
			 zs->swapped);
		zs->said_now |= ZS_SAID_SWAPPED;
	}
	if (zs->uncached && !((zs->said_then | zs->said_now) & ZS_SAID_FILES)) {
		dpt_warn(
		    "%" PRIu64 " tracked pages of file or shared mappings are neither mapped "
		    "nor in the page cache (or their file cannot be opened): the non-zero scan "
		    "does not read them and counts them non-zero, as unknown",
		    zs->uncached);
		zs->said_now |= ZS_SAID_FILES;
	}
}

int pid_zscan_run(struct dpt_zscan *zs, struct dpt_nonzero *z)
{
	for (unsigned i = 0; i < zs->nr_areas; i++)
		zs_area(zs, &zs->areas[i]);
	for (unsigned i = 0; i < zs->nr_procs; i++)
		if (zs->procs[i].gone)
			dpt_debug("pid %d (%s) went away during the non-zero scan: the pages left "
				  "to read counted unknown",
				  zs->procs[i].pid, zs->procs[i].comm);
	zs_say(zs);
	z->method = DPT_NZ_CONTENT;
	z->total = zs->total;
	z->count = bitmap_weight(zs->bm, zs->total);
	z->unknown = zs->unknown;
	z->bytes_read = zs->bytes;
	z->nr_regions = zs->nr_regions;
	z->regions = zs->regions;
	z->bitmap = zs->bm;
	return 0;
}
