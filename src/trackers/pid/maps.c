/* maps.c - /proc/PID/maps parsing and region selection for the pid tracker.
 *
 * Mechanism:
 *  1. Read /proc/PID/maps in one pass into a growing buffer and cut it into areas (one VMA
 *     per line), names pointing into the text.
 *  2. Apply the selectors in order: every private writable mapping (the default), a fixed
 *     START-END range, or every writable mapping with a given name.
 *  3. Contiguous areas of one name make one region; regions are numbered one after another in
 *     the bitmap (or at fixed pages for QEMU RAM blocks).
 *  4. Between two collects, an area is "fresh" unless the previous layout had the same VMA;
 *     the methods arm fresh areas before reading them.
 *
 * What is tracked by default, and why: every mapping that is private and writable (heap,
 * stacks, anonymous mmaps, the .data/.bss of the program and its libraries). Shared writable
 * mappings are left out unless named or given as a range: the pages of shared memory are also
 * written through other processes' page tables, which the target's page tables do not see, so
 * from one process the picture would be partial. Never tracked: mappings that are not
 * writable, [vvar]/[vvar_vclock]/[vsyscall]/[vdso], and device memory (/dev/... other than
 * /dev/zero and /dev/shm), whose pages are not ordinary memory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "trackers/pid/int.h"

int pid_read_file(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = -errno;
			close(fd);
			return (int)n;
		}
		len += n;
	}
	buf[len] = 0;
	close(fd);
	return (int)len;
}

void pid_children(pid_t pid, pid_t **v, unsigned *n, unsigned *cap)
{
	char path[96], buf[8192];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		if (atoi(de->d_name) <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/children", pid, de->d_name);
		if (pid_read_file(path, buf, sizeof(buf)) <= 0)
			continue;
		for (char *s = buf, *e; *s; s = e) {
			pid_t c = (pid_t)strtol(s, &e, 10);

			if (e == s)
				break;
			if (*n == *cap) {
				pid_t *nv = realloc(*v, (*cap ? 2 * *cap : 64) * sizeof(*nv));

				if (!nv)
					break;
				*v = nv;
				*cap = *cap ? 2 * *cap : 64;
			}
			(*v)[(*n)++] = c;
		}
	}
	if (d)
		closedir(d);
}

/* A capability set ("CapPrm:") from /proc/PID/status; 0 and false if unreadable. */
static bool read_caps(const char *path, const char *field, unsigned long long *caps)
{
	char buf[4096], *p;

	if (pid_read_file(path, buf, sizeof(buf)) <= 0 || !(p = strstr(buf, field)))
		return false;
	*caps = strtoull(p + strlen(field), NULL, 16);
	return true;
}

int pid_permission_denied(pid_t pid, const char *what)
{
	char yama[16] = "", path[64];
	unsigned long long theirs, mine;

	if (pid_read_file("/proc/sys/kernel/yama/ptrace_scope", yama, sizeof(yama)) > 0)
		yama[strcspn(yama, "\n")] = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	/*
	 * Root is refused too when the target holds capabilities dpt lacks (the kernel then wants
	 * CAP_SYS_PTRACE in the target's user namespace: a dpt in a container, or with a reduced
	 * bounding set, cannot trace the host's init). Say so rather than "needs root".
	 */
	if (geteuid() == 0 && read_caps(path, "CapPrm:", &theirs) &&
	    read_caps("/proc/self/status", "CapEff:", &mine) && (theirs & ~mine))
		return dpt_fail(-EPERM,
				"permission denied: cannot %s pid %d: it holds capabilities "
				"dpt lacks (its CapPrm %llx, dpt's CapEff %llx), and dpt has no "
				"CAP_SYS_PTRACE over it (another user namespace?)",
				what, pid, theirs, mine);
	return dpt_fail(-EPERM,
			"permission denied: cannot %s pid %d (dpt needs root or "
			"CAP_SYS_PTRACE%s%s)",
			what, pid, *yama ? "; kernel.yama.ptrace_scope=" : "", yama);
}

