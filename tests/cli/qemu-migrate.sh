#!/bin/bash
# dpt never breaks QEMU's own userfaultfd (real QEMUs under TCG, the kit's guest and writer):
#  - a postcopy migration to a destination dpt was asked to track completes, and the guest
#    runs on with its writer's buffer intact: dpt waits, tracking nothing, until the
#    migration has completed (it asks the destination's QMP), then tracks it;
#  - without QMP, dpt refuses a QEMU started with -incoming, untouched;
#  - a QEMU with the background-snapshot capability on is refused (with QMP), and the snapshot
#    then works; turning the capability on while dpt tracks is refused by QEMU, which runs on.
set -u
. "$(dirname "$0")/lib.sh"
VMKIT=$ROOT/tests/vmkit

if ! "$DPT" check | grep -q '^tracker pid, uffd method *works'; then
	skip qemu-migrate "the pid tracker's uffd method does not work on this host"
	exit 0
fi
src=$TMP/src dst=$TMP/dst
cleanup() {
	kill $(jobs -p) 2>/dev/null
	"$VMKIT/stop.sh" --pidfile "$src.pid" --qmp "$src.sock" >/dev/null 2>&1
	"$VMKIT/stop.sh" --pidfile "$dst.pid" --qmp "$dst.sock" >/dev/null 2>&1
}
trap 'cleanup; rm -rf "$TMP"' EXIT
port=$((20000 + RANDOM % 30000))
guest=(--mem 256M --helpers -- writer --wss 32M --rate 2000 --duration 45 --verify)
# mig SOCK COMMAND [ARGUMENTS-JSON]
mig() { "$VMKIT/qmp.sh" "$1" "{\"execute\":\"$2\"${3:+,\"arguments\":$3}}"; }
status() { mig "$1" query-migrate | sed -n 's/.*"status": "\([a-z-]*\)".*/\1/p' | head -n1; }
running() { mig "$1" query-status | grep -q '"status": "running"'; }
no_uffd() { ! ls -l "/proc/$1/fd" 2>/dev/null | grep -q userfaultfd && ! grep -q 'VmFlags:.* u[wmi]' "/proc/$1/smaps"; }

if ! "$VMKIT/start.sh" --qmp "$src.sock" --pidfile "$src.pid" --ready '^writer ready' "${guest[@]}" >/dev/null; then
	fail migrate-start "the source VM did not start"
	exit 0
fi
if ! "$VMKIT/start.sh" --qmp "$dst.sock" --pidfile "$dst.pid" --incoming "tcp:127.0.0.1:$port" \
	--qemu-arg -qmp --qemu-arg "unix:$TMP/dpt.sock,server=on,wait=off" "${guest[@]}" >/dev/null; then
	fail migrate-start "the destination VM did not start"
	exit 0
fi
qsrc=$(cat "$src.pid") qdst=$(cat "$dst.pid")

# --- without QMP, a QEMU waiting for a migration is refused, untouched ------------------------
"$DPT" track -q --pid "$qdst" --count 1 2>"$TMP/refused.err"
check incoming-no-qmp-refused test $? != 0 -a "$(wc -l <"$TMP/refused.err")" = 1
check incoming-no-qmp-says grep -q 'started with -incoming.*--qmp' "$TMP/refused.err"
check incoming-no-qmp-untouched no_uffd "$qdst"

# --- with QMP, dpt waits for the postcopy migration to complete, then tracks ------------------
"$DPT" track -v --pid "$qdst" --qmp "$TMP/dpt.sock" --interval 500ms -o csv:"$TMP/dst.csv" \
	2>"$TMP/dst.err" &
dpid=$!
for _ in $(seq 50); do grep -q 'receiving a migration: dpt waits' "$TMP/dst.err" && break; sleep 0.1; done
check postcopy-dpt-waits grep -q 'is a QEMU receiving a migration: dpt waits, tracking nothing' "$TMP/dst.err"
mig "$src.sock" migrate-set-capabilities '{"capabilities":[{"capability":"postcopy-ram","state":true}]}' >/dev/null
mig "$dst.sock" migrate-set-capabilities '{"capabilities":[{"capability":"postcopy-ram","state":true}]}' >/dev/null
# a slow precopy, so that the switch to postcopy comes while it runs
mig "$src.sock" migrate-set-parameters '{"max-bandwidth":8388608}' >/dev/null
mig "$src.sock" migrate "{\"uri\":\"tcp:127.0.0.1:$port\"}" >/dev/null
sleep 1.5
mig "$src.sock" migrate-start-postcopy >/dev/null
seen_postcopy=0
for _ in $(seq 600); do
	s=$(status "$dst.sock")
	[ "$s" = postcopy-active ] && seen_postcopy=1
	[ "$s" = completed ] || [ "$s" = failed ] && break
	kill -0 "$qdst" 2>/dev/null || break
	sleep 0.1
