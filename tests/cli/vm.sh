#!/bin/bash
# dpt vm end to end: Qemu-DPT lines and bitmap files, csv, --compat, the monitor on a socket,
# bad input, and SIGINT/SIGTERM mid-run.
set -u
. "$(dirname "$0")/lib.sh"

if ! have_kvm; then
	skip vm-all "/dev/kvm is not usable here"
	exit 0
fi
LINE_RE='dirty ([0-9]+) / ([0-9]+) \(([0-9]+\.[0-9]{3}) MB/s\)$'

# --- Qemu-DPT lines and bitmap files -------------------------------------------------------
mkdir -p "$TMP/bm"
"$DPT" vm --mem 64M --wss 16M --rate 2000p --interval 200ms --count 3 --bitmaps "$TMP/bm" \
	2>"$TMP/err"
check vm-bitmaps-exit test $? = 0
check vm-start-line test "$(head -n1 "$TMP/err")" = "start dirty page tracking"
check vm-stop-line test "$(tail -n1 "$TMP/err")" = "stop dirty page tracking"
n=0 bad=""
while read -r line; do
	[[ "$line" == "create bitmap "* ]] || continue
	n=$((n + 1))
	if ! [[ "$line" =~ ^create\ bitmap\ ([^ ]+)\ \(([0-9]+)\ bytes\),\ $LINE_RE ]]; then
		bad="format: $line"
		break
	fi
	file=${BASH_REMATCH[1]} bytes=${BASH_REMATCH[2]} d=${BASH_REMATCH[3]} t=${BASH_REMATCH[4]}
	[[ "$(basename "$file")" =~ ^qemu\.bm-[0-9]+\.[0-9]+(\.[0-9]+)?$ ]] || bad="name $file"
	[ "$t" = 16384 ] || bad="total $t, expected 16384 pages of 64M"
	[ "$bytes" = $(((t + 63) / 64 * 8)) ] || bad="$bytes bytes printed for $t pages"
	read -r _ bits size < <("$HELPERS/bmcount" "$file")
	[ "$size" = "$bytes" ] || bad="$file has $size bytes, line says $bytes"
	[ "$bits" = "$d" ] || bad="$file has $bits bits set, line says dirty $d"
	[ "$d" -gt 0 ] || bad="no page dirty in an interval at 2000 pages/s"
done <"$TMP/err"
check vm-bitmap-lines test "$n" = 3 -a -z "$bad"
[ -n "$bad" ] && echo "    $bad"
check vm-bitmap-files test "$(ls "$TMP/bm" | wc -l)" = 3

# --- plain lines end the same way ----------------------------------------------------------
"$DPT" vm --mem 64M --wss 16M --rate 2000p --interval 100ms --count 2 2>"$TMP/err2"
check vm-plain-exit test $? = 0
check vm-plain-lines test "$(grep -cE "^interval [0-9]+ \([0-9.]+ s\), $LINE_RE" "$TMP/err2")" = 2

# --- csv, 2 vCPUs, ring mode: per-vCPU columns add up to the dirty count ------------------
"$DPT" vm --vcpus 2 --log-mode ring --mem 64M --wss 16M --rate 4000p --interval 200ms \
	--count 3 -q -o csv:"$TMP/out.csv" 2>"$TMP/err3"
check vm-csv-exit test $? = 0
check vm-csv-quiet test ! -s "$TMP/err3"
check vm-csv-header test "$(head -n1 "$TMP/out.csv")" = \
	"seq,time,interval_s,dirty_pages,total_pages,mib_s,flags,discarded_pages,vcpu0_pages,vcpu1_pages"
check vm-csv-rows test "$(tail -n +2 "$TMP/out.csv" | wc -l)" = 3
# the micro-VM's guest never discards memory: 0, known
check vm-csv-discarded-0 awk -F, 'NR > 1 && $8 != "0" { bad = 1 } END { exit bad }' "$TMP/out.csv"
check vm-csv-vcpu-sum awk -F, 'NR > 1 { if ($9 + $10 != $4 || $4 == 0 || $9 == 0 || $10 == 0) bad = 1 }
	END { exit bad }' "$TMP/out.csv"
check vm-csv-final-flag test "$(tail -n1 "$TMP/out.csv" | cut -d, -f7)" = final

# --- --compat: an all-dirty first bitmap, the final one named after the next second ---------
mkdir -p "$TMP/compat"
"$DPT" vm --mem 64M --wss 16M --rate 2000p --interval 200ms --count 2 --compat \
	--bitmaps "$TMP/compat" 2>"$TMP/err4"
check vm-compat-exit test $? = 0
first=$(grep -m1 '^create bitmap' "$TMP/err4" | cut -d' ' -f3)
read -r _ bits _ < <("$HELPERS/bmcount" "$first")
check vm-compat-all-dirty test "$bits" = 16384
check vm-compat-three-files test "$(ls "$TMP/compat" | wc -l)" = 3
last=$(grep '^create bitmap' "$TMP/err4" | tail -n1 | cut -d' ' -f3)
first_s=$(basename "$first" | cut -d. -f3) last_s=$(basename "$last" | cut -d. -f3)
check vm-compat-final-plus-one test "$last_s" -gt "$first_s"

