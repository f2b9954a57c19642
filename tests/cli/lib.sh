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
	if "$@"; then ok "$name"; else
		fail "$name" "$*"
		# a failed check on a table shows the table (rate checks on a noisy machine)
		local last=${!#}
		if [[ "$last" == *.csv ]] && [ -f "$last" ]; then head -n 40 "$last" | sed 's/^/# /'; fi
	fi
}
# writer_ready FILE: wait (up to 5 s) for tests/helpers/writer's ready line in FILE; print its pid.
writer_ready() {
	for _ in $(seq 50); do grep -q 'writer ready' "$1" && break; sleep 0.1; done
	sed -n 's/.*writer ready pid=\([0-9]*\).*/\1/p' "$1"
}

have_kvm() {
	[ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]
}
# bad_case SUBCOMMAND NAME ARGS...: dpt SUBCOMMAND with ARGS (after --count 1 --interval 100ms
# -o csv:left.csv) must fail with one "dpt..." line on stderr and leave no file behind. Runs
# in the current directory.
bad_case() {
	local sub=$1 name=$2
	shift 2
	"$DPT" "$sub" --count 1 --interval 100ms -o csv:left.csv "$@" >out 2>err
	local rc=$?
	if [ $rc = 0 ]; then
		fail "bad-$name" "exit 0 for: $*"
	elif [ "$(wc -l <err)" != 1 ] || ! grep -q '^dpt' err; then
		fail "bad-$name" "not one dpt line: $(head -c 300 err)"
	elif [ -e left.csv ]; then
		fail "bad-$name" "left a partial file behind"
	else
		ok "bad-$name"
	fi
	rm -f left.csv
}
