#!/bin/bash
# dpt exporter against real components: QEMU guests (dpt's multiboot guest under TCG, writing a
# known number of pages a second) tracked by one exporter, scraped by Debian's Prometheus every
# second; the rates and working sets Prometheus stores are the guests'. Then faults: slow and
# hung scrapers, malformed requests, a VM started and one killed while tracked, 10 VMs at once,
# the exporter killed (the VMs unharmed); its text checked by promtool; bad input.
#
# The exporter only tracks this test's VMs (--vm 'dpt-exp-PID-*'): other QEMUs on the host
# (another test's, a user's) are left alone.
set -u
. "$(dirname "$0")/lib.sh"
KERNEL=$ROOT/$BUILD/guest/dpt-guest.elf
P=dpt-exp-$$
EXPORTERS=()
PROM=""

out=$("$DPT" exporter --listen nowhere 2>&1)
if grep -q 'without libmicrohttpd' <<<"$out"; then
	skip exporter "dpt was built without libmicrohttpd"
	exit 0
fi
if ! "$DPT" check | grep -q '^tracker pid, uffd method *works'; then
	skip exporter "the pid tracker's uffd method does not work on this host"
	exit 0
fi
if ! command -v qemu-system-x86_64 >/dev/null || [ ! -f "$KERNEL" ]; then
	skip exporter "no qemu-system-x86_64 or no $KERNEL"
	exit 0
fi

