/* qemu.c - a QEMU target: its guest RAM blocks in QEMU's RAM order, followed as they come
 * and go, and the moments when QEMU needs its RAM for a userfaultfd of its own.
 *
 * Mechanism:
 *  1. With a QMP socket: a tiny QMP exchange (greeting, qmp_capabilities, then
 *     human-monitor-command "info ramblock") gives every RAM block's name, RAM offset and
 *     length -- guest RAM, NUMA node and DIMM backends, VGA RAM, ROMs, ACPI tables: what QEMU's
 *     dirty bitmap and Qemu-DPT's bitmap files cover, bit i being RAM offset i*4096. Each block
 *     becomes a fixed range region at page offset/4096 spanning up to the next block's offset,
 *     so the gaps of QEMU's RAM address space sit, never dirty, at the end of the preceding
 *     region and the total is QEMU's last RAM page.
 *  2. Host addresses: QEMU maps each block as its own anonymous (or memfd/file) mapping of the
 *     block's full length and marks it MADV_DONTFORK ("dc" in /proc/PID/smaps VmFlags); every
 *     writable DONTFORK mapping of QEMU is a RAM block and every RAM block is one (checked on
 *     7.2 with plain RAM, NUMA backends, a memfd backend and hotplugged DIMMs). Blocks are
 *     matched to mappings by length; blocks of equal length (two NUMA nodes, two 256 KiB ROMs)
 *     by address, the block with the lower RAM offset taking the mapping at the higher address
 *     (QEMU allocates in RAM-offset order and mmap hands out addresses top-down). Newer QEMUs
 *     print an HVA column; when present it is used instead.
 *  3. Without QMP: every writable DONTFORK mapping is a block, numbered one after another,
 *     largest first (guest RAM first), equal lengths by descending address. The same pages as
 *     with QMP, without QEMU's names and exact offsets: names are guessed ("ram" for the -m
 *     sized one, "ram-256M", a memfd's name).
 *  4. Following: before each collect, when QEMU's writable mappings changed (at most once a
 *     second) and every 5 s anyway, the blocks are looked for again; blocks that appeared
 *     (object-add of a memory backend, a device with a ROM) or vanished are said in a line and
 *     the layout changes with them.
 *  5. QEMU's own userfaultfd: a QEMU receiving a migration (-incoming) registers its RAM for
 *     postcopy with a userfaultfd of its own, which fails (EBUSY) if dpt's holds it -- and the
 *     VM is lost; one with the background-snapshot capability write-protects its RAM the same
 *     way. With the uffd method dpt therefore refuses a QEMU set up for a background snapshot,
 *     and waits, tracking nothing, until an incoming migration has completed (QMP says so);
 *     without QMP it refuses a QEMU started with -incoming, having no way to know.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dpt/log.h"
#include "trackers/pid/int.h"
#include "trackers/qmp-client.h"

#define QMP_WAIT_MS	   3000
#define LOOK_MIN_MS	   1000 /* at most one look a second after the mappings change */
#define LOOK_EVERY_MS	   5000 /* and one every 5 s anyway (a block renamed, say) */
#define MIGRATION_LOOK_MS  500	/* while waiting for an incoming migration to complete */

