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
# kill9_after SECONDS CMD...: run CMD in the background, SIGKILL it after SECONDS, reap it, and
# give the kernel a moment to tear it down.
kill9_after() {
	local secs=$1 p
	shift
	"$@" &
	p=$!
	sleep "$secs"
	kill -9 $p
	wait $p 2>/dev/null
	sleep 0.2
}
# built_without NAME VAR LIB MESSAGE ARGS...: dpt built with VAR=no (an -O0 build of its own in
# $BUILD/without-VAR: a few seconds) answers `dpt ARGS` with exit 2 and one stderr line holding
# MESSAGE, is not linked with LIB, and still runs `dpt ARGS[0] --help`.
built_without() {
	local name=$1 var=$2 lib=$3 msg=$4 dir=$BUILD/without-$2 rc
	shift 4
	if ! make -s -C "$ROOT" BUILD="$dir" "$var=no" CFLAGS="-O0" -j2 "$dir/dpt" >"$TMP/$name.log" 2>&1; then
		fail "$name" "the build with $var=no failed: $(tail -n 3 "$TMP/$name.log")"
		return
	fi
	"$ROOT/$dir/dpt" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
	rc=$?
	if [ $rc = 2 ] && [ "$(wc -l <"$TMP/$name.err")" = 1 ] && grep -q "$msg" "$TMP/$name.err" &&
		! ldd "$ROOT/$dir/dpt" | grep -q "$lib" && "$ROOT/$dir/dpt" "$1" --help >/dev/null; then
		ok "$name"
	else
		fail "$name" "exit $rc: $(head -c 200 "$TMP/$name.err")"
	fi
}

# ---- dpt exporter (exporter.sh, libvirt.sh) ----
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_exporter LOG ARGS...: in the background, its pid in EXPORTER (and EXPORTERS); waits
# until it serves
start_exporter() {
	local log=$1
	shift
	"$DPT" exporter "$@" 2>"$log" &
	EXPORTER=$!
	EXPORTERS+=("$EXPORTER")
	for _ in $(seq 50); do grep -q 'serving http' "$log" && return 0; sleep 0.1; done
	return 1
}
# metric URL NAME LABELS: the value of one series in /metrics (empty if absent)
metric() {
	curl -s --max-time 3 "http://$1/metrics" | awk -v n="$2" -v l="$3" \
		'index($0, n "{") == 1 && index($0, l) { print $2; exit } $1 == n && l == "" { print $2; exit }'
}
# wait_for SECONDS 'COMMAND': until the command (evaluated afresh each time) succeeds
wait_for() {
	local t=$1
	shift
	for _ in $(seq $((t * 5))); do eval "$*" && return 0; sleep 0.2; done
	return 1
}
