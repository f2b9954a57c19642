#!/bin/bash
# Build the test-VM kit's initramfs: static busybox with all its applets, the kit's /init
# (tests/vmkit/init), and extra files copied into /bin.
#
#   tests/vmkit/initramfs.sh [--cmd-script SCRIPT] [--module KO]... OUT.cpio.gz [FILE...]
#
# FILEs must run without a libc in the guest: static binaries or busybox shell scripts; a
# dynamically linked ELF is refused. --cmd-script packs SCRIPT as /etc/dpt/cmd.sh, which /init runs
# when the kernel command line has no dpt.cmd= (see tests/vmkit/init). Each --module KO (a
# kernel module of the guest's kernel: .ko, or .ko.xz/.ko.zst/.ko.gz, decompressed here) goes
# to /lib/modules and is listed in /etc/dpt/modules; /init loads them with insmod in the order
# given (dependencies first: tests/vmkit/kernel.sh --modules prints them so) before DPT-READY.
set -eu
. "$(dirname "$0")/common.sh"

usage() { die "usage: initramfs.sh [--cmd-script SCRIPT] [--module KO]... OUT.cpio.gz [FILE...]"; }

cmd_script="" modules=()
while [ $# -gt 0 ]; do
	case $1 in
	--cmd-script)
		[ $# -ge 2 ] || usage
		cmd_script=$2
		shift 2
		;;
	--module)
		[ $# -ge 2 ] || usage
		modules+=("$2")
		shift 2
		;;
	-h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || usage
out=$1
shift

busybox=${DPT_VMKIT_BUSYBOX:-/bin/busybox}
[ -x "$busybox" ] || die "$busybox not found (install busybox-static, see scripts/deps.sh)"
vmkit_is_dynamic_elf "$busybox" && die "$busybox is dynamically linked (install busybox-static, not busybox)"
command -v cpio >/dev/null || die "cpio not found (install cpio, see scripts/deps.sh)"
[ -z "$cmd_script" ] || [ -r "$cmd_script" ] || die "cannot read $cmd_script"
for f in "$@"; do
	[ -f "$f" ] || die "no such file: $f"
	vmkit_is_dynamic_elf "$f" && die "$f is dynamically linked; the guest has no libc (build it with -static)"
done
for f in ${modules[@]+"${modules[@]}"}; do
	[ -f "$f" ] || die "no such module: $f"
	case $f in
	*.ko | *.ko.xz | *.ko.zst | *.ko.gz) ;;
	*) die "$f: not a kernel module (.ko, .ko.xz, .ko.zst, .ko.gz)" ;;
	esac
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
r=$tmp/root
mkdir -p "$r"/bin "$r"/sbin "$r"/usr/bin "$r"/usr/sbin "$r"/proc "$r"/sys "$r"/dev "$r"/tmp \
	"$r"/root "$r"/etc/dpt "$r"/mnt
cp "$busybox" "$r/bin/busybox"
for a in $("$busybox" --list-full); do
	[ -e "$r/$a" ] || ln -s /bin/busybox "$r/$a"
done
cp "$VMKIT_DIR/init" "$r/init"
chmod 755 "$r/init"
echo "root:x:0:0:root:/root:/bin/sh" >"$r/etc/passwd"
echo "root:x:0:" >"$r/etc/group"
[ -z "$cmd_script" ] || cp "$cmd_script" "$r/etc/dpt/cmd.sh"
if [ ${#modules[@]} -gt 0 ]; then
	mkdir -p "$r/lib/modules"
	: >"$r/etc/dpt/modules"
	for f in "${modules[@]}"; do
		b=$(basename "$f")
		ko=${b%.ko*}.ko
		grep -qxF "$ko" "$r/etc/dpt/modules" && continue # asked twice: loaded once
		case $b in
		*.ko) cp "$f" "$r/lib/modules/$ko" ;;
		*.ko.xz) xz -dc "$f" >"$r/lib/modules/$ko" ;;
		*.ko.zst) zstd -dcq "$f" >"$r/lib/modules/$ko" ;;
		*.ko.gz) gzip -dc "$f" >"$r/lib/modules/$ko" ;;
		esac || die "cannot decompress $f"
		echo "$ko" >>"$r/etc/dpt/modules"
	done
fi
for f in "$@"; do
	dst=$r/bin/$(basename "$f")
	rm -f "$dst" # an applet symlink of the same name gives way to the file
	cp "$f" "$dst"
	chmod 755 "$dst"
done

mkdir -p "$(dirname "$out")"
(cd "$r" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
	gzip -6 >"$tmp/out.cpio.gz" || die "cpio failed"
mv "$tmp/out.cpio.gz" "$out"