bool pid_qemu_detect(pid_t pid)
{
	char path[64], exe[4096], *base;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = 0;
	base = strrchr(exe, '/');
	return !strncmp(base ? base + 1 : exe, "qemu-system-", 12);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Open a QMP session on socket path (3 s for each answer: QEMU serves one client at a time,
 * and a socket in use by another does not answer). */
static int qmp_open(struct qmp_client *c, const char *path)
{
	int err = qmp_client_open(c, path, QMP_WAIT_MS);

	if (err == -ETIMEDOUT) {
		dpt_clear_error();
		return dpt_fail(err, "QMP %s: no answer (is another client connected?)", path);
	}
	return err;
}

/* Run n commands (args[i] stolen, may be NULL) on QEMU's QMP: one session on its socket, or
 * one call each through via. ret[i] gets each "return" (new references, NULL on failure). */
static int qmp_run(const struct pid_qemu_qmp *qmp, const char *const *cmds, json_t **args,
		   json_t **ret, unsigned n)
{
	struct qmp_client c;
	unsigned i = 0;
	int err = 0;

	if (!qmp->via) {
		err = qmp_open(&c, qmp->path);
		for (; !err && i < n; i++)
			err = qmp_execute(&c, cmds[i], args[i], &ret[i]);
		qmp_client_close(&c);
	} else {
		for (; !err && i < n; i++)
			err = qmp->via->execute(qmp->via->arg, cmds[i], args[i], &ret[i]);
	}
	for (; i < n; i++)
		json_decref(args[i]);
	return err;
}

/* "QMP /run/vm.sock", "libvirt domain vm1", for messages. */
static const char *qmp_name(const struct pid_qemu_qmp *qmp, char *buf, size_t size)
{
	if (qmp->via)
		snprintf(buf, size, "%s", qmp->via->what);
	else
		snprintf(buf, size, "QMP %s", qmp->path);
	return buf;
}

/* ---- RAM blocks ---- */

/*
 * "info ramblock" lines, QEMU 7.2:
 *              Block Name    PSize              Offset               Used              Total
 *                  pc.ram    4 KiB  0x0000000000000000 0x0000000020000000 0x0000000020000000
 * later versions may add an HVA column after Total. The name may hold spaces in theory, so
 * the line is read from the first "0x" on, and the name is what precedes the page size. A
 * memory backend not plugged in yet (object-add before device_add) has an empty name.
 */
static int parse_ramblocks(const char *text, struct pid_qemu_block **out, unsigned *nr)
{
	struct pid_qemu_block *v = NULL;
	unsigned n = 0, cap = 0;
	const char *line = text;

	for (; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		const char *hex = strstr(line, "0x"), *eol = strchr(line, '\n');
		const char *name_end;
		struct pid_qemu_block b = {0};
		uint64_t h[4] = {0};
		int k;

		if (!hex || (eol && hex > eol))
			continue;
		k = sscanf(hex, "%" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64, &h[0], &h[1], &h[2],
			   &h[3]);
		if (k < 3)
			continue;
		/* back over "4 KiB  " to the end of the name */
		name_end = hex;
		for (int words = 0; name_end > line && words < 2; words++) {
			while (name_end > line && name_end[-1] == ' ')
				name_end--;
			while (name_end > line && name_end[-1] != ' ')
				name_end--;
		}
		while (name_end > line && name_end[-1] == ' ')
			name_end--;
		while (*line == ' ')
			line++;
		if (name_end > line)
			snprintf(b.name, sizeof(b.name), "%.*s", (int)(name_end - line), line);
		else
			snprintf(b.name, sizeof(b.name), "(unnamed)");
		b.offset = h[0];
		b.used = h[1];
		b.length = h[2];
		b.hva = k == 4 ? h[3] : 0;
		if (n == cap) {
			struct pid_qemu_block *nv = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));

			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		v[n++] = b;
	}
	*out = v;
	*nr = n;
	return n ? 0 : -ENOENT;
}

static int cmp_offset(const void *a, const void *b)
{
	const struct pid_qemu_block *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Writable mappings QEMU marked MADV_DONTFORK, from smaps, with their names. */
static int dontfork_areas(pid_t pid, struct pid_qemu_block **out, unsigned *nr)
{
	char path[64], line[4096];
	struct pid_qemu_block cur = {0}, *v = NULL;
	unsigned n = 0, cap = 0;
	bool have = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		uint64_t s, e;
		char perms[8];
		int name_at = 0;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %*s %*s %*s %n", &s, &e, perms,
			   &name_at) >= 3 &&
		    strchr(line, ':') > strchr(line, ' ')) {
			have = perms[1] == 'w';
			cur.hva = s;
			cur.length = cur.used = e - s;
			cur.name[0] = 0;
			if (name_at > 0)
				snprintf(cur.name, sizeof(cur.name), "%.*s",
					 (int)strcspn(line + name_at, "\n"), line + name_at);
			continue;
		}
		if (have && !strncmp(line, "VmFlags:", 8) && strstr(line, " dc")) {
			if (n == cap) {
				struct pid_qemu_block *nv =
				    realloc(v, (cap = cap ? 2 * cap : 32) * sizeof(*v));

				if (!nv) {
					fclose(f);
					free(v);
					return -ENOMEM;
				}
				v = nv;
			}
			v[n++] = cur;
			have = false;
		}
	}
	fclose(f);
	*out = v;
	*nr = n;
	return 0;
}

