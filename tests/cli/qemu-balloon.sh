#!/bin/bash
# Discarded is not written, in a real guest: a QEMU (TCG) with a virtio balloon doing free-page
# reporting; the guest's writer fills 128 MiB and exits; the guest reports the freed memory
# (2 s later) and QEMU discards it (MADV_DONTNEED on guest RAM). dpt track --pid counts it as
# discarded -- about the 32768 pages freed -- and not as written: no interval after the free
# sees more than the guest's own background writes.
set -u
. "$(dirname "$0")/lib.sh"
VMKIT=$ROOT/tests/vmkit

if ! "$DPT" check | grep -q '^tracker pid, uffd method *works'; then
	skip qemu-balloon "the pid tracker's uffd method does not work on this host"
	exit 0
fi
vm=$TMP/vm
trap '"$VMKIT/stop.sh" --pidfile "$vm.pid" --qmp "$vm.sock" >/dev/null 2>&1; rm -rf "$TMP"' EXIT
if ! "$VMKIT/start.sh" --qmp "$vm.sock" --pidfile "$vm.pid" --log "$vm.log" --mem 512M --helpers \
	--modules virtio_pci,virtio_balloon \
	--qemu-arg -device --qemu-arg virtio-balloon-pci,free-page-reporting=on --ready '^idle' -- \
	sh -c 'echo idle; sleep 2; writer --wss 128M --rate 0 --duration 2; echo FREED; sleep 600' \
	>/dev/null; then
	fail balloon-start "the test VM did not start"
	exit 0
fi
qemu=$(cat "$vm.pid")
"$DPT" track -q --pid "$qemu" --interval 1s -o csv:"$TMP/b.csv" 2>"$TMP/b.err" &
dpid=$!
for _ in $(seq 300); do grep -aq '^FREED' "$vm.log" && break; sleep 0.1; done
freed_at=$(date +%s.%N)
check balloon-writer-done grep -aq '^FREED' "$vm.log"
sleep 6
kill -INT $dpid
wait $dpid
check balloon-dpt-exit test $? = 0
# after the free: the discarded pages, and the largest dirty count
read -r disc maxdirty < <(awk -F, -v t="$freed_at" 'NR > 1 && $2 > t { d += $8 }
	NR > 1 && $2 - $3 > t && $4 > m { m = $4 } END { print d + 0, m + 0 }' "$TMP/b.csv")
echo "# after the guest freed 128 MiB (32768 pages): $disc pages discarded, at most $maxdirty dirty in an interval"
check balloon-discarded test "$disc" -ge 28000 -a "$disc" -le 33000
check balloon-not-dirty test "$maxdirty" -lt 2000
check balloon-guest-running bash -c "$VMKIT/qmp.sh $vm.sock query-status | grep -q '\"status\": \"running\"'"
