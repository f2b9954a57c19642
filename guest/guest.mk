# guest.mk - builds the freestanding guest and embeds it in the host library (included by the
# top-level Makefile). Defines GUEST_OBJ: a host object holding the flat binary.
#
# guest/*.c and guest/*.S -> $(BUILD)/guest/obj/*.o (freestanding flags, never $(CFLAGS), so a
# sanitizer build leaves the guest alone) -> guest.elf (guest/guest.ld, fixed address) ->
# guest.bin (objcopy -O binary) -> guest-blob.o (.incbin in guest/blob.S).

GUEST_CC      ?= $(CC)
GUEST_OBJCOPY ?= objcopy
GUEST_CFLAGS  := -std=gnu11 -O2 -Wall -Wextra -Werror -m64 -ffreestanding -fno-pic -fno-pie \
		 -mno-red-zone -mgeneral-regs-only -fno-stack-protector -fcf-protection=none \
		 -fno-asynchronous-unwind-tables -fno-builtin -Iguest -MMD -MP
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,guest/guest.ld -Wl,--build-id=none \
		 -Wl,-z,noexecstack
GUEST_SRC     := $(filter-out guest/blob.S,$(wildcard guest/*.c guest/*.S))
GUEST_OBJS    := $(patsubst guest/%,$(BUILD)/guest/obj/%.o,$(GUEST_SRC))
GUEST_ELF     := $(BUILD)/guest/guest.elf
GUEST_BIN     := $(BUILD)/guest/guest.bin
GUEST_OBJ     := $(BUILD)/guest/guest-blob.o

$(BUILD)/guest/obj/%.c.o: guest/%.c guest/guest-abi.h
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(BUILD)/guest/obj/%.S.o: guest/%.S
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(GUEST_ELF): $(GUEST_OBJS) guest/guest.ld
	$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ $(GUEST_OBJS)

$(GUEST_BIN): $(GUEST_ELF)
	$(GUEST_OBJCOPY) -O binary $< $@

$(GUEST_OBJ): guest/blob.S $(GUEST_BIN)
	@mkdir -p $(dir $@)
	$(CC) -c -DGUEST_BIN='"$(GUEST_BIN)"' -o $@ guest/blob.S

.PHONY: guest
guest: $(GUEST_OBJ)