cleanup() {
	local p
	for p in "${EXPORTERS[@]}"; do kill -9 "$p" 2>/dev/null; done
	[ -n "$PROM" ] && kill "$PROM" 2>/dev/null && wait "$PROM" 2>/dev/null
	for p in "$TMP"/*.pid; do
		[ -f "$p" ] && "$ROOT/tests/vmkit/stop.sh" --pidfile "$p" >/dev/null 2>&1
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

# start_vm NAME RATE WSS: a multiboot guest writing RATE pages/s over WSS, in the background,
# niced (TCG guests spin between their writes); returns once it writes
start_vm() {
	nice -n 10 qemu-system-x86_64 -accel tcg -m 16M -nodefaults -display none \
		-name "guest=$P-$1,debug-threads=on" -serial "file:$TMP/$1.log" -daemonize \
		-pidfile "$TMP/$1.pid" -kernel "$KERNEL" -append "wss=$3 rate=$2p progress=0" ||
		return 1
}
wait_vm() {
	for _ in $(seq 150); do grep -aq '^dpt-guest ready' "$TMP/$1.log" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}
vm_pid() { cat "$TMP/$1.pid"; }

near() { awk -v m="$1" -v e="$2" -v tol="$3" 'BEGIN { d = (m - e) / e; exit !(m != "" && d < tol && d > -tol) }'; }

# ---- bad input ----------------------------------------------------------------------------------
for bad in nowhere 127.0.0.1 127.0.0.1:0 127.0.0.1:70000 1.2.3.4.5:80 '[::1:9901'; do
	"$DPT" exporter --listen "$bad" >/dev/null 2>"$TMP/bad.err"
	rc=$?
	check "bad-listen-$bad" test $rc = 2 -a "$(wc -l <"$TMP/bad.err")" = 1
done
"$DPT" exporter --interval 10ms >/dev/null 2>&1
check bad-interval test $? = 2
"$DPT" exporter --downtime-limit 1s >/dev/null 2>&1
check bad-forecast-without-bandwidth test $? = 2

PORT=$(free_port)
URL=127.0.0.1:$PORT
# no QEMU (of this test's) yet: it serves, and says so
start_exporter "$TMP/none.err" --listen "$URL" --vm "$P-*"
check no-qemu-serves test "$(metric "$URL" dpt_targets 'state="up"')" = 0
check no-qemu-said grep -q 'no QEMU process found' "$TMP/none.err"
# the port is in use now
"$DPT" exporter --listen "$URL" >/dev/null 2>"$TMP/inuse.err"
rc=$?
check port-in-use test $rc = 1 -a "$(wc -l <"$TMP/inuse.err")" = 1
check port-in-use-said grep -qi 'address already in use' "$TMP/inuse.err"
kill -TERM "$EXPORTER"
wait "$EXPORTER"
check sigterm-exit-0 test $? = 0
# a pid that is no process: a target that is down, with its reason
start_exporter "$TMP/nopid.err" --listen "$URL" --pid 999999999 --interval 200ms
sleep 0.5
check missing-pid-down test "$(metric "$URL" dpt_target_up 'pid="999999999"')" = 0
check missing-pid-reason bash -c "curl -s $URL/metrics | grep -q 'dpt_target_error_info{.*pid=\"999999999\",error=\"no process'"
check missing-pid-said grep -q 'cannot track it' "$TMP/nopid.err"
kill -TERM "$EXPORTER"
wait "$EXPORTER"

# ---- two VMs, scraped by Prometheus ---------------------------------------------------------------
RATE_A=1000 RATE_B=1500
start_vm a $RATE_A 8M && start_vm b $RATE_B 8M
check vms-ready wait_vm a
wait_vm b
start_exporter "$TMP/exporter.err" --listen "$URL" --vm "$P-*" --bandwidth 1G --forecast-every 2s
check exporter-serves test -n "$(metric "$URL" dpt_targets 'state="up"')"
check two-vms-tracked wait_for 5 'test "$(metric "$URL" dpt_targets "state=\"up\"")" = 2'
check vm-label-is-qemu-name test "$(metric "$URL" dpt_target_up "vm=\"$P-a\",pid=\"$(vm_pid a)\"")" = 1

if command -v prometheus >/dev/null; then
	PPORT=$(free_port)
	cat >"$TMP/prom.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: dpt
    scrape_interval: 1s
    static_configs:
      - targets: ['$URL']
EOF
	prometheus --config.file="$TMP/prom.yml" --storage.tsdb.path="$TMP/prom" \
		--web.listen-address="127.0.0.1:$PPORT" --log.level=warn >"$TMP/prom.log" 2>&1 &
	PROM=$!
	check prometheus-ready wait_for 30 curl -sf "127.0.0.1:$PPORT/-/ready" -o /dev/null
	# q PROMQL: the first value of an instant query
	q() {
		curl -s --max-time 5 "127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" |
			jq -r '.data.result[0].value[1] // empty'
	}
	sleep 16 # 15 scrapes
	for v in a b; do
		r=$([ $v = a ] && echo $RATE_A || echo $RATE_B)
		# the counter's rate over 10 s: the guest's schedule, to the page (a guest starved
		# of CPU catches up within its batch of 64 pages)
		got=$(q "rate(dpt_dirtied_bytes_total{vm=\"$P-$v\"}[10s])")
		echo "# vm $v: Prometheus rate() $got bytes/s, guest $((r * 4096))"
		check "prom-rate-$v" near "$got" $((r * 4096)) 0.02
		got=$(q "avg_over_time(dpt_dirty_rate_bytes_per_second{vm=\"$P-$v\"}[10s])")
		check "prom-rate-gauge-$v" near "$got" $((r * 4096)) 0.03
		# every page of its 8 MiB working set is written within 10 s, no other page
		check "prom-working-set-$v" test "$(q "dpt_working_set_bytes{vm=\"$P-$v\",window=\"10s\"}")" = 8388608
		got=$(q "dpt_tracked_bytes{vm=\"$P-$v\"}")
		check "prom-tracked-$v" awk -v t="$got" 'BEGIN { exit !(t >= 16777216 && t < 16777216 + 4194304) }'
		check "prom-forecast-$v" test "$(q "dpt_migration_converges{vm=\"$P-$v\"}")" = 1
		check "prom-forecast-zero-unknown-$v" test "$(q "dpt_migration_zero_pages_known{vm=\"$P-$v\"}")" = 0
		# 16 MiB at 1 GiB/s: well under a second
		check "prom-forecast-time-$v" awk -v t="$(q "dpt_migration_predicted_seconds{vm=\"$P-$v\"}")" 'BEGIN { exit !(t > 0 && t < 1) }'
		check "prom-pid-label-$v" test "$(q "dpt_target_up{vm=\"$P-$v\",pid=\"$(vm_pid $v)\"}")" = 1
	done
	check prom-scrapes test "$(q 'dpt_scrapes_total')" -ge 10
	check prom-target-up test "$(q 'up{job="dpt"}')" = 1
else
	skip prometheus "Debian's prometheus is not installed"
fi

curl -s "http://$URL/metrics" >"$TMP/metrics.txt"
if command -v promtool >/dev/null; then
	check promtool-check-metrics bash -c "promtool check metrics <'$TMP/metrics.txt'"
else
	skip promtool "promtool is not installed"
fi
# the text as the format wants it, whatever promtool says: HELP and TYPE before each family's
# samples, every sample line NAME{LABELS} VALUE with a family declared, no family twice
check text-format awk '
	/^# HELP / { if (help[$3]++) bad = 1; next }
	/^# TYPE / { if (type[$3]++) bad = 1; next }
	/^#/ { bad = 1 }
	{ n = $1; sub(/\{.*/, "", n); b = n; sub(/_(bucket|sum|count)$/, "", b)
	  if (!(n in type) && !(b in type)) bad = 1
	  if ($0 !~ /^[a-z_:][a-z0-9_:]*(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? ([-+]?[0-9.]+([eE][-+]?[0-9]+)?|[-+]?Inf|NaN)$/) bad = 1 }
	END { exit bad || NR < 50 }' "$TMP/metrics.txt"