/* The value of QEMU option opt (e.g. "-m", or "--m"), the last one given, or NULL. */
static const char *cmdline_opt(const char *buf, int len, const char *opt)
{
	const char *val = NULL;

	for (const char *p = buf; p < buf + len; p += strlen(p) + 1)
		if ((!strcmp(p, opt) || (p[0] == '-' && !strcmp(p + 1, opt))) &&
		    p + strlen(p) + 1 < buf + len)
			val = p + strlen(p) + 1;
	return val;
}

static int read_cmdline(pid_t pid, char *buf, size_t size)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	return pid_read_file(path, buf, size);
}

/* Bytes of the -m option (QEMU's default 128 MiB); 0 if unreadable. */
static uint64_t cmdline_ram(pid_t pid)
{
	char buf[16384], *end;
	const char *v;
	uint64_t ram;
	int n = read_cmdline(pid, buf, sizeof(buf));

	if (n <= 0)
		return 0;
	v = cmdline_opt(buf, n, "-m");
	if (!v)
		return 128ULL << 20;
	if (!strncmp(v, "size=", 5))
		v += 5;
	ram = strtoull(v, &end, 10);
	switch (*end) {
	case 'T':
	case 't':
		return ram << 40;
	case 'G':
	case 'g':
		return ram << 30;
	case 'K':
	case 'k':
		return ram << 10;
	case 'B':
	case 'b':
		return ram;
	default:
		return ram << 20; /* M, or no suffix */
	}
}

int pid_qemu_option(pid_t pid, const char *opt, char *buf, size_t size)
{
	char cmd[65536]; /* libvirt's command lines run long */
	int n = read_cmdline(pid, cmd, sizeof(cmd));
	const char *v = n > 0 ? cmdline_opt(cmd, n, opt) : NULL;

	if (n < 0)
		return n;
	if (!v)
		return 0;
	snprintf(buf, size, "%s", v);
	return 1;
}

int pid_qemu_name(pid_t pid, char *buf, size_t size)
{
	char cmd[16384];
	int n = read_cmdline(pid, cmd, sizeof(cmd));
	const char *v = n > 0 ? cmdline_opt(cmd, n, "-name") : NULL;
	size_t o = 0;
	bool first = true;

	if (n < 0)
		return n;
	if (!v || !size)
		return 0;
	/* key=value words separated by ',' (",," is a comma); a first word without '=' is the
	 * guest's name */
	while (*v) {
		const char *w = v, *eq = NULL;
		size_t len = 0;

		while (w[len] && !(w[len] == ',' && w[len + 1] != ',')) {
			if (w[len] == '=' && !eq)
				eq = w + len;
			len += w[len] == ',' ? 2 : 1;
		}
		const char *val = !eq && first ? w : eq && !strncmp(w, "guest=", 6) ? eq + 1 : NULL;
		for (const char *c = val; c && c < w + len && o + 1 < size; c++) {
			buf[o++] = *c;
			if (*c == ',')
				c++;
		}
		if (val)
			break;
		first = false;
		v = w[len] ? w + len + 1 : w + len;
	}
	buf[o] = 0;
	return o > 0;
}

/* Was QEMU started to receive a migration (-incoming URI, or -incoming defer)? */
static bool cmdline_incoming(pid_t pid)
{
	char buf[16384];
	int n = read_cmdline(pid, buf, sizeof(buf));

	return n > 0 && cmdline_opt(buf, n, "-incoming");
}

static int match_hosts(pid_t pid, struct pid_qemu_block *b, unsigned nb)
{
	struct pid_qemu_block *c = NULL;
	unsigned nc = 0;
	int err;

	for (unsigned i = 0; i < nb; i++)
		if (!b[i].hva)
			goto need;
	return 0;
need:
	err = dontfork_areas(pid, &c, &nc);
	if (err)
		return dpt_fail(err, "pid %d: /proc/%d/smaps: %s", pid, pid, strerror(-err));
	for (unsigned i = 0; i < nb; i++) {
		int best = -1;

		if (b[i].hva)
			continue;
		for (unsigned j = 0; j < nc; j++)
			if (c[j].length == b[i].length && (best < 0 || c[j].hva > c[best].hva))
				best = (int)j;
		if (best < 0) {
			free(c);
			return dpt_fail(-ENOENT,
					"pid %d: QEMU RAM block %s (%" PRIu64 " KiB) not "
					"found among its mappings",
					pid, b[i].name, b[i].length >> 10);
		}
		b[i].hva = c[best].hva;
		c[best].length = 0; /* taken */
	}
	free(c);
	return 0;
}

