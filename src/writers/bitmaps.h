/* bitmaps.h - Qemu-DPT bitmap files: qemu.bm-PID.UNIXSECONDS in a directory.
 *
 * Layout: no header, native 64-bit words, bit i of word j is page 64*j+i, exactly
 * ceil(total/64)*8 bytes. Files are created with O_EXCL and never overwritten; when a name is
 * taken (several intervals in one second), ".1", ".2", ... is appended. A file that cannot be
 * written completely is removed.
 */
#ifndef DPT_WRITERS_BITMAPS_H
#define DPT_WRITERS_BITMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dpt/sample.h"

struct bitmap_dir {
	char *dir;
	pid_t pid;
	int64_t last_secs; /* last second used, and the next suffix to try in it */
	unsigned next_suffix;
};

/* Check that dir is a writable directory (nothing is created). */
int bitmap_dir_init(struct bitmap_dir *bd, const char *dir, pid_t pid);
void bitmap_dir_fini(struct bitmap_dir *bd);

/* Write s's bitmap (or an all-ones bitmap for DPT_SAMPLE_ALL samples without one) as a new
 * file named after secs; the path goes to path (len bytes). Returns the bytes written or
 * -errno. */
int64_t bitmap_dir_write(struct bitmap_dir *bd, const struct dpt_sample *s, int64_t secs,
			 char *path, size_t len);

/* Write s as Qemu-DPT names it: after the second its interval ended in, or with compat, for
 * the last sample of a session (DPT_SAMPLE_FINAL), after the next second, as Qemu-DPT's
 * dpt_stop did (time(NULL) + 1). Returns the bytes written or -errno. */
int64_t bitmap_dir_write_sample(struct bitmap_dir *bd, const struct dpt_sample *s, bool compat,
				char *path, size_t len);

/* Parse a file name written by bitmap_dir_write(): "qemu.bm-PID.SECONDS" or
 * "qemu.bm-PID.SECONDS.N" (N >= 1), decimal without leading zeros. 0, or -EINVAL if name is
 * not one (nothing recorded: the caller says why). */
int bitmap_name_parse(const char *name, pid_t *pid, int64_t *secs, unsigned *suffix);

/* Read a bitmap file back: *words receives a malloc'd array of *nwords words. */
int bitmap_file_read(const char *path, uint64_t **words, size_t *nwords);

#endif
