/* cmd-report.h - dpt report's outputs: text in cmd-report.c, JSON in cmd-report-json.c. */
#ifndef DPT_CMD_REPORT_H
#define DPT_CMD_REPORT_H

#include "analysis/report.h"

/* Print rp as one JSON object on stdout (keys in docs/report.md). 0, or -errno. */
int report_json(const struct report *rp);

/* Write the report of the trace at path, its tables and its figures (gnuplot's SVG inline), as
 * one self-contained HTML page into out (cmd-report-html.c). 0, or -errno (reason recorded);
 * out is then left as it was. */
int report_html(const char *path, const struct report_opts *o, const char *out);

#endif
