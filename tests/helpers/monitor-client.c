/* monitor-client SOCKET - a scripted monitor session: connects to a dpt monitor socket, sends
 * each line of stdin after waiting for the prompt, and prints everything the monitor says.
 * A line "sleep MS" on stdin waits instead of sending. Exits 1 if it cannot connect or the
 * monitor does not prompt within 10 s. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int fd;

/* Read and print until the buffer ends with the prompt or the peer closes; 1 on prompt. */
static int until_prompt(void)
{
	char buf[8192];
	size_t len = 0;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 10000) <= 0)
			return -1;
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return 0;
		fwrite(buf + len, 1, (size_t)n, stdout);
		fflush(stdout);
		len += (size_t)n;
		buf[len] = 0;
		if (len >= 6 && !strcmp(buf + len - 6, "(dpt) "))
			return 1;
		if (len > sizeof(buf) / 2) {
			memmove(buf, buf + len - 8, 8);
			len = 8;
		}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char line[1024];

	if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: monitor-client SOCKET < script\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		perror("monitor-client: connect");
		return 1;
	}
	if (until_prompt() != 1)
		return 1;
	while (fgets(line, sizeof(line), stdin)) {
		int ms;
		if (sscanf(line, "sleep %d", &ms) == 1) {
			nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
			continue;
		}
		if (write(fd, line, strlen(line)) < 0)
			return 1;
		int r = until_prompt();
		if (r < 0)
			return 1;
		if (r == 0)
			break; /* the monitor closed: after quit */
	}
	printf("\n[closed]\n");
	return 0;
}
