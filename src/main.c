/* main.c - dpt's command table. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "dpt/log.h"
#include "dpt/version.h"

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{"vm", cmd_vm, "run the built-in micro-VM and measure how fast it dirties memory"},
	{"track", cmd_track, "measure a running process, a program it launches, or a QEMU"},
	{"exporter", cmd_exporter, "track every QEMU on the host, serve Prometheus metrics"},
	{"check", cmd_check, "show which tracking mechanisms work on this host"},
	{"report", cmd_report, "what a trace says: rates, working set N(t), hot pages"},
	{"plot", cmd_plot, "draw a trace: dirty rate, working set N(t), page x time heat map"},
	{"import", cmd_import, "make a .dpt trace from a directory of Qemu-DPT bitmap files"},
	{"export", cmd_export, "write a .dpt trace back out: Qemu-DPT bitmap files, CSV, ndjson"},
	{"predict", cmd_predict, "forecast a QEMU live migration from a trace: time, downtime, bytes"},
	{"simgrid", cmd_simgrid, "a trace's live migration in SimGrid's model; host evacuations"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: dpt COMMAND [OPTIONS]\n\n"
		   "dpt measures how fast a VM or process dirties its memory, interval by interval.\n\n"
		   "commands:\n");
	for (unsigned i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\noptions:\n"
		   "  -h, --help     this text\n"
		   "      --version  dpt's version\n\n"
		   "'dpt COMMAND --help' describes a command's options; 'man dpt-COMMAND' more.\n");
}

const char *cmd_line = "dpt";

/* argv joined with spaces, arguments with spaces or quotes single-quoted. */
static void set_cmd_line(int argc, char **argv)
{
	size_t n = 1;
	for (int i = 0; i < argc; i++)
		n += 4 * strlen(argv[i]) + 3;
	char *s = malloc(n), *p = s;
	if (!s)
		return;
	for (int i = 0; i < argc; i++) {
		bool quote = !argv[i][0] || strpbrk(argv[i], " \t'\"\\$`*?;&|<>()");
		p += sprintf(p, "%s%s", i ? " " : "", quote ? "'" : "");
		for (const char *c = argv[i]; *c; c++)
			p += *c == '\'' && quote ? sprintf(p, "'\\''") : sprintf(p, "%c", *c);
		if (quote)
			*p++ = '\'', *p = 0;
	}
	cmd_line = s;
}

int main(int argc, char **argv)
{
	set_cmd_line(argc, argv);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("dpt %s\n", DPT_VERSION);
		return 0;
	}
	for (unsigned i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "dpt: unknown command '%s' (see 'dpt help')\n", argv[1]);
	return 2;
}
