/* kvm-caps.c - what a KVM device offers for dirty logging, asked the way dpt will use it:
 * open the device, create a scratch VM, KVM_CHECK_EXTENSION on the VM fd, throw it away.
 * Shared by vm_create(), the kvm tracker's probe and `dpt check`. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "dpt/log.h"
#include "vm/vm-priv.h"

int vm_ioctl(int fd, unsigned long req, void *arg, const char *name)
{
	int rc = ioctl(fd, req, arg);

	if (rc < 0)
		return dpt_fail(-errno, "%s: %s", name, strerror(errno));
	return rc;
}

int kvm_open_device(const char *path)
{
	int fd, err, version;

	if (!path)
		path = "/dev/kvm";
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return dpt_fail(-errno, "%s: %s", path, strerror(errno));
	version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version < 0) {
		err = errno;
		close(fd);
		if (err == ENOTTY || err == EINVAL)
			return dpt_fail(-ENODEV, "%s: not a KVM device", path);
		return dpt_fail(-err, "%s: KVM_GET_API_VERSION: %s", path, strerror(err));
	}
	if (version != KVM_API_VERSION) {
		close(fd);
		return dpt_fail(-ENODEV, "%s: KVM API version %d, dpt needs %d", path, version,
				KVM_API_VERSION);
	}
	return fd;
}

void kvm_caps_from_vm(int vm_fd, struct kvm_caps *out)
{
	int ring_acq_rel = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING_ACQ_REL);
	int ring = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING);
	int bytes = ring_acq_rel > 0 ? ring_acq_rel : ring;
	int v;

	v = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	out->max_vcpus = v > 0 ? v : ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	v = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	out->nr_memslots = v > 0 ? v : 0;
	v = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	out->manual_protect = v > 0 ? (uint32_t)v : 0;
	out->ring_acq_rel = ring_acq_rel > 0;
	out->ring_max_entries = bytes > 0 ? (uint32_t)bytes / sizeof(struct kvm_dirty_gfn) : 0;
	out->ring_min_entries = bytes > 0 ? KVM_RING_MIN_ENTRIES : 0;
	v = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP);
	out->ring_with_bitmap = v > 0;
}

int kvm_query_caps(const char *dev, struct kvm_caps *out)
{
	int kvm_fd, vm_fd;

	memset(out, 0, sizeof(*out));
	kvm_fd = kvm_open_device(dev);
	if (kvm_fd < 0)
		return kvm_fd;
	out->api_version = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);
	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm_fd < 0) {
		int err = errno;

		close(kvm_fd);
		return dpt_fail(-err, "%s: KVM_CREATE_VM: %s", dev ? dev : "/dev/kvm",
				strerror(err));
	}
	kvm_caps_from_vm(vm_fd, out);
	close(vm_fd);
	close(kvm_fd);
	return 0;
}