static int blocks_from_qmp(pid_t pid, const struct pid_qemu_qmp *qmp,
			   struct pid_qemu_block **out, unsigned *nr)
{
	const char *cmd = "human-monitor-command";
	json_t *args = json_pack("{s:s}", "command-line", "info ramblock"), *r = NULL;
	char name[160];
	int err = qmp_run(qmp, &cmd, &args, &r, 1);

	if (!err && !json_is_string(r))
		err = dpt_fail(-EPROTO, "%s: \"info ramblock\" did not answer text",
			       qmp_name(qmp, name, sizeof(name)));
	if (err) {
		json_decref(r);
		return dpt_fail_ctx(err, "asking QEMU for its RAM blocks");
	}
	err = parse_ramblocks(json_string_value(r), out, nr);
	json_decref(r);
	if (err)
		return dpt_fail(err, "%s: no RAM block in \"info ramblock\"",
				qmp_name(qmp, name, sizeof(name)));
	qsort(*out, *nr, sizeof(**out), cmp_offset);
	return match_hosts(pid, *out, *nr);
}

int pid_qemu_blocks(pid_t pid, const struct pid_qemu_qmp *qmp, struct pid_qemu_block **blocks,
		    unsigned *nr)
{
	*blocks = NULL;
	*nr = 0;
	return blocks_from_qmp(pid, qmp, blocks, nr);
}

/* Largest first, equal lengths by descending address (about QEMU's RAM-offset order). */
static int cmp_guessed(const void *a, const void *b)
{
	const struct pid_qemu_block *x = a, *y = b;

	if (x->length != y->length)
		return x->length > y->length ? -1 : 1;
	return x->hva > y->hva ? -1 : x->hva < y->hva;
}

static void size_name(char *buf, size_t size, uint64_t bytes)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (bytes >= 1024 && !(bytes % 1024) && u < 3) {
		bytes /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, size, "ram-%" PRIu64, bytes);
	else
		snprintf(buf, size, "ram-%" PRIu64 "%c", bytes, units[u]);
}

/* Names for blocks found without QMP, from index from on: a memfd's name, a file's path,
 * "ram" for the one of the -m size, else "ram-SIZE"; a name in use gets ".1", ".2"... */
static void guess_names(pid_t pid, struct pid_qemu_block *b, unsigned from, unsigned nb)
{
	uint64_t ram = cmdline_ram(pid);

	for (unsigned i = from; i < nb; i++) {
		char base[64];
		unsigned same = 0;
		bool have_ram = false;

		for (unsigned j = 0; j < i; j++)
			have_ram |= !strcmp(b[j].name, "ram");
		if (!strncmp(b[i].name, "/memfd:", 7)) {
			snprintf(base, sizeof(base), "%.*s", (int)strcspn(b[i].name + 7, " "),
				 b[i].name + 7);
		} else if (b[i].name[0]) {
			snprintf(base, sizeof(base), "%s", b[i].name);
		} else if (b[i].length == ram && !have_ram) {
			snprintf(base, sizeof(base), "ram");
		} else {
			size_name(base, sizeof(base), b[i].length);
		}
		for (unsigned j = 0; j < i; j++)
			same += !strncmp(b[j].name, base, strlen(base)) &&
				(!b[j].name[strlen(base)] || b[j].name[strlen(base)] == '.');
		if (same)
			snprintf(b[i].name, sizeof(b[i].name), "%.50s.%u", base, same);
		else
			snprintf(b[i].name, sizeof(b[i].name), "%s", base);
	}
}

