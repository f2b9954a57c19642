/* rates.c - how fast pages were dirtied: statistics over the intervals' rates.
 *
 * 1. Each counted interval gives one rate: its dirty pages over its own measured length
 *    (monotonic clock), so a late or cut-short interval is judged by what it lasted, not by
 *    the interval asked for. Intervals of length 0 give none (and are counted apart).
 * 2. Mean and standard deviation (population, over n) of those rates, unweighted: every
 *    interval counts once. The overall rate (all dirty pages over all seconds) weighs them
 *    by their length; the two differ when lengths differ.
 * 3. Percentiles by nearest rank on the sorted rates: pq is the smallest rate such that at
 *    least q % of the intervals are at or below it (the ceil(q n / 100)-th). Exact values of
 *    the trace, no interpolation.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/report.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The ceil(q n / 100)-th smallest of the sorted v (q in percent). */
static double rank(const double *v, uint64_t n, unsigned q)
{
	uint64_t r = (q * n + 99) / 100;

	return v[r ? r - 1 : 0];
}

void report_rates_compute(struct report_rates *r, double *v, uint64_t n, uint64_t dirty,
			  double seconds)
{
	double sum = 0, sq = 0;

	memset(r, 0, sizeof(*r));
	r->n = n;
	r->overall = seconds > 0 ? (double)dirty / seconds : 0;
	if (!n)
		return;
	for (uint64_t i = 0; i < n; i++)
		sum += v[i];
	r->mean = sum / (double)n;
	for (uint64_t i = 0; i < n; i++)
		sq += (v[i] - r->mean) * (v[i] - r->mean);
	r->stddev = sqrt(sq / (double)n);
	qsort(v, n, sizeof(*v), cmp_double);
	r->min = v[0];
	r->p50 = rank(v, n, 50);
	r->p90 = rank(v, n, 90);
	r->p99 = rank(v, n, 99);
	r->max = v[n - 1];
}
