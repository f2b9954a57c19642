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

# The same workload as a multiboot (v1) kernel, for real hypervisors: QEMU boots it with
# -kernel $(GUEST_KERNEL) -append "wss=64M rate=0" (docs/multiboot-guest.md). Built by `make`
# (all) and `make tests`. guest/multiboot/*.c and *.S -> $(BUILD)/guest/multiboot/*.o ->
# dpt-guest.elf64 (guest/multiboot/multiboot.ld, at 1 MiB) -> dpt-guest.elf, the same converted
# to elf32-i386, which QEMU's multiboot loader requires (its code switches to long mode itself).
# -Wstack-usage: the stack lives in the guest's one hot page (guest/multiboot/main.c).
GUEST_MB_CFLAGS := $(GUEST_CFLAGS) -Wstack-usage=256
GUEST_MB_SRC    := $(wildcard guest/multiboot/*.c guest/multiboot/*.S)
GUEST_MB_OBJS   := $(patsubst guest/multiboot/%,$(BUILD)/guest/multiboot/%.o,$(GUEST_MB_SRC))
GUEST_KERNEL    := $(BUILD)/guest/dpt-guest.elf

$(BUILD)/guest/multiboot/%.c.o: guest/multiboot/%.c guest/guest-abi.h
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_MB_CFLAGS) -c -o $@ $<

$(BUILD)/guest/multiboot/%.S.o: guest/multiboot/%.S
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_MB_CFLAGS) -c -o $@ $<

$(BUILD)/guest/dpt-guest.elf64: $(GUEST_MB_OBJS) guest/multiboot/multiboot.ld
	$(GUEST_CC) $(GUEST_MB_CFLAGS) -nostdlib -static -no-pie -Wl,-T,guest/multiboot/multiboot.ld \
		-Wl,--build-id=none -Wl,-z,noexecstack -Wl,-z,max-page-size=0x1000 -o $@ $(GUEST_MB_OBJS)

$(GUEST_KERNEL): $(BUILD)/guest/dpt-guest.elf64
	$(GUEST_OBJCOPY) -I elf64-x86-64 -O elf32-i386 $< $@

.PHONY: guest-kernel
guest-kernel: $(GUEST_KERNEL)
all tests: $(GUEST_KERNEL)
