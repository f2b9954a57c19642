#!/bin/bash
# dpt track --qmp end to end: against the fake QMP server (tests/helpers/qmp-fake.c) for csv,
# per-vCPU columns, the no-KVM fallback and every failure as one "dpt: ..." line, exit 1 and no
# hang; then a real QEMU under TCG (no kernel: it sits in its firmware) asked for dirty-ring
# mode: dpt falls back and QEMU is still running afterwards.
set -u
. "$(dirname "$0")/lib.sh"

FAKE=$HELPERS/qmp-fake
if [ ! -x "$FAKE" ] || ! "$DPT" track --help 2>/dev/null | grep -q -- '--qmp SOCKET'; then
	skip qmp-cli "needs build/dpt with track --qmp and $FAKE (make tests)"
	exit 0
fi
SOCK=$TMP/q.sock
fake_pid=""

# fake SCENARIO: start the fake server on $SOCK, logging what it receives to $TMP/fake.log
fake() {
	rm -f "$TMP/fake.log" "$TMP/fake.out"
	"$FAKE" "$SOCK" "$1" --log "$TMP/fake.log" >"$TMP/fake.out" &
	fake_pid=$!
	for _ in $(seq 100); do
		grep -q ready "$TMP/fake.out" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}
unfake() {
	kill "$fake_pid" 2>/dev/null
	wait "$fake_pid" 2>/dev/null
	fake_pid=""
}
# one_line_error NAME STATUS TEXT: exit status 1 and exactly one stderr line "dpt: ...TEXT..."
one_line_error() {
	local n
	n=$(wc -l <"$TMP/err")
	if [ "$2" = 1 ] && [ "$n" = 1 ] && grep -q "^dpt: .*$3" "$TMP/err"; then
		ok "$1"
	else
		fail "$1" "status $2, $n lines: $(head -c 300 "$TMP/err")"
	fi
}

# --- dirty ring: csv with per-vCPU columns that add up ---------------------------------------
fake ring
"$DPT" track --qmp "$SOCK" -c 3 -q -o csv:"$TMP/ring.csv" 2>"$TMP/err"
check qmp-ring-exit test $? = 0
check qmp-ring-header test "$(head -n1 "$TMP/ring.csv")" = \
	"seq,time,interval_s,dirty_pages,total_pages,mib_s,flags,discarded_pages,vcpu0_pages,vcpu1_pages"
# QEMU does not say what was discarded: empty, not 0
check qmp-ring-rows awk -F, 'NR > 1 { n++; if ($9 + $10 != $4 || $5 != 65536 || $8 != "" ||
	$6 < 98 || $6 > 102 || $7 ~ /estimate/) bad = 1 } END { exit bad || n != 3 }' \
	"$TMP/ring.csv"
unfake

# --- 7.2 without KVM: dirty-bitmap asked, page-sampling used, never sent ----------------------
fake normal
"$DPT" track --qmp "$SOCK" -c 2 --mode dirty-bitmap -q -o csv:"$TMP/tcg.csv" 2>"$TMP/err"
check qmp-fallback-exit test $? = 0
check qmp-fallback-warning grep -q "^dpt: warning: .*would crash on dirty-bitmap mode" "$TMP/err"
check qmp-fallback-never-sent bash -c "! grep -q dirty-bitmap '$TMP/fake.log'"
check qmp-fallback-estimate awk -F, 'NR > 1 && $7 !~ /estimate/ { bad = 1 } END { exit bad }' \
	"$TMP/tcg.csv"
"$DPT" track --qmp "$SOCK" -c 1 --bitmaps "$TMP" 2>"$TMP/err"
one_line_error qmp-no-bitmaps $? "gives no bitmap"
unfake

# --- failures: one line, exit 1, bounded time -----------------------------------------------
while read -r scenario count text; do
	fake "$scenario"
	start=$(date +%s)
	timeout 20 "$DPT" track --qmp "$SOCK" -c "$count" -q 2>"$TMP/err"
	one_line_error "qmp-error-$scenario" $? "$text"
	[ $(($(date +%s) - start)) -le 10 ] || fail "qmp-error-$scenario-time" "took over 10 s"
	unfake
done <<'EOF'
garbage 1 not a QMP socket
silent 1 no QMP greeting within 5000 ms
old 1 needs QEMU 5.2
malformed 1 malformed JSON
oversized 1 exceeds 1048576 bytes
disconnect 5 QEMU shut down: host-signal
errors 1 QEMU refused calc-dirty-rate: injected failure
EOF
"$DPT" track --qmp "$TMP/none.sock" -c 1 2>"$TMP/err"
one_line_error qmp-error-no-socket $? "cannot connect to QMP socket"

# --- a real QEMU under TCG: the crashing modes are never sent ---------------------------------
if ! command -v qemu-system-x86_64 >/dev/null; then
	skip qmp-real-tcg "qemu-system-x86_64 not installed"
	exit 0
fi
qemu-system-x86_64 -accel tcg -m 128M -nodefaults -display none \
	-qmp "unix:$TMP/real.sock,server=on,wait=off" </dev/null >/dev/null 2>&1 &
qemu=$!
for _ in $(seq 100); do [ -S "$TMP/real.sock" ] && break; sleep 0.05; done
"$DPT" track --qmp "$TMP/real.sock" -c 2 --mode dirty-ring -q 2>"$TMP/err"
check qmp-real-tcg-exit test $? = 0
check qmp-real-tcg-warning grep -q "would crash on dirty-ring mode" "$TMP/err"
"$DPT" track --qmp "$TMP/real.sock" -c 1 --mode dirty-bitmap -q 2>/dev/null
check qmp-real-tcg-alive bash -c "kill -0 $qemu && [ \"\$(sed 's/.*) //' /proc/$qemu/stat | cut -d' ' -f1)\" != Z ]"
kill "$qemu"
wait "$qemu" 2>/dev/null
