#!/bin/bash
# qmp-kvm.sh - dpt track --qmp against a real QEMU under -accel kvm, with exact expected counts.
#
# The guest is dpt's own multiboot kernel ($BUILD/guest/dpt-guest.elf, docs/multiboot-guest.md):
# a stock Linux does not boot under KVM on the CI hypervisor (PVM). What QEMU 7.2 counts over
# its 1 s window, by construction:
#   1. No ring, "wss=16383p": passes over 16383 pages, as fast as it can (a pass takes well
#      under a second), plus the guest's own hot page (stack and counters) written every pass:
#      dirty-bitmap sees exactly 16384 distinct pages = 64 MiB/s, every interval. Auto picks
#      dirty-bitmap. Page-sampling (16384 samples per GiB) estimates 64 MiB/s within its error.
#   2. No ring, "wss=16382p": 16383 pages, one short of 64 MiB: QEMU floors to 63 MiB/s. So the
#      count is exact to the page, not merely to QEMU's MiB.
#   3. -accel kvm,dirty-ring-size=4096, "wss=64M rate=4224p progress=0": 4224 page writes per
#      second, each to a page not written for ~4 s, and no other store at all (PVM emulates the
#      guest, and its ring then logs every store, see the doc). 4224 per 1 s window (+- the few
#      ms QEMU's window overruns) is 16 MiB/s in QEMU's whole MiB. Auto picks dirty-ring;
#      dirty-bitmap is refused with a reason. The VM runs on afterwards.
# dpt reports QEMU's rate as pages: every interval should carry exactly rate x 256 x calc-time.
# Skips where /dev/kvm or QEMU under KVM is not usable. About 45 s.
set -u
. "$(dirname "$0")/lib.sh"
VMKIT=$ROOT/tests/vmkit
KERNEL=$ROOT/$BUILD/guest/dpt-guest.elf
QEMU=${DPT_VMKIT_QEMU:-qemu-system-x86_64}

if ! have_kvm; then
	skip qmp-kvm "/dev/kvm is missing or not usable"
	exit 0
fi
if ! command -v "$QEMU" >/dev/null || ! command -v socat >/dev/null; then
	skip qmp-kvm "needs $QEMU and socat (scripts/deps.sh)"
	exit 0
fi
if [ ! -f "$KERNEL" ]; then
	fail qmp-kvm "$KERNEL is missing (make builds it)"
	exit 0
fi

