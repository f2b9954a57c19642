/* pid-zscan.c - what the pid tracker's non-zero scan costs, and the choices behind it, each
 * measured side by side in one run.
 *
 * 1. Reading content. A forked child holds 512 MiB of its own present pages; reads of all of
 *    it into a page-aligned buffer through /proc/PID/mem, by pread size, and through
 *    process_vm_readv() (which the scan does not use: it unshares pages shared copy-on-write,
 *    zscan.c); and through /proc/PID/mem into a buffer from malloc(), which puts large blocks
 *    16 bytes past a page boundary. ms per 512 MiB.
 * 2. Presence. The pagemap of 512 MiB (2 pages of 3 present), of 4 GiB never touched (no
 *    page tables), and of the same 4 GiB armed by the uffd method (a marker in every pte):
 *    pread of 512 entries at a time, as the scan does, against PAGEMAP_SCAN asking for
 *    present pages (which cannot tell a marker from a page swapped out).
 * 3. The scan itself (zscan_prepare + zscan_run, uffd method) of a 512 MiB region laid out
 *    like a 512 MiB Linux guest after a writer (facts.md: 88,162 present pages, 40,428 non-zero):
 *    a third of the pages non-zero, a third present zeros, a third untouched, in runs of 16
 *    pages and page by page. Medians of 5.
 * 4. The target while scanned. A forked writer rewrites its 256 MiB as fast as it can (one
 *    store a page), tracked; its rate over 4 s with scans of its memory back to back, or one
 *    started every second, against 4 s without: ratio scanned / not (what it pays is CPU and
 *    memory bandwidth shared with dpt, and its mmap lock taken one page at a time).
 *
 *	build/bench/pid-zscan
 */
#include <stdatomic.h>

#include "../tests/integration/pid-util.h"
#include "trackers/pid/kabi.h"

#include <sys/ioctl.h>
#include <sys/uio.h>

#define MIB (1ULL << 20)

