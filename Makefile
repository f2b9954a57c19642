# dpt - dirty page tracker.  make | make check | make demo | make sanitize | make bench
#                             make install | make uninstall | make deb
#
# Everything builds into build/ (build/sanitize/ for ASan+UBSan). The guest is freestanding
# code built by guest/guest.mk and embedded in the binary.

CC       ?= cc
BUILD    ?= build
CFLAGS   ?= -O2 -g
XCFLAGS  := -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE \
	    -Iinclude -Ilib -Isrc -MMD -MP -pthread
LDLIBS   := -pthread -lm -lzstd $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)

# SimGrid (libsimgrid-dev) is optional: without it, dpt simgrid says so and the rest builds.
# SIMGRID=no builds without it even when it is there.
SIMGRID  ?= $(shell printf '\#include <simgrid/vm.h>\n\#include <simgrid/plugins/live_migration.h>\n' | \
	      $(CC) -E -x c - >/dev/null 2>&1 && echo yes)
LDLIBS_NOSG := $(LDLIBS)
ifeq ($(SIMGRID),yes)
LDLIBS   += -lsimgrid
SIMGRID_OBJ := $(BUILD)/src/analysis/simgrid.o $(BUILD)/src/cmd-simgrid.o
$(SIMGRID_OBJ): XCFLAGS += -DHAVE_SIMGRID
endif

# libmicrohttpd (libmicrohttpd-dev) is optional too: without it, dpt exporter says so (exit 2).
# MHD=no builds without it even when it is there. LDLIBS_NOSG (the static guest dpt) has neither.
MHD      ?= $(shell printf '\#include <microhttpd.h>\n' | $(CC) -E -x c - >/dev/null 2>&1 && echo yes)
ifeq ($(MHD),yes)
LDLIBS   += -lmicrohttpd
MHD_OBJ  := $(BUILD)/src/exporter/http.o
$(MHD_OBJ): XCFLAGS += -DHAVE_MICROHTTPD
endif

# libvirt (libvirt-dev) is optional too: without it, dpt track --domain says so.
# LIBVIRT=no builds without it even when it is there.
LIBVIRT  ?= $(shell pkg-config --exists libvirt libvirt-qemu 2>/dev/null && echo yes)
ifeq ($(LIBVIRT),yes)
LDLIBS   += $(shell pkg-config --libs libvirt libvirt-qemu)
$(BUILD)/src/trackers/libvirt.o: XCFLAGS += -DHAVE_LIBVIRT $(shell pkg-config --cflags libvirt libvirt-qemu)
endif

