/* test.h - the smallest test harness that can fail.
 *
 * Each check prints one line the runner counts: "ok NAME", "FAIL NAME: why" or
 * "skip NAME: why". A test program exits non-zero if any check failed.
 *
 *	TEST_CHECK(cond, "name", "fmt", ...)   one check
 *	test_skip("name", "fmt", ...)          a check this host cannot run
 *	return test_done();                    at the end of main()
 */
#ifndef DPT_TEST_H
#define DPT_TEST_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int test_failed_count, test_passed_count, test_skipped_count;

static inline void test_vreport(int ok, const char *name, const char *fmt, va_list ap)
{
	if (ok) {
		test_passed_count++;
		printf("ok %s\n", name);
	} else {
		test_failed_count++;
		printf("FAIL %s: ", name);
		vprintf(fmt, ap);
		printf("\n");
	}
	fflush(stdout);
}

static inline __attribute__((format(printf, 3, 4))) int test_report(int ok, const char *name,
								    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	test_vreport(ok, name, fmt, ap);
	va_end(ap);
	return ok;
}

#define TEST_CHECK(cond, name, ...) test_report(!!(cond), name, __VA_ARGS__)

static inline __attribute__((format(printf, 2, 3))) void test_skip(const char *name,
								   const char *fmt, ...)
{
	va_list ap;
	test_skipped_count++;
	printf("skip %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static inline int test_done(void)
{
	return test_failed_count ? 1 : 0;
}

/* A whole file in memory (malloc'd, one byte to spare), its length in *len; NULL (and 0) if
 * it cannot be opened. */
static inline void *test_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	*len = 0;
	if (!f || fstat(fileno(f), &st))
		return NULL;
	void *p = malloc((size_t)st.st_size + 1);
	*len = fread(p, 1, (size_t)st.st_size, f);
	fclose(f);
	return p;
}

/* A xorshift64 stream for random cases, the same in every run. */
static inline uint64_t test_rnd(void)
{
	static uint64_t x = 0x9E3779B97F4A7C15ULL;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

#endif
