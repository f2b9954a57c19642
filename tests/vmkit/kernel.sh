#!/bin/bash
# Print the path of a Debian kernel (vmlinuz) for the test-VM kit, cached under
# $DPT_VMKIT_CACHE/kernel (default build/vmkit/kernel). On first use it downloads the package that
# linux-image-amd64 depends on (apt-get download: nothing is installed on the host), extracts
# ./boot/vmlinuz-* and ./boot/config-* from it and keeps the .deb for its modules; later runs
# reuse the cache, even offline.
#
#   tests/vmkit/kernel.sh            path of the newest cached vmlinuz (downloads if none)
#   tests/vmkit/kernel.sh --pvh      path of the same kernel uncompressed (vmlinux ELF with a PVH
#                                    entry note, extracted once with xz), or of the vmlinuz when
#                                    that cannot be done (the boot is then ~2.5 s slower)
#   tests/vmkit/kernel.sh --refresh  download linux-image-amd64's current kernel even if one is cached
#   tests/vmkit/kernel.sh --modules NAME[,NAME...]
#                                    paths of those modules of the same kernel and of everything
#                                    they depend on, one a line, in load order (dependencies
#                                    first), decompressed; extracted from the kept .deb once
#                                    (the .deb of that exact kernel is downloaded if missing)
#
# Why --pvh: under TCG, a bzImage spends ~2.5 s decompressing itself; QEMU starts an ELF vmlinux
# that carries a PVH note directly at its 32-bit entry (Debian builds CONFIG_PVH=y), so the guest
# reaches /init in ~1.7 s of emulated time instead of ~4.3 s.
#
# Modules: Debian's package ships no modules.dep (depmod makes it at install time), so the
# first --modules builds one from the modules' own "depends=" (.modinfo) into
# kernel/modules-VERSION/modules.dep; asked-for modules are cached next to it. A module built
# into the kernel (modules.builtin) is skipped with a note.
#
# DPT_VMKIT_KERNEL=/path/vmlinuz overrides everything (and has no modules).
set -eu
. "$(dirname "$0")/common.sh"

refresh=0 pvh=0 modules=""
case ${1:-} in
--refresh) refresh=1 ;;
--pvh) pvh=1 ;;
--modules)
	[ $# -ge 2 ] && [ -n "$2" ] || die "--modules needs NAME[,NAME...]"
	modules=$2
	shift
	;;
"") ;;
-h | --help)
	sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
