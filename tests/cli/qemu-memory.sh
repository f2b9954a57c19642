#!/bin/bash
# dpt track --pid on real QEMUs (TCG, Debian's kernel, the kit's writer) whose memory is not one
# plain block: every RAM block is tracked, with or without QMP, and followed as it changes.
#  - two NUMA nodes on two memory-backend-ram objects: without QMP both are tracked (the total
#    is every block, the writer's rate is seen); --region names blocks (m0, /objects/m1);
#  - a memory-backend-memfd,share=on RAM: tracked in the QEMU layout; with --no-qemu, the
#    shared memory left out is said (a line, the flag untracked), and --region takes it;
#  - pc-dimm hotplug: a DIMM plugged while dpt tracks (with QMP, then without) is said and
#    tracked from then on -- the writers the guest starts in it are seen -- and one unplugged
#    is said and dropped.
set -u
. "$(dirname "$0")/lib.sh"
VMKIT=$ROOT/tests/vmkit

if ! "$DPT" check | grep -q '^tracker pid, uffd method *works'; then
	skip qemu-memory "the pid tracker's uffd method does not work on this host"
	exit 0
fi
vm=$TMP/vm
cleanup() { "$VMKIT/stop.sh" --pidfile "$vm.pid" --qmp "$vm.sock" >/dev/null 2>&1; }
trap 'cleanup; rm -rf "$TMP"; kill $(jobs -p) 2>/dev/null || true' EXIT
qmp() { "$VMKIT/qmp.sh" "$vm.sock" "$@"; }
# blocks_pages: the pages of every RAM block (their mappings' lengths), from info ramblock
blocks_pages() {
	qmp '{"execute":"human-monitor-command","arguments":{"command-line":"info ramblock"}}' |
		grep -o '0x[0-9a-f]* *0x[0-9a-f]* *0x[0-9a-f]*' |
		while read -r _ _ max; do echo $(((max + 4095) / 4096)); done | awk '{ s += $1 } END { print s }'
}
# rate CSV FROM: mean dirty pages per second over the rows from seq FROM on
rate() {
	awk -F, -v f="$2" 'NR > 1 && $1 >= f && $7 !~ /partial/ { d += $4; t += $3 }
		END { printf "%d", t ? d / t : -1 }' "$1"
}
# recent CSV N: the median dirty count of the last N full intervals
recent() {
	awk -F, -v k="$2" '$7 == "" { n++; v[n] = $4 } END {
		m = 0; for (i = n - k + 1; i <= n; i++) if (i > 0) w[++m] = v[i]
		for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (w[j] < w[i]) { t = w[i]; w[i] = w[j]; w[j] = t }
		print m ? w[int((m + 1) / 2)] : -1 }' "$1"
}
# within R LO HI
within() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
start_vm() {
	cleanup
	"$VMKIT/start.sh" --qmp "$vm.sock" --pidfile "$vm.pid" --log "$vm.log" --helpers "$@" >/dev/null
}
# wait_log REGEX [SECONDS]: until the guest's console shows REGEX
wait_log() {
	for _ in $(seq $((${2:-30} * 10))); do grep -aqE "$1" "$vm.log" && return 0; sleep 0.1; done
	return 1
}

# --- two NUMA nodes, a memory-backend-ram each ------------------------------------------------
numa=(--qemu-arg -object --qemu-arg memory-backend-ram,id=m0,size=256M
	--qemu-arg -object --qemu-arg memory-backend-ram,id=m1,size=256M
	--qemu-arg -numa --qemu-arg node,memdev=m0 --qemu-arg -numa --qemu-arg node,memdev=m1)
if ! start_vm --mem 512M "${numa[@]}" --ready '^writer ready' -- writer --wss 64M --rate 2000 --duration 0; then
	fail numa-start "the NUMA test VM did not start"
	exit 0
