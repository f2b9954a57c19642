# Test-VM kit targets. The top Makefile picks them up with one line:
#   -include tests/vmkit/vmkit.mk
#
#   make vmkit-helpers   static helpers for the guest, in build/vmkit/bin (tests/vmkit/helpers.sh)
#   make vmkit-dpt       a static dpt for the guest: $(BUILD)/vmkit/dpt
#   make vmkit-check     only the kit's self-test (tests/cli/vmkit.sh, boots a few TCG guests)
#
# The static dpt links the same objects as $(BUILD)/dpt with -static: every library in LDLIBS
# needs its .a (libjansson-dev ships libjansson.a). glibc warns about NSS functions when linked
# statically; dpt does not use them in the guest.

.PHONY: vmkit-helpers vmkit-dpt vmkit-check

vmkit-helpers:
	@tests/vmkit/helpers.sh >/dev/null

vmkit-dpt: $(BUILD)/vmkit/dpt

# Without SimGrid nor libmicrohttpd (no static libsimgrid, and no use for it in a guest): its own objects in
# $(BUILD)/vmkit/obj, built with SIMGRID=no LIBVIRT=no MHD=no, whatever this build's (no static libraries).
# Its own flags too: a sanitizer build's CFLAGS (make sanitize, inherited through MAKEFLAGS by
# the tests that call make vmkit-dpt) cannot link statically.
VMKIT_OBJ := $(BUILD)/vmkit/obj
VMKIT_CFLAGS := -O2 -g
.PHONY: $(VMKIT_OBJ)/libdpt.a
$(VMKIT_OBJ)/libdpt.a:
	@$(MAKE) --no-print-directory BUILD=$(VMKIT_OBJ) SIMGRID=no LIBVIRT=no MHD=no CFLAGS="$(VMKIT_CFLAGS)" \
		$(VMKIT_OBJ)/libdpt.a $(VMKIT_OBJ)/src/main.o

$(BUILD)/vmkit/dpt: $(VMKIT_OBJ)/libdpt.a
	@mkdir -p $(dir $@)
	$(CC) $(VMKIT_CFLAGS) -static -o $@ $(VMKIT_OBJ)/src/main.o $(VMKIT_OBJ)/libdpt.a \
		$(LDLIBS_NOSG)

vmkit-check: vmkit-helpers
	@BUILD=$(BUILD) TESTS=vmkit tests/run.sh
