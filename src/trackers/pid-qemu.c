/* pid-qemu.c - find a QEMU process's guest RAM blocks, so its bitmaps follow QEMU's RAM order.
 *
 * Mechanism:
 *  1. With a QMP socket: a tiny QMP exchange (greeting, qmp_capabilities, then
 *     human-monitor-command "info ramblock") gives every RAM block's name, RAM offset and
 *     length -- guest RAM, VGA RAM, ROMs, ACPI tables: what QEMU's dirty bitmap and
 *     Qemu-DPT's bitmap files cover, bit i being RAM offset i*4096.
 *  2. Host addresses: QEMU maps each block as its own anonymous (or memfd/file) mapping of the
 *     block's full length, fenced by a guard page, and marks it MADV_DONTFORK ("dc" in
 *     /proc/PID/smaps VmFlags). Blocks are matched to such mappings by length; blocks of equal
 *     length (two 256 KiB ROMs) by address, the block with the lower RAM offset taking the
 *     mapping at the higher address (QEMU allocates in RAM-offset order and mmap hands out
 *     addresses top-down). Newer QEMUs print an HVA column; when present it is used instead.
 *  3. Without QMP: the mapping(s) sized like the -m option, or the largest DONTFORK mapping,
 *     as one region "ram" at page 0. VGA RAM and ROMs are not counted then.
 * Each block becomes a fixed range region at page offset/4096 spanning up to the next
 * block's offset, so the gaps of QEMU's RAM address space sit, never dirty, at the end of the
 * preceding region and the total is QEMU's last RAM page.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dpt/log.h"
#include "trackers/pid-int.h"

#define QMP_TIMEOUT_MS 3000

struct qblock {
	char name[64];
	uint64_t offset, used, length, hva;
};

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

/* ---- the smallest QMP client that works ---- */

struct qmp {
	int fd;
	char buf[65536];
	size_t len;
};

static int qmp_line(struct qmp *q, json_t **out)
{
	for (;;) {
		char *nl = memchr(q->buf, '\n', q->len);
		struct pollfd pfd = {.fd = q->fd, .events = POLLIN};
		ssize_t n;

		if (nl) {
			json_error_t jerr;

			*out = json_loadb(q->buf, nl - q->buf, 0, &jerr);
			q->len -= nl + 1 - q->buf;
			memmove(q->buf, nl + 1, q->len);
			if (!*out)
				return -EPROTO;
			return 0;
		}
		if (q->len == sizeof(q->buf))
			return -EMSGSIZE;
		if (poll(&pfd, 1, QMP_TIMEOUT_MS) <= 0)
			return -ETIMEDOUT;
		n = read(q->fd, q->buf + q->len, sizeof(q->buf) - q->len);
		if (n <= 0)
			return n ? -errno : -ECONNRESET;
		q->len += n;
	}
}

/* Send one command and return its "return" value (a new reference), skipping events. */
static int qmp_cmd(struct qmp *q, const char *cmd, json_t **ret)
{
	size_t len = strlen(cmd);
	json_t *msg;
	int err;

	if (write(q->fd, cmd, len) != (ssize_t)len)
		return -errno;
	for (;;) {
		err = qmp_line(q, &msg);
		if (err)
			return err;
		if (json_object_get(msg, "return")) {
			*ret = json_incref(json_object_get(msg, "return"));
			json_decref(msg);
			return 0;
		}
		if (json_object_get(msg, "error")) {
			json_decref(msg);
			return -EREMOTEIO;
		}
		json_decref(msg); /* an event */
	}
}