# --- monitor on a unix socket ----------------------------------------------------------------
sock=$TMP/mon.sock
"$DPT" vm --mem 64M --wss 16M --rate 2000p --interval 200ms --monitor unix:"$sock" \
	-o csv:"$TMP/mon.csv" 2>"$TMP/mon.err" &
dpid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
check monitor-socket-mode test "$(stat -c %a "$sock" 2>/dev/null)" = 600
printf '%s\n' help dpt_stop dpt_start "sleep 700" dpt_start "info dirty" dpt_stop \
	"frobnicate now" quit | "$HELPERS/monitor-client" "$sock" >"$TMP/mon.out"
check monitor-client-exit test $? = 0
wait $dpid
check monitor-dpt-exit test $? = 0
check monitor-help grep -q 'dpt_start     start dirty page tracking' "$TMP/mon.out"
check monitor-stop-when-stopped grep -q 'error: dirty page tracking is not running' "$TMP/mon.out"
check monitor-double-start grep -q 'error: dirty page tracking is already running' "$TMP/mon.out"
check monitor-info-dirty grep -qE '^last interval: [0-9]+ .*dirty [0-9]+ / 16384' "$TMP/mon.out"
check monitor-unknown grep -q "error: unknown command 'frobnicate now'" "$TMP/mon.out"
check monitor-closed grep -q '^\[closed\]' "$TMP/mon.out"
check monitor-one-session test "$(grep -c 'start dirty page tracking' "$TMP/mon.err")" = 1 -a \
	"$(grep -c 'stop dirty page tracking' "$TMP/mon.err")" = 1
check monitor-intervals test "$(tail -n +2 "$TMP/mon.csv" | wc -l)" -ge 3
check monitor-socket-removed test ! -e "$sock"

# --- monitor on stdio: the same commands, end of input ends the session --------------------
(echo dpt_start; sleep 0.7; echo "info dirty"; echo dpt_stop) |
	"$DPT" vm --mem 64M --wss 16M --rate 2000p --interval 200ms --monitor stdio \
		>"$TMP/stdio.out" 2>"$TMP/stdio.err"
check monitor-stdio-exit test $? = 0
check monitor-stdio-prompt grep -q '^(dpt) ' "$TMP/stdio.out"
check monitor-stdio-info grep -qE '^last interval: [0-9]+ .*dirty [0-9]+ / 16384' "$TMP/stdio.out"
check monitor-stdio-lines test "$(grep -c 'dirty page tracking' "$TMP/stdio.err")" = 2

# --- bad input: one line, non-zero exit, nothing created -------------------------------------
mkdir -p "$TMP/bad" && cd "$TMP/bad"
bad_case vm unknown-option --frobnicate
bad_case vm missing-value --mem
bad_case vm extra-argument extra
bad_case vm wss-over-mem --mem 64M --wss 128M
bad_case vm zero-rate --rate 0
bad_case vm negative-rate --rate -5M
bad_case vm bad-rate --rate fast
bad_case vm zero-interval --interval 0
bad_case vm negative-interval --interval -1s
bad_case vm tiny-interval --interval 5ms
bad_case vm zero-count --count 0
bad_case vm bad-pattern --pattern zigzag
bad_case vm zero-vcpus --vcpus 0
bad_case vm too-many-vcpus --vcpus 65
bad_case vm bad-mem --mem lots
bad_case vm missing-kvm --kvm-device /nonexistent/kvm
bad_case vm not-kvm --kvm-device /dev/null
bad_case vm bitmaps-missing-dir --bitmaps /nonexistent/dir
bad_case vm bitmaps-unwritable --bitmaps /proc
bad_case vm bad-format -o xml:x.xml
bad_case vm bad-log-mode --log-mode magic
bad_case vm bad-monitor --monitor tcp:1234
check bad-csv-path bash -c "! '$DPT' vm --count 1 -o csv:/nonexistent/x.csv 2>/dev/null"
cd - >/dev/null

# --- SIGINT and SIGTERM mid-run: last partial interval written, files complete, exit 0 -------
for sig in INT TERM; do
	d=$TMP/sig$sig
	mkdir -p "$d"
	"$DPT" vm --mem 64M --wss 16M --rate 2000p --interval 400ms --bitmaps "$d" \
		-o csv:"$d/out.csv" 2>"$d/err" &
	pid=$!
	sleep 1.5
	kill -$sig $pid
	wait $pid
	check sig$sig-exit-0 test $? = 0
	check sig$sig-stop-line test "$(tail -n1 "$d/err")" = "stop dirty page tracking"
	check sig$sig-final-partial test "$(tail -n1 "$d/out.csv" | cut -d, -f7)" = "final|partial"
	rows=$(tail -n +2 "$d/out.csv" | wc -l)
	files=$(ls "$d" | grep -c '^qemu.bm-')
	check sig$sig-one-file-per-row test "$rows" = "$files" -a "$rows" -ge 3
	check sig$sig-files-complete bash -c "'$HELPERS/bmcount' '$d'/qemu.bm-* |
		awk '\$3 != 2048 { bad = 1 } END { exit bad }'"
done