LIB_SRC  := $(wildcard lib/*.c lib/trace/*.c)
DPT_SRC  := $(filter-out src/main.c,$(wildcard src/*.c src/trackers/*.c src/trackers/pid/*.c src/writers/*.c \
	      src/analysis/*.c src/plot/*.c src/vm/*.c src/exporter/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
DPT_OBJ  := $(DPT_SRC:%.c=$(BUILD)/%.o)

UNIT_SRC := $(wildcard tests/unit/*.c)
INTEG_SRC:= $(wildcard tests/integration/*.c)
TEST_BIN := $(UNIT_SRC:%.c=$(BUILD)/%) $(INTEG_SRC:%.c=$(BUILD)/%)
BENCH_SRC:= $(wildcard bench/*.c)
BENCH_BIN:= $(BENCH_SRC:%.c=$(BUILD)/%)
HELPER_SRC:= $(wildcard tests/helpers/*.c)
HELPER_BIN:= $(HELPER_SRC:%.c=$(BUILD)/%)

.PHONY: all check sanitize demo bench accuracy validate clean deps format tests install uninstall deb
.SECONDARY:
all: $(BUILD)/dpt

-include guest/guest.mk
-include tests/vmkit/vmkit.mk

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(XCFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libdpt.a: $(LIB_OBJ) $(DPT_OBJ) $(GUEST_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/dpt: $(BUILD)/src/main.o $(BUILD)/libdpt.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(BUILD)/libdpt.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BUILD)/libdpt.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# the reader's fuzz test sees every allocation the library makes (tests/unit/trace-fuzz.c)
$(BUILD)/tests/unit/trace-fuzz: LDLIBS += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

tests: $(BUILD)/dpt $(TEST_BIN) $(HELPER_BIN)

deps:
	@scripts/deps.sh

check: deps
	@$(MAKE) --no-print-directory tests
	@BUILD=$(BUILD) tests/run.sh

sanitize:
	@$(MAKE) --no-print-directory BUILD=build/sanitize \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		check

demo: deps $(BUILD)/dpt
	$(BUILD)/dpt vm --mem 256M --wss 64M --pattern seq --rate 16M --interval 1s --duration 10s \
		-o csv:$(BUILD)/demo.csv -o trace:$(BUILD)/demo.dpt
	$(BUILD)/dpt report $(BUILD)/demo.dpt
	$(BUILD)/dpt plot $(BUILD)/demo.dpt
	$(BUILD)/dpt report $(BUILD)/demo.dpt --html $(BUILD)/demo.html
	@echo "per-interval table: $(BUILD)/demo.csv; trace: $(BUILD)/demo.dpt; report with plots: $(BUILD)/demo.html"

bench: $(BUILD)/dpt $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; DPT=$(BUILD)/dpt $$b || exit 1; done
	@echo "== bench/exporter.sh"; DPT=$(BUILD)/dpt BUILD=$(BUILD) bench/exporter.sh

# every tracker side by side under QEMU -accel kvm (about 9 minutes; docs/accuracy.md)
accuracy: $(BUILD)/dpt $(BUILD)/bench/accuracy $(GUEST_KERNEL)
	@BUILD=$(BUILD) bench/accuracy.sh

# real QEMU 7.2 migrations against dpt predict and dpt simgrid (about 6 minutes;
# docs/validation.md): VALIDATE_OUT keeps the traces and QEMU's figures, VALIDATE_LINK is the
# loopback's speed for the stop-and-copy (measured: docs/validation.md)
VALIDATE_OUT  ?= $(BUILD)/validate
VALIDATE_LINK ?= 600M
validate: deps $(BUILD)/dpt $(BUILD)/tests/helpers/trace-coarsen
	@rm -rf $(VALIDATE_OUT) && mkdir -p $(VALIDATE_OUT)
	DPT=$(CURDIR)/$(BUILD)/dpt scripts/validate/run.sh $(VALIDATE_OUT)
	@for n in 1 5 10; do \
		echo "== recorded at $$n x 100 ms" | tee -a $(VALIDATE_OUT)/comparison.md; \
		scripts/validate/compare.py --dpt $(BUILD)/dpt --link $(VALIDATE_LINK) --coarsen $$n \
			$(VALIDATE_OUT) | tee -a $(VALIDATE_OUT)/comparison.md; done
	@echo "validate: $(VALIDATE_OUT)/comparison.md"

# Installs the binary (everything it runs is in it: the guest is embedded; plots exec gnuplot
# from PATH), a man page per command (man/), bash completion, README.md and docs/.
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
DOCDIR   ?= $(PREFIX)/share/doc/dpt
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
MAN_PAGES := $(wildcard man/*.1)

install: $(BUILD)/dpt
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(DOCDIR)/docs
	install -m 0755 $(BUILD)/dpt $(DESTDIR)$(BINDIR)/dpt
	install -m 0644 $(MAN_PAGES) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 completion/dpt.bash $(DESTDIR)$(BASHCOMPDIR)/dpt
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 docs/*.md $(DESTDIR)$(DOCDIR)/docs/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/dpt $(DESTDIR)$(BASHCOMPDIR)/dpt \
		$(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN_PAGES)))
	rm -rf $(DESTDIR)$(DOCDIR)

# build/deb/dpt_VERSION_ARCH.deb: dpt built with Debian's hardening flags in $(BUILD)/deb,
# installed into a staging tree with PREFIX=/usr, packaged by scripts/deb.sh
deb: export DEB_BUILD_MAINT_OPTIONS = hardening=+all
deb:
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/deb \
		CFLAGS="$$(dpkg-buildflags --get CFLAGS) $$(dpkg-buildflags --get CPPFLAGS)" \
		LDFLAGS="$$(dpkg-buildflags --get LDFLAGS)" $(BUILD)/deb/dpt
	@scripts/deb.sh $(BUILD)/deb

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
