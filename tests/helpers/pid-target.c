/* pid-target - the pid tracker tests' synthetic target as a program of its own.
 *
 *	pid-target            obey the commands of tests/integration/pid-util.h on stdin,
 *	                      answering on stdout
 *	pid-target --write N  map N pages, write every one, print "ready ADDR N", then wait
 *	                      until stdin closes or a line arrives, and exit 0
 * The second form is for launch mode: tracked from its first instruction, its first interval
 * holds exactly those N pages in the mapping at ADDR.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../integration/pid-util.h"

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--write")) {
		unsigned long n = strtoul(argv[2], NULL, 0);
		char *p = mmap(NULL, n * TGT_PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char c;

		if (p == MAP_FAILED)
			return 1;
		for (unsigned long i = 0; i < n; i++)
			tgt_write_page((volatile char *)p + i * TGT_PAGE, (unsigned)i + 1);
		tgt_reply(1, "ready %lx %lu\n", (unsigned long)p, n);
		return read(0, &c, 1) < 0;
	}
	tgt_main(0, 1, argc > 1 ? (unsigned)atoi(argv[1]) : 256);
}
