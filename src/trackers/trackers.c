/* trackers.c - the table of trackers. Adding one: its file, plus one line here. */
#include <string.h>

#include "dpt/tracker.h"

const struct dpt_tracker_ops *const tracker_table[] = {
	&kvm_tracker_ops,
	&pid_tracker_ops,
	&qmp_tracker_ops,
	&libvirt_tracker_ops,
	NULL,
};

const struct dpt_tracker_ops *tracker_find(const char *name)
{
	for (unsigned i = 0; tracker_table[i]; i++)
		if (!strcmp(tracker_table[i]->name, name))
			return tracker_table[i];
	return NULL;
}
