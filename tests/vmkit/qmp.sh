#!/bin/bash
# Talk to a QEMU QMP socket: negotiate capabilities, send each command in turn and print each
# reply (one JSON line) on stdout. Events that arrive meanwhile are skipped.
#
#   tests/vmkit/qmp.sh [--timeout S] [--events] SOCK COMMAND...
#
# A COMMAND is a JSON object ('{"execute":"query-status"}') or just a command name
# (query-status). --events prints events too (lines with "event"). Waits S seconds (default
# 10) for each reply. Exit: 0 when every command returned, 1 when one got an error reply (the
# reply is still printed), 2 when the socket does not answer as QMP (one line on stderr).
# Needs socat (scripts/deps.sh installs it).
set -eu
. "$(dirname "$0")/common.sh"

t=10 events=0
while [ $# -gt 0 ]; do
	case $1 in
	--timeout) t=$2; shift 2 ;;
	--events) events=1; shift ;;
	-h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || { echo "usage: qmp.sh [--timeout S] [--events] SOCK COMMAND..." >&2; exit 2; }
sock=$1
shift
fail() { echo "$VMKIT_PROG: $sock: $*" >&2; exit 2; }
command -v socat >/dev/null || fail "socat not found (install socat, see scripts/deps.sh)"
[ -S "$sock" ] || fail "no such socket"

coproc QMP { exec socat - "UNIX-CONNECT:$sock" 2>/dev/null; }
qin=${QMP[1]} qout=${QMP[0]} qpid=$QMP_PID
trap 'exec {qin}>&- 2>/dev/null || true; kill "$qpid" 2>/dev/null || true; wait "$qpid" 2>/dev/null || true' EXIT

# reply NAME: read lines until a return or an error, into $r (events: printed with --events).
reply() {
	local line
	while :; do
		IFS= read -r -t "$t" line <&"$qout" || fail "no reply within ${t}s to $1 (connection closed or QEMU busy)"
		case $line in
		'{"event"'* | '{"timestamp"'*) [ "$events" = 0 ] || printf '%s\n' "$line" ;;
		*'"return"'* | *'"error"'*) r=$line; return 0 ;;
		esac
	done
}

IFS= read -r -t "$t" greeting <&"$qout" || fail "cannot connect, or no QMP greeting within ${t}s"
case $greeting in *'"QMP"'*) ;; *) fail "not a QMP peer (greeting: ${greeting:0:80})" ;; esac
printf '%s\n' '{"execute":"qmp_capabilities"}' >&"$qin"
reply qmp_capabilities
case $r in *'"error"'*) fail "qmp_capabilities refused: $r" ;; esac

rc=0
for c in "$@"; do
	case $c in
	\{*) json=$c ;;
	*) json="{\"execute\":\"$c\"}" ;;
	esac
	printf '%s\n' "$json" >&"$qin"
	reply "$c"
	printf '%s\n' "$r"
	case $r in *'"error"'*) rc=1 ;; esac
done
exit "$rc"
