/* term.c - what the terminal charts share: the width, the shading ramp, numbers that fit,
 * the time axis.
 *
 * Every chart is drawn the same way, so that a script (or a test) can read it back: a line
 * per row, PLOT_TERM_LEFT characters of label, " |", the chart's columns, "|" and the row's
 * label on the right; under it a border "+---+" and a line of times in seconds, each label
 * starting under the column whose first interval starts at that time.
 * A chart has a column per bin of intervals, as many bins as plot_term_cols() allows; with
 * fewer intervals than that, each interval takes the same whole number of columns
 * (plot_term_stretch()), the chart reaching to PLOT_TERM_RIGHT_MIN from the width, and its
 * right labels take what is left (plot_term_right()). A script reads an interval's cells back
 * as every per-th character ("an interval = N columns" in the chart's header).
 */
#include <stdio.h>
#include <string.h>
#include <math.h>

#include "plot/plot.h"

const char *plot_term_shade(const struct plot_term *t, double level)
{
	static const char *const ascii[] = {" ", ".", ":", "-", "=", "+", "*", "#", "%", "@"};
	static const char *const utf8[] = {" ", "\u2591", "\u2592", "\u2593", "\u2588"};

	if (isnan(level))
		return "?";
	if (level <= 0)
		return " ";
	if (level > 1)
		level = 1;
	if (t->utf8)
		return utf8[(int)ceil(level * 4)];
	return ascii[(int)ceil(level * 9)];
}

unsigned plot_term_cols(const struct plot_term *t)
{
	unsigned margins = PLOT_TERM_LEFT + 3 + PLOT_TERM_RIGHT;

	if (t->width > margins + PLOT_TERM_MAX_COLS)
		return PLOT_TERM_MAX_COLS;
	return t->width > margins + 10 ? t->width - margins : 10;
}

unsigned plot_term_stretch(const struct plot_term *t, unsigned bins, uint64_t per_bin)
{
	unsigned margins = PLOT_TERM_LEFT + 3 + PLOT_TERM_RIGHT_MIN, avail;

	if (!bins || per_bin != 1 || bins >= plot_term_cols(t))
		return 1;
	avail = t->width > margins + 10 ? t->width - margins : 10;
	avail = avail > PLOT_TERM_MAX_COLS ? PLOT_TERM_MAX_COLS : avail;
	return avail / bins > 1 ? avail / bins : 1;
}

unsigned plot_term_right(const struct plot_term *t, unsigned cols, unsigned per)
{
	unsigned used = PLOT_TERM_LEFT + 3 + cols, room = t->width > used ? t->width - used : 0;

	if (per <= 1 || room >= PLOT_TERM_RIGHT)
		return PLOT_TERM_RIGHT;
	return room > PLOT_TERM_RIGHT_MIN ? room : PLOT_TERM_RIGHT_MIN;
}

void plot_term_num(char *buf, size_t len, double v, unsigned width)
{
	for (int prec = 6; prec > 0; prec--) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strlen(buf) <= width)
			return;
	}
	snprintf(buf, len, "%.0e", v);
}

/* Put s into line at pos if it fits after *used; returns 1 if placed. */
static int plot_term_place(char *line, size_t size, size_t pos, const char *s, size_t *used)
{
	size_t n = strlen(s);

	if ((*used && pos < *used + 1) || pos + n >= size)
		return 0;
	memcpy(line + pos, s, n);
	*used = pos + n;
	return 1;
}

/* Bins between time labels: the least of 1, 2, 5, 10, 20, 50, ... that puts them spacing
 * columns apart or more. */
static unsigned plot_term_step(unsigned per, unsigned spacing)
{
	static const unsigned m[] = {1, 2, 5};

	for (unsigned long mag = 1;; mag *= 10)
		for (unsigned i = 0; i < 3; i++)
			if (m[i] * mag * per >= spacing || m[i] * mag >= UINT32_MAX / 10)
				return (unsigned)(m[i] * mag);
}

void plot_term_time_axis(const struct plot_term *t, const double *t_start, unsigned bins,
			 unsigned per, double t_end)
{
	unsigned cols = bins * per;
	size_t x0 = PLOT_TERM_LEFT + 2, size = x0 + cols + 24, used = 0;
	char line[1024], num[32], end[40];

	if (size > sizeof(line))
		size = sizeof(line);
	fprintf(t->f, "%*s +", PLOT_TERM_LEFT, "");
	for (unsigned c = 0; c < cols; c++)
		fputc('-', t->f);
	fprintf(t->f, "+\n");

	memset(line, ' ', size);
	double span = t_end - t_start[0];
	int decimals = span > 0 ? 2 - (int)floor(log10(span)) : 3;
	decimals = decimals < 0 ? 0 : decimals > 6 ? 6 : decimals;
	/* labels 5 columns apart or more (10 on a chart of 40), and never touching */
	snprintf(end, sizeof(end), "%.*f", decimals, t_end);
	snprintf(num, sizeof(num), "%.*f", decimals, t_start[0]);
	unsigned wide = (unsigned)(strlen(end) > strlen(num) ? strlen(end) : strlen(num));
	unsigned spacing = cols >= 40 ? 10 : 5;
	spacing = spacing > wide + 1 ? spacing : wide + 1;
	unsigned step = plot_term_step(per, spacing);
	for (unsigned c = 0; c < bins; c += step) {
		snprintf(num, sizeof(num), "%.*f", decimals, t_start[c]);
		/* the end's label goes last, a space before it */
		if (c && c * per + strlen(num) + 1 > cols)
			break;
		plot_term_place(line, size, x0 + c * per, num, &used);
		if (c + step < c)
			break;
	}
	strcat(end, " s");
	plot_term_place(line, size, x0 + cols, end, &used);
	while (used > 0 && line[used - 1] == ' ')
		used--;
	fprintf(t->f, "%.*s\n", (int)used, line);
}