/*
 * Every writable DONTFORK mapping, a block each, numbered one after another (offset). The
 * blocks found before (q->known_blocks) keep their numbers and names, so that a block plugged in
 * does not move the others: new ones are numbered after them, largest first. With strict,
 * -ENOENT until those mappings add up to the -m size (a QEMU still setting up).
 */
static int blocks_from_maps(struct pid_qemu *q, bool strict, struct pid_qemu_block **out, unsigned *nr)
{
	uint64_t sum = 0, at = 0, ram = cmdline_ram(q->pid);
	struct pid_qemu_block *b;
	unsigned kept = 0;
	int err = dontfork_areas(q->pid, out, nr);

	if (err)
		return dpt_fail(err, "pid %d: /proc/%d/smaps: %s", q->pid, q->pid, strerror(-err));
	b = *out;
	for (unsigned i = 0; i < *nr; i++)
		sum += b[i].length;
	if (!*nr || (strict && sum < ram))
		return dpt_fail(-ENOENT,
				"pid %d: no QEMU guest RAM mapping found (a writable mapping "
				"marked DONTFORK; give its QMP socket, or regions)",
				q->pid);
	/* the known blocks first, as they were */
	for (unsigned i = 0; i < *nr; i++)
		for (unsigned j = 0; j < q->nr_known; j++) {
			const struct pid_qemu_block *k = &q->known_blocks[j];
			struct pid_qemu_block t;

			if (k->hva != b[i].hva || k->length != b[i].length)
				continue;
			t = *k;
			b[i] = b[kept];
			b[kept++] = t;
			if (k->offset + k->length > at)
				at = k->offset + k->length;
			break;
		}
	qsort(b + kept, *nr - kept, sizeof(*b), cmp_guessed);
	guess_names(q->pid, b, kept, *nr);
	for (unsigned i = kept; i < *nr; i++) {
		at = (at + PID_PAGE - 1) & ~(PID_PAGE - 1);
		b[i].offset = at;
		at += b[i].length;
	}
	qsort(b, *nr, sizeof(*b), cmp_offset);
	return 0;
}

/* Does a --region argument name this block? "/objects/m0" names backend m0 too. */
static bool names_block(const char *arg, const char *name)
{
	if (!strcmp(arg, name))
		return true;
	if (!strncmp(arg, "/objects/", 9) && !strcmp(arg + 9, name))
		return true;
	return !strncmp(name, "/objects/", 9) && !strcmp(name + 9, arg);
}

static void block_sel(struct pid_sel *s, const struct pid_qemu_block *b, uint64_t next_offset,
		      bool fixed)
{
	uint64_t next = next_offset;

	if (next < b->offset + b->length) /* the last block, or (never seen) overlap */
		next = b->offset + b->length;
	memset(s, 0, sizeof(*s));
	s->kind = PID_SEL_RANGE;
	s->start = b->hva;
	s->end = b->hva + ((b->length + PID_PAGE - 1) & ~(PID_PAGE - 1));
	s->fixed_page = fixed;
	s->first_page = b->offset / PID_PAGE;
	s->pages = (next - b->offset + PID_PAGE - 1) / PID_PAGE;
	snprintf(s->label, sizeof(s->label), "%s", b->name);
}

/*
 * The selectors: every block at its RAM offset (Qemu-DPT's layout), or, with --region
 * arguments, each block named there, one after another, and the other arguments as mapping
 * selectors (pid_sel_parse). *nr_blocks: how many selectors are RAM blocks.
 */
static int blocks_to_sels(struct pid_qemu *q, const struct pid_qemu_block *b, unsigned nb,
			  struct pid_sel **out, unsigned *nr, unsigned *nr_blocks)
{
	unsigned n = q->nr_names ? q->nr_names : nb;
	struct pid_sel *s = calloc(n ? n : 1, sizeof(*s));
	int err = 0;

