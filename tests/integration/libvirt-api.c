/* libvirt-api.c - the libvirt API (src/trackers/libvirt.h) on libvirt's test driver
 * (test:///default: a built-in host with one running domain "test", no daemon): listing,
 * lookups and their errnos, a non-QEMU domain refused, a URI that does not open. The real
 * daemon and a real QEMU: tests/cli/libvirt.sh.
 */
#include <errno.h>
#include <string.h>

#include "../test.h"
#include "dpt/log.h"
#include "trackers/libvirt.h"

int main(void)
{
	struct dpt_libvirt *c = NULL;
	struct dpt_libvirt_domain d;
	char **names = NULL;
	unsigned nr = 0;
	int err;

	if (!dpt_libvirt_available()) {
		err = dpt_libvirt_open(NULL, &c);
		TEST_CHECK(err == -ENOSYS && strstr(dpt_last_error(), "built without libvirt"),
			   "libvirt-built-without", "%d: %s", err, dpt_last_error());
		test_skip("libvirt-api", "dpt was built without libvirt");
		return test_done();
	}
	err = dpt_libvirt_open("bogus:///x", &c);
	TEST_CHECK(err == -ECONNREFUSED && !c &&
		       strstr(dpt_last_error(), "cannot connect to libvirt at bogus:///x"),
		   "libvirt-open-bad-uri", "%d: %s", err, dpt_last_error());
	dpt_clear_error(); /* the first reason recorded is kept until cleared */
	err = dpt_libvirt_open("test:///default", &c);
	if (!TEST_CHECK(!err && c, "libvirt-open-test-driver", "%d: %s", err, dpt_last_error()))
		return test_done();
	TEST_CHECK(!strcmp(dpt_libvirt_uri(c), "test:///default"), "libvirt-uri", "%s",
		   dpt_libvirt_uri(c));

	err = dpt_libvirt_list(c, &names, &nr);
	TEST_CHECK(!err && nr == 1 && !strcmp(names[0], "test"), "libvirt-list", "%d, %u: %s", err,
		   nr, nr ? names[0] : "");
	dpt_libvirt_names_free(names, nr);

	err = dpt_libvirt_domain(c, "nope", &d);
	TEST_CHECK(err == -ENOENT && strstr(dpt_last_error(), "no libvirt domain 'nope'"),
		   "libvirt-domain-unknown", "%d: %s", err, dpt_last_error());
	dpt_libvirt_domain_fini(&d);
	dpt_clear_error();
	err = dpt_libvirt_domain(c, "test", &d);
	TEST_CHECK(err == -EOPNOTSUPP && strstr(dpt_last_error(), "not a QEMU domain") && !d.pid,
		   "libvirt-domain-not-qemu", "%d: %s", err, dpt_last_error());
	dpt_clear_error();
	err = dpt_libvirt_qmp(&d, "query-status", json_object(), NULL);
	TEST_CHECK(err == -EOPNOTSUPP, "libvirt-qmp-not-qemu", "%d: %s", err, dpt_last_error());
	dpt_libvirt_domain_fini(&d);
	dpt_libvirt_close(c);
	return test_done();
}
