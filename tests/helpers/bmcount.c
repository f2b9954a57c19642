/* bmcount - print the number of set bits and the size in bytes of Qemu-DPT bitmap files:
 * "FILE BITS BYTES" per file. Exit 1 if a file cannot be read. */
#include <stdio.h>
#include <stdlib.h>

#include "dpt/bitmap.h"
#include "dpt/log.h"
#include "writers/bitmaps.h"

int main(int argc, char **argv)
{
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		uint64_t *w;
		size_t n;

		if (bitmap_file_read(argv[i], &w, &n)) {
			fprintf(stderr, "bmcount: %s\n", dpt_last_error());
			rc = 1;
			continue;
		}
		printf("%s %llu %zu\n", argv[i], (unsigned long long)bitmap_weight(w, n * 64), n * 8);
		free(w);
	}
	return rc;
}