static int qmp_ramblock_text(const char *path, char **text)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct qmp *q = calloc(1, sizeof(*q));
	json_t *greeting = NULL, *r = NULL;
	int err;

	if (!q)
		return -ENOMEM;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		err = -ENAMETOOLONG;
		goto out;
	}
	strcpy(sa.sun_path, path);
	q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (q->fd < 0 || connect(q->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		goto out;
	}
	err = qmp_line(q, &greeting);
	if (err)
		goto out;
	if (!json_object_get(greeting, "QMP")) {
		err = -EPROTO;
		goto out;
	}
	err = qmp_cmd(q, "{\"execute\":\"qmp_capabilities\"}\n", &r);
	if (err)
		goto out;
	json_decref(r);
	err = qmp_cmd(q,
		      "{\"execute\":\"human-monitor-command\",\"arguments\":"
		      "{\"command-line\":\"info ramblock\"}}\n",
		      &r);
	if (err)
		goto out;
	if (!json_is_string(r)) {
		err = -EPROTO;
		goto out;
	}
	*text = strdup(json_string_value(r));
	if (!*text)
		err = -ENOMEM;
out:
	json_decref(r);
	json_decref(greeting);
	if (q->fd > 0)
		close(q->fd);
	free(q);
	return err;
}

/*
 * "info ramblock" lines, QEMU 7.2:
 *              Block Name    PSize              Offset               Used              Total
 *                  pc.ram    4 KiB  0x0000000000000000 0x0000000020000000 0x0000000020000000
 * later versions may add an HVA column after Total. The name may hold spaces in theory, so
 * the line is read from the first "0x" on, and the name is what precedes the page size.
 */
