/*
 * softdirty: does this kernel's soft-dirty bit work? Probed by doing it, as CRIU does.
 *
 * 1. mmap 4 anonymous pages and write each, so all are present.
 * 2. Write "4" to /proc/self/clear_refs: clears the soft-dirty bits (and the VMA's
 *    VM_SOFTDIRTY flag, which otherwise makes every page of a new mapping read as dirty).
 * 3. Read bit 55 of the pagemap entries: all must be 0. Write page 1 only.
 * 4. Read again: page 1 must have bit 55, pages 0, 2, 3 must not.
 *
 * Without CONFIG_MEM_SOFT_DIRTY the write to clear_refs still succeeds and bit 55 stays 0, so
 * only step 4 can tell. One line on stdout and the exit status:
 *   softdirty supported                      exit 0
 *   softdirty unsupported: REASON            exit 2
 *   softdirty error: REASON                  exit 1 (could not run the probe at all)
 *
 * vmkit-static: self-contained (no dpt library); tests/vmkit/helpers.sh builds it with
 * gcc -static -O2 for the test VM.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NPAGES 4
#define PM_SOFT_DIRTY (1ull << 55)
#define PM_PRESENT (1ull << 63)

static int read_entries(int fd, char *base, long psz, uint64_t *e)
{
	off_t off = (off_t)((uintptr_t)base / psz) * sizeof(uint64_t);

	if (pread(fd, e, NPAGES * sizeof(uint64_t), off) != NPAGES * sizeof(uint64_t))
		return -1;
	return 0;
}

static int clear_refs(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, "4", 1) == 1;
	close(fd);
	return ok ? 0 : -1;
}

int main(void)
{
	long psz = sysconf(_SC_PAGESIZE);
	uint64_t e[NPAGES];
	char *base;
	int fd;

	base = mmap(NULL, NPAGES * psz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		printf("softdirty error: mmap: %s\n", strerror(errno));
		return 1;
	}
	madvise(base, NPAGES * psz, MADV_NOHUGEPAGE);
	for (int i = 0; i < NPAGES; i++)
		base[i * psz] = 1;

	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0) {
		printf("softdirty error: open /proc/self/pagemap: %s\n", strerror(errno));
		return 1;
	}
	if (clear_refs()) {
		printf("softdirty unsupported: writing 4 to /proc/self/clear_refs: %s\n",
		       strerror(errno));
		return 2;
	}
	if (read_entries(fd, base, psz, e)) {
		printf("softdirty error: read /proc/self/pagemap: %s\n", strerror(errno));
		return 1;
	}
	for (int i = 0; i < NPAGES; i++) {
		if (!(e[i] & PM_PRESENT)) {
			printf("softdirty error: page %d not present after a write\n", i);
			return 1;
		}
		if (e[i] & PM_SOFT_DIRTY) {
			printf("softdirty unsupported: bit 55 still set on page %d after clear_refs\n",
			       i);
			return 2;
		}
	}

	*(volatile char *)(base + psz) = 2;
	if (read_entries(fd, base, psz, e)) {
		printf("softdirty error: read /proc/self/pagemap: %s\n", strerror(errno));
		return 1;
	}
	if (!(e[1] & PM_SOFT_DIRTY)) {
		printf("softdirty unsupported: bit 55 stays 0 after a write (no CONFIG_MEM_SOFT_DIRTY)\n");
		return 2;
	}
	for (int i = 0; i < NPAGES; i++) {
		if (i != 1 && (e[i] & PM_SOFT_DIRTY)) {
			printf("softdirty unsupported: page %d reads dirty though only page 1 was written\n",
			       i);
			return 2;
		}
	}
	printf("softdirty supported\n");
	close(fd);
	return 0;
}