	if (!s)
		return dpt_fail(-ENOMEM, "out of memory");
	q->block_names[0] = 0;
	for (unsigned i = 0, len = 0; i < nb && len < sizeof(q->block_names); i++)
		len += snprintf(q->block_names + len, sizeof(q->block_names) - len, "%s%s", i ? ", " : "",
				b[i].name);
	*nr_blocks = 0;
	for (unsigned i = 0; !q->nr_names && i < nb; i++)
		block_sel(&s[i], &b[i], i + 1 < nb ? b[i + 1].offset : 0, true);
	if (!q->nr_names)
		*nr_blocks = nb;
	for (unsigned i = 0; !err && i < q->nr_names; i++) {
		unsigned j = 0;

		while (j < nb && !names_block(q->names[i], b[j].name))
			j++;
		if (j < nb) {
			block_sel(&s[i], &b[j], 0, false);
			s[i].pages = (s[i].end - s[i].start) / PID_PAGE;
			(*nr_blocks)++;
		} else {
			err = pid_sel_parse(&s[i], q->names[i]);
		}
	}
	if (err) {
		free(s);
		return err;
	}
	*out = s;
	*nr = n;
	return 0;
}

/* ---- QEMU's own userfaultfd ---- */

/* Its run state and migration status (""), and whether background-snapshot is on. */
struct qstate {
	char run[32], mig[32];
	bool bg_snapshot;
};

static int qmp_state(const struct pid_qemu_qmp *qmp, struct qstate *st)
{
	static const char *const cmds[] = {"query-status", "query-migrate",
					   "query-migrate-capabilities"};
	json_t *args[3] = {NULL, NULL, NULL}, *r[3] = {NULL, NULL, NULL}, *cap;
	size_t i;
	int err = qmp_run(qmp, cmds, args, r, 3);

	memset(st, 0, sizeof(*st));
	if (!err) {
		snprintf(st->run, sizeof(st->run), "%s",
			 json_string_value(json_object_get(r[0], "status")) ?: "");
		snprintf(st->mig, sizeof(st->mig), "%s",
			 json_string_value(json_object_get(r[1], "status")) ?: "");
		json_array_foreach(r[2], i, cap)
			if (!strcmp(json_string_value(json_object_get(cap, "capability")) ?: "",
				    "background-snapshot"))
				st->bg_snapshot = json_is_true(json_object_get(cap, "state"));
	}
	for (i = 0; i < 3; i++)
		json_decref(r[i]);
	return err;
}

/* Is an incoming migration waited for or under way? ("completed", "failed", "cancelled" and
 * no status at all on a QEMU that is not "inmigrate" mean no.) */
static bool incoming_busy(const struct qstate *st)
{
	static const char *const over[] = {"", "completed", "failed", "cancelled"};

	if (!strcmp(st->run, "inmigrate"))
		return true;
	for (unsigned i = 0; i < sizeof(over) / sizeof(over[0]); i++)
		if (!strcmp(st->mig, over[i]))
			return false;
	return true;
}

/*
 * May dpt register this QEMU's RAM with its userfaultfd? 0: yes; 1: not yet, an incoming
 * migration is waited for or under way (its postcopy phase would register the RAM with
 * QEMU's own userfaultfd); -errno with the reason: no.
 */
static int uffd_allowed(struct pid_qemu *q)
{
	struct qstate st;
	int err;

	if (!q->uffd)
		return 0; /* soft-dirty registers nothing */
	if (!q->qmp.path && !q->qmp.via) {
		if (!cmdline_incoming(q->pid))
			return 0;
		return dpt_fail(-EBUSY,
				"pid %d is a QEMU started with -incoming: while it waits for or "
				"receives a migration, a postcopy phase registers its RAM with a "
				"userfaultfd of its own, which fails if dpt's holds it (the VM is "
				"lost); give its QMP socket (--qmp) and dpt waits until the "
				"migration has completed",
				q->pid);
	}
	err = qmp_state(&q->qmp, &st);
	if (err)
		return dpt_fail_ctx(err, "asking QEMU for its migration state");
	if (st.bg_snapshot)
		return dpt_fail(-EBUSY,
				"pid %d: QEMU has the background-snapshot capability on: a "
				"snapshot write-protects its RAM with a userfaultfd of its own, "
				"which fails while dpt tracks it (QEMU then leaves the guest "
				"paused); turn it off (migrate-set-capabilities) or take the "
				"snapshot first",
				q->pid);
	return incoming_busy(&st) ? 1 : 0;
}

/* ---- the target ---- */

static void free_sels(struct pid_qemu *q)
{
	free(q->sels);
	free(q->known_blocks);
	q->sels = NULL;
	q->known_blocks = NULL;
	q->nr_sels = q->nr_blocks = q->nr_known = 0;
}

