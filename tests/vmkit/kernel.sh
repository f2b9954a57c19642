#!/bin/bash
# Print the path of a Debian kernel (vmlinuz) for the test-VM kit, cached under
# $DPT_VMKIT_CACHE/kernel (default build/vmkit/kernel). On first use it downloads the package that
# linux-image-amd64 depends on (apt-get download: nothing is installed on the host) and extracts
# ./boot/vmlinuz-* and ./boot/config-* from it; later runs reuse the cache, even offline.
#
#   tests/vmkit/kernel.sh            path of the newest cached vmlinuz (downloads if none)
#   tests/vmkit/kernel.sh --pvh      path of the same kernel uncompressed (vmlinux ELF with a PVH
#                                    entry note, extracted once with xz), or of the vmlinuz when
#                                    that cannot be done (the boot is then ~2.5 s slower)
#   tests/vmkit/kernel.sh --refresh  download linux-image-amd64's current kernel even if one is cached
#
# Why --pvh: under TCG, a bzImage spends ~2.5 s decompressing itself; QEMU starts an ELF vmlinux
# that carries a PVH note directly at its 32-bit entry (Debian builds CONFIG_PVH=y), so the guest
# reaches /init in ~1.7 s of emulated time instead of ~4.3 s.
#
# DPT_VMKIT_KERNEL=/path/vmlinuz overrides everything.
set -eu
. "$(dirname "$0")/common.sh"

refresh=0 pvh=0
case ${1:-} in
--refresh) refresh=1 ;;
--pvh) pvh=1 ;;
"") ;;
-h | --help)
	sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
*) die "unknown argument: $1 (usage: kernel.sh [--pvh|--refresh])" ;;
esac

if [ -n "${DPT_VMKIT_KERNEL:-}" ]; then
	[ -r "$DPT_VMKIT_KERNEL" ] || die "DPT_VMKIT_KERNEL=$DPT_VMKIT_KERNEL is not readable"
	echo "$DPT_VMKIT_KERNEL"
	exit 0
fi

kdir=$VMKIT_CACHE/kernel
mkdir -p "$kdir" || die "cannot create the cache directory $kdir"
cached() { ls "$kdir"/vmlinuz-* 2>/dev/null | sort -V | tail -n 1; }

# Two tests may ask at once on a fresh machine: one downloads, the other waits.
exec 9>"$kdir/.lock"
flock -w 900 9 || die "timed out waiting for another kernel download ($kdir/.lock)"

# pvh_of VMLINUZ: print the vmlinux (PVH ELF) next to VMLINUZ, extracting it once, or VMLINUZ.
# The bzImage's payload is an xz stream: find its magic, decompress to the end (xz complains
# about the bytes that follow the stream, hence the ELF and note checks instead of its status).
pvh_of() {
	local z=$1 elf part off
	elf=$(dirname "$z")/$(basename "$z" | sed 's/^vmlinuz-/vmlinux-/')
	if [ ! -s "$elf" ]; then
		part=$elf.part.$$
		off=$(LC_ALL=C grep -abo $'\xfd7zXZ' "$z" 2>/dev/null | head -n 1 | cut -d: -f1)
		if [ -n "$off" ] && command -v xz >/dev/null; then
			tail -c +$((off + 1)) "$z" | xz -dc >"$part" 2>/dev/null || true
		fi
		# XEN_ELFNOTE_PHYS32_ENTRY (18) is the PVH entry QEMU looks for.
		if [ -s "$part" ] && LC_ALL=C readelf -n "$part" 2>/dev/null | grep -q '(0x00000012)'; then
			mv "$part" "$elf"
		else
			rm -f "$part"
			note "cannot make a PVH vmlinux from $z (no xz or no PVH note); booting the bzImage (slower)"
			echo "$z"
			return 0
		fi
	fi
	echo "$elf"
}

k=$(cached)
if [ -n "$k" ] && [ "$refresh" = 0 ]; then
	if [ "$pvh" = 1 ]; then pvh_of "$k"; else echo "$k"; fi
	exit 0
fi

for t in apt-cache apt-get dpkg-deb tar; do
	command -v "$t" >/dev/null || die "no cached kernel in $kdir and no $t to fetch one (Debian's apt is needed)"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The versioned package behind the metapackage, e.g. linux-image-6.1.0-56-amd64.
resolve() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
fetch() {
	(cd "$tmp" && apt-get download -q "$1") >"$tmp/apt.log" 2>&1
}
updated=0
apt_update() {
	[ "$(id -u)" = 0 ] || return 1
	note "running apt-get update to find the kernel package"
	apt-get update -qq >"$tmp/update.log" 2>&1 || return 1
	updated=1
}

pkg=$(resolve)
if [ -z "$pkg" ]; then
	apt_update || true
	pkg=$(resolve)
fi
[ -n "$pkg" ] || die "cannot find the package behind linux-image-amd64 (apt-cache depends gave nothing; try apt-get update)"

note "downloading $pkg (once; cached in $kdir)"
if ! fetch "$pkg"; then
	if [ "$updated" = 0 ] && apt_update; then
		pkg=$(resolve)
		fetch "$pkg" || die "apt-get download $pkg failed: $(grep -E '^(E|Err):' "$tmp/apt.log" | tail -n 1)"
	else
		die "apt-get download $pkg failed: $(grep -E '^(E|Err):' "$tmp/apt.log" | tail -n 1)"
	fi
fi
deb=$(ls "$tmp"/*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || die "apt-get download $pkg produced no .deb"

# Only ./boot is needed: skip writing the ~400 MB of modules that dpkg-deb -x would unpack.
mkdir "$tmp/x"
dpkg-deb --fsys-tarfile "$deb" | tar -xf - -C "$tmp/x" --wildcards './boot/vmlinuz-*' './boot/config-*' ||
	die "cannot extract vmlinuz from $deb"
v=$(ls "$tmp"/x/boot/vmlinuz-* 2>/dev/null | head -n 1)
[ -n "$v" ] || die "$pkg has no /boot/vmlinuz-*"
name=$(basename "$v")
cp "$tmp"/x/boot/config-* "$kdir/" 2>/dev/null || true
cp "$v" "$kdir/.$name.part"
mv "$kdir/.$name.part" "$kdir/$name"
if [ "$pvh" = 1 ]; then pvh_of "$kdir/$name"; else echo "$kdir/$name"; fi