done
echo "# destination: migration $s, postcopy seen: $seen_postcopy"
check postcopy-phase test $seen_postcopy = 1
check postcopy-completed test "$(status "$src.sock")" = completed -a "$s" = completed
check postcopy-destination-running running "$dst.sock"
for _ in $(seq 50); do grep -q 'its incoming migration has completed' "$TMP/dst.err" && break; sleep 0.1; done
check postcopy-dpt-tracks-after grep -q 'its incoming migration has completed: its RAM is tracked from this interval' \
	"$TMP/dst.err"
sleep 3.5
kill -INT $dpid
wait $dpid
check postcopy-dpt-exit test $? = 0
# while it waited, nothing was tracked; once the migration was over, the guest's writer
# (2000 pages/s: 1000 in a 500 ms interval, 2000 x the interval's own length, plus the guest's
# own background writes) in every full interval after the first
check postcopy-nothing-while-waiting awk -F, 'NR == 2 { exit !($5 == 0) }' "$TMP/dst.csv"
check postcopy-rate awk -F, '$5 > 0 && $7 == "" { n++; d = $4 - 2000 * $3
	if (n > 1 && (d < -40 || d > 400)) bad = 1 } END { exit bad || n < 4 }' "$TMP/dst.csv"
check postcopy-nothing-left no_uffd "$qdst"

# --- background snapshot ---------------------------------------------------------------------
# (postcopy-ram and background-snapshot exclude each other)
mig "$dst.sock" migrate-set-capabilities '{"capabilities":[{"capability":"postcopy-ram","state":false}]}' >/dev/null
mig "$dst.sock" migrate-set-capabilities '{"capabilities":[{"capability":"background-snapshot","state":true}]}' \
	>"$TMP/cap-on.out"
check snapshot-cap-on grep -q '"return": {}' "$TMP/cap-on.out"
"$DPT" track -q --pid "$qdst" --qmp "$TMP/dpt.sock" --count 1 2>"$TMP/snap.err"
check snapshot-refused test $? != 0 -a "$(wc -l <"$TMP/snap.err")" = 1
check snapshot-refused-says grep -q 'background-snapshot capability on' "$TMP/snap.err"
mig "$dst.sock" migrate "{\"uri\":\"exec:cat > $TMP/snap.bin\"}" >/dev/null
for _ in $(seq 300); do [ "$(status "$dst.sock")" = completed ] && break; sleep 0.1; done
check snapshot-completed test "$(status "$dst.sock")" = completed
check snapshot-guest-running running "$dst.sock"
mig "$dst.sock" migrate-set-capabilities '{"capabilities":[{"capability":"background-snapshot","state":false}]}' >/dev/null
# dpt tracking: QEMU refuses the capability (it cannot write-protect what dpt holds), runs on
"$DPT" track -q --pid "$qdst" --qmp "$TMP/dpt.sock" --interval 500ms -o csv:"$TMP/during.csv" &
dpid=$!
sleep 1
mig "$dst.sock" migrate-set-capabilities '{"capabilities":[{"capability":"background-snapshot","state":true}]}' \
	>"$TMP/cap.out"
check snapshot-cap-refused-by-qemu grep -q 'not compatible' "$TMP/cap.out"
sleep 1
kill -INT $dpid
wait $dpid
check snapshot-dpt-tracked-on test $? = 0
check snapshot-guest-running-after running "$dst.sock"
check snapshot-dpt-rate awk -F, 'NR > 1 && $7 == "" { d = $4 - 2000 * $3; if (d < -40 || d > 400) bad = 1 }
	END { exit bad || NR < 4 }' "$TMP/during.csv"

# --- the guest's writer ends on the destination with every page as it wrote it ----------------
for _ in $(seq 600); do grep -aq '^writer done' "$dst.log" && break; sleep 0.1; done
intact() { tr -d '\r' <"$dst.log" | grep -aq '^writer done writes=90000 .* verified=8192 bad=0$'; }
check migrated-writer-intact intact
intact || tr -d '\r' <"$dst.log" | tail -n 15 | sed 's/^/# guest: /'
