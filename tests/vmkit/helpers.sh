#!/bin/bash
# Build the static test programs for the guest (and the host) into $DPT_VMKIT_CACHE/bin
# (default build/vmkit/bin). They are the tests/helpers/*.c files whose opening comment says
# "vmkit-static": self-contained, built with gcc -static -O2 -pthread and no dpt library, so the
# kit works while the rest of the project is mid-change. (Other helpers there link libdpt and
# are built by the Makefile.) Rebuilds only what is older than its source.
#
#   tests/vmkit/helpers.sh          build them all, print the directory
#   tests/vmkit/helpers.sh NAME...  build those (writer, softdirty, ...), print their paths
set -eu
. "$(dirname "$0")/common.sh"

CC=${CC:-gcc}
command -v "$CC" >/dev/null || die "$CC not found (install build-essential, see scripts/deps.sh)"
out=$VMKIT_CACHE/bin
mkdir -p "$out"

if [ $# -gt 0 ]; then
	names=("$@")
else
	names=()
	for c in "$VMKIT_REPO"/tests/helpers/*.c; do
		[ -f "$c" ] && head -n 40 "$c" | grep -q 'vmkit-static' && names+=("$(basename "$c" .c)")
	done
fi

for n in "${names[@]}"; do
	src=$VMKIT_REPO/tests/helpers/$n.c
	[ -f "$src" ] || die "no helper named $n (no $src)"
	if [ ! -x "$out/$n" ] || [ "$src" -nt "$out/$n" ]; then
		"$CC" -std=gnu11 -Wall -Wextra -Werror -O2 -static -pthread -o "$out/.$n.$$" "$src" 2>"$out/.$n.$$.err" ||
			die "cannot build $n: $(grep -m1 -E 'error|undefined' "$out/.$n.$$.err" || head -n 1 "$out/.$n.$$.err")"
		mv "$out/.$n.$$" "$out/$n"
		rm -f "$out/.$n.$$.err"
	fi
done

if [ $# -gt 0 ]; then
	for n in "${names[@]}"; do echo "$out/$n"; done
else
	echo "$out"
fi
