/* gnuplot.c - gnuplot as a child process: data files and a script in a directory, one run.
 *
 * 1. A job directory: a fresh one under $TMPDIR (removed at the end), or the one --keep-data
 *    names (left in place, with the data, the script plot.gp and gnuplot's output
 *    gnuplot.log, so that the numbers drawn can be checked or plotted again).
 * 2. Each kind writes its data files there and its page into plot.gp: reset, terminal, size,
 *    output, title, then its own settings and plot command.
 * 3. fork, and in the child: the job directory as the working directory (the script names
 *    its data files relatively), stdin /dev/null, stdout and stderr into gnuplot.log, exec
 *    gnuplot plot.gp. An exec failure comes back through a close-on-exec pipe, so a missing
 *    gnuplot is told apart from a failing one; a failure's reason is gnuplot's last line.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dpt/log.h"
#include "plot/plot.h"

static const struct {
	const char *ext, *terminal;
} gnuplot_terminals[] = {
	{".svg", "svg fixed noenhanced font 'sans,11' background rgb 'white'"},
	{".png", "pngcairo noenhanced font 'sans,10' background rgb 'white'"},
	{".pdf", "pdfcairo noenhanced font 'sans,9'"},
};

const char *gnuplot_terminal(const char *path)
{
	const char *dot = strrchr(path, '.');

	if (!dot || strchr(dot, '/'))
		return NULL;
	for (unsigned i = 0; i < sizeof(gnuplot_terminals) / sizeof(gnuplot_terminals[0]); i++)
		if (!strcasecmp(dot, gnuplot_terminals[i].ext))
			return gnuplot_terminals[i].terminal;
	return NULL;
}

int gnuplot_job_init(struct gnuplot_job *g, const char *keep_dir, const char *terminal,
		     unsigned width, unsigned height)
{
	int err;

	memset(g, 0, sizeof(*g));
	g->terminal = terminal;
	g->width = width;
	g->height = height;
	if (keep_dir) {
		if (mkdir(keep_dir, 0777) && errno != EEXIST)
			return dpt_fail(-errno, "--keep-data %s: %s", keep_dir, strerror(errno));
		snprintf(g->dir, sizeof(g->dir), "%s", keep_dir);
		g->keep = true;
	} else {
		const char *tmp = getenv("TMPDIR");
		snprintf(g->dir, sizeof(g->dir), "%s/dpt-plot.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(g->dir)) {
			err = dpt_fail(-errno, "a temporary directory in %s: %s",
				       tmp && *tmp ? tmp : "/tmp", strerror(errno));
			g->dir[0] = 0;
			return err;
		}
	}
	if ((err = gnuplot_job_file(g, "plot.gp", &g->script)))
		return err;
	fprintf(g->script, "# dpt plot: run with 'gnuplot plot.gp' in this directory\n");
	fprintf(g->script, "set encoding utf8\n");
	return 0;
}

int gnuplot_job_file(struct gnuplot_job *g, const char *name, FILE **f)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s", g->dir, name);
	*f = fopen(path, "w");
	if (!*f)
		return dpt_fail(-errno, "%s: %s", path, strerror(errno));
	return 0;
}

void gnuplot_quote(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
	}
	fputc('"', f);
}

void gnuplot_job_page(struct gnuplot_job *g, const char *output, const char *title)
{
	FILE *s = g->script;

	fprintf(s, "\nreset\n");
	if (strncmp(g->terminal, "pdf", 3))
		fprintf(s, "set terminal %s size %u,%u\n", g->terminal, g->width, g->height);
	else /* PDF: points, 72 an inch */
		fprintf(s, "set terminal %s size %.3fin,%.3fin\n", g->terminal, g->width / 72.0,
			g->height / 72.0);
	fprintf(s, "set output '");
	for (const char *p = output; *p; p++) /* a single-quoted string: ' doubled */
		fputs(*p == '\'' ? "''" : (char[]){*p, 0}, s);
	fprintf(s, "'\nset title ");
	gnuplot_quote(s, title);
	fprintf(s, "\n");
}