static int maps_grow_areas(struct pid_maps *m)
{
	unsigned cap = m->cap_v ? 2 * m->cap_v : 256;
	struct pid_area *v = realloc(m->v, cap * sizeof(*v));

	if (!v)
		return -ENOMEM;
	m->v = v;
	m->cap_v = cap;
	return 0;
}

static uint64_t hex(const char **p)
{
	uint64_t v = 0;
	const char *s = *p;

	for (;; s++) {
		unsigned c = (unsigned char)*s;

		if (c >= '0' && c <= '9')
			v = v << 4 | (c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (c - 'a' + 10);
		else
			break;
	}
	*p = s;
	return v;
}

/* "start-end perms offset major:minor inode   name" */
static int parse_line(char *line, struct pid_area *a)
{
	const char *p = line;

	a->start = hex(&p);
	if (*p++ != '-')
		return -EINVAL;
	a->end = hex(&p);
	if (*p++ != ' ' || strlen(p) < 5)
		return -EINVAL;
	a->prot = (p[0] == 'r' ? PID_PROT_READ : 0) | (p[1] == 'w' ? PID_PROT_WRITE : 0) |
		  (p[2] == 'x' ? PID_PROT_EXEC : 0);
	a->shared = p[3] == 's';
	p += 5;
	a->offset = hex(&p);
	p++;
	a->dev_major = (unsigned)hex(&p);
	p++;
	a->dev_minor = (unsigned)hex(&p);
	p++;
	a->inode = strtoull(p, (char **)&p, 10);
	while (*p == ' ')
		p++;
	a->name = p;
	return 0;
}

int pid_maps_read_fd(struct pid_maps *m, int fd)
{
	ssize_t n;
	char *line, *nl;
	int err;

	m->len = 0;
	m->nr = 0;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	for (;;) {
		if (m->cap - m->len < 65536) {
			size_t cap = m->cap ? 2 * m->cap : 262144;
			char *b = realloc(m->buf, cap);

			if (!b)
				return -ENOMEM;
			m->buf = b;
			m->cap = cap;
		}
		n = read(fd, m->buf + m->len, m->cap - m->len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!n)
			break;
		m->len += n;
	}
	m->buf[m->len] = 0;
	for (line = m->buf; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			break;
		*nl = 0;
		if (m->nr == m->cap_v && (err = maps_grow_areas(m)))
			return err;
		if (!parse_line(line, &m->v[m->nr]))
			m->nr++;
	}
	return 0;
}

int pid_maps_read_pid(struct pid_maps *m, pid_t pid)
{
	char path[64];
	int fd, err;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dpt_fail(-errno, "%s: %s", path, strerror(errno));
	err = pid_maps_read_fd(m, fd);
	close(fd);
	if (err)
		return dpt_fail(err, "%s: %s", path, strerror(-err));
	return 0;
}

void pid_maps_fini(struct pid_maps *m)
{
	free(m->buf);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

bool pid_area_trackable(const struct pid_area *a)
{
	const char *n = a->name;

	if (!(a->prot & PID_PROT_WRITE) || a->end <= a->start)
		return false;
	if (!strcmp(n, "[vvar]") || !strcmp(n, "[vvar_vclock]") || !strcmp(n, "[vsyscall]") ||
	    !strcmp(n, "[vdso]"))
		return false;
	if (!strncmp(n, "/dev/", 5) && strncmp(n, "/dev/zero", 9) && strncmp(n, "/dev/shm/", 9))
		return false;
	return true;
}

const char *pid_size(char *buf, size_t size, uint64_t bytes)
{
	if (bytes < (1 << 20))
		snprintf(buf, size, "%llu KiB", (unsigned long long)(bytes >> 10));
	else
		snprintf(buf, size, "%.1f MiB", bytes / 1048576.0);
	return buf;
}

uint64_t pid_maps_shared(const struct pid_maps *m, char *names, size_t size)
{
	uint64_t total = 0, said = ~0ULL;
	size_t len = 0;

	names[0] = 0;
	for (unsigned i = 0; i < m->nr; i++)
		if (m->v[i].shared && pid_area_trackable(&m->v[i]))
			total += m->v[i].end - m->v[i].start;
	/* the three largest, largest first */
	for (unsigned k = 0; k < 3 && total; k++) {
		const struct pid_area *best = NULL;

		for (unsigned i = 0; i < m->nr; i++) {
			const struct pid_area *a = &m->v[i];
			uint64_t n = a->end - a->start;

			if (a->shared && pid_area_trackable(a) && n < said &&
			    (!best || n > best->end - best->start))
				best = a;
		}
		if (!best)
			break;
		said = best->end - best->start;
		char sz[32];

		len += snprintf(names + len, len < size ? size - len : 0, "%s%s (%s)",
				k ? ", " : "", best->name[0] ? best->name : "anonymous",
				pid_size(sz, sizeof(sz), said));
	}
	return total;
}

static bool is_hexrange(const char *s, uint64_t *start, uint64_t *end)
{
	char *e;

	if (!strncmp(s, "0x", 2))
		s += 2;
	if (!*s || *s == '-')
		return false;
	*start = strtoull(s, &e, 16);
	if (*e != '-')
		return false;
	s = e + 1;
	if (!strncmp(s, "0x", 2))
		s += 2;
	if (!*s)
		return false;
	*end = strtoull(s, &e, 16);
	return !*e;
}

static void set_label(char *dst, size_t size, const char *name)
{
	size_t n = strlen(name);

	if (n < size)
		memcpy(dst, name, n + 1);
	else
		snprintf(dst, size, "...%s", name + n - (size - 4)); /* keep the file name */
}

int pid_sel_parse(struct pid_sel *s, const char *arg)
{
	memset(s, 0, sizeof(*s));
	if (!arg || !*arg)
		return dpt_fail(-EINVAL, "empty region");
	if (is_hexrange(arg, &s->start, &s->end)) {
		if (s->end <= s->start)
			return dpt_fail(-EINVAL, "region %s: end is not above start", arg);
		s->kind = PID_SEL_RANGE;
		s->start &= ~(PID_PAGE - 1);
		s->end = (s->end + PID_PAGE - 1) & ~(PID_PAGE - 1);
		snprintf(s->label, sizeof(s->label), "%" PRIx64 "-%" PRIx64, s->start, s->end);
		return 0;
	}
	s->kind = PID_SEL_NAME;
	s->match = arg;
	set_label(s->label, sizeof(s->label), arg);
	return 0;
}

static int add_region(struct pid_layout *l, uint64_t start, const char *label)
{
	struct dpt_region *r;

	if (l->nr_regions == l->cap_regions) {
		unsigned cap = l->cap_regions ? 2 * l->cap_regions : 64;

		r = realloc(l->regions, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		l->regions = r;
		l->cap_regions = cap;
	}
	r = &l->regions[l->nr_regions++];
	memset(r, 0, sizeof(*r));
	r->start = start;
	set_label(r->name, sizeof(r->name), label);
	return 0;
}

static bool overlaps_earlier(const struct pid_layout *l, uint64_t start, uint64_t end)
{
	for (unsigned i = 0; i < l->nr_areas; i++)
		if (l->areas[i].start < end && start < l->areas[i].end)
			return true;
	return false;
}

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

/* KernelPageSize of the VMA at start in /proc/PID/smaps, in bytes; 0 if not found. */
static uint32_t smaps_kernel_page_size(pid_t pid, uint64_t start)
{
	char path[64], line[512];
	bool here = false;
	uint32_t size = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "re");
	while (f && !size && fgets(line, sizeof(line), f)) {
		uint64_t s, e;
		unsigned kb;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " ", &s, &e) == 2 &&
		    strchr(line, ':') > strchr(line, ' '))
			here = s == start;
		else if (here && sscanf(line, "KernelPageSize: %u kB", &kb) == 1)
			size = kb << 10;
	}
	if (f)
		fclose(f);
	return size;
}