vms=()
cleanup() {
	local v
	for v in ${vms[@]+"${vms[@]}"}; do
		"$VMKIT/stop.sh" --pidfile "$TMP/$v.pid" --qmp "$TMP/$v.sock" >/dev/null 2>&1
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

# boot NAME ACCEL APPEND: QEMU in the background with the guest; 0 once "dpt-guest ready" is on
# its console, 2 if QEMU cannot start under KVM here, 1 if the guest does not come up.
boot() {
	local n=$1 accel=$2 append=$3 t0 pid
	vms+=("$n")
	t0=$(date +%s%N)
	if ! "$QEMU" -accel "$accel" -m 256M -smp 1 -nodefaults -no-reboot -display none \
		-name "dpt-qmp-kvm-$n" -serial "file:$TMP/$n.log" \
		-qmp "unix:$TMP/$n.sock,server=on,wait=off" -daemonize -pidfile "$TMP/$n.pid" \
		-kernel "$KERNEL" -append "$append" </dev/null >"$TMP/$n.err" 2>&1; then
		why="QEMU does not start with -accel $accel: $(grep -v '^$' "$TMP/$n.err" | grep -v warning | head -n 1)"
		return 2
	fi
	pid=$(cat "$TMP/$n.pid")
	for _ in $(seq 600); do
		if grep -aq '^dpt-guest error' "$TMP/$n.log"; then
			why=$(grep -a '^dpt-guest error' "$TMP/$n.log" | tr -d '\r')
			return 1
		fi
		if grep -aq '^dpt-guest ready' "$TMP/$n.log"; then
			ready=$(grep -a '^dpt-guest ready' "$TMP/$n.log" | tr -d '\r')
			echo "# $n: ready after $((($(date +%s%N) - t0) / 1000000)) ms: $ready"
			return 0
		fi
		[ -d "/proc/$pid" ] || break
		sleep 0.05
	done
	why="no ready line from the guest within 30 s; console: $(tr -d '\r' <"$TMP/$n.log" | grep -av '^$' | tail -n 2 | tr '\n' '|')"
	return 1
}

# stop NAME
stop() {
	"$VMKIT/stop.sh" --pidfile "$TMP/$1.pid" --qmp "$TMP/$1.sock" >/dev/null 2>&1
}

# alive NAME: QEMU answers and the VM is running
alive() {
	"$VMKIT/qmp.sh" --timeout 5 "$TMP/$1.sock" query-status 2>/dev/null | grep -q '"running": true'
}

# rates CSV MIB: each interval reports MIB MiB/s, QEMU's whole MiB/s, and is not an estimate;
# prints what differs. The rate column is the count over dpt's interval (column 3), and the count
# is QEMU's rate over its 1 s window, so the rate is off by the interval's jitter: +-0.1 MiB/s
# plus MIB x |interval - 1 s| (a loop woken 4 ms late under ASan reads 62.72 for 63).
rates() {
	awk -F, -v m="$2" 'function abs(x) { return x < 0 ? -x : x }
	NR > 1 && (abs($6 - m) > 0.1 + m * abs($3 - 1) || $7 ~ /estimate/) {
		printf "interval %s: %s MiB/s%s; ", $1, $6, $7 ~ /estimate/ ? " (estimate)" : "" }' "$1"
}

# pages CSV N: each interval reports exactly N pages (and vCPU 0 all of them, if the column is
# there); prints what differs
pages() {
	awk -F, -v n="$2" 'NR > 1 && ($4 != n || (NF >= 9 && $9 != $4)) {
		printf "interval %s: %s pages over %s s%s; ", $1, $4, $3, (NF >= 9 ? " (vcpu0 " $9 ")" : "") }' "$1"
}

rows() {
	awk 'NR > 1' "$1" | wc -l
}

# track NAME OUT ARGS...: dpt track --qmp on NAME's socket, csv in OUT.csv, stderr in OUT.err
track() {
	local n=$1 out=$2
	shift 2
	"$DPT" track --qmp "$TMP/$n.sock" --interval 1s -o csv:"$TMP/$out.csv" "$@" 2>"$TMP/$out.err"
}

# check_exact NAME CSV COUNT MIB PAGES WHY: the rate and the pages checks of one run
check_exact() {
	local name=$1 csv=$2 count=$3 mib=$4 want=$5 why=$6 bad
	if [ ! -s "$csv" ] || [ "$(rows "$csv")" != "$count" ]; then
		fail "$name-rate" "want $count intervals, got $([ -s "$csv" ] && rows "$csv" || echo none)"
		return
	fi
	echo "# $name: $(awk -F, 'NR > 1 { printf "%s pages over %s s (%s MiB/s); ", $4, $3, $6 }' "$csv")"
	bad=$(rates "$csv" "$mib")
	if [ -z "$bad" ]; then ok "$name-rate"; else fail "$name-rate" "want $mib MiB/s ($why): $bad"; fi
	bad=$(pages "$csv" "$want")
	if [ -z "$bad" ]; then
		ok "$name-pages"
	else
		fail "$name-pages" "want $want pages per interval ($mib MiB/s x 256 x QEMU's 1 s calc-time; $why): ${bad}the qmp tracker scales QEMU's rate by its own interval's length"
	fi
}

# --- 1. no ring, 16383 pages + the hot page = 64 MiB/s ------------------------------------------
boot bm kvm "wss=16383p"
rc=$?
if [ $rc = 2 ]; then
	skip qmp-kvm "$why"
	exit 0
fi
if [ $rc != 0 ]; then
	fail qmp-kvm-boot "$why"
	exit 0
fi
ok qmp-kvm-boot

