#!/bin/bash
# scripts/deb.sh DIR: package DIR/dpt (built by `make deb` with Debian's build flags) as
# DIR/dpt_VERSION_ARCH.deb, and print its absolute path.
#
# The tree is `make install PREFIX=/usr` into DIR/root, then what Debian's policy adds: the
# binary stripped, man pages and docs over 4 KiB gzipped, a changelog and the copyright file
# (packaging/deb/). The version is DPT_VERSION from include/dpt/version.h (what dpt --version
# prints); Depends come from the shared libraries the binary links (dpkg-shlibdeps).
# DEB_MAINTAINER overrides the maintainer (default: the last commit's author).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(cd "$1" && pwd)
root=$dir/root
umask 022

version=$(sed -n 's/^#define DPT_VERSION "\(.*\)"$/\1/p' include/dpt/version.h)
[ -n "$version" ] || { echo "deb: no DPT_VERSION in include/dpt/version.h" >&2; exit 1; }
arch=$(dpkg --print-architecture)
maint=${DEB_MAINTAINER:-$(git log -1 --format='%an <%ae>' 2>/dev/null || echo 'dpt <dpt@localhost>')}
when=$(git log -1 --format=%aD 2>/dev/null || date -R)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
command -v dpkg-shlibdeps >/dev/null || { echo "deb: dpkg-shlibdeps missing (package dpkg-dev)" >&2; exit 1; }

rm -rf "$root"
make --no-print-directory -s install BUILD="$dir" DESTDIR="$root" PREFIX=/usr >/dev/null
doc=$root/usr/share/doc/dpt
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$root/usr/bin/dpt"
gzip -9n "$root"/usr/share/man/man1/*.1
find "$doc" -type f -size +4k -exec gzip -9n {} +
years=$(git log --format=%ad --date=format:%Y 2>/dev/null | sort -u | sed -n '1p;$p' | uniq | paste -sd-)
{
	echo "dpt - dirty page tracker"
	echo
	echo "Copyright ${years:-$(date +%Y)} the dpt authors"
	cat packaging/deb/copyright
} >"$doc/copyright"
printf 'dpt (%s) unstable; urgency=medium\n\n  * Built from the dpt tree at git %s with make deb.\n\n -- %s  %s\n' \
	"$version" "$commit" "$maint" "$when" | gzip -9n >"$doc/changelog.gz"

# dpkg-shlibdeps wants a debian/control naming the package, and runs where it is
shl=$(mktemp -d)
trap 'rm -rf "$shl"' EXIT
mkdir "$shl/debian"
printf 'Source: dpt\n\nPackage: dpt\nArchitecture: any\n' >"$shl/debian/control"
depends=$(cd "$shl" && dpkg-shlibdeps -O -e "$root/usr/bin/dpt" 2>/dev/null |
	sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

mkdir -p "$root/DEBIAN"
(cd "$root" && find usr -type f -exec md5sum {} + | sort -k 2) >"$root/DEBIAN/md5sums"
{
	echo "Package: dpt"
	echo "Version: $version"
	echo "Architecture: $arch"
	echo "Maintainer: $maint"
	echo "Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)"
	echo "Depends: $depends"
	echo "Recommends: gnuplot-nox"
	echo "Suggests: qemu-system-x86"
	echo "Section: utils"
	echo "Priority: optional"
	echo "Description: $(cat packaging/deb/description)"
} >"$root/DEBIAN/control"
out=$dir/dpt_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "$out"
