/* parse.h - command-line values: sizes, durations, rates. All return 0 or -EINVAL. */
#ifndef DPT_PARSE_H
#define DPT_PARSE_H

#include <stdint.h>

/* "4096", "64K", "256M", "1G", "2T", also "256MiB"/"256MB" (all binary units). */
int parse_size(const char *s, uint64_t *out);
/* "1s", "100ms", "2.5", "10us", "1m" (minute), "1h"; plain numbers are seconds. */
int parse_duration_ns(const char *s, uint64_t *out);
/* A write rate in pages per second (4 KiB pages): "16" or "16M" or "16MiB/s" or "16MB/s"
 * (MiB/s, as Qemu-DPT's "MB"), "512K"/"512KiB/s" (KiB/s), "4000p"/"4000pages/s"/"4000pps". */
int parse_rate_pages(const char *s, double *out);
/* A bandwidth in bytes per second: "64" or "64M" or "64MiB/s" or "64MB/s" (MiB/s, as rates
 * elsewhere in dpt), "512K", "1G"/"1GiB/s", "100B/s"; network units are decimal bits:
 * "10Gbit", "10Gb/s", "10Gbps", "100Mbit". -EINVAL if malformed or negative, -ERANGE above
 * 10^15 bytes/s. */
int parse_bandwidth(const char *s, double *out);
/* A non-negative integer within [min, max]. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Print a size in the largest exact binary unit ("256M", "1G", "12345"); returns buf. */
const char *format_size(uint64_t bytes, char *buf, unsigned len);

#endif
