/* pid-target - the pid tracker tests' synthetic target as a program of its own.
 *
 *	pid-target            obey the commands of tests/integration/pid-util.h on stdin,
 *	                      answering on stdout
 *	pid-target --write N  map N pages, write them, then end as one line on stdin says
 *	                      (tgt_write_main() in tests/integration/pid-util.h)
 * The second form is for launch mode: tracked from its first instruction, its first interval
 * holds exactly those N pages, and its last (partial) one exactly the pages it rewrote on its
 * way out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../integration/pid-util.h"

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--write"))
		return tgt_write_main(strtoul(argv[2], NULL, 0));
	tgt_main(0, 1, argc > 1 ? (unsigned)atoi(argv[1]) : 256);
}