/* Look for the blocks now: from QMP, or every DONTFORK mapping. strict: a QEMU that is
 * starting, -ENOENT until its RAM is mapped (or QMP answers). */
static int find_blocks(struct pid_qemu *q, bool strict, struct pid_sel **sels, unsigned *nr,
		       unsigned *nr_blocks)
{
	struct pid_qemu_block *b = NULL;
	unsigned nb = 0;
	int err = q->qmp.path || q->qmp.via ? blocks_from_qmp(q->pid, &q->qmp, &b, &nb)
			 : blocks_from_maps(q, strict, &b, &nb);

	if (!err)
		err = blocks_to_sels(q, b, nb, sels, nr, nr_blocks);
	if (err) {
		free(b);
		return err;
	}
	free(q->known_blocks);
	q->known_blocks = b;
	q->nr_known = nb;
	return 0;
}

/* A signature of the writable mappings, to see when they change. */
static uint64_t maps_sig(const struct pid_maps *m)
{
	uint64_t h = 1469598103934665603ULL;

	for (unsigned i = 0; i < m->nr; i++) {
		const struct pid_area *a = &m->v[i];

		if (!(a->prot & PID_PROT_WRITE))
			continue;
		h = (h ^ a->start) * 1099511628211ULL;
		h = (h ^ a->end) * 1099511628211ULL;
		h = (h ^ a->inode) * 1099511628211ULL;
	}
	return h;
}

static bool same_sel(const struct pid_sel *a, const struct pid_sel *b)
{
	return a->kind == b->kind && a->start == b->start && a->end == b->end &&
	       a->first_page == b->first_page && a->pages == b->pages &&
	       !strcmp(a->label, b->label);
}

/* The same block (a block's pages grow when one is added after it: still the same). */
static bool same_block(const struct pid_sel *a, const struct pid_sel *b)
{
	return a->kind == b->kind && a->start == b->start && a->end == b->end &&
	       a->first_page == b->first_page && !strcmp(a->label, b->label);
}

static bool has_block(const struct pid_sel *v, unsigned n, const struct pid_sel *s)
{
	for (unsigned i = 0; i < n; i++)
		if (same_block(&v[i], s))
			return true;
	return false;
}

static void say_block(const struct pid_qemu *q, const struct pid_sel *s, const char *what)
{
	uint64_t kib = (s->end - s->start) >> 10;

	if (s->kind != PID_SEL_RANGE)
		return;
	dpt_info("pid %d: QEMU RAM block %s (%" PRIu64 " %s%s%" PRIx64 ") %s", q->pid, s->label,
		 kib % 1024 ? kib : kib >> 10, kib % 1024 ? "KiB" : "MiB",
		 s->fixed_page ? " at RAM offset 0x" : " at 0x",
		 (uint64_t)(s->fixed_page ? s->first_page * PID_PAGE : s->start), what);
}

/* The blocks in force are now sels: say what appeared and vanished. */
static void take_sels(struct pid_qemu *q, struct pid_sel *sels, unsigned nr, unsigned nr_blocks)
{
	for (unsigned i = 0; i < q->nr_sels; i++)
		if (!has_block(sels, nr, &q->sels[i]))
			say_block(q, &q->sels[i], "vanished");
	for (unsigned i = 0; i < nr; i++)
		if (!has_block(q->sels, q->nr_sels, &sels[i]))
			say_block(q, &sels[i], "appeared: tracked from this interval");
	free(q->sels);
	q->sels = sels;
	q->nr_sels = nr;
	q->nr_blocks = nr_blocks;
}

