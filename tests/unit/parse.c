/* Unit tests: sizes, durations, rates, integers. */
#include <errno.h>
#include <string.h>

#include "../test.h"
#include "dpt/parse.h"

int main(void)
{
	uint64_t v = 0;
	double d = 0;
	char buf[32];

	TEST_CHECK(!parse_size("256M", &v) && v == 256ULL << 20, "size-256M", "got %llu",
		   (unsigned long long)v);
	TEST_CHECK(!parse_size("1G", &v) && v == 1ULL << 30, "size-1G", "got %llu",
		   (unsigned long long)v);
	TEST_CHECK(!parse_size("4096", &v) && v == 4096, "size-plain", "got %llu",
		   (unsigned long long)v);
	TEST_CHECK(!parse_size("1.5K", &v) && v == 1536, "size-fraction", "got %llu",
		   (unsigned long long)v);
	TEST_CHECK(parse_size("-1M", &v) == -EINVAL, "size-negative", "accepted");
	TEST_CHECK(parse_size("12Q", &v) == -EINVAL, "size-bad-unit", "accepted");
	TEST_CHECK(parse_size("", &v) == -EINVAL, "size-empty", "accepted");
	TEST_CHECK(parse_size("0x10", &v) == -EINVAL, "size-hex", "accepted");
	TEST_CHECK(parse_size("1.3", &v) == -EINVAL, "size-fractional-bytes", "accepted");

	TEST_CHECK(!parse_duration_ns("1s", &v) && v == 1000000000ULL, "dur-1s", "got %llu",
		   (unsigned long long)v);
	TEST_CHECK(!parse_duration_ns("100ms", &v) && v == 100000000ULL, "dur-100ms", "got %llu",
		   (unsigned long long)v);
	TEST_CHECK(!parse_duration_ns("2.5", &v) && v == 2500000000ULL, "dur-plain", "got %llu",
		   (unsigned long long)v);
	TEST_CHECK(!parse_duration_ns("1m", &v) && v == 60000000000ULL, "dur-minute", "got %llu",
		   (unsigned long long)v);
	TEST_CHECK(parse_duration_ns("-1s", &v) == -EINVAL, "dur-negative", "accepted");
	TEST_CHECK(parse_duration_ns("1 s", &v) == -EINVAL, "dur-space", "accepted");
	TEST_CHECK(parse_duration_ns("nan", &v) == -EINVAL, "dur-nan", "accepted");

	TEST_CHECK(!parse_bandwidth("64M", &d) && d == 64 * 1048576.0, "bw-64M", "got %f", d);
	TEST_CHECK(!parse_bandwidth("64", &d) && d == 64 * 1048576.0, "bw-plain-mib", "got %f", d);
	TEST_CHECK(!parse_bandwidth("1GiB/s", &d) && d == 1073741824.0, "bw-gib-s", "got %f", d);
	TEST_CHECK(!parse_bandwidth("10Gbit", &d) && d == 1.25e9, "bw-gbit", "got %f", d);
	TEST_CHECK(!parse_bandwidth("100Mbps", &d) && d == 12.5e6, "bw-mbps", "got %f", d);
	TEST_CHECK(!parse_bandwidth("0", &d) && d == 0, "bw-zero", "got %f", d);
	TEST_CHECK(parse_bandwidth("-5M", &d) == -EINVAL, "bw-negative", "accepted");
	TEST_CHECK(parse_bandwidth("5X", &d) == -EINVAL, "bw-unit", "accepted");
	TEST_CHECK(parse_bandwidth("nan", &d) == -EINVAL, "bw-nan", "accepted");
	TEST_CHECK(parse_bandwidth("9999999999G", &d) == -ERANGE, "bw-absurd", "accepted");
	TEST_CHECK(parse_bandwidth("10mbit", &d) == -EINVAL, "bw-case", "accepted (mbit: megabit "
		   "or millibit?)");
	TEST_CHECK(!parse_rate_pages("16M", &d) && d == 4096, "rate-16M", "got %f", d);
	TEST_CHECK(!parse_rate_pages("16", &d) && d == 4096, "rate-plain-mib", "got %f", d);
	TEST_CHECK(!parse_rate_pages("16MiB/s", &d) && d == 4096, "rate-mib-s", "got %f", d);
	TEST_CHECK(!parse_rate_pages("4000p", &d) && d == 4000, "rate-pages", "got %f", d);
	TEST_CHECK(!parse_rate_pages("4000pages/s", &d) && d == 4000, "rate-pages-s", "got %f", d);
	TEST_CHECK(!parse_rate_pages("512K", &d) && d == 128, "rate-kib", "got %f", d);
	TEST_CHECK(parse_rate_pages("-5", &d) == -EINVAL, "rate-negative", "accepted");
	TEST_CHECK(parse_rate_pages("5 furlongs", &d) == -EINVAL, "rate-bad-unit", "accepted");

	TEST_CHECK(!parse_uint("7", 1, 64, &v) && v == 7, "uint-ok", "got %llu",
		   (unsigned long long)v);
	TEST_CHECK(parse_uint("0", 1, 64, &v) == -EINVAL, "uint-below", "accepted");
	TEST_CHECK(parse_uint("65", 1, 64, &v) == -EINVAL, "uint-above", "accepted");
	TEST_CHECK(parse_uint("7x", 1, 64, &v) == -EINVAL, "uint-junk", "accepted");
	TEST_CHECK(parse_uint("-1", 0, 64, &v) == -EINVAL, "uint-negative", "accepted");

	format_size(256ULL << 20, buf, sizeof(buf));
	TEST_CHECK(!strcmp(buf, "256M"), "format-256M", "got %s", buf);
	format_size(12345, buf, sizeof(buf));
	TEST_CHECK(!strcmp(buf, "12345"), "format-plain", "got %s", buf);
	return test_done();
}