static double now_s(void)
{
	return tgt_now_ns() / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median5(double *v)
{
	qsort(v, 5, sizeof(double), cmp_double);
	return v[2];
}

static int proc_fd(pid_t pid, const char *name)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* ---- 1. content ---- */

static double read_mem(int fd, uint64_t base, uint64_t size, size_t chunk, uint8_t *buf)
{
	double t0 = now_s();

	for (uint64_t off = 0; off < size; off += chunk)
		if (pread(fd, buf, chunk, (off_t)(base + off)) != (ssize_t)chunk)
			exit(1);
	return now_s() - t0;
}

static double read_vm(pid_t pid, uint64_t base, uint64_t size, size_t chunk, uint8_t *buf)
{
	double t0 = now_s();

	for (uint64_t off = 0; off < size; off += chunk) {
		struct iovec l = {buf, chunk}, r = {(void *)(uintptr_t)(base + off), chunk};

		if (process_vm_readv(pid, &l, 1, &r, 1, 0) != (ssize_t)chunk)
			exit(1);
	}
	return now_s() - t0;
}

static void bench_content(void)
{
	static const size_t chunks[] = {4096, 64 << 10, 256 << 10, 1 << 20, 4 << 20};
	const uint64_t size = 512 * MIB;
	uint8_t *buf = aligned_alloc(4096, 4 << 20), *off = malloc(4 << 20);
	struct tgt g;
	double v[5];
	int fd;

	if (!buf || !off || tgt_start(&g, size / TGT_PAGE) || tgt_cmd(&g, "N 0 %" PRIu64, size / TGT_PAGE) ||
	    (fd = proc_fd(g.pid, "mem")) < 0) {
		fprintf(stderr, "pid-zscan: cannot start the target\n");
		exit(1);
	}
	printf("reading content: 512 MiB present, ms (median of 5)\n");
	printf("  %-18s", "read by");
	for (unsigned c = 0; c < 5; c++)
		printf(" %8zu KiB", chunks[c] >> 10);
	printf("\n  %-18s", "/proc/PID/mem");
	for (unsigned c = 0; c < 5; c++) {
		for (unsigned k = 0; k < 5; k++)
			v[k] = read_mem(fd, g.base, size, chunks[c], buf);
		printf(" %12.1f", median5(v) * 1e3);
	}
	printf("\n  %-18s", "process_vm_readv");
	for (unsigned c = 0; c < 5; c++) {
		for (unsigned k = 0; k < 5; k++)
			v[k] = read_vm(g.pid, g.base, size, chunks[c], buf);
		printf(" %12.1f", median5(v) * 1e3);
	}
	/* malloc's large blocks start 16 bytes past a page boundary */
	printf("\n  %-18s", "mem, malloc'ed buf");
	for (unsigned c = 0; c < 5; c++) {
		for (unsigned k = 0; k < 5; k++)
			v[k] = read_mem(fd, g.base, size, chunks[c], off);
		printf(" %12.1f", median5(v) * 1e3);
	}
	printf("   (buffer %lu bytes past a page boundary)\n", (unsigned long)((uintptr_t)off % 4096));
	close(fd);
	tgt_stop(&g);
	free(buf);
	free(off);
}

/* ---- 2. presence ---- */

static double pagemap_pread(int fd, uint64_t base, uint64_t size, uint64_t *present)
{
	static uint64_t e[512];
	double t0 = now_s();

	*present = 0;
	for (uint64_t off = 0; off < size; off += sizeof(e) / 8 * TGT_PAGE) {
		if (pread(fd, e, sizeof(e), (off_t)((base + off) / TGT_PAGE * 8)) != sizeof(e))
			exit(1);
		for (unsigned i = 0; i < 512; i++)
			*present += !!(e[i] & PM_ENTRY_PRESENT);
	}
	return now_s() - t0;
}

static double pagemap_scan(int fd, uint64_t base, uint64_t size, uint64_t *present)
{
	static struct page_region vec[4096];
	struct pm_scan_arg a = {
	    .size = sizeof(a),
	    .start = base,
	    .end = base + size,
	    .vec = (uintptr_t)vec,
	    .vec_len = 4096,
	    .category_mask = PAGE_IS_PRESENT,
	    .return_mask = PAGE_IS_PRESENT,
	};
	double t0 = now_s();
	long n;

	*present = 0;
	while ((n = ioctl(fd, PAGEMAP_SCAN, &a)) >= 0) {
		for (long i = 0; i < n; i++)
			*present += (vec[i].end - vec[i].start) / TGT_PAGE;
		if (a.walk_end >= a.end)
			break;
		a.start = a.walk_end;
	}
	return n < 0 ? -1 : now_s() - t0;
}

static void presence_row(const char *what, int fd, uint64_t base, uint64_t size)
{
	double a[5], b[5];
	uint64_t pa = 0, pb = 0;

	for (unsigned k = 0; k < 5; k++) {
		a[k] = pagemap_pread(fd, base, size, &pa);
		b[k] = pagemap_scan(fd, base, size, &pb);
	}
	printf("  %-36s %10.2f %14.2f %10" PRIu64 "\n", what, median5(a) * 1e3, median5(b) * 1e3,
	       pa);
}

static void bench_presence(void)
{
	const uint64_t big = 4096 * MIB, pages = 512 * MIB / TGT_PAGE;
	struct dpt_tracker t;
	char range[64];
	const char *regions[1] = {range};
	uint64_t addr = 0;
	struct tgt g;
	int fd;

	if (tgt_start(&g, pages) || tgt_cmd(&g, "N 0 %" PRIu64 " 3", pages) ||
	    tgt_cmd(&g, "Z 1 %" PRIu64 " 3", pages) ||
	    tgt_cmd_val(&g, &addr, 1, "m 1048576") || !addr ||
	    (fd = proc_fd(g.pid, "pagemap")) < 0) {
		fprintf(stderr, "pid-zscan: cannot start the target\n");
		exit(1);
	}
	printf("presence: pagemap, ms (median of 5)\n");
	printf("  %-36s %10s %14s %10s\n", "memory", "pread", "PAGEMAP_SCAN", "present");
	presence_row("512 MiB, 2 pages of 3 present", fd, g.base, 512 * MIB);
	presence_row("4 GiB untouched", fd, addr, big);
	snprintf(range, sizeof(range), "%" PRIx64 "-%" PRIx64, addr, addr + big);
	if (pid_test_open(&t, g.pid, "uffd", regions, 1) || t.ops->start(&t)) {
		fprintf(stderr, "pid-zscan: %s\n", pid_test_err());
		exit(1);
	}
	presence_row("4 GiB untouched, armed (markers)", fd, addr, big);
	t.ops->close(&t);
	close(fd);
	tgt_stop(&g);
}

/* ---- 3. the scan ---- */

/* A 512 MiB region where, of each 3 * run pages, the first run are non-zero, the next run
 * present zeros, the last run untouched; scanned 5 times. */
static void scan_row(const char *layout, unsigned run)
{
	const uint64_t pages = 512 * MIB / TGT_PAGE;
	struct dpt_nonzero z;
	struct dpt_tracker t;
	struct dpt_zscan *zs;
	char range[64];
	const char *regions[1] = {range};
	struct tgt g;
	double v[5];
	int err;

	err = tgt_start(&g, pages);
	for (unsigned i = 0; !err && i < run; i++)
		err = tgt_cmd(&g, "N %u %" PRIu64 " %u", i, pages, 3 * run) ||
		      tgt_cmd(&g, "Z %u %" PRIu64 " %u", run + i, pages, 3 * run);
	snprintf(range, sizeof(range), "%" PRIx64 "-%" PRIx64, g.base, g.base + pages * TGT_PAGE);
	if (err || pid_test_open(&t, g.pid, "uffd", regions, 1) || t.ops->start(&t)) {
		fprintf(stderr, "pid-zscan: %s\n", pid_test_err());
		exit(1);
	}
	for (unsigned k = 0; k < 5; k++) {
		double t0 = now_s();

		memset(&z, 0, sizeof(z));
		if (t.ops->zscan_prepare(&t, &zs) || t.ops->zscan_run(zs, &z)) {
			fprintf(stderr, "pid-zscan: %s\n", pid_test_err());
			exit(1);
		}
		v[k] = now_s() - t0;
		t.ops->zscan_free(zs);
	}
	printf("  %-22s %10" PRIu64 " %10" PRIu64 " %10.1f %10.1f %12.0f\n", layout, z.count,
	       z.unknown, (double)z.bytes_read / MIB, median5(v) * 1e3,
	       (double)z.bytes_read / MIB / median5(v));
	t.ops->close(&t);
	tgt_stop(&g);
}

static void bench_scan(void)
{
	printf("the scan (zscan_prepare + zscan_run, uffd method) of a 512 MiB region: a third "
	       "non-zero, a third present zeros, a third untouched; median of 5\n");
	printf("  %-22s %10s %10s %10s %10s %12s\n", "layout", "non-zero", "unknown", "read MiB",
	       "ms", "MiB/s read");
	scan_row("runs of 16 pages", 16);
	scan_row("page by page", 1);
}

/* ---- 4. the target while it is scanned ---- */

static __attribute__((noreturn)) void writer(_Atomic uint64_t *count, uint64_t pages)
{
	volatile char *buf = mmap(NULL, pages * TGT_PAGE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	uint64_t n = 0;

	if (buf == MAP_FAILED)
		_exit(1);
	for (;;) {
		for (uint64_t i = 0; i < pages; i++) {
			buf[i * TGT_PAGE] = (char)(n | 1);
			if (!(++n & 255))
				atomic_store_explicit(count, n, memory_order_relaxed);
		}
	}
}

/* Page writes per second of the writer over secs, with a scan started every period s (0: back
 * to back; < 0: none). */
static double writer_rate(struct dpt_tracker *t, _Atomic uint64_t *count, double secs,
			  double period, unsigned *scans)
{
	double t0 = now_s(), next = t0;
	uint64_t c0 = atomic_load(count);
	struct dpt_nonzero z;
	struct dpt_zscan *zs;

	*scans = 0;
	while (now_s() < t0 + secs) {
		if (period < 0 || now_s() < next) {
			usleep(1000);
			continue;
		}
		next += period;
		memset(&z, 0, sizeof(z));
		if (t->ops->zscan_prepare(t, &zs) || t->ops->zscan_run(zs, &z)) {
			fprintf(stderr, "pid-zscan: %s\n", pid_test_err());
			exit(1);
		}
		t->ops->zscan_free(zs);
		(*scans)++;
	}
	return (atomic_load(count) - c0) / (now_s() - t0);
}

static void bench_target(void)
{
	const uint64_t pages = 256 * MIB / TGT_PAGE;
	_Atomic uint64_t *count =
	    mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	static const double periods[] = {0, 1};
	struct dpt_tracker t;
	double base[3], scanned[3];
	unsigned scans = 0;
	pid_t pid;

	*count = 0;
	pid = fork();
	if (!pid)
		writer(count, pages);
	while (atomic_load(count) < 2 * pages)
		usleep(10000);
	dpt_verbosity = 0; /* its shared page (count) is not tracked: no line for it */
	if (pid_test_open(&t, pid, "uffd", NULL, 0) || t.ops->start(&t)) {
		fprintf(stderr, "pid-zscan: %s\n", pid_test_err());
		exit(1);
	}
	printf("the target while scanned: a writer rewriting 256 MiB, tracked, median of 3 runs "
	       "of 4 s each way\n");
	printf("  %-14s %16s %16s %8s %8s\n", "scans", "not scanned p/s", "scanned p/s", "ratio",
	       "scans");
	for (unsigned p = 0; p < 2; p++) {
		for (unsigned k = 0; k < 3; k++) {
			base[k] = writer_rate(&t, count, 4, -1, &scans);
			scanned[k] = writer_rate(&t, count, 4, periods[p], &scans);
		}
		qsort(base, 3, sizeof(double), cmp_double);
		qsort(scanned, 3, sizeof(double), cmp_double);
		printf("  %-14s %16.3g %16.3g %8.3f %8u\n", p ? "every 1 s" : "back to back",
		       base[1], scanned[1], scanned[1] / base[1], scans);
	}
	t.ops->close(&t);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

int main(void)
{
	dpt_clear_error();
	if (pid_tracker_ops.probe(&(struct dpt_tracker_opts){.mode = "uffd"})) {
		printf("pid-zscan: skipped, no uffd method here: %s\n", pid_test_err());
		return 0;
	}
	bench_content();
	bench_presence();
	bench_scan();
	bench_target();
	return 0;
}