track bm bitmap --mode dirty-bitmap --count 3
check qmp-kvm-bitmap-exit test $? = 0
check_exact qmp-kvm-bitmap "$TMP/bitmap.csv" 3 64 16384 "16383 working-set pages + the hot page"

track bm auto -v --count 1
rc=$?
if [ $rc = 0 ] && grep -q 'qmp tracker (dirty-bitmap)' "$TMP/auto.err" && [ -z "$(rates "$TMP/auto.csv" 64)" ]; then
	ok qmp-kvm-auto-bitmap
else
	fail qmp-kvm-auto-bitmap "exit $rc, $(grep -o 'qmp tracker ([a-z-]*)' "$TMP/auto.err" || head -n 1 "$TMP/auto.err"), $(rates "$TMP/auto.csv" 64)"
fi

# 4096 samples of 256 MiB, a quarter of them dirty: 64 MiB/s with a standard error of 1.7 per
# interval, 1 on the mean of three; +-6 MiB/s
track bm sampling --mode page-sampling --sample-pages 16384 --count 3
rc=$?
mean=$(awk -F, 'NR > 1 { s += $6; n++ } END { if (n) printf "%.1f", s / n }' "$TMP/sampling.csv")
est=$(awk -F, 'NR > 1 && $7 !~ /estimate/' "$TMP/sampling.csv" | wc -l)
echo "# page-sampling: $(awk -F, 'NR > 1 { printf "%s ", $6 }' "$TMP/sampling.csv")MiB/s, mean $mean"
if [ $rc = 0 ] && [ "$(rows "$TMP/sampling.csv")" = 3 ] && [ "$est" = 0 ] &&
	awk -v m="$mean" 'BEGIN { exit !(m >= 58 && m <= 70) }'; then
	ok qmp-kvm-sampling
else
	fail qmp-kvm-sampling "exit $rc, mean ${mean:-none} MiB/s (want 64 +- 6), $est rows not flagged estimate"
fi
check qmp-kvm-bitmap-vm-alive alive bm
stop bm

# --- 2. one page less: 16383 pages = 63 MiB/s ---------------------------------------------------
if boot bm2 kvm "wss=16382p"; then
	track bm2 bitmap2 --mode dirty-bitmap --count 2
	check qmp-kvm-bitmap2-exit test $? = 0
	check_exact qmp-kvm-bitmap2 "$TMP/bitmap2.csv" 2 63 16128 "16382 + 1 pages: one short of 64 MiB"
	stop bm2
else
	fail qmp-kvm-bitmap2 "$why"
fi

# --- 3. a dirty ring: 4224 page writes per second = 16 MiB/s -------------------------------------
if ! boot ring kvm,dirty-ring-size=4096 "wss=64M rate=4224p progress=0"; then
	fail qmp-kvm-ring-boot "$why"
	exit 0
fi
track ring ring --mode dirty-ring --count 3
check qmp-kvm-ring-exit test $? = 0
check_exact qmp-kvm-ring "$TMP/ring.csv" 3 16 4096 "4224 paced writes per second"

track ring ringauto -v --count 1
rc=$?
if [ $rc = 0 ] && grep -q 'qmp tracker (dirty-ring)' "$TMP/ringauto.err" && [ -z "$(rates "$TMP/ringauto.csv" 16)" ]; then
	ok qmp-kvm-auto-ring
else
	fail qmp-kvm-auto-ring "exit $rc, $(grep -o 'qmp tracker ([a-z-]*)' "$TMP/ringauto.err" || head -n 1 "$TMP/ringauto.err"), $(rates "$TMP/ringauto.csv" 16)"
fi

track ring refused --mode dirty-bitmap --count 1
rc=$?
if [ $rc != 0 ] && [ "$(wc -l <"$TMP/refused.err")" -le 3 ] && grep -q 'dirty-ring' "$TMP/refused.err"; then
	ok qmp-kvm-ring-bitmap-refused
else
	fail qmp-kvm-ring-bitmap-refused "exit $rc: $(head -n 3 "$TMP/refused.err" | tr '\n' '|')"
fi
check qmp-kvm-ring-vm-alive alive ring
stop ring
