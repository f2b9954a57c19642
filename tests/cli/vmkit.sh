#!/bin/bash
# Self-test of the test-VM kit (tests/vmkit, tests/helpers/{writer,softdirty}.c): the helpers
# on the host, then six short TCG boots of Debian's kernel (one QEMU at a time): output and
# exit status come back (0 and 3), arguments and long commands survive, files passed in run,
# the writer and the soft-dirty probe work in the guest, kernel modules load (the virtio
# balloon binds, with free page reporting), a timeout is reported, and a background VM
# answers QMP and stops cleanly. Prints ok/FAIL/skip lines and "# ..." timings.
set -u
cd "$(dirname "$0")/../.."
K=tests/vmkit
tmp=$(mktemp -d)
export TMPDIR=$tmp # every mktemp of the kit lands here: leftover QEMUs are findable by path
cleanup() {
	[ ! -f "$tmp/bg.pid" ] || $K/stop.sh --pidfile "$tmp/bg.pid" --qmp "$tmp/bg.sock" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap "exit 143" TERM
trap "exit 130" INT

ok() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "skip $1: $2"; }
# field KEY FILE: value of KEY=... in the last line of FILE that has it.
field() { grep -ao "$1=[^ ]*" "$2" | tail -n 1 | cut -d= -f2; }
our_qemus() { pgrep -f "qemu-system.*$tmp" || true; }
# running PID: exists and is not a zombie (a daemonized QEMU is reaped by PID 1, maybe late).
running() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)" != Z ]; }

# --- helpers on the host -------------------------------------------------------------------
if ! bin=$($K/helpers.sh 2>"$tmp/helpers.err"); then
	fail helpers-build "$(cat "$tmp/helpers.err")"
	exit 1
fi
ok helpers-build

"$bin/writer" --wss 1M --rate 1000 --duration 0.5 >"$tmp/w1" 2>&1
if [ $? = 0 ] && grep -q '^writer ready pid=[0-9]* addr=0x[0-9a-f]* pages=256 ' "$tmp/w1" &&
	[ "$(field writes "$tmp/w1")" = 500 ] && [ "$(field distinct "$tmp/w1")" = 256 ]; then
	ok writer-host-rate
else
	fail writer-host-rate "expected a ready line and writes=500 distinct=256: $(tr '\n' '|' <"$tmp/w1")"
fi

"$bin/writer" --wss 4M --rate 3000 --duration 0.5 --threads 3 --pattern random --stamp >"$tmp/w2" 2>&1
if [ $? = 0 ] && [ "$(field writes "$tmp/w2")" = 1500 ] && [ "$(field target "$tmp/w2")" = 1500 ]; then
	ok writer-host-threads
else
	fail writer-host-threads "expected writes=1500 target=1500: $(tr '\n' '|' <"$tmp/w2")"
fi

"$bin/writer" --wss 1M --rate 200 --duration 0 >"$tmp/w3" 2>&1 &
wpid=$!
sleep 0.5
kill -INT "$wpid"
wait "$wpid"
wrc=$?
n=$(field writes "$tmp/w3")
if [ "$wrc" = 0 ] && [ -n "$n" ] && [ "$n" -ge 80 ] && [ "$n" -le 120 ]; then
	ok writer-host-sigint
else
	fail writer-host-sigint "exit $wrc, writes=${n:-none} after 0.5 s at 200/s: $(tr '\n' '|' <"$tmp/w3")"
fi

"$bin/softdirty" >"$tmp/sd" 2>&1
src=$?
case $src:$(cat "$tmp/sd") in
0:"softdirty supported" | 2:"softdirty unsupported:"*) ok "softdirty-host # $(cat "$tmp/sd")" ;;
*) fail softdirty-host "exit $src: $(cat "$tmp/sd")" ;;
esac

if $K/initramfs.sh "$tmp/x.cpio.gz" /bin/ls 2>"$tmp/dyn.err"; then
	fail initramfs-refuses-dynamic "accepted /bin/ls"
elif grep -q 'dynamically linked' "$tmp/dyn.err"; then
	ok initramfs-refuses-dynamic
else
	fail initramfs-refuses-dynamic "$(cat "$tmp/dyn.err")"
fi

# --- the VM ----------------------------------------------------------------------------------
if ! command -v qemu-system-x86_64 >/dev/null; then
	skip vm "qemu-system-x86_64 not installed"
	exit 0
fi
if ! $K/kernel.sh --pvh >"$tmp/kernel" 2>"$tmp/kernel.err"; then
	skip vm "no guest kernel: $(tail -n 1 "$tmp/kernel.err")"
	exit 0
fi

# run_vm NAME [run.sh args]: stdout in $tmp/NAME.out, stderr in $tmp/NAME.err, status in $rc.
run_vm() {
	local name=$1
	shift
	$K/run.sh --timing "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
	grep -o 'boot to ready [0-9.]* s' "$tmp/$name.err" | sed "s/^/# $name: /"
}
why() { echo "exit $rc; out: $(head -c 300 "$tmp/$1.out" | tr '\n' '|'); err: $(grep -v 'boot to ready' "$tmp/$1.err" | head -c 300 | tr '\n' '|')"; }

run_vm exit0 -- printf '[%s]\n' hello-guest 'a b' "c'd" '$HOME' ''
if [ "$rc" = 0 ] && [ "$(cat "$tmp/exit0.out")" = "$(printf '[hello-guest]\n[a b]\n[c'"'"'d]\n[$HOME]\n[]')" ]; then
	ok vm-exit0-output-and-args
else
	fail vm-exit0-output-and-args "$(why exit0)"
fi

