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

$(BUILD)/vmkit/dpt: $(BUILD)/src/main.o $(BUILD)/libdpt.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -static -o $@ $^ $(LDLIBS)

vmkit-check: vmkit-helpers
	@BUILD=$(BUILD) TESTS=vmkit tests/run.sh
