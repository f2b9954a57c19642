/* qmp-client.h - a small QMP (QEMU Machine Protocol) client on a unix socket, on jansson.
 *
 * One connection, one command at a time: qmp_execute() sends {"execute", "arguments", "id"}
 * and reads until the reply carrying that id; asynchronous events met on the way are queued
 * (oldest first, at most QMP_MAX_EVENTS; the oldest are dropped beyond that and counted).
 * Every read has a deadline, every message a size limit. Functions return 0 or -errno with
 * the reason recorded by dpt_fail(); nothing here prints or exits.
 */
#ifndef DPT_QMP_CLIENT_H
#define DPT_QMP_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define QMP_TIMEOUT_MS 5000	  /* default wait for a reply or the greeting */
#define QMP_MAX_MSG    (1u << 20) /* a message longer than this is an error */
#define QMP_MAX_EVENTS 256

struct qmp_version {
	int major, minor, micro;
};

struct qmp_client {
	int fd;
	int timeout_ms;
	uint64_t next_id;
	char *buf; /* bytes received and not yet parsed */
	size_t len, cap;
	json_t *events; /* queued events, a JSON array */
	unsigned long events_dropped;
	bool peer_closed;
	struct qmp_version version;
	char package[64];
	pid_t peer_pid; /* QEMU's pid (SO_PEERCRED), 0 if unknown */
	char path[108];
	/* The last command's refusal ({"error": ...}), "" when it succeeded. */
	char err_class[32];
	char err_desc[256];
};

/* Connect to the unix socket at path, read the greeting, negotiate capabilities.
 * timeout_ms: how long a silent peer is waited for, per message (0: QMP_TIMEOUT_MS).
 * On failure the client is closed. */
int qmp_client_open(struct qmp_client *c, const char *path, int timeout_ms);

/* Close the connection and free the queue; safe after a failed open, twice, and on a client
 * whose fd was set to -1 (a zeroed one is not: fd 0 is a valid descriptor). */
void qmp_client_close(struct qmp_client *c);

/* Run a command. args: NULL or an object (the reference is stolen). ret: NULL, or receives a
 * new reference to the "return" value. A refusal by QEMU returns -EOPNOTSUPP for
 * CommandNotFound, -ENODEV for DeviceNotFound, -EINVAL otherwise, with c->err_class and
 * c->err_desc set and "CMD: DESC" recorded; transport failures (-ETIMEDOUT, -ECONNRESET,
 * -EPROTO, -EMSGSIZE) leave err_class empty. */
int qmp_execute(struct qmp_client *c, const char *cmd, json_t *args, json_t **ret);

/* True if the last qmp_execute failed because QEMU refused the command. */
static inline bool qmp_refused(const struct qmp_client *c)
{
	return c->err_class[0] != 0;
}

/* Wait ms milliseconds while reading (and queueing) whatever the peer sends. 0, or -errno
 * if the peer closed the connection or sent something unreadable. */
int qmp_wait(struct qmp_client *c, int ms);

/* The oldest queued event (a new reference: json_decref it), or NULL. */
json_t *qmp_event_pop(struct qmp_client *c);

/* version >= major.minor */
bool qmp_version_ge(const struct qmp_version *v, int major, int minor);

#endif
