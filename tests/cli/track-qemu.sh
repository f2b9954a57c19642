#!/bin/bash
# dpt track --pid on a real QEMU (TCG) running Debian's kernel with an in-guest writer at a
# known rate: the rate within 5% of the writer's (after the guest's own background writes,
# measured with the writer off), totals equal to QEMU's RAM (its RAM-offset space with --qmp,
# as Qemu-DPT's bitmaps), bitmap files consistent, and QEMU unharmed, also by kill -9 of dpt.
set -u
. "$(dirname "$0")/lib.sh"
VMKIT=$ROOT/tests/vmkit
RATE=5120

if ! "$DPT" check | grep -q '^tracker pid, uffd method *works'; then
	skip track-qemu "the pid tracker's uffd method does not work on this host"
	exit 0
fi
vm=$TMP/vm
cleanup() { "$VMKIT/stop.sh" --pidfile "$vm.pid" --qmp "$vm.sock" >/dev/null 2>&1; }
trap 'cleanup; rm -rf "$TMP"' EXIT
# idle first (the guest's background writes), then the writer for good
if ! "$VMKIT/start.sh" --qmp "$vm.sock" --pidfile "$vm.pid" --log "$vm.log" --mem 512M \
	--helpers --ready '^idle' -- \
	sh -c "echo idle; sleep 6; writer --wss 64M --rate $RATE --duration 0" >/dev/null; then
	fail track-qemu-start "the test VM did not start"
	exit 0
fi
qemu=$(cat "$vm.pid")

# --- background: the guest with the writer off ------------------------------------------------
"$DPT" track -q --pid "$qemu" --interval 1s --count 3 -o csv:"$TMP/idle.csv"
check qemu-idle-exit test $? = 0
bg=$(awk -F, 'NR > 1 { s += $4; t += $3 } END { printf "%d", s / t }' "$TMP/idle.csv")
echo "# background: $bg pages/s"

# --- the writer on: rate within 5% -------------------------------------------------------------
for _ in $(seq 100); do grep -q '^writer ready' "$vm.log" && break; sleep 0.1; done
check qemu-writer-ready grep -q '^writer ready' "$vm.log"
mkdir -p "$TMP/bm"
"$DPT" track --pid "$qemu" --qmp "$vm.sock" --interval 1s --count 4 -o csv:"$TMP/busy.csv" \
	--bitmaps "$TMP/bm" 2>"$TMP/busy.err"
check qemu-busy-exit test $? = 0
rate=$(awk -F, 'NR > 1 { s += $4; t += $3 } END { printf "%d", s / t }' "$TMP/busy.csv")
echo "# measured $rate pages/s, writer $RATE pages/s, background $bg pages/s"
check qemu-rate-within-5pct awk -v m="$rate" -v b="$bg" -v r=$RATE \
	'BEGIN { e = (m - b - r) / r; exit !(e < 0.05 && e > -0.05) }'

# --- totals: QEMU's RAM-offset space (--qmp), every RAM block (from the mappings) -------------
ram=0 blocks=0
while read -r off _ max; do # offset, used, total of each RAM block
	end=$(((off + max) / 4096))
	[ $end -gt $ram ] && ram=$end
	blocks=$((blocks + (max + 4095) / 4096))
done < <("$VMKIT/qmp.sh" "$vm.sock" \
	'{"execute":"human-monitor-command","arguments":{"command-line":"info ramblock"}}' |
	grep -o '0x[0-9a-f]* *0x[0-9a-f]* *0x[0-9a-f]*')
total=$(sed -n 2p "$TMP/busy.csv" | cut -d, -f5)
echo "# QEMU RAM-offset space $ram pages, dpt total $total; its blocks $blocks pages"
check qemu-total-is-ram-offset-space test "$total" = "$ram" -a "$ram" -gt 131072
"$DPT" track -q --pid "$qemu" --interval 200ms --count 1 -o csv:"$TMP/maps.csv"
check qemu-total-from-mappings test "$(sed -n 2p "$TMP/maps.csv" | cut -d, -f5)" = "$blocks" -a \
	"$blocks" -gt 131072
bad=0
while read -r line; do
	[[ "$line" =~ ^create\ bitmap\ ([^ ]+)\ \(([0-9]+)\ bytes\),\ dirty\ ([0-9]+)\ /\ ([0-9]+) ]] ||
		continue
	read -r _ bits size < <("$HELPERS/bmcount" "${BASH_REMATCH[1]}")
	[ "$size" = "${BASH_REMATCH[2]}" ] && [ "$bits" = "${BASH_REMATCH[3]}" ] &&
		[ "$size" = $(((BASH_REMATCH[4] + 63) / 64 * 8)) ] || bad=1
done <"$TMP/busy.err"
check qemu-bitmap-files test $bad = 0 -a "$(ls "$TMP/bm" | wc -l)" = 4