fi
qemu=$(cat "$vm.pid")
want=$(blocks_pages)
"$DPT" track -v --pid "$qemu" --interval 1s --count 3 -o csv:"$TMP/numa.csv" 2>"$TMP/numa.err"
check numa-exit test $? = 0
r=$(rate "$TMP/numa.csv" 1)
echo "# NUMA, no QMP: total $(sed -n 2p "$TMP/numa.csv" | cut -d, -f5) (its blocks: $want pages), $r pages/s"
check numa-total-every-block awk -F, -v w="$want" 'NR > 1 && $5 != w { bad = 1 } END { exit bad || w <= 131072 }' \
	"$TMP/numa.csv"
check numa-both-nodes grep -q '^    regions ram-256M 0+65536, ram-256M.1 65536+65536,' "$TMP/numa.err"
check numa-rate within "$r" 2000 2400
# --region names blocks (as QEMU names backends, or by their QOM path)
"$DPT" track -q --pid "$qemu" --qmp "$vm.sock" --region /objects/m0 --region m1 --interval 1s --count 2 \
	-o csv:"$TMP/named.csv" 2>"$TMP/named.err"
check region-names-exit test $? = 0
check region-names-total awk -F, 'NR > 1 && $5 != 131072 { bad = 1 } END { exit bad || NR != 3 }' \
	"$TMP/named.csv"
check region-names-rate within "$(rate "$TMP/named.csv" 1)" 2000 2400
"$DPT" track -q --pid "$qemu" --qmp "$vm.sock" --region nosuch --count 1 2>"$TMP/nosuch.err"
check region-unknown-block test $? != 0 -a "$(wc -l <"$TMP/nosuch.err")" = 1
check region-unknown-lists-blocks grep -q 'no writable mapping of that name, nor a RAM block of that name (its RAM blocks: m0, m1, pc.bios' \
	"$TMP/nosuch.err"

# --- memory-backend-memfd,share=on: shared memory ----------------------------------------------
memfd=(--qemu-arg -object --qemu-arg memory-backend-memfd,id=mem,size=512M,share=on
	--qemu-arg -machine --qemu-arg memory-backend=mem)
if ! start_vm --mem 512M "${memfd[@]}" --ready '^writer ready' -- writer --wss 64M --rate 2000 --duration 0; then
	fail memfd-start "the memfd test VM did not start"
	exit 0
fi
qemu=$(cat "$vm.pid")
"$DPT" track -q --pid "$qemu" --interval 1s --count 2 -o csv:"$TMP/memfd.csv" 2>/dev/null
check memfd-qemu-layout within "$(rate "$TMP/memfd.csv" 1)" 2000 2400
"$DPT" track --pid "$qemu" --no-qemu --interval 1s --count 2 -o csv:"$TMP/noqemu.csv" 2>"$TMP/noqemu.err"
check memfd-no-qemu-exit test $? = 0
check memfd-no-qemu-says grep -q '512.0 MiB of shared writable memory is not tracked: /memfd:memory-backend-memfd (deleted) (512.0 MiB)\..*--region' \
	"$TMP/noqemu.err"
check memfd-no-qemu-flag awk -F, 'NR > 1 && $7 !~ /untracked/ { bad = 1 } END { exit bad || NR != 3 }' \
	"$TMP/noqemu.csv"
"$DPT" track -q --pid "$qemu" --no-qemu --region '/memfd:memory-backend-memfd (deleted)' --interval 1s \
	--count 2 -o csv:"$TMP/memfd-region.csv" 2>/dev/null
check memfd-region-rate within "$(rate "$TMP/memfd-region.csv" 1)" 2000 2400

# --- pc-dimm hotplug: plugged with dpt (QMP) tracking, plugged with dpt (no QMP) tracking,
# unplugged with dpt (QMP) tracking; the guest onlines each DIMM (movable, so it can be
# unplugged) and starts a writer after each
cat >"$TMP/guest.sh" <<'EOF'
online() {
	for m in /sys/devices/system/memory/memory*; do
		[ "$(cat $m/state)" = offline ] && echo online_movable >$m/state
	done
}
echo idle
while [ ! -e /sys/devices/system/memory/memory32 ]; do sleep 0.2; done
online
writer --wss 64M --rate 2000 --duration 0 &
while [ ! -e /sys/devices/system/memory/memory40 ]; do sleep 0.2; done
online
echo second
writer --wss 64M --rate 2000 --duration 0 &
wait
EOF
if ! start_vm --mem 512M --qemu-arg -m --qemu-arg 512M,slots=2,maxmem=2G \
	--qemu-arg -qmp --qemu-arg "unix:$TMP/dpt.sock,server=on,wait=off" --ready '^idle' -- \
	sh -c "$(cat "$TMP/guest.sh")"; then
	fail hotplug-start "the hotplug test VM did not start"
	exit 0
