/* term.c - what the terminal charts share: the width, the shading ramp, numbers that fit,
 * the time axis.
 *
 * Every chart is drawn the same way, so that a script (or a test) can read it back: a line
 * per row, PLOT_TERM_LEFT characters of label, " |", the chart's columns, "|" and the row's
 * label on the right; under it a border "+---+" and a line of times in seconds, each label
 * starting under the column whose first interval starts at that time.
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

void plot_term_time_axis(const struct plot_term *t, const double *t_start, unsigned cols,
			 double t_end)
{
	size_t x0 = PLOT_TERM_LEFT + 2, size = x0 + cols + 24, used = 0;
	char line[1024], num[32];

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
	unsigned step = cols >= 40 ? 10 : 5;
	for (unsigned c = 0; c < cols; c += step) {
		/* the end's label goes last: keep room for it */
		if (c && c + 9 > cols)
			break;
		snprintf(num, sizeof(num), "%.*f", decimals, t_start[c]);
		plot_term_place(line, size, x0 + c, num, &used);
	}
	snprintf(num, sizeof(num), "%.*f s", decimals, t_end);
	plot_term_place(line, size, x0 + cols, num, &used);
	while (used > 0 && line[used - 1] == ' ')
		used--;
	fprintf(t->f, "%.*s\n", (int)used, line);
}