/* The last non-empty line gnuplot said. */
static void gnuplot_last_line(const struct gnuplot_job *g, char *buf, size_t len)
{
	char path[4200], line[512];
	FILE *f;

	snprintf(buf, len, "no message");
	snprintf(path, sizeof(path), "%s/gnuplot.log", g->dir);
	if (!(f = fopen(path, "r")))
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (line[strspn(line, " \t^")])
			snprintf(buf, len, "%s", line);
	}
	fclose(f);
}

static void gnuplot_child(const struct gnuplot_job *g, int errfd)
{
	int in = open("/dev/null", O_RDONLY);
	int log = open("gnuplot.log", O_WRONLY | O_CREAT | O_TRUNC, 0666);

	if (in >= 0 && log >= 0 && dup2(in, 0) == 0 && dup2(log, 1) == 1 && dup2(log, 2) == 2)
		execlp("gnuplot", "gnuplot", "plot.gp", (char *)NULL);
	int e = errno;
	if (write(errfd, &e, sizeof(e)) < 0)
		_exit(126);
	_exit(127);
}

int gnuplot_job_run(struct gnuplot_job *g)
{
	int fds[2], status, e = 0;
	char why[512];

	if (fclose(g->script)) {
		g->script = NULL;
		return dpt_fail(-errno, "%s/plot.gp: %s", g->dir, strerror(errno));
	}
	g->script = NULL;
	if (pipe2(fds, O_CLOEXEC))
		return dpt_fail(-errno, "pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return dpt_fail(-errno, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(fds[0]);
		if (chdir(g->dir) == 0)
			gnuplot_child(g, fds[1]);
		_exit(127);
	}
	close(fds[1]);
	ssize_t got = read(fds[0], &e, sizeof(e));
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return dpt_fail(-errno, "waitpid: %s", strerror(errno));
	if (got == sizeof(e) && e == ENOENT)
		return dpt_fail(-ENOENT, "gnuplot not found: install gnuplot-nox to plot into a file "
					 "(without -o, dpt plot draws in the terminal)");
	if (got == sizeof(e))
		return dpt_fail(-e, "running gnuplot: %s", strerror(e));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	gnuplot_last_line(g, why, sizeof(why));
	if (WIFSIGNALED(status))
		return dpt_fail(-EIO, "gnuplot killed by signal %d: %s", WTERMSIG(status), why);
	return dpt_fail(-EIO, "gnuplot failed (exit %d): %s", WEXITSTATUS(status), why);
}

void gnuplot_job_fini(struct gnuplot_job *g)
{
	if (g->script)
		fclose(g->script);
	g->script = NULL;
	if (!g->dir[0] || g->keep)
		return;
	DIR *dir = opendir(g->dir);
	if (dir) {
		struct dirent *de;
		while ((de = readdir(dir)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(dirfd(dir), de->d_name, 0);
		closedir(dir);
	}
	rmdir(g->dir);
	g->dir[0] = 0;
}

/* Reserve .NAME.XXXXXX beside name, absolute, readable as a new file would be. */
int plot_reserve_output(const char *name, char **tmp)
{
	const char *slash = strrchr(name, '/');
	char cwd[PATH_MAX] = "", *path;
	mode_t mask = umask(0);

	umask(mask);
	if (name[0] != '/' && !getcwd(cwd, sizeof(cwd)))
		return dpt_fail(-errno, "the current directory: %s", strerror(errno));
	if (asprintf(&path, "%s%s%.*s.%s.XXXXXX", cwd, cwd[0] ? "/" : "",
		     slash ? (int)(slash - name + 1) : 0, name, slash ? slash + 1 : name) < 0)
		return -ENOMEM;
	int fd = mkstemp(path);
	if (fd < 0) {
		int err = dpt_fail(-errno, "%s: %s", name, strerror(errno));
		free(path);
		return err;
	}
	if (fchmod(fd, 0666 & ~mask))
		dpt_debug("%s: chmod: %s", path, strerror(errno));
	close(fd);
	*tmp = path;
	return 0;
}

