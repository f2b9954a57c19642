#!/bin/bash
# The pid tracker's soft-dirty method, in a TCG guest running Debian's 6.1 kernel (which has
# soft-dirty; the CI host has not). tests/helpers/pid-softdirty-check.c is linked statically
# with build/libdpt.a, run on the host (where it must say skip, with the reason) and in the
# guest (tests/vmkit/run.sh), whose ok/FAIL/skip lines are passed on as they are.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "skip $1: $2"; }

# the guest runs a static binary: linked with make vmkit-dpt's library (plain flags, as
# sanitizers cannot link statically; no SimGrid, which has no static library)
lib=build/vmkit/obj/libdpt.a
make -s BUILD=build vmkit-dpt >/dev/null 2>&1
if [ ! -f "$lib" ]; then
	fail sd-build "no $lib: run make tests first"
	exit 1
fi
bin=$tmp/pid-softdirty-check
if ! ${CC:-cc} -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE -Iinclude \
	-Isrc -O2 -static -pthread -o "$bin" tests/helpers/pid-softdirty-check.c \
	"$lib" -ljansson -lm 2>"$tmp/cc.err"; then
	fail sd-build "$(grep -m1 -E 'error|undefined|cannot find' "$tmp/cc.err")"
	exit 1
fi
ok sd-build-static

# on the host: soft-dirty or not, the check must run and say so
"$bin" >"$tmp/host.out" 2>&1
rc=$?
if grep -q '^skip pid-softdirty: .*CONFIG_MEM_SOFT_DIRTY' "$tmp/host.out" && [ $rc = 0 ]; then
	ok sd-host-skips-with-reason
elif grep -q '^ok sd-exact' "$tmp/host.out" && [ $rc = 0 ]; then
	ok sd-host-has-soft-dirty
else
	fail sd-host "status $rc: $(tr '\n' '|' <"$tmp/host.out")"
fi

if ! command -v qemu-system-x86_64 >/dev/null; then
	skip sd-guest "no qemu-system-x86_64 (scripts/deps.sh installs it)"
	exit 0
fi
# transparent huge pages on, for the THP check (the guest boots with them off)
tests/vmkit/run.sh --timeout 120 --file "$bin" -- sh -c \
	'echo always >/sys/kernel/mm/transparent_hugepage/enabled; pid-softdirty-check' \
	>"$tmp/guest.out" 2>&1
rc=$?
grep -E '^(ok|FAIL|skip|#) ' "$tmp/guest.out" | sed 's/^\(ok\|FAIL\|skip\) /\1 guest-/'
n=$(grep -c '^ok ' "$tmp/guest.out")
if [ $rc != 0 ] || [ "$n" -lt 10 ]; then
	fail sd-guest "status $rc, $n checks passed: $(tail -n 5 "$tmp/guest.out" | tr '\n' '|')"
fi
