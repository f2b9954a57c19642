/* sample.c - helpers on samples and timespecs. */
#include "dpt/sample.h"

double ts_diff(const struct timespec *end, const struct timespec *start)
{
	return (double)(end->tv_sec - start->tv_sec) + (double)(end->tv_nsec - start->tv_nsec) * 1e-9;
}

double sample_mib_per_s(const struct dpt_sample *s)
{
	double secs = sample_seconds(s);

	if (secs <= 0)
		return 0;
	return (double)s->dirty * s->page_size / (1024.0 * 1024.0) / secs;
}
