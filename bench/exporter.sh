#!/bin/bash
# bench/exporter.sh - what dpt exporter costs, per tracked VM per interval, side by side with
# what the pid tracker's collects cost anyway (dpt track --pid on the same VMs, in the same run).
#
# For 1, 4 and 10 test VMs (dpt's multiboot guest under TCG, 16 MiB, writing 1000 pages/s over
# 8 MiB), at 1 s intervals, over DUR seconds (default 15) after a 3 s warm-up:
#   exporter   one dpt exporter tracking them all, scraped once a second (as Prometheus would):
#              its CPU time (process_cpu_seconds_total: getrusage, every thread), its RSS, and
#              the CPU time its collects took (dpt_collect_cpu_seconds_total: the pid tracker's
#              part of its work);
#   track      then one dpt track --pid -q per VM over the same VMs for as long: their CPU time
#              (getrusage at their exit) summed.
# Prints the table and the ratios; the target: exporter CPU - its collects < 2 % of a core with
# 10 VMs. Needs root, qemu-system-x86_64 and a dpt built with libmicrohttpd.
#
#   DPT=build/dpt bench/exporter.sh [DUR]
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DPT=${DPT:-$ROOT/build/dpt}
BUILD=${BUILD:-build}
KERNEL=$ROOT/$BUILD/guest/dpt-guest.elf
DUR=${1:-15}
WARM=3
TMP=$(mktemp -d /tmp/dpt-bench-exporter.XXXXXX)
P=dpt-bench-$$
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for f in "$TMP"/*.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

if ! "$DPT" exporter --listen nowhere 2>&1 | grep -q 'is not ADDR:PORT'; then
	echo "bench/exporter: skipped: $DPT exporter is not available (built without libmicrohttpd?)"
	exit 0
fi
if ! command -v qemu-system-x86_64 >/dev/null || [ ! -f "$KERNEL" ]; then
	echo "bench/exporter: skipped: no qemu-system-x86_64 or no $KERNEL"
	exit 0
fi

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
metric() { curl -s --max-time 2 "http://127.0.0.1:$port/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }

start_vms() { # N
	local i
	for i in $(seq "$1"); do
		[ -f "$TMP/v$i.pid" ] && continue
		nice -n 10 qemu-system-x86_64 -accel tcg -m 16M -nodefaults -display none \
			-name "guest=$P-$i" -serial "file:$TMP/v$i.log" -daemonize -pidfile "$TMP/v$i.pid" \
			-kernel "$KERNEL" -append "wss=8M rate=1000p progress=0" || exit 1
	done
	for i in $(seq "$1"); do
		for _ in $(seq 150); do grep -aq '^dpt-guest ready' "$TMP/v$i.log" && break; sleep 0.1; done
	done
}

# exporter N: prints "cpu_s rss_kib collect_cpu_s intervals" over DUR s after the warm-up
exporter_run() {
	local n=$1 e c0 c1 k0 k1 i0 i1 rss
	"$DPT" exporter -q --listen "127.0.0.1:$port" --vm "$P-*" 2>"$TMP/exporter.err" &
	e=$!
	PIDS+=("$e")
	sleep "$WARM"
	[ "$(metric 'dpt_targets{state="up"}')" = "$n" ] ||
		echo "bench/exporter: warning: the exporter tracks not $n VMs: $(tail -n 2 "$TMP/exporter.err")" >&2
	c0=$(metric process_cpu_seconds_total) k0=$(metric dpt_collect_cpu_seconds_total)
	i0=$(metric dpt_intervals_total)
	for _ in $(seq "$DUR"); do curl -s -o /dev/null "http://127.0.0.1:$port/metrics"; sleep 1; done
	c1=$(metric process_cpu_seconds_total) k1=$(metric dpt_collect_cpu_seconds_total)
	i1=$(metric dpt_intervals_total)
	rss=$(rss_kib $e)
	kill -TERM $e
	wait $e 2>/dev/null
	echo "$c0 $c1 $rss $k0 $k1 $((i1 - i0))" | awk '{ printf "%.6f %d %.6f %d\n", $2 - $1, $3, $5 - $4, $6 }'
}

# track N: the CPU seconds (getrusage of each at its exit) of N dpt track --pid processes, one
# per VM, run together for DUR s (their attach included)
track_run() {
	local i pids=()
	for i in $(seq "$1"); do pids+=("$(cat "$TMP/v$i.pid")"); done
	python3 - "$DPT" "$DUR" "${pids[@]}" <<'PY'
import os, subprocess, sys
dpt, dur, pids = sys.argv[1], sys.argv[2], sys.argv[3:]
ps = [subprocess.Popen([dpt, "track", "-q", "--pid", p, "--interval", "1s", "--duration",
                        dur + "s"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for p in pids]
cpu = 0.0
for p in ps:
    _, _, ru = os.wait4(p.pid, 0)
    cpu += ru.ru_utime + ru.ru_stime
print("%.6f" % cpu)
PY
}

# the exporter alone, no VM: its base RSS
"$DPT" exporter -q --listen "127.0.0.1:$port" --vm "$P-*" 2>/dev/null &
e=$!
PIDS+=("$e")
sleep 1.5
base_rss=$(rss_kib $e)
kill -TERM $e
wait $e 2>/dev/null

echo "dpt exporter: CPU and memory per tracked VM, 1 s intervals, $DUR s measured, a scrape a second"
echo "(VMs: multiboot guest, TCG, 16 MiB, 1000 pages/s over 8 MiB; load average $(cut -d' ' -f1 /proc/loadavg))"
printf '%4s %12s %12s %12s %12s %12s %14s %10s %12s\n' VMs 'exporter %' 'collects %' 'other %' \
	'track %' 'exp/track' 'ms/VM/intvl' 'RSS MiB' 'RSS KiB/VM'
for n in 1 4 10; do
	start_vms $n
	read -r ecpu rss coll ivs < <(exporter_run $n)
	tcpu=$(track_run $n)
	awk -v n=$n -v e="$ecpu" -v k="$coll" -v t="$tcpu" -v d="$DUR" -v r="$rss" -v b="$base_rss" -v iv="$ivs" '
	BEGIN { printf "%4d %12.3f %12.3f %12.3f %12.3f %12.2f %14.3f %10.1f %12.0f\n", n,
		100 * e / iv, 100 * k / iv, 100 * (e - k) / iv, 100 * t / d, (t > 0 ? e / iv / (t / d) : 0),
		(iv > 0 ? 1000 * e / iv / n : 0), r / 1024, (r - b) / n }'
done
cat <<'EOF'
exporter %   CPU of one core the exporter used (all its threads: tracking loop, HTTP, forecast)
collects %   of which the pid tracker's collects (dpt_collect_cpu_seconds_total: CPU time)
other %      the exporter's own cost beyond the collects: discovery, histories, metrics, HTTP
track %      dpt track --pid -q, one process per VM, over the same VMs: CPU summed (getrusage
             at their exit: their attach included)
exp/track    exporter CPU / the dpt track processes' CPU, per second
ms/VM/intvl  exporter CPU per tracked VM per interval
RSS          the exporter's resident memory; per VM: above the exporter with no VM
target: "other %" under 2 % of a core with 10 VMs
EOF