int pid_qemu_open(struct pid_qemu *q, pid_t pid, const struct pid_qemu_qmp *qmp,
		  const char *const *names,
		  unsigned nr_names, bool launched, bool uffd)
{
	int err;

	memset(q, 0, sizeof(*q));
	q->pid = pid;
	if (qmp)
		q->qmp = *qmp;
	q->names = names;
	q->nr_names = nr_names;
	q->uffd = uffd;
	if (launched && !(uffd && cmdline_incoming(pid))) {
		/* stopped before its first instruction: no RAM yet (pid_qemu_update) */
		q->wait = PID_QEMU_WAIT_RAM;
		return 0;
	}
	if (launched && !q->qmp.path && !q->qmp.via)
		return uffd_allowed(q); /* -incoming without QMP: refused */
	err = launched ? 1 : uffd_allowed(q);
	if (err < 0)
		return err;
	if (err) {
		q->wait = PID_QEMU_WAIT_MIGRATION;
		if (!launched)
			dpt_info("pid %d is a QEMU receiving a migration: dpt waits, tracking "
				 "nothing, until it has completed (a postcopy phase needs its RAM "
				 "for QEMU's own userfaultfd)",
				 pid);
		return 0;
	}
	err = find_blocks(q, false, &q->sels, &q->nr_sels, &q->nr_blocks);
	if (err)
		return err;
	q->next_look_ms = now_ms() + LOOK_EVERY_MS;
	q->looks = 1;
	return 0;
}

/* The maps have been read for the next interval (m); q->maps_sig is set on first use. */
int pid_qemu_update(struct pid_qemu *q, const struct pid_maps *m)
{
	struct pid_sel *sels = NULL;
	unsigned nr = 0, nr_blocks = 0;
	uint64_t sig = maps_sig(m);
	long now = now_ms();
	int err;

	switch (q->wait) {
	case PID_QEMU_WAIT_MIGRATION:
		if (now < q->next_look_ms)
			return 0;
		q->next_look_ms = now + MIGRATION_LOOK_MS;
		err = uffd_allowed(q);
		if (err < 0 && err != -ETIMEDOUT && err != -ECONNREFUSED && err != -ENOENT)
			return err;
		dpt_clear_error();
		if (err)
			return 0;
		/* the migration has completed: QEMU has let go of its userfaultfd */
		if (find_blocks(q, false, &sels, &nr, &nr_blocks)) {
			dpt_clear_error();
			return 0;
		}
		dpt_info("pid %d: its incoming migration has completed: its RAM is tracked from "
			 "this interval, which counts every page the migration wrote",
			 q->pid);
		break;
	case PID_QEMU_WAIT_RAM:
		if (find_blocks(q, q->looks++ < 3, &sels, &nr, &nr_blocks)) {
			dpt_clear_error();
			return 0;
		}
		dpt_debug("pid %d: its guest RAM is mapped", q->pid);
		break;
	case PID_QEMU_READY:
		if (q->maps_sig == sig ? now < q->next_look_ms
				       : now < q->next_look_ms - LOOK_EVERY_MS + LOOK_MIN_MS)
			return 0;
		q->maps_sig = sig;
		q->next_look_ms = now + LOOK_EVERY_MS;
		if (find_blocks(q, false, &sels, &nr, &nr_blocks)) {
			/* QMP busy, a mapping changing under us: keep the blocks we have */
			dpt_debug("pid %d: looking for its RAM blocks again: %s", q->pid,
				  dpt_last_error());
			dpt_clear_error();
			return 0;
		}
		if (nr == q->nr_sels) {
			unsigned i = 0;

			while (i < nr && same_sel(&sels[i], &q->sels[i]))
				i++;
			if (i == nr) {
				free(sels);
				return 0;
			}
		}
		take_sels(q, sels, nr, nr_blocks);
		return 1;
	}
	q->wait = PID_QEMU_READY;
	q->maps_sig = sig;
	q->next_look_ms = now + LOOK_EVERY_MS;
	free(q->sels);
	q->sels = sels;
	q->nr_sels = nr;
	q->nr_blocks = nr_blocks;
	return 1;
}

void pid_qemu_describe(const struct pid_qemu *q, char *buf, size_t size)
{
	if (q->wait == PID_QEMU_WAIT_RAM)
		snprintf(buf, size, "launched: its guest RAM blocks once it maps them");
	else if (q->wait == PID_QEMU_WAIT_MIGRATION)
		snprintf(buf, size, "receiving a migration: its RAM once it has completed");
	else
		snprintf(buf, size, "%u RAM block%s from %s", q->nr_blocks,
			 q->nr_blocks == 1 ? "" : "s",
			 q->qmp.via ? q->qmp.via->what : q->qmp.path ? "QMP" : "its mappings");
}

void pid_qemu_fini(struct pid_qemu *q)
{
	free_sels(q);
}