# ---- slow and hung scrapers, malformed requests ----------------------------------------------------
python3 - "$PORT" >"$TMP/abuse.out" 2>&1 <<'EOF' &
import socket, sys, time
port = int(sys.argv[1])
def conn():
    return socket.create_connection(("127.0.0.1", port), timeout=10)
hung = [conn() for _ in range(5)]          # connect, send nothing
slow = conn()                               # ask, then read a byte every 0.2 s
slow.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
half = conn(); half.sendall(b"GET /metr")   # half a request line, then nothing
for _ in range(20):
    slow.recv(1); time.sleep(0.2)
print("abuse done")
EOF
ABUSE=$!
sleep 0.5
ok_fast=1
for _ in 1 2 3; do
	curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://$URL/metrics" | grep -q 200 || ok_fast=0
done
check served-beside-hung-and-slow test $ok_fast = 1
raw() { # raw BYTES...: send, print the status line
	python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
try:
    s.sendall(sys.argv[2].encode("latin-1").decode("unicode_escape").encode("latin-1"))
    s.shutdown(socket.SHUT_WR)
    print((s.recv(200).split(b"\r\n")[0]).decode("latin-1"))
except Exception as e:
    print("closed", e)' "$PORT" "$1"
}
check http-404 test "$(curl -s -o /dev/null -w '%{http_code}' "http://$URL/nothing")" = 404
check http-405 test "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x=1 "http://$URL/metrics")" = 405
check http-405-delete test "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "http://$URL/metrics")" = 405
check http-head test "$(curl -s -I -o /dev/null -w '%{http_code}' "http://$URL/metrics")" = 200
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 65536 /dev/zero | tr '\0' a)" "http://$URL/metrics")
check http-huge-header test "${code:0:1}" = 4
raw 'GARBAGE\r\n\r\n' >"$TMP/raw.out"
raw '\x00\x01\x02\xff\xfe\r\n\r\n' >>"$TMP/raw.out"
raw "GET /$(head -c 100000 /dev/zero | tr '\0' a) HTTP/1.1\r\n\r\n" >>"$TMP/raw.out"
raw 'GET /metrics HTTP/9.9\r\n\r\n' >>"$TMP/raw.out"
raw 'GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n' >>"$TMP/raw.out"
raw 'GET /metrics HTTP/1.1\r\nBad Header Line\r\n\r\n' >>"$TMP/raw.out"
sed 's/^/# /' "$TMP/raw.out"
wait $ABUSE
check abuse-client-done grep -q 'abuse done' "$TMP/abuse.out"
check alive-after-abuse kill -0 "$EXPORTER"
check served-after-abuse test "$(metric "$URL" dpt_targets 'state="up"')" = 2

# ---- a VM started while running is picked up; one killed goes, and is counted lost --------------------
lost0=$(metric "$URL" dpt_targets_lost_total 'reason="exited"')
start_vm c 500 4M && wait_vm c
check vm-started-picked-up wait_for 5 'test "$(metric "$URL" dpt_target_up "vm=\"$P-c\"")" = 1'
sleep 1.5
kill -9 "$(vm_pid c)"
check vm-killed-series-gone wait_for 5 'test -z "$(metric "$URL" dpt_target_up "vm=\"$P-c\"")"'
check vm-killed-lost-counted test "$(metric "$URL" dpt_targets_lost_total 'reason="exited"')" = $((lost0 + 1))
check vm-killed-said grep -q "$P-c .*gone" "$TMP/exporter.err"
check others-keep-going near "$(metric "$URL" dpt_dirty_rate_bytes_per_second "vm=\"$P-a\"")" $((RATE_A * 4096)) 0.1
rm -f "$TMP/c.pid"
if [ -n "$PROM" ]; then
	sleep 2
	check prom-killed-vm-stale test -z "$(q "dpt_dirtied_bytes_total{vm=\"$P-c\"}")"
	check prom-lost-counter test "$(q 'dpt_targets_lost_total{reason="exited"}')" -ge 1
