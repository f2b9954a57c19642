/* kabi.h - kernel ABI the pid tracker needs that older installed headers lack.
 *
 * The build machines carry Linux 6.1 headers while the kernels we run on may be newer: 6.7 added
 * PAGEMAP_SCAN and the page categories, 6.4/6.7 the userfaultfd WP_UNPOPULATED / WP_ASYNC
 * features, 6.9 PIDFD_THREAD. Everything is defined here once, behind #ifndef, with the values
 * of the kernel's uapi headers, so newer headers simply take over.
 */
#ifndef DPT_PID_KABI_H
#define DPT_PID_KABI_H

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

/* fs.h (6.7): PAGEMAP_SCAN on /proc/PID/pagemap */
#ifndef PAGEMAP_SCAN
#define PAGE_IS_WPALLOWED  (1 << 0)
#define PAGE_IS_WRITTEN	   (1 << 1)
#define PAGE_IS_FILE	   (1 << 2)
#define PAGE_IS_PRESENT	   (1 << 3)
#define PAGE_IS_SWAPPED	   (1 << 4)
#define PAGE_IS_PFNZERO	   (1 << 5)
#define PAGE_IS_HUGE	   (1 << 6)
#define PAGE_IS_SOFT_DIRTY (1 << 7)

struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

#define PM_SCAN_WP_MATCHING   (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)

struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

/* userfaultfd.h */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

/* pidfd (5.3 / 5.6; PIDFD_THREAD 6.9) */
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

/* pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst) */
#define PM_ENTRY_SOFT_DIRTY (1ULL << 55)
#define PM_ENTRY_EXCLUSIVE  (1ULL << 56)
#define PM_ENTRY_FILE	    (1ULL << 61)
#define PM_ENTRY_SWAPPED    (1ULL << 62)
#define PM_ENTRY_PRESENT    (1ULL << 63)

#endif