# --- QEMU unharmed: running, nothing of dpt left, also after kill -9 of dpt ---------------------
no_uffd() { ! ls -l "/proc/$qemu/fd" 2>/dev/null | grep -q userfaultfd; }
running() { "$VMKIT/qmp.sh" "$vm.sock" query-status | grep -q '"status": "running"'; }
check qemu-running-after running
check qemu-no-uffd-after no_uffd
kill9_after 1.3 "$DPT" track -q --pid "$qemu" --interval 100ms
check qemu-running-after-kill9 running
check qemu-no-uffd-after-kill9 no_uffd
check qemu-no-uffd-ranges-after-kill9 bash -c "! grep -q 'VmFlags:.* u[wm]' /proc/$qemu/smaps"
# the guest still writes at its rate
"$DPT" track -q --pid "$qemu" --interval 1s --count 2 -o csv:"$TMP/after.csv"
after=$(awk -F, 'NR > 1 { s += $4; t += $3 } END { printf "%d", s / t }' "$TMP/after.csv")
check qemu-rate-after-kill9 awk -v m="$after" -v b="$bg" -v r=$RATE \
	'BEGIN { e = (m - b - r) / r; exit !(e < 0.05 && e > -0.05) }'

# --- a QEMU that dpt launches: the keeper traces its vCPU and I/O threads, the guest boots and
# runs its writer, its RAM blocks are found once it maps them (the QEMU layout: totals are all
# its blocks, the guest's 256 MiB and its ROMs, from the first interval on, --compat's
# all-dirty sample too), and at QEMU's exit the last partial interval is written, status passed
# on
cat >"$TMP/dpt-qemu" <<WRAP
#!/bin/sh
exec "$DPT" track -q --interval 1s --compat -o csv:"$TMP/launched.csv" -- qemu-system-x86_64 "\$@" 2>"$TMP/launched.err"
WRAP
chmod +x "$TMP/dpt-qemu"
DPT_VMKIT_QEMU="$TMP/dpt-qemu" "$VMKIT/run.sh" --helpers --smp 2 -- \
	writer --wss 16M --rate 2000 --duration 3 >"$TMP/launched.out" 2>&1
check qemu-launched-guest-ran test $? = 0 -a "$(grep -c 'writer done writes=6000 ' "$TMP/launched.out")" = 1
check qemu-launched-layout awk -F, 'NR == 2 { t = $5 } NR > 1 && $5 != t { bad = 1 }
	END { exit bad || NR < 4 || t <= 65536 || t > 65536 + 1024 }' "$TMP/launched.csv"
# --compat's all-dirty first sample waits for the RAM: every page of it, not 0 of 0
check qemu-launched-compat awk -F, 'NR == 2 { exit !($1 == 0 && $4 == $5 && $4 > 65536 && $7 == "all") }' \
	"$TMP/launched.csv"
check qemu-launched-last-interval grep -q 'exited with status 0; its last partial interval .* is written' \
	"$TMP/launched.err"
# every full interval saw the writer's 2000 pages/s (x the interval's own length), alone or
# with a neighbour: a guest starved of CPU by other jobs on the 2 cores falls behind, then
# catches up (1761 pages in one second and 6300 in the next, seen under load)
check qemu-launched-rate awk -F, 'NR > 2 && $7 == "" { n++; d[n] = $4; l[n] = $3 }
	END { for (i = 1; i <= n; i++)
		if (d[i] < 2000 * l[i] - 40 &&
		    !(i < n && d[i] + d[i + 1] >= 2000 * (l[i] + l[i + 1]) - 40) &&
		    !(i > 1 && d[i - 1] + d[i] >= 2000 * (l[i - 1] + l[i]) - 40)) bad = 1
	      exit bad || n < 2 }' "$TMP/launched.csv"
# ... and with its QMP socket (which exists only once QEMU runs): the RAM-offset space of all
# its blocks (guest RAM, BIOS, ROMs), as Qemu-DPT's bitmaps, from the first interval on
cat >"$TMP/dpt-qemu-qmp" <<WRAP
#!/bin/sh
exec "$DPT" track -q --interval 1s --qmp "$TMP/lq.sock" -o csv:"$TMP/launched-qmp.csv" -- \
	qemu-system-x86_64 -qmp unix:"$TMP/lq.sock",server=on,wait=off "\$@" 2>"$TMP/launched-qmp.err"
WRAP
chmod +x "$TMP/dpt-qemu-qmp"
DPT_VMKIT_QEMU="$TMP/dpt-qemu-qmp" "$VMKIT/run.sh" --helpers -- \
	writer --wss 16M --rate 2000 --duration 2 >"$TMP/launched-qmp.out" 2>&1
check qemu-launched-qmp-ran test $? = 0
check qemu-launched-qmp-layout awk -F, 'NR == 2 { t = $5 } NR > 1 && ($5 != t || t <= 65536) { bad = 1 }
	END { exit bad || NR < 3 }' "$TMP/launched-qmp.csv"
