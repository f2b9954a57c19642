/* bitmaps.c - Qemu-DPT bitmap files (see bitmaps.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dpt/bitmap.h"
#include "dpt/io.h"
#include "dpt/log.h"
#include "writers/bitmaps.h"

int bitmap_dir_init(struct bitmap_dir *bd, const char *dir, pid_t pid)
{
	struct stat st;

	memset(bd, 0, sizeof(*bd));
	if (stat(dir, &st))
		return dpt_fail(-errno, "bitmap directory %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return dpt_fail(-ENOTDIR, "bitmap directory %s: not a directory", dir);
	/* probe by doing: root passes access(W_OK) even where nothing can be created */
	char probe[4096];
	snprintf(probe, sizeof(probe), "%s/.dpt-probe-XXXXXX", dir);
	int fd = mkstemp(probe);
	if (fd < 0)
		return dpt_fail(-errno, "bitmap directory %s: cannot create files: %s", dir,
				strerror(errno));
	close(fd);
	unlink(probe);
	bd->dir = strdup(dir);
	if (!bd->dir)
		return -ENOMEM;
	bd->pid = pid;
	bd->last_secs = -1;
	return 0;
}

void bitmap_dir_fini(struct bitmap_dir *bd)
{
	free(bd->dir);
	bd->dir = NULL;
}

/* Create a new file named after secs (plus a suffix if taken); returns an fd or -errno. */
static int create_file(struct bitmap_dir *bd, int64_t secs, char *path, size_t len)
{
	if (secs != bd->last_secs) {
		bd->last_secs = secs;
		bd->next_suffix = 0;
	}
	for (unsigned tries = 0; tries < 100000; tries++) {
		unsigned suffix = bd->next_suffix++;
		if (suffix)
			snprintf(path, len, "%s/qemu.bm-%d.%lld.%u", bd->dir, (int)bd->pid,
				 (long long)secs, suffix);
		else
			snprintf(path, len, "%s/qemu.bm-%d.%lld", bd->dir, (int)bd->pid,
				 (long long)secs);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : dpt_fail(-errno, "%s: %s", path, strerror(errno));
	}
	return dpt_fail(-EEXIST, "%s: too many bitmap files in one second", bd->dir);
}

int64_t bitmap_dir_write(struct bitmap_dir *bd, const struct dpt_sample *s, int64_t secs,
			 char *path, size_t len)
{
	size_t bytes = bitmap_bytes(s->total);
	uint64_t *ones = NULL;
	const uint64_t *bm = s->bitmap;
	int fd, err;

	if (!bm && (s->flags & DPT_SAMPLE_ALL)) {
		ones = malloc(bytes ? bytes : 1);
		if (!ones)
			return -ENOMEM;
		bitmap_fill(ones, s->total);
		bm = ones;
	}
	if (!bm) {
		free(ones);
		return dpt_fail(-EINVAL, "this tracker gives no bitmap");
	}
	fd = create_file(bd, secs, path, len);
	if (fd < 0) {
		free(ones);
		return fd;
	}
	err = dpt_write_all(fd, bm, bytes);
	if (!err && close(fd))
		err = -errno;
	else if (err)
		close(fd);
	free(ones);
	if (err) {
		unlink(path);
		return dpt_fail(err, "%s: %s", path, strerror(-err));
	}
	return (int64_t)bytes;
}

int64_t bitmap_dir_write_sample(struct bitmap_dir *bd, const struct dpt_sample *s, bool compat,
				char *path, size_t len)
{
	int64_t secs = s->wall_end.tv_sec;

	if (compat && (s->flags & DPT_SAMPLE_FINAL))
		secs++;
	return bitmap_dir_write(bd, s, secs, path, len);
}

/* A decimal number without sign or leading zeros, at most max, ending at *end. */
static int parse_decimal(const char *p, const char **end, uint64_t max, uint64_t *v)
{
	uint64_t n = 0;
	const char *q = p;

	if (*q < '0' || *q > '9' || (q[0] == '0' && q[1] >= '0' && q[1] <= '9'))
		return -EINVAL;
	for (; *q >= '0' && *q <= '9'; q++) {
		if (n > (max - (uint64_t)(*q - '0')) / 10)
			return -EINVAL;
		n = n * 10 + (uint64_t)(*q - '0');
	}
	*end = q;
	*v = n;
	return 0;
}

int bitmap_name_parse(const char *name, pid_t *pid, int64_t *secs, unsigned *suffix)
{
	static const char prefix[] = "qemu.bm-";
	const char *p = name;
	uint64_t v[3] = {0};

	if (strncmp(p, prefix, sizeof(prefix) - 1))
		return -EINVAL;
	p += sizeof(prefix) - 1;
	if (parse_decimal(p, &p, INT32_MAX, &v[0]) || *p++ != '.' ||
	    parse_decimal(p, &p, INT64_MAX, &v[1]))
		return -EINVAL;
	if (*p == '.' && (parse_decimal(p + 1, &p, UINT32_MAX, &v[2]) || !v[2]))
		return -EINVAL;
	if (*p)
		return -EINVAL;
	*pid = (pid_t)v[0];
	*secs = (int64_t)v[1];
	*suffix = (unsigned)v[2];
	return 0;
}

int bitmap_file_read(const char *path, uint64_t **words, size_t *nwords)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return dpt_fail(-errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) || st.st_size % 8) {
		close(fd);
		return dpt_fail(-EINVAL, "%s: not a bitmap file (size %lld)", path,
				(long long)st.st_size);
	}
	size_t n = (size_t)st.st_size / 8;
	uint64_t *w = malloc(n ? n * 8 : 8);
	if (!w) {
		close(fd);
		return -ENOMEM;
	}
	ssize_t got = pread(fd, w, n * 8, 0);
	close(fd);
	if (got != (ssize_t)(n * 8)) {
		free(w);
		return dpt_fail(-EIO, "%s: short read", path);
	}
	*words = w;
	*nwords = n;
	return 0;
}
