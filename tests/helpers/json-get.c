/* json-get: print values out of a JSON document, for shell tests (jq is not installed).
 *
 *	json-get FILE PATH...      FILE "-" reads stdin
 *
 * A PATH is keys and indices: "rates.pages_per_s.max", "working_set.points[3].k",
 * "hot.ranges[0].region", "" (the whole document). Each value is printed on its own line:
 * integers as integers, reals with 17 significant digits, strings raw, true/false/null, arrays
 * and objects as compact JSON; "length(PATH)" prints the number of elements of an array or
 * object. Exit 1 with "json-get: ..." if FILE is not JSON or a PATH is not there.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value at path in root, or NULL. */
static json_t *walk(json_t *root, const char *path)
{
	json_t *v = root;
	const char *p = path;

	while (v && *p) {
		if (*p == '.') {
			p++;
		} else if (*p == '[') {
			char *end;
			unsigned long i = strtoul(p + 1, &end, 10);
			if (*end != ']' || !json_is_array(v))
				return NULL;
			v = json_array_get(v, i);
			p = end + 1;
		} else {
			size_t n = strcspn(p, ".[");
			char key[256];
			if (n >= sizeof(key) || !json_is_object(v))
				return NULL;
			memcpy(key, p, n);
			key[n] = 0;
			v = json_object_get(v, key);
			p += n;
		}
	}
	return v;
}

static void print(json_t *v)
{
	char *s;

	switch (json_typeof(v)) {
	case JSON_STRING:
		printf("%s\n", json_string_value(v));
		break;
	case JSON_INTEGER:
		printf("%" JSON_INTEGER_FORMAT "\n", json_integer_value(v));
		break;
	case JSON_REAL:
		printf("%.17g\n", json_real_value(v));
		break;
	default:
		s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		printf("%s\n", s ? s : "?");
		free(s);
	}
}

int main(int argc, char **argv)
{
	json_error_t e;
	json_t *root;

	if (argc < 3) {
		fprintf(stderr, "usage: json-get FILE PATH...\n");
		return 2;
	}
	root = !strcmp(argv[1], "-") ? json_loadf(stdin, 0, &e) : json_load_file(argv[1], 0, &e);
	if (!root) {
		fprintf(stderr, "json-get: %s: line %d: %s\n", argv[1], e.line, e.text);
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		const char *path = argv[i];
		bool len = !strncmp(path, "length(", 7) && path[strlen(path) - 1] == ')';
		char inner[512];
		if (len) {
			snprintf(inner, sizeof(inner), "%.*s", (int)(strlen(path) - 8), path + 7);
			path = inner;
		}
		json_t *v = walk(root, path);
		if (!v) {
			fprintf(stderr, "json-get: %s: no such value\n", argv[i]);
			json_decref(root);
			return 1;
		}
		if (len)
			printf("%zu\n", json_is_array(v) ? json_array_size(v) : json_object_size(v));
		else
			print(v);
	}
	json_decref(root);
	return 0;
}
