#!/bin/bash
# Start a test VM in the background (QEMU, TCG, daemonized) with a QMP socket, for host-side
# tests (dpt track --pid / --qmp, migration). Returns once the guest is ready; stop it with
# tests/vmkit/stop.sh.
#
#   tests/vmkit/start.sh --qmp SOCK --pidfile F [options] [-- CMD [ARG...]]
#
#   --qmp SOCK         QMP unix socket (-qmp unix:SOCK,server=on,wait=off)
#   --pidfile F        QEMU writes its pid there
#   --log FILE         serial console (default: F without .pid, plus .log)
#   --mem SIZE         guest RAM (default 512M)
#   --smp N            vCPUs (default 1)
#   --file F           copy F into the guest's /bin; repeatable
#   --helpers          copy the kit's static helpers (writer, softdirty, ...) into /bin
#   --modules LIST     load these kernel modules (NAME[,NAME...], e.g. virtio_pci,virtio_balloon)
#                      and their dependencies before DPT-READY; repeatable
#   --ready REGEX      ready when a console line matches REGEX (grep -E; default: DPT-READY,
#                      printed by /init just before it runs CMD), e.g. '^writer ready'
#   --ready-timeout S  give up (and stop QEMU) after S seconds (default 60)
#   --incoming URI     start as a migration destination (-incoming URI, e.g.
#                      tcp:127.0.0.1:4444); returns at once: the guest runs after the migration.
#                      Give it the same --mem, --smp, --file and --helpers as the source.
#   --append ARGS      more kernel command line
#   --qemu-arg ARG     one more QEMU argument; repeatable
#
# The guest runs CMD as run.sh does (then prints DPT-EXIT N and powers off, which ends QEMU);
# with no CMD it idles until stopped. Prints one line on stdout:
#   pid=N qmp=SOCK log=FILE ready=SECONDS      (ready=incoming with --incoming)
set -eu
. "$(dirname "$0")/common.sh"

usage() { die "usage: start.sh --qmp SOCK --pidfile F [--log FILE] [--mem SIZE] [--smp N] [--file F]... [--helpers] [--modules LIST] [--ready REGEX] [--ready-timeout S] [--incoming URI] [-- CMD...]"; }

vm_mem=512M vm_smp=1 vm_files=() vm_cmd=() vm_append="" vm_helpers=0 vm_modules=""
sock="" pidfile="" log="" ready_re='DPT-READY' ready_timeout=60 incoming="" qemu_extra=()
while [ $# -gt 0 ]; do
	case $1 in
	--qmp) [ $# -ge 2 ] || usage; sock=$2; shift 2 ;;
	--pidfile) [ $# -ge 2 ] || usage; pidfile=$2; shift 2 ;;
	--log) [ $# -ge 2 ] || usage; log=$2; shift 2 ;;
	--mem) [ $# -ge 2 ] || usage; vm_mem=$2; shift 2 ;;
	--smp) [ $# -ge 2 ] || usage; vm_smp=$2; shift 2 ;;
	--file) [ $# -ge 2 ] || usage; vm_files+=("$2"); shift 2 ;;
	--helpers) vm_helpers=1; shift ;;
	--modules) [ $# -ge 2 ] || usage; vm_modules="${vm_modules:+$vm_modules,}$2"; shift 2 ;;
	--ready) [ $# -ge 2 ] || usage; ready_re=$2; shift 2 ;;
	--ready-timeout) [ $# -ge 2 ] || usage; ready_timeout=$2; shift 2 ;;
	--incoming) [ $# -ge 2 ] || usage; incoming=$2; shift 2 ;;
	--append) [ $# -ge 2 ] || usage; vm_append="$vm_append $2"; shift 2 ;;
	--qemu-arg) [ $# -ge 2 ] || usage; qemu_extra+=("$2"); shift 2 ;;
	-h | --help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	--) shift; vm_cmd=("$@"); break ;;
	*) usage ;;
	esac
done
[ -n "$sock" ] && [ -n "$pidfile" ] || usage
[ -n "$log" ] || log=${pidfile%.pid}.log
# QEMU daemonizes into /: give it absolute paths.
sock=$(realpath -m "$sock") pidfile=$(realpath -m "$pidfile") log=$(realpath -m "$log")
[ ${#sock} -lt 108 ] || die "$sock: too long for a unix socket path (107 bytes at most)"
case $ready_timeout in '' | *[!0-9]*) die "bad --ready-timeout: $ready_timeout (whole seconds)" ;; esac

if [ -s "$pidfile" ] && vmkit_alive "$(cat "$pidfile")"; then
	die "$pidfile: QEMU pid $(cat "$pidfile") is still running (stop it with tests/vmkit/stop.sh)"
fi
# QEMU unlinks an existing socket path before listening: never steal a live VM's socket.
if [ -S "$sock" ] && command -v socat >/dev/null && socat -u OPEN:/dev/null "UNIX-CONNECT:$sock" 2>/dev/null; then
	die "$sock: another QEMU is listening there"
fi
rm -f "$pidfile"
mkdir -p "$(dirname "$sock")" "$(dirname "$pidfile")" "$(dirname "$log")"
: >"$log"

pid="" started=0
tmp=$(mktemp -d)
cleanup() {
	if [ "$started" = 0 ] && [ -n "$pid" ]; then
		vmkit_kill "$pid"
		rm -f "$pidfile" "$sock"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

vmkit_prepare "$tmp"
inc=()
[ -z "$incoming" ] || inc=(-incoming "$incoming")

t0=$(vmkit_now)
# -daemonize returns once QEMU has set up the machine (kernel and initrd are loaded by then,
# so the temporary directory can go).
if ! "$VMKIT_QEMU" "${vm_args[@]}" -display none -serial "file:$log" -monitor none \
	-qmp "unix:$sock,server=on,wait=off" -daemonize -pidfile "$pidfile" \
	${inc[@]+"${inc[@]}"} ${qemu_extra[@]+"${qemu_extra[@]}"} </dev/null >"$tmp/qemu.err" 2>&1; then
	die "QEMU did not start: $(grep -v '^$' "$tmp/qemu.err" | head -n 1)"
fi
pid=$(cat "$pidfile" 2>/dev/null || true)
[ -n "$pid" ] || die "QEMU started but wrote no pid to $pidfile"

if [ -n "$incoming" ]; then
	started=1
	echo "pid=$pid qmp=$sock log=$log ready=incoming"
	exit 0
fi

while ! grep -aqE "$ready_re" "$log"; do
	if ! vmkit_alive "$pid"; then
		note "QEMU (pid $pid) ended before the guest was ready; last console lines:"
		tr -d '\r' <"$log" | grep -av '^$' | tail -n 15 | sed 's/^/    /' >&2
		exit 1
	fi
	if [ $(($(vmkit_now) - t0)) -ge $((ready_timeout * 1000)) ]; then
		note "timeout: no console line matching '$ready_re' within ${ready_timeout}s; QEMU stopped; last console lines:"
		tr -d '\r' <"$log" | grep -av '^$' | tail -n 15 | sed 's/^/    /' >&2
		exit 1
	fi
	sleep 0.05
done
started=1
echo "pid=$pid qmp=$sock log=$log ready=$(vmkit_ms_to_s $(($(vmkit_now) - t0)))"