fi
qemu=$(cat "$vm.pid")
plug() { # plug ID SIZE: a memory-backend-ram and a pc-dimm on it
	qmp "{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":\"memory-backend-ram\",\"id\":\"$1\",\"size\":$2}}" \
		"{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"pc-dimm\",\"id\":\"d$1\",\"memdev\":\"$1\"}}" >/dev/null
}
"$DPT" track --pid "$qemu" --qmp "$TMP/dpt.sock" --interval 500ms -o csv:"$TMP/plug1.csv" 2>"$TMP/plug1.err" &
dpid=$!
sleep 2
plug m1 1073741824
check hotplug-1-writer wait_log '^writer ready'
sleep 4
kill -INT $dpid
wait $dpid
check hotplug-qmp-exit test $? = 0
check hotplug-qmp-said grep -q 'QEMU RAM block m1 (1024 MiB at RAM offset 0x[0-9a-f]*) appeared: tracked from this interval' \
	"$TMP/plug1.err"
# (QEMU's RAM offsets leave a gap before the new block)
check hotplug-qmp-total awk -F, 'NR == 2 { a = $5 } END { exit !(a > 131072 && $5 >= a + 262144 && $5 < a + 262144 + 1024) }' \
	"$TMP/plug1.csv"
# the writer in the new memory: the last full intervals see its 1000 pages each
check hotplug-qmp-rate within "$(recent "$TMP/plug1.csv" 5)" 1000 1300
"$DPT" track -v --pid "$qemu" --interval 500ms -o csv:"$TMP/plug2.csv" 2>"$TMP/plug2.err" &
dpid=$!
sleep 2
plug m2 536870912
check hotplug-2-online wait_log '^second'
sleep 5
kill -INT $dpid
wait $dpid
check hotplug-maps-exit test $? = 0
check hotplug-maps-said grep -q 'QEMU RAM block ram-512M (512 MiB at RAM offset 0x[0-9a-f]*) appeared: tracked from this interval' \
	"$TMP/plug2.err"
check hotplug-maps-total awk -F, 'NR == 2 { a = $5 } END { exit !($5 == a + 131072) }' "$TMP/plug2.csv"
# both writers: 2000 pages per interval, wherever the second one's memory is
check hotplug-maps-rate within "$(recent "$TMP/plug2.csv" 5)" 2000 2400
"$DPT" track --pid "$qemu" --qmp "$TMP/dpt.sock" --interval 500ms -o csv:"$TMP/unplug.csv" 2>"$TMP/unplug.err" &
dpid=$!
sleep 1
qmp '{"execute":"device_del","arguments":{"id":"dm2"}}' >/dev/null
for _ in $(seq 100); do
	qmp '{"execute":"object-del","arguments":{"id":"m2"}}' >/dev/null 2>&1 && break
	sleep 0.2
done
sleep 7
kill -INT $dpid
wait $dpid
check unplug-exit test $? = 0
check unplug-said grep -q 'QEMU RAM block m2 (512 MiB at RAM offset 0x[0-9a-f]*) vanished' "$TMP/unplug.err"
check unplug-total awk -F, 'NR == 2 { a = $5 } END { exit !($5 == a - 131072) }' "$TMP/unplug.csv"
check unplug-rate within "$(recent "$TMP/unplug.csv" 5)" 2000 2400
check hotplug-vm-running bash -c "$VMKIT/qmp.sh $vm.sock query-status | grep -q '\"status\": \"running\"'"