*) die "unknown argument: $1 (usage: kernel.sh [--pvh|--refresh|--modules NAME[,NAME...]])" ;;
esac
[ $# -le 1 ] || die "one option at a time (usage: kernel.sh [--pvh|--refresh|--modules NAME[,NAME...]])"

if [ -n "${DPT_VMKIT_KERNEL:-}" ]; then
	[ -z "$modules" ] || die "--modules: DPT_VMKIT_KERNEL is set; modules come only with Debian's cached kernel"
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

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

need_apt() {
	local t
	for t in apt-cache apt-get dpkg-deb tar; do
		command -v "$t" >/dev/null || die "$1 and no $t to fetch one (Debian's apt is needed)"
	done
}

# The versioned package behind the metapackage, e.g. linux-image-6.1.0-56-amd64.
resolve() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
fetch() {
	rm -f "$tmp"/*.deb
	(cd "$tmp" && apt-get download -q "$1") >"$tmp/apt.log" 2>&1
}
updated=0
apt_update() {
	[ "$updated" = 0 ] && [ "$(id -u)" = 0 ] || return 1
	note "running apt-get update to find the kernel package"
	apt-get update -qq >"$tmp/update.log" 2>&1 || return 1
	updated=1
}
apt_error() { grep -E '^(E|Err):' "$tmp/apt.log" | tail -n 1; }

# download PKG: apt-get download PKG into $tmp (apt-get update once if that fails); the .deb
# in $dl_deb.
dl_deb=""
download() {
	note "downloading $1 (once; cached in $kdir)"
	if ! fetch "$1"; then
		apt_update && fetch "$1" || return 1
	fi
	dl_deb=$(ls "$tmp"/*.deb 2>/dev/null | head -n 1)
	[ -n "$dl_deb" ] || die "apt-get download $1 produced no .deb"
}

# keep_deb DEB VERSION: the package stays in the cache for its modules (one per kernel version).
keep_deb() {
	local old
	for old in "$kdir"/linux-image-"$2"_*.deb; do
		[ ! -e "$old" ] || [ "$(basename "$old")" = "$(basename "$1")" ] || rm -f "$old"
	done
	cp "$1" "$kdir/.deb.part"
	mv "$kdir/.deb.part" "$kdir/$(basename "$1")"
}

# install_deb DEB: cache its vmlinuz and config (and the .deb itself), print the vmlinuz.
# Only ./boot is unpacked: skip writing the ~400 MB of modules that dpkg-deb -x would.
install_deb() {
	local deb=$1 v name ver
	rm -rf "$tmp/x"
	mkdir "$tmp/x"
	dpkg-deb --fsys-tarfile "$deb" | tar -xf - -C "$tmp/x" --wildcards './boot/vmlinuz-*' './boot/config-*' ||
		die "cannot extract vmlinuz from $deb"
	v=$(ls "$tmp"/x/boot/vmlinuz-* 2>/dev/null | head -n 1)
	[ -n "$v" ] || die "$(basename "$deb") has no /boot/vmlinuz-*"
	name=$(basename "$v")
	ver=${name#vmlinuz-}
	if ! cmp -s "$v" "$kdir/$name"; then
		# A new build under the same name: what was derived from the old one goes.
		rm -rf "$kdir/vmlinux-$ver" "$kdir/modules-$ver"
	fi
	cp "$tmp"/x/boot/config-* "$kdir/" 2>/dev/null || true
	keep_deb "$deb" "$ver"
	cp "$v" "$kdir/.$name.part"
	mv "$kdir/.$name.part" "$kdir/$name"
	echo "$kdir/$name"
}

# fetch_current: download linux-image-amd64's kernel, cache it, print its vmlinuz.
fetch_current() {
	local pkg
	need_apt "no cached kernel in $kdir"
	pkg=$(resolve)
	if [ -z "$pkg" ]; then
		apt_update || true
		pkg=$(resolve)
	fi
	[ -n "$pkg" ] || die "cannot find the package behind linux-image-amd64 (apt-cache depends gave nothing; try apt-get update)"
	if ! download "$pkg"; then
		apt_update || true
		pkg=$(resolve)
		download "$pkg" || die "apt-get download $pkg failed: $(apt_error)"
	fi
	install_deb "$dl_deb"
}

# deb_of VERSION: the cached .deb of that kernel; a cache made before the .deb was kept gets
# the package of exactly that kernel, checked to hold the same vmlinuz.
deb_of() {
	local ver=$1 deb pkg
	deb=$(ls "$kdir"/linux-image-"$ver"_*.deb 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$deb" ]; then
		echo "$deb"
		return 0
	fi
	pkg=linux-image-$ver
	need_apt "no package of $pkg cached in $kdir for its modules"
	download "$pkg" ||
		die "apt-get download $pkg failed ($(apt_error)); its modules cannot be had: run kernel.sh --refresh for the current kernel"
	deb=$dl_deb
	rm -rf "$tmp/x"
	mkdir "$tmp/x"
	dpkg-deb --fsys-tarfile "$deb" | tar -xf - -C "$tmp/x" "./boot/vmlinuz-$ver" 2>/dev/null || true
	cmp -s "$tmp/x/boot/vmlinuz-$ver" "$kdir/vmlinuz-$ver" ||
		die "$(basename "$deb") is another build than the cached vmlinuz-$ver: run kernel.sh --refresh"
	keep_deb "$deb" "$ver"
	ls "$kdir"/linux-image-"$ver"_*.deb | sort -V | tail -n 1
}

# unpack_tree DIR: decompress every .ko.xz/.ko.zst/.ko.gz under DIR in place (busybox insmod
# may not read them).
unpack_tree() {
	find "$1" -name '*.ko.xz' -exec xz -d {} + || die "cannot decompress the .ko.xz modules (xz-utils)"
	find "$1" -name '*.ko.zst' -exec zstd -d -q --rm {} + || die "cannot decompress the .ko.zst modules (zstd)"
	find "$1" -name '*.ko.gz' -exec gzip -d {} + || die "cannot decompress the .ko.gz modules"
}

# build_index DEB VERSION MDIR: MDIR/modules.dep ("path: dep-path ...", paths relative to
# /lib/modules/VERSION as in the package, direct dependencies) from each module's depends=,
# plus the package's modules.builtin. Unpacks the whole tree once, in $tmp.
build_index() {
	local deb=$1 ver=$2 mdir=$3 root
	note "indexing the modules of $(basename "$deb") (once)"
	mkdir -p "$tmp/tree"
	dpkg-deb --fsys-tarfile "$deb" | tar -xf - -C "$tmp/tree" --wildcards "./lib/modules/$ver/*" ||
		die "cannot extract the modules from $deb"
	root=$tmp/tree/lib/modules/$ver
	(cd "$root" && find . -type f -name '*.ko*' | sed 's|^\./||' | LC_ALL=C sort) >"$tmp/files"
	[ -s "$tmp/files" ] || die "$(basename "$deb") has no modules under /lib/modules/$ver"
	unpack_tree "$root"
	# "depends=" is a NUL-terminated string of the .modinfo section: one grep for all modules,
	# readelf for any it misses.
	(cd "$root" && grep -raoP --include='*.ko' '(?<=\x00)depends=[^\x00]*' . 2>/dev/null) |
		sed 's|^\./||; s|:depends=| |' >"$tmp/depends" || true
	local f
	awk 'NR == FNR { seen[$1] = 1; next } { sub(/\.ko.*/, ".ko"); if (!($0 in seen)) print }' \
		"$tmp/depends" "$tmp/files" >"$tmp/unseen"
	while read -r f; do
		printf '%s %s\n' "$f" "$(LC_ALL=C readelf -p .modinfo "$root/$f" 2>/dev/null |
			sed -n 's/^ *\[ *[0-9a-f]*\] *depends=//p' | head -n 1)" >>"$tmp/depends"
	done <"$tmp/unseen"
	mkdir -p "$mdir"
	awk '
		function modname(p) { sub(/.*\//, "", p); sub(/\.ko.*/, "", p); gsub(/-/, "_", p); return p }
		NR == FNR { path[modname($0)] = $0; next }
		{
			line = path[modname($1)] ":"
			n = split($2, d, ",")
			for (i = 1; i <= n; i++) {
				dn = d[i]; gsub(/-/, "_", dn)
				if (dn == "") continue
				if (dn in path) line = line " " path[dn]
				else printf "kernel.sh: %s depends on %s, which is not in the package\n", $1, dn > "/dev/stderr"
			}
			print line
		}
	' "$tmp/files" "$tmp/depends" | LC_ALL=C sort >"$mdir/.modules.dep.part" || die "cannot build modules.dep"
	cp "$root/modules.builtin" "$mdir/modules.builtin" 2>/dev/null || : >"$mdir/modules.builtin"
	mv "$mdir/.modules.dep.part" "$mdir/modules.dep"
}

# modules_of VMLINUZ LIST: print the modules of LIST and their dependencies in load order.
modules_of() {
	local ver mdir deb m rel missing=() order
	ver=$(basename "$1")
	ver=${ver#vmlinuz-}
	mdir=$kdir/modules-$ver
	if [ ! -s "$mdir/modules.dep" ]; then
		deb=$(deb_of "$ver")
		build_index "$deb" "$ver" "$mdir"
	fi
	# Depth first in awk (bash reading 4000 lines is slow): dependencies first, each module
	# once; "?NAME" for a name the package has not.
	awk -v want="$2" '
		function modname(p) { sub(/.*\//, "", p); sub(/\.ko.*/, "", p); gsub(/-/, "_", p); return p }
		function visit(rel,   n, d, i) {
			if (state[rel] == 2) return
			if (state[rel] == 1) { print "!" rel; return }
			state[rel] = 1
			n = split(deps[rel], d, " ")
			for (i = 1; i <= n; i++) visit(d[i])
			state[rel] = 2
			print rel
		}
		{ rel = $0; sub(/:.*/, "", rel); dep = $0; sub(/^[^:]*:/, "", dep); deps[rel] = dep; path[modname(rel)] = rel }
		END {
			n = split(want, w, ",")
			for (i = 1; i <= n; i++) {
				m = w[i]; gsub(/-/, "_", m); sub(/\.ko$/, "", m)
				if (m == "") continue
				if (m in path) visit(path[m]); else print "?" m
			}
		}
	' "$mdir/modules.dep" >"$tmp/order" || die "cannot read $mdir/modules.dep"
	order=()
	while IFS= read -r rel; do
		case $rel in
		'!'*) die "circular module dependency at ${rel#!}" ;;
		'?'*)
			m=${rel#?}
			case $m in *[!A-Za-z0-9_]*) die "bad module name: $m" ;; esac
			if grep -qE "(^|/)${m//_/[-_]}\.ko" "$mdir/modules.builtin"; then
				note "$m is built into the kernel: nothing to load"
				continue
			fi
			die "no module $m in linux-image-$ver (see $mdir/modules.dep)"
			;;
		esac
		order+=("$rel")
	done <"$tmp/order"
	for rel in ${order[@]+"${order[@]}"}; do
		[ -s "$mdir/${rel%.ko*}.ko" ] || missing+=("./lib/modules/$ver/$rel")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		if [ ! -d "$tmp/tree/lib/modules/$ver" ]; then
			deb=$(deb_of "$ver")
			mkdir -p "$tmp/tree"
			dpkg-deb --fsys-tarfile "$deb" | tar -xf - -C "$tmp/tree" "${missing[@]}" ||
				die "cannot extract ${missing[*]} from $deb"
			unpack_tree "$tmp/tree"
		fi
		for rel in "${missing[@]}"; do
			rel=${rel#./lib/modules/$ver/}
			rel=${rel%.ko*}.ko
			mkdir -p "$(dirname "$mdir/$rel")"
			cp "$tmp/tree/lib/modules/$ver/$rel" "$mdir/$rel.part" || die "cannot cache $rel"
			mv "$mdir/$rel.part" "$mdir/$rel"
		done
	fi
	for rel in ${order[@]+"${order[@]}"}; do echo "$mdir/${rel%.ko*}.ko"; done
}

k=$(cached)
if [ -n "$modules" ]; then
	[ -n "$k" ] || k=$(fetch_current)
	modules_of "$k" "$modules"
	exit 0
fi
if [ -z "$k" ] || [ "$refresh" = 1 ]; then
	k=$(fetch_current)
fi
if [ "$pvh" = 1 ]; then pvh_of "$k"; else echo "$k"; fi