static int parse_ramblocks(const char *text, struct qblock **out, unsigned *nr)
{
	struct qblock *v = NULL;
	unsigned n = 0, cap = 0;
	const char *line = text;

	for (; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		const char *hex = strstr(line, "0x"), *eol = strchr(line, '\n');
		const char *name_end;
		struct qblock b = {0};
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
		if (name_end <= line)
			continue;
		snprintf(b.name, sizeof(b.name), "%.*s", (int)(name_end - line), line);
		b.offset = h[0];
		b.used = h[1];
		b.length = h[2];
		b.hva = k == 4 ? h[3] : 0;
		if (n == cap) {
			struct qblock *nv = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));

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
	const struct qblock *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Writable mappings QEMU marked MADV_DONTFORK, from smaps. */
static int dontfork_areas(pid_t pid, struct pid_area **out, unsigned *nr)
{
	char path[64], line[4096];
	struct pid_area cur = {0}, *v = NULL;
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

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s", &s, &e, perms) == 3 &&
		    strchr(line, ':') > strchr(line, ' ')) {
			have = perms[1] == 'w';
			cur.start = s;
			cur.end = e;
			cur.shared = perms[3] == 's';
			cur.prot = PID_PROT_WRITE;
			continue;
		}
		if (have && !strncmp(line, "VmFlags:", 8) && strstr(line, " dc")) {
			if (n == cap) {
				struct pid_area *nv =
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

/* Bytes of the -m option (QEMU's default 128 MiB); 0 if unreadable. */
static uint64_t cmdline_ram(pid_t pid)
{
	char path[64], buf[16384], *p, *end;
	uint64_t v = 128ULL << 20;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	n = pid_read_file(path, buf, sizeof(buf));
	if (n <= 0)
		return 0;
	for (p = buf; p < buf + n; p += strlen(p) + 1) {
		if (strcmp(p, "-m") && strcmp(p, "--m"))
			continue;
		p += strlen(p) + 1;
		if (p >= buf + n)
			break;
		if (!strncmp(p, "size=", 5))
			p += 5;
		v = strtoull(p, &end, 10);
		switch (*end) {
		case 'T':
		case 't':
			v <<= 40;
			break;
		case 'G':
		case 'g':
			v <<= 30;
			break;
		case 'K':
		case 'k':
			v <<= 10;
			break;
		case 'B':
		case 'b':
			break;
		default:
			v <<= 20;
			break; /* M, or no suffix */
		}
	}
	return v;
}

static int match_hosts(pid_t pid, struct qblock *b, unsigned nb)
{
	struct pid_area *c = NULL;
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
			if (c[j].end - c[j].start == b[i].length &&
			    (best < 0 || c[j].start > c[best].start))
				best = (int)j;
		if (best < 0) {
			free(c);
			return dpt_fail(-ENOENT,
					"pid %d: QEMU RAM block %s (%" PRIu64 " KiB) not "
					"found among its mappings",
					pid, b[i].name, b[i].length >> 10);
		}
		b[i].hva = c[best].start;
		c[best].end = c[best].start; /* taken */
	}
	free(c);
	return 0;
}

static int blocks_from_qmp(pid_t pid, const char *qmp, struct qblock **out, unsigned *nr)
{
	char *text = NULL;
	int err = qmp_ramblock_text(qmp, &text);

	if (err)
		return dpt_fail(err, "QMP %s: asking for the RAM blocks: %s", qmp,
				err == -ETIMEDOUT ? "no answer (is another client connected?)"
						  : strerror(-err));
	err = parse_ramblocks(text, out, nr);
	free(text);
	if (err)
		return dpt_fail(err, "QMP %s: no RAM block in \"info ramblock\"", qmp);
	qsort(*out, *nr, sizeof(**out), cmp_offset);
	return match_hosts(pid, *out, *nr);
}

static int blocks_from_maps(pid_t pid, bool exact, struct qblock **out, unsigned *nr)
{
	uint64_t want = cmdline_ram(pid);
	struct pid_area *c = NULL;
	struct qblock *b;
	unsigned nc = 0;
	int best = -1, err;

	err = dontfork_areas(pid, &c, &nc);
	if (err)
		return dpt_fail(err, "pid %d: /proc/%d/smaps: %s", pid, pid, strerror(-err));
	for (unsigned j = 0; j < nc; j++) {
		uint64_t len = c[j].end - c[j].start;

		if (len == want) {
			best = (int)j;
			break;
		}
		if (!exact && (best < 0 || len > c[best].end - c[best].start))
			best = (int)j;
	}
	if (best < 0) {
		free(c);
		return dpt_fail(-ENOENT,
				"pid %d: no QEMU guest RAM mapping found (give its QMP "
				"socket, or regions)",
				pid);
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		free(c);
		return -ENOMEM;
	}
	strcpy(b->name, "ram");
	b->hva = c[best].start;
	b->length = b->used = c[best].end - c[best].start;
	free(c);
	*out = b;
	*nr = 1;
	return 0;
}

static int blocks_to_sels(pid_t pid, const char *qmp_path, bool exact, struct pid_sel **out,
			  unsigned *nr)
{
	struct qblock *b = NULL;
	struct pid_sel *s;
	unsigned nb = 0;
	int err;

	err = qmp_path ? blocks_from_qmp(pid, qmp_path, &b, &nb)
		       : blocks_from_maps(pid, exact, &b, &nb);
	if (err) {
		free(b);
		return err;
	}
	s = calloc(nb, sizeof(*s));
	if (!s) {
		free(b);
		return dpt_fail(-ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < nb; i++) {
		uint64_t next = i + 1 < nb ? b[i + 1].offset : 0;

		if (next < b[i].offset + b[i].length) /* the last block, or (never seen) overlap */
			next = b[i].offset + b[i].length;

		s[i].kind = PID_SEL_RANGE;
		s[i].start = b[i].hva;
		s[i].end = b[i].hva + ((b[i].length + PID_PAGE - 1) & ~(PID_PAGE - 1));
		s[i].fixed_page = true;
		s[i].first_page = b[i].offset / PID_PAGE;
		s[i].pages = (next - b[i].offset + PID_PAGE - 1) / PID_PAGE;
		snprintf(s[i].label, sizeof(s[i].label), "%s", b[i].name);
	}
	free(b);
	*out = s;
	*nr = nb;
	return 0;
}

int pid_qemu_blocks(pid_t pid, const char *qmp_path, struct pid_sel **out, unsigned *nr)
{
	return blocks_to_sels(pid, qmp_path, false, out, nr);
}

int pid_qemu_blocks_ready(pid_t pid, const char *qmp_path, bool largest, struct pid_sel **out,
			  unsigned *nr)
{
	return blocks_to_sels(pid, qmp_path, !largest, out, nr);
}
