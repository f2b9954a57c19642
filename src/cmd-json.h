/* cmd-json.h - what the --json outputs share. */
#ifndef DPT_CMD_JSON_H
#define DPT_CMD_JSON_H

#include <jansson.h>

/* json_object_set_new on a possibly NULL object or value: allocation failures surface at the
 * end, when the whole object is checked. */
static inline void json_put(json_t *o, const char *key, json_t *v)
{
	if (o && v)
		json_object_set_new(o, key, v);
	else
		json_decref(v);
}

#endif
