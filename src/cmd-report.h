/* cmd-report.h - dpt report's outputs: text in cmd-report.c, JSON in cmd-report-json.c. */
#ifndef DPT_CMD_REPORT_H
#define DPT_CMD_REPORT_H

#include "analysis/report.h"

/* Print rp as one JSON object on stdout (keys in docs/report.md). 0, or -errno. */
int report_json(const struct report *rp);

#endif
