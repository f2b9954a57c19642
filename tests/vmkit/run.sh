#!/bin/bash
# Boot Debian's kernel under QEMU (TCG) with the kit's initramfs, run one command in the guest,
# print its output and exit with its exit status.
#
#   tests/vmkit/run.sh [options] -- CMD [ARG...]
#
#   --mem SIZE       guest RAM (default 256M)
#   --smp N          vCPUs (default 1)
#   --file F         copy F (a static binary or a busybox script) into the guest's /bin; repeatable
#   --helpers        copy the kit's static helpers (writer, softdirty, ...) into /bin
#   --modules LIST   load these kernel modules (NAME[,NAME...], e.g. virtio_pci,virtio_balloon)
#                    and their dependencies before DPT-READY; repeatable
#   --timeout S      give up after S seconds of wall time (default 120): exit 124
#   --append ARGS    more kernel command line
#   --qemu-arg ARG   one more QEMU argument; repeatable
#   --log FILE       keep the whole serial console in FILE
#   --verbose        stream the whole console (firmware and kernel messages too)
#   --timing         print "run.sh: boot to ready X s, command Y s, total Z s" on stderr
#
# CMD and its arguments reach the guest exactly (each one quoted); for shell syntax run
# `sh -c '...'`. The command runs as root in /tmp under busybox, stdin /dev/null; its stdout
# and stderr both come back on stdout (one serial console), with kernel messages removed.
# Exit status: the command's; 124 on timeout; 125 when the guest died without reporting one
# (kernel panic, QEMU error), with the last console lines on stderr.
set -eu
. "$(dirname "$0")/common.sh"

usage() { die "usage: run.sh [--mem SIZE] [--smp N] [--file F]... [--helpers] [--modules LIST] [--timeout S] [--verbose] [--timing] -- CMD [ARG...]"; }

vm_mem=256M vm_smp=1 vm_files=() vm_cmd=() vm_append="" vm_helpers=0 vm_modules=""
timeout=${DPT_VMKIT_TIMEOUT:-120} keep_log="" verbose=0 timing=0 qemu_extra=()
while [ $# -gt 0 ]; do
	case $1 in
	--mem) [ $# -ge 2 ] || usage; vm_mem=$2; shift 2 ;;
	--smp) [ $# -ge 2 ] || usage; vm_smp=$2; shift 2 ;;
	--file) [ $# -ge 2 ] || usage; vm_files+=("$2"); shift 2 ;;
	--helpers) vm_helpers=1; shift ;;
	--modules) [ $# -ge 2 ] || usage; vm_modules="${vm_modules:+$vm_modules,}$2"; shift 2 ;;
	--timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
	--append) [ $# -ge 2 ] || usage; vm_append="$vm_append $2"; shift 2 ;;
	--qemu-arg) [ $# -ge 2 ] || usage; qemu_extra+=("$2"); shift 2 ;;
	--log) [ $# -ge 2 ] || usage; keep_log=$2; shift 2 ;;
	--verbose | -v) verbose=1; shift ;;
	--timing) timing=1; shift ;;
	-h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	--) shift; break ;;
	*) usage ;;
	esac
done
[ $# -gt 0 ] || usage
vm_cmd=("$@")
case $timeout in '' | *[!0-9]*) die "bad --timeout: $timeout (whole seconds)" ;; esac

qpid="" tpid=""
tmp=$(mktemp -d)
cleanup() {
	[ -z "$qpid" ] || vmkit_kill "$qpid"
	[ -z "$tpid" ] || kill "$tpid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

vmkit_prepare "$tmp"
log=$tmp/console.log
: >"$log"

t0=$(vmkit_now)
"$VMKIT_QEMU" "${vm_args[@]}" -nographic -serial stdio -monitor none ${qemu_extra[@]+"${qemu_extra[@]}"} \
	</dev/null >"$log" 2>"$tmp/qemu.err" &
qpid=$!

# Stream the console: only what the command prints, unless --verbose. A kernel line or the
# firmware's last words may share a line with the markers, hence the matches on line ends.
tail -n +1 -s 0.05 -f --pid="$qpid" "$log" | awk -v verbose="$verbose" '
	{ gsub(/\r/, "") }
	!started && /DPT-READY$/ { started = 1; if (!verbose) next }
	started && !ended && match($0, /DPT-EXIT [0-9]+$/) {
		ended = 1
		if (verbose) { print; fflush(); next }
		if (RSTART > 1) { print substr($0, 1, RSTART - 1); fflush() }
		next
	}
	verbose { print; fflush(); next }
	started && !ended && !/^\[ *[0-9]+\.[0-9]+\] / { print; fflush() }
' &
tpid=$!

ready_ms="" timed_out=0
while kill -0 "$qpid" 2>/dev/null && vmkit_alive "$qpid"; do
	now=$(vmkit_now)
	if [ -z "$ready_ms" ] && grep -q 'DPT-READY' "$log"; then
		ready_ms=$((now - t0))
	fi
	if [ $((now - t0)) -ge $((timeout * 1000)) ]; then
		timed_out=1
		vmkit_kill "$qpid"
		break
	fi
	sleep 0.05
done
wait "$qpid" 2>/dev/null || true
qpid=""
end_ms=$(($(vmkit_now) - t0))
wait "$tpid" 2>/dev/null || true
tpid=""
[ -z "$ready_ms" ] && grep -q 'DPT-READY' "$log" && ready_ms=$end_ms
if [ -n "$keep_log" ]; then
	cp "$log" "$keep_log"
	cat "$tmp/qemu.err" >>"$keep_log"
fi

last_lines() {
	local panic
	if [ -s "$tmp/qemu.err" ]; then
		echo "$VMKIT_PROG: QEMU said:" >&2
		sed 's/^/    /' "$tmp/qemu.err" >&2
	fi
	panic=$(tr -d '\r' <"$log" | grep -a -m1 'Kernel panic' || true)
	[ -z "$panic" ] || echo "$VMKIT_PROG: ${panic#*] }" >&2
	echo "$VMKIT_PROG: last console lines:" >&2
	tr -d '\r' <"$log" | grep -av '^$' | tail -n 15 | sed 's/^/    /' >&2
}
if [ "$timed_out" = 1 ]; then
	note "timeout: the guest did not finish within ${timeout}s ($([ -n "$ready_ms" ] && echo "it reached /init after $(vmkit_ms_to_s "$ready_ms") s" || echo "it never reached /init"))"
	last_lines
	exit 124
fi
rc=$(tr -d '\r' <"$log" | grep -ao 'DPT-EXIT [0-9]*$' | tail -n 1 | cut -d' ' -f2)
if [ -z "$rc" ]; then
	note "the guest stopped without reporting an exit status (kernel panic or QEMU error)"
	last_lines
	exit 125
fi
if [ -z "$ready_ms" ]; then
	# /init gave up before the command (a module that does not load, a bad dpt.cmd=).
	tr -d '\r' <"$log" | grep -a 'vmkit-init:' | sed "s/^.*vmkit-init:/$VMKIT_PROG: guest: vmkit-init:/" >&2 || true
fi
if [ "$timing" = 1 ]; then
	note "boot to ready $(vmkit_ms_to_s "${ready_ms:-0}") s, command $(vmkit_ms_to_s $((end_ms - ${ready_ms:-0}))) s, total $(vmkit_ms_to_s "$end_ms") s"
fi
exit "$rc"
