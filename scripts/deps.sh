#!/bin/sh
# Install the Debian packages that building and testing dpt need, if any is missing.
# Quiet and quick when everything is there; needs root (apt-get) otherwise.
set -e
pkgs="build-essential pkg-config libjansson-dev libzstd-dev gnuplot-nox libxml2-utils qemu-system-x86 qemu-utils busybox-static cpio socat xz-utils stress-ng libsimgrid-dev python3 jq man-db mandoc lintian libvirt-dev libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libmicrohttpd-dev prometheus curl"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: need root to install$missing (or install them yourself)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