fi

# ---- 10 VMs at once ----------------------------------------------------------------------------------
for i in 1 2 3 4 5 6 7 8; do start_vm "m$i" 200 4M; done
for i in 1 2 3 4 5 6 7 8; do wait_vm "m$i"; done
check ten-vms-tracked wait_for 10 'test "$(metric "$URL" dpt_targets "state=\"up\"")" = 10'
sleep 3
curl -s "http://$URL/metrics" >"$TMP/ten.txt"
check ten-vms-all-counting awk -v p="$P" '/^dpt_dirtied_bytes_total\{/ && index($0, p) && $2 > 0 { n++ } END { exit n != 10 }' "$TMP/ten.txt"
check ten-vms-collect-fast awk '/^dpt_target_collect_seconds\{/ && $2 > 0.1 { bad = 1 } END { exit bad }' "$TMP/ten.txt"
grep '^dpt_target_collect_seconds{' "$TMP/ten.txt" | head -3 | sed 's/^/# /'
grep -E '^(process_cpu_seconds_total|process_resident_memory_bytes|dpt_collect_duration_seconds_(sum|count))' "$TMP/ten.txt" | sed 's/^/# /'
if command -v promtool >/dev/null; then
	check promtool-ten-vms bash -c "promtool check metrics <'$TMP/ten.txt'"
fi
for i in 1 2 3 4 5 6 7 8; do "$ROOT/tests/vmkit/stop.sh" --pidfile "$TMP/m$i.pid" >/dev/null 2>&1; done
check ten-vms-dropped wait_for 5 'test "$(metric "$URL" dpt_targets "state=\"up\"")" = 2'

# ---- the exporter killed: the VMs run on, with nothing of dpt left in them -------------------------------
kill -9 "$EXPORTER"
wait "$EXPORTER" 2>/dev/null
sleep 0.3
for v in a b; do
	pid=$(vm_pid $v)
	check "kill9-vm-$v-alive" kill -0 "$pid"
	check "kill9-vm-$v-no-uffd" bash -c "! ls -l /proc/$pid/fd | grep -q userfaultfd"
	check "kill9-vm-$v-no-ranges" bash -c "! grep -q 'VmFlags:.* u[wm]' /proc/$pid/smaps"
	check "kill9-vm-$v-untraced" grep -q '^TracerPid:[[:space:]]*0$' "/proc/$pid/status"
done
# ... and still write at their rate (a new exporter, which can track them again); at 2 MiB/s
# neither would migrate: they dirty 4 and 6 MB/s; with non-zero scans, the forecast knows
# which pages hold zeros
start_exporter "$TMP/again.err" --listen "$URL" --vm "$P-*" --bandwidth 2M --forecast-every 1s \
	--zero-scan-every 2s
sleep 3.5
check kill9-tracked-again near "$(metric "$URL" dpt_dirty_rate_bytes_per_second "vm=\"$P-b\"")" $((RATE_B * 4096)) 0.1
check forecast-diverges wait_for 15 'test "$(metric "$URL" dpt_migration_converges "vm=\"$P-b\"")" = 0'
check forecast-no-time test -z "$(metric "$URL" dpt_migration_predicted_seconds "vm=\"$P-b\"")"
check forecast-zero-known wait_for 10 'test "$(metric "$URL" dpt_migration_zero_pages_known "vm=\"$P-b\"")" = 1'
kill -TERM "$EXPORTER"
wait "$EXPORTER"
check sigterm-with-vms-exit-0 test $? = 0
pid=$(vm_pid a)
check sigterm-vm-clean bash -c "kill -0 $pid && ! ls -l /proc/$pid/fd | grep -q userfaultfd && ! grep -q 'VmFlags:.* u[wm]' /proc/$pid/smaps"
