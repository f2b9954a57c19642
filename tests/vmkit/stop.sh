#!/bin/bash
# Stop a test VM started by tests/vmkit/start.sh: QMP "quit" when the socket is given and
# answers, else SIGTERM, then SIGKILL; waits until QEMU is gone, removes the pidfile and socket.
#
#   tests/vmkit/stop.sh --pidfile F [--qmp SOCK] [--timeout S]
#
# Only the pid in F is signalled, and only while it is a QEMU. Quiet when there is nothing to
# stop (exit 0). Prints "stop.sh: QEMU pid N stopped (quit|TERM|KILL)" on stderr otherwise.
set -eu
. "$(dirname "$0")/common.sh"

usage() { die "usage: stop.sh --pidfile F [--qmp SOCK] [--timeout S]"; }
pidfile="" sock="" t=10
while [ $# -gt 0 ]; do
	case $1 in
	--pidfile) [ $# -ge 2 ] || usage; pidfile=$2; shift 2 ;;
	--qmp) [ $# -ge 2 ] || usage; sock=$2; shift 2 ;;
	--timeout) [ $# -ge 2 ] || usage; t=$2; shift 2 ;;
	-h | --help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) usage ;;
	esac
done
[ -n "$pidfile" ] || usage
case $t in '' | *[!0-9]*) die "bad --timeout: $t (whole seconds)" ;; esac

pid=$(cat "$pidfile" 2>/dev/null || true)
if [ -z "$pid" ] || ! vmkit_alive "$pid"; then
	rm -f "$pidfile"
	[ -z "$sock" ] || rm -f "$sock"
	exit 0
fi

how=""
if [ -n "$sock" ] && [ -S "$sock" ] && "$VMKIT_DIR/qmp.sh" --timeout 3 "$sock" quit >/dev/null 2>&1; then
	for _ in $(seq $((t * 10))); do
		vmkit_alive "$pid" || { how=quit; break; }
		sleep 0.1
	done
fi
if [ -z "$how" ]; then
	kill -TERM "$pid" 2>/dev/null || true
	how=TERM
	for _ in $(seq 30); do
		vmkit_alive "$pid" || break
		sleep 0.1
	done
	if vmkit_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
		how=KILL
		for _ in $(seq 30); do
			vmkit_alive "$pid" || break
			sleep 0.1
		done
	fi
fi
vmkit_alive "$pid" && die "QEMU pid $pid is still running after SIGKILL"
rm -f "$pidfile"
[ -z "$sock" ] || rm -f "$sock"
note "QEMU pid $pid stopped ($how)"
