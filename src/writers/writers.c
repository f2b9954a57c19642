/* writers.c - the table of writers. Adding one: its file, plus one line here. */
#include <string.h>

#include "dpt/writer.h"

extern const struct dpt_writer_ops text_writer_ops;
extern const struct dpt_writer_ops csv_writer_ops;
extern const struct dpt_writer_ops trace_writer_ops;
extern const struct dpt_writer_ops ndjson_writer_ops;

const struct dpt_writer_ops *const writer_table[] = {
	&text_writer_ops,
	&csv_writer_ops,
	&trace_writer_ops,
	&ndjson_writer_ops,
	NULL,
};

const struct dpt_writer_ops *writer_find(const char *name)
{
	for (unsigned i = 0; writer_table[i]; i++)
		if (!strcmp(writer_table[i]->name, name))
			return writer_table[i];
	return NULL;
}