/*
 * Bytes a write is seen by in area a: the page size, or the huge page size of a hugetlbfs
 * mapping (anonymous MAP_HUGETLB, a file on a hugetlbfs mount, a MFD_HUGETLB memfd: all are
 * files of a hugetlbfs instance), where both methods see writes per huge page. Known per
 * device: the first area of each is looked at (statfs of /proc/PID/map_files/START-END, which
 * needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE; else its KernelPageSize in smaps).
 */
static uint32_t area_granule(pid_t pid, const struct pid_area *a)
{
	static struct {
		unsigned major, minor;
		uint32_t granule;
	} known[64];
	static unsigned nr_known;
	char path[96];
	struct statfs sf;
	uint32_t g = 0;

	if (!a->inode)
		return PID_PAGE;
	for (unsigned i = 0; i < nr_known; i++)
		if (known[i].major == a->dev_major && known[i].minor == a->dev_minor)
			return known[i].granule;
	snprintf(path, sizeof(path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, pid, a->start,
		 a->end);
	if (!statfs(path, &sf))
		g = (uint32_t)sf.f_type == HUGETLBFS_MAGIC ? (uint32_t)sf.f_bsize : PID_PAGE;
	else
		g = smaps_kernel_page_size(pid, a->start);
	if (!g)
		return PID_PAGE; /* gone meanwhile: ask again next time */
	if (nr_known < sizeof(known) / sizeof(known[0]))
		known[nr_known++] = (typeof(known[0])){a->dev_major, a->dev_minor, g};
	return g;
}

static int add_area(struct pid_layout *l, const struct pid_area *a, uint64_t start, uint64_t end)
{
	struct pid_tarea *t;

	if (l->nr_areas == l->cap_areas) {
		unsigned cap = l->cap_areas ? 2 * l->cap_areas : 256;

		t = realloc(l->areas, cap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		l->areas = t;
		l->cap_areas = cap;
	}
	t = &l->areas[l->nr_areas++];
	t->start = start;
	t->end = end;
	t->inode = a->inode;
	t->offset = a->offset + (start - a->start);
	t->dev_major = a->dev_major;
	t->dev_minor = a->dev_minor;
	t->prot = a->prot;
	t->shared = a->shared;
	t->file = a->inode != 0;
	t->fresh = true;
	t->region = l->nr_regions - 1;
	t->granule = area_granule(l->pid, a);
	if (t->granule > l->regions[t->region].granule)
		l->regions[t->region].granule = t->granule;
	return 0;
}

static uint64_t ram_bytes(void)
{
	static uint64_t ram;

	if (!ram)
		ram = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	return ram;
}

/* Default and NAME selectors: runs of contiguous matching areas of one name. */
static int select_areas(struct pid_layout *l, const struct pid_maps *m, const struct pid_sel *s,
			bool check_overlap, unsigned *found, unsigned *overlap)
{
	const struct pid_area *prev = NULL;
	int err;

	for (unsigned i = 0; i < m->nr; i++) {
		const struct pid_area *a = &m->v[i];

		if (!pid_area_trackable(a))
			continue;
		if (s->kind == PID_SEL_ALL ? a->shared || a->end - a->start > ram_bytes()
					   : strcmp(a->name, s->match))
			continue;
		if (check_overlap && overlaps_earlier(l, a->start, a->end)) {
			(*overlap)++;
			continue;
		}
		if (!prev || prev->end != a->start || strcmp(prev->name, a->name)) {
			err = add_region(l, a->start, s->kind == PID_SEL_ALL ? a->name : s->label);
			if (err)
				return err;
		}
		err = add_area(l, a, a->start, a->end);
		if (err)
			return err;
		l->regions[l->nr_regions - 1].pages =
		    (a->end - l->regions[l->nr_regions - 1].start) / PID_PAGE;
		prev = a;
		(*found)++;
	}
	return 0;
}

/* First hole of [start, end) in the maps, or end if it is all mapped. */
static uint64_t first_hole(const struct pid_maps *m, uint64_t start, uint64_t end)
{
	uint64_t at = start;

	for (unsigned i = 0; i < m->nr && at < end; i++) {
		if (m->v[i].end <= at)
			continue;
		if (m->v[i].start > at)
			return at;
		at = m->v[i].end;
	}
	return at < end ? at : end;
}

/*
 * A range selector's area in a hugetlbfs mapping is widened to whole huge pages (within its
 * VMA, which is aligned), and its region with it: the kernel write-protects and reports huge
 * pages whole, and a scan that starts or ends inside one skips it silently. A region with
 * fixed pages (a QEMU RAM block) is a whole mapping: nothing to widen.
 */
static void widen_to_huge_pages(struct pid_layout *l, struct pid_tarea *t, const struct pid_sel *s)
{
	struct dpt_region *r = &l->regions[t->region];
	uint64_t g = t->granule, end = r->start + r->pages * PID_PAGE;

	if (g <= PID_PAGE || s->fixed_page)
		return;
	t->offset -= t->start - (t->start & ~(g - 1));
	t->start &= ~(g - 1);
	t->end = (t->end + g - 1) & ~(g - 1);
	if (t->end > end)
		end = t->end;
	if (t->start < r->start)
		r->start = t->start;
	r->pages = (end - r->start) / PID_PAGE;
}

static int select_range(struct pid_layout *l, const struct pid_maps *m, const struct pid_sel *s,
			bool check_overlap, unsigned *found, unsigned *overlap)
{
	int err = add_region(l, s->start, s->label);

	if (err)
		return err;
	l->regions[l->nr_regions - 1].pages = (s->end - s->start) / PID_PAGE;
	for (unsigned i = 0; i < m->nr; i++) {
		const struct pid_area *a = &m->v[i];
		uint64_t lo = a->start > s->start ? a->start : s->start;
		uint64_t hi = a->end < s->end ? a->end : s->end;

		if (lo >= hi || !pid_area_trackable(a))
			continue;
		if (check_overlap && overlaps_earlier(l, lo, hi)) {
			(*overlap)++;
			continue;
		}
		err = add_area(l, a, lo, hi);
		if (err)
			return err;
		widen_to_huge_pages(l, &l->areas[l->nr_areas - 1], s);
		(*found)++;
	}
	return 0;
}

int pid_layout_build(struct pid_layout *l, const struct pid_maps *m, const struct pid_sel *sels,
		     unsigned nr_sels, bool strict, pid_t pid)
{
	static const struct pid_sel all = {.kind = PID_SEL_ALL};
	uint64_t next = 0;
	int err = 0;

	l->nr_regions = 0;
	l->nr_areas = 0;
	l->total = 0;
	l->pid = pid;
	if (!nr_sels) {
		sels = &all;
		nr_sels = 1;
	}
	for (unsigned i = 0; i < nr_sels; i++) {
		const struct pid_sel *s = &sels[i];
		unsigned first_region = l->nr_regions, found = 0, overlap = 0;
		bool check = i > 0;

		if (s->kind == PID_SEL_RANGE) {
			uint64_t hole = first_hole(m, s->start, s->end);

			if (strict && hole < s->end)
				return dpt_fail(-ENXIO,
						"region %s is outside pid %d: nothing is mapped "
						"at 0x%" PRIx64,
						s->label, pid, hole);
			err = select_range(l, m, s, check, &found, &overlap);
		} else {
			err = select_areas(l, m, s, check, &found, &overlap);
		}
		if (err)
			return dpt_fail(err, "out of memory");
		if (strict && overlap)
			return dpt_fail(-EINVAL, "region %s overlaps an earlier region", s->label);
		if (strict && !found)
			return dpt_fail(
			    -ENXIO,
			    s->kind == PID_SEL_RANGE
				? "region %s of pid %d holds no writable mapping"
			    : s->kind == PID_SEL_NAME
				? "region %s: pid %d has no writable mapping of that name"
				: "%.0spid %d has no private writable mapping to track",
			    s->label, pid);
		for (unsigned r = first_region; r < l->nr_regions; r++) {
			struct dpt_region *reg = &l->regions[r];

			reg->first_page = s->fixed_page ? s->first_page : next;
			if (s->fixed_page)
				reg->pages = s->pages;
			next = reg->first_page + reg->pages;
			if (next > l->total)
				l->total = next;
		}
	}
	return 0;
}

void pid_layout_fini(struct pid_layout *l)
{
	free(l->regions);
	free(l->areas);
	memset(l, 0, sizeof(*l));
}

static int cmp_area_start(const void *a, const void *b)
{
	const struct pid_tarea *x = *(struct pid_tarea *const *)a,
			       *y = *(struct pid_tarea *const *)b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static bool same_vma(const struct pid_tarea *a, const struct pid_tarea *b)
{
	return a->start == b->start && a->end == b->end && a->prot == b->prot &&
	       a->shared == b->shared && a->inode == b->inode && a->offset == b->offset &&
	       a->dev_major == b->dev_major && a->dev_minor == b->dev_minor;
}

/* The areas of l sorted by start address (malloc'ed; NULL if none or out of memory). */
static const struct pid_tarea **areas_by_start(const struct pid_layout *l)
{
	const struct pid_tarea **idx = l->nr_areas ? malloc(l->nr_areas * sizeof(*idx)) : NULL;

	for (unsigned i = 0; idx && i < l->nr_areas; i++)
		idx[i] = &l->areas[i];
	if (idx)
		qsort(idx, l->nr_areas, sizeof(*idx), cmp_area_start);
	return idx;
}

void pid_layout_mark_fresh(struct pid_layout *now, const struct pid_layout *before)
{
	const struct pid_tarea **idx = areas_by_start(before);
	unsigned n = before->nr_areas;

	for (unsigned i = 0; i < now->nr_areas; i++) {
		struct pid_tarea *a = &now->areas[i];
		unsigned lo = 0, hi = idx ? n : 0;

		while (lo < hi) {
			unsigned mid = (lo + hi) / 2;

			if (idx[mid]->start < a->start)
				lo = mid + 1;
			else
				hi = mid;
		}
		a->fresh = !(lo < n && idx && same_vma(idx[lo], a));
	}
	free(idx);
}


void pid_layout_carry(const struct pid_layout *now, uint64_t *dst, const struct pid_layout *before,
		      const uint64_t *src)
{
	const struct pid_tarea **idx = areas_by_start(before);
	unsigned n = before->nr_areas;

	for (unsigned i = 0; idx && i < now->nr_areas; i++) {
		const struct pid_tarea *a = &now->areas[i];
		unsigned lo = 0, hi = n;

		while (lo < hi) { /* the first area before that ends after a's start */
			unsigned mid = (lo + hi) / 2;

			if (idx[mid]->end <= a->start)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < n && idx[lo]->start < a->end; lo++) {
			const struct pid_tarea *b = idx[lo];
			uint64_t s = a->start > b->start ? a->start : b->start;
			uint64_t e = a->end < b->end ? a->end : b->end;

			if (s < e)
				bitmap_copy_range(dst, pid_layout_page(now, a, s), src,
						  pid_layout_page(before, b, s), (e - s) / PID_PAGE);
		}
	}
	free((void *)idx);
}

bool pid_layout_same_regions(const struct pid_layout *a, const struct pid_layout *b)
{
	if (a->nr_regions != b->nr_regions || a->total != b->total)
		return false;
	for (unsigned i = 0; i < a->nr_regions; i++) {
		const struct dpt_region *x = &a->regions[i], *y = &b->regions[i];

		if (x->start != y->start || x->pages != y->pages ||
		    x->first_page != y->first_page || strcmp(x->name, y->name))
			return false;
	}
	return true;
}

uint64_t pid_layout_page(const struct pid_layout *l, const struct pid_tarea *a, uint64_t addr)
{
	const struct dpt_region *r = &l->regions[a->region];

	return r->first_page + (addr - r->start) / PID_PAGE;
}