long=$(head -c 2000 /dev/zero | tr '\0' 'y')
run_vm exit3 -- sh -c 'echo "len=${#1} kernel=$(uname -r)"; exit 3' sh "$long"
if [ "$rc" = 3 ] && grep -q '^len=2000 kernel=6\.' "$tmp/exit3.out"; then
	ok vm-exit3-long-command
else
	fail vm-exit3-long-command "$(why exit3)"
fi

printf '#!/bin/sh\necho "script-ran args=$*"\n' >"$tmp/hello.sh"
run_vm files --mem 256M --file "$tmp/hello.sh" --file "$bin/writer" --file "$bin/softdirty" -- sh -c \
	'hello.sh one two; writer --wss 8M --rate 2000 --duration 1 --pattern random; softdirty; echo "softdirty-exit=$?"'
if grep -q '^script-ran args=one two$' "$tmp/files.out"; then
	ok vm-file-runs
else
	fail vm-file-runs "$(why files)"
fi
if grep -q '^writer ready pid=[0-9]* addr=0x[0-9a-f]* pages=2048 ' "$tmp/files.out" &&
	[ "$(field writes "$tmp/files.out")" = 2000 ]; then
	ok "vm-writer # $(grep '^writer done' "$tmp/files.out")"
else
	fail vm-writer "expected writes=2000: $(why files)"
fi
if grep -q '^softdirty supported$' "$tmp/files.out" && grep -q '^softdirty-exit=0$' "$tmp/files.out"; then
	ok vm-softdirty
else
	fail vm-softdirty "Debian's 6.1 kernel has CONFIG_MEM_SOFT_DIRTY: $(why files)"
fi

# Kernel modules from the kernel's own package: the virtio balloon bound, free page reporting on.
if $K/run.sh --modules no_such_module -- true >/dev/null 2>"$tmp/nomod.err"; then
	fail vm-modules-unknown "run.sh --modules no_such_module booted"
elif grep -q '^kernel.sh: no module no_such_module ' "$tmp/nomod.err"; then
	ok vm-modules-unknown
else
	skip vm-modules "$(tail -n 1 "$tmp/nomod.err")"
fi
if ! $K/kernel.sh --modules virtio_pci,virtio_balloon >/dev/null 2>"$tmp/mods.err"; then
	skip vm-modules "no modules: $(tail -n 1 "$tmp/mods.err")"
else
	run_vm modules --modules virtio_pci,virtio_balloon \
		--qemu-arg -device --qemu-arg virtio-balloon-pci,free-page-reporting=on -- sh -c \
		'cut -d" " -f1 /proc/modules | sort | tr "\n" " "; echo; ls -1 /sys/bus/virtio/drivers/virtio_balloon
		echo "reporting=$(cut -c6 /sys/bus/virtio/drivers/virtio_balloon/virtio*/features)"'
	if [ "$rc" = 0 ] && grep -q '^virtio virtio_balloon virtio_pci virtio_pci_legacy_dev virtio_pci_modern_dev virtio_ring $' "$tmp/modules.out" &&
		grep -qx 'virtio[0-9]*' "$tmp/modules.out" && grep -qx 'reporting=1' "$tmp/modules.out"; then
		ok vm-modules-balloon
	else
		fail vm-modules-balloon "expected the 6 modules, the driver bound, feature 5 (reporting): $(why modules)"
	fi
fi

start=$(date +%s)
run_vm timeout --timeout 3 -- sleep 60
took=$(($(date +%s) - start))
if [ "$rc" = 124 ] && grep -q 'timeout' "$tmp/timeout.err" && [ "$took" -le 15 ] && [ -z "$(our_qemus)" ]; then
	ok vm-timeout
else
	fail vm-timeout "rc=$rc after ${took}s, QEMUs left: $(our_qemus | tr '\n' ' '); $(why timeout)"
fi

# Background VM with the writer, as the pid/qmp tracker tests will use it.
if $K/start.sh --qmp "$tmp/bg.sock" --pidfile "$tmp/bg.pid" --mem 256M --helpers \
	--ready '^writer ready' -- writer --wss 16M --rate 1000 --duration 0 >"$tmp/bg.out" 2>"$tmp/bg.err"; then
	echo "# background: writer ready $(field ready "$tmp/bg.out") s after QEMU started"
	pid=$(cat "$tmp/bg.pid")
	if [ "$(field pid "$tmp/bg.out")" = "$pid" ] && running "$pid"; then
		ok vm-background-start
	else
		fail vm-background-start "pidfile $pid vs $(cat "$tmp/bg.out")"
	fi
	if $K/qmp.sh "$tmp/bg.sock" query-status >"$tmp/qmp.out" 2>&1 &&
		grep -q '"status": *"running"' "$tmp/qmp.out"; then
		ok vm-background-qmp
	else
		fail vm-background-qmp "$(tr '\n' '|' <"$tmp/qmp.out")"
	fi
	if $K/stop.sh --pidfile "$tmp/bg.pid" --qmp "$tmp/bg.sock" 2>"$tmp/stop.err" &&
		grep -q 'stopped (quit)' "$tmp/stop.err" && ! running "$pid" &&
		[ ! -e "$tmp/bg.pid" ] && [ ! -e "$tmp/bg.sock" ]; then
		ok vm-background-stop
	else
		fail vm-background-stop "$(cat "$tmp/stop.err")"
	fi
else
	fail vm-background-start "$(tr '\n' '|' <"$tmp/bg.err")"
fi

left=$(our_qemus)
if [ -z "$left" ]; then
	ok vm-no-leftover-qemu
else
	fail vm-no-leftover-qemu "still running: $left"
fi
