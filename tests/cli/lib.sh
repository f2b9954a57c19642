# lib.sh - shared by the shell tests: ok/fail/skip lines in the harness's format.
# Sourced, not run (tests/run.sh runs only *.sh files that are not lib.sh... see below).
BUILD=${BUILD:-build}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DPT=${DPT:-$ROOT/$BUILD/dpt}
HELPERS=$ROOT/$BUILD/tests/helpers
TMP=$(mktemp -d /tmp/dpt-cli.XXXXXX)
trap 'rm -rf "$TMP"; kill $(jobs -p) 2>/dev/null || true' EXIT

ok() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "skip $1: $2"; }
# check NAME CONDITION-COMMAND... : ok if the command succeeds
check() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else fail "$name" "$*"; fi
}
have_kvm() {
	[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]
}
