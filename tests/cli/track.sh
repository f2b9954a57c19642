#!/bin/bash
# dpt track from the command line: launch mode (first interval, exit status passed on), attach
# to a running process, the target ending mid-run, and bad input (one line, non-zero, no file).
set -u
. "$(dirname "$0")/lib.sh"
W=$HELPERS/writer
# a launched (or --hold) program is traced by its keeper: a sanitizer build's leak check at its exit, which
# ptraces it too, must be off (README: --no-hold)
LW=(env LSAN_OPTIONS=detect_leaks=0 "$W")

if ! "$DPT" check | grep -q '^tracker pid, uffd method *works'; then
	skip track-all "the pid tracker's uffd method does not work on this host"
	exit 0
fi

# --- launch mode: tracked from its first interval; exit status passed on -------------------
"$DPT" track -q --interval 200ms -o csv:"$TMP/launch.csv" -- \
	"${LW[@]}" --wss 4M --rate 2000 --duration 1 >"$TMP/launch.out" 2>"$TMP/launch.err"
check launch-exit-0 test $? = 0
# the writer touches its 1024 pages once before it starts the paced writes: all of them, and
# the program's start-up, fall in the first interval
first=$(sed -n 2p "$TMP/launch.csv" | cut -d, -f4)
check launch-first-interval-has-startup test "${first:-0}" -ge 1024
writes=$(sed -n 's/.*writer done writes=\([0-9]*\).*/\1/p' "$TMP/launch.out")
check launch-writer-ran test "${writes:-0}" -ge 1900
check launch-says-target-ended grep -q 'exited with status 0; its last partial interval .* is written' \
	"$TMP/launch.err"
# its keeper held it at its exit: after the full intervals, the partial one up to its exit
check launch-rows test "$(tail -n +2 "$TMP/launch.csv" | grep -vc 'final')" -ge 5
check launch-last-row-partial bash -c "tail -n1 '$TMP/launch.csv' | grep -q ',final|partial,[0-9]*\$'"

# a launched program keeps its signals and job control: a handler runs, SIGSTOP stops it and
# SIGCONT resumes it (its keeper lets both through)
"$DPT" track -q --interval 100ms -- sh -c 'trap "echo got-usr1" USR1; kill -USR1 $$; exit 4' \
	>"$TMP/usr1.out" 2>/dev/null
check launch-signal-handled test $? = 4 -a "$(cat "$TMP/usr1.out")" = got-usr1
"$DPT" track -q --interval 100ms -- "${LW[@]}" --wss 1M --rate 1000 --duration 1.5 >"$TMP/jc.out" \
	2>"$TMP/jc.err" &
dpid=$!
wpid=$(writer_ready "$TMP/jc.out")
kill -STOP "$wpid"
sleep 0.3
state=$(cut -d' ' -f3 "/proc/$wpid/stat")
kill -CONT "$wpid"
wait $dpid
rc=$?
check launch-sigstop-stops test "$state" = t -o "$state" = T
check launch-sigcont-resumes test $rc = 0 -a "$(grep -c 'writer done' "$TMP/jc.out")" = 1

# dpt killed while tracking a launched program: it runs on, untraced, with nothing of dpt's
"$DPT" track -q --interval 100ms -- "$W" --wss 4M --rate 2000 --duration 2 >"$TMP/k9.out" \
	2>/dev/null &
dpid=$!
wpid=$(writer_ready "$TMP/k9.out")
sleep 0.3
kill -9 $dpid
wait $dpid 2>/dev/null
sleep 0.2
check launch-kill9-untraced test "$(awk '/^TracerPid:/ { print $2 }' "/proc/$wpid/status")" = 0
check launch-kill9-no-uffd bash -c "! ls -l /proc/$wpid/fd | grep -q userfaultfd"
for _ in $(seq 50); do [ -d "/proc/$wpid" ] || break; sleep 0.1; done
check launch-kill9-runs-on grep -q 'writer done writes=4000 ' "$TMP/k9.out"

# --no-hold: the program runs untraced (as a sanitizer build's leak check needs), and its last
# partial interval is lost, which dpt says
"$DPT" track --no-hold --interval 100ms -- "$W" --wss 1M --rate 1000 --duration 1 \
	>"$TMP/nh.out" 2>"$TMP/nh.err" &
dpid=$!
wpid=$(writer_ready "$TMP/nh.out")
check no-hold-untraced test "$(awk '/^TracerPid:/ { print $2 }' "/proc/$wpid/status")" = 0
wait $dpid
check no-hold-exit-0 test $? = 0
check no-hold-says-lost grep -q 'exited with status 0; the writes of its last partial interval went with its memory' "$TMP/nh.err"

# its keeper killed: the program runs on untraced, dpt tracks on and says what it cannot do
"$DPT" track --interval 100ms -o csv:"$TMP/kk.csv" -- "$W" --wss 4M --rate 2000 --duration 1.5 \
	>"$TMP/kk.out" 2>"$TMP/kk.err" &
dpid=$!
wpid=$(writer_ready "$TMP/kk.out")
keeper=$(awk '/^TracerPid:/ { print $2 }' "/proc/$wpid/status")
kill -9 "$keeper"
sleep 0.2
check keeper-killed-untraced test "$(awk '/^TracerPid:/ { print $2 }' "/proc/$wpid/status")" = 0
wait $dpid
check keeper-killed-dpt-exit-0 test $? = 0
check keeper-killed-says grep -q 'its keeper is gone' "$TMP/kk.err"
check keeper-killed-writer-done grep -q 'writer done writes=3000 ' "$TMP/kk.out"
check keeper-killed-tracked-on test "$(tail -n +2 "$TMP/kk.csv" | wc -l)" -ge 12

"$DPT" track -q --interval 100ms -- sh -c 'exit 7' 2>/dev/null
check launch-exit-status-follows test $? = 7
"$DPT" track -q --interval 100ms -- sh -c 'kill -TERM $$' 2>/dev/null
check launch-signal-status-follows test $? = $((128 + 15))
"$DPT" track -q -- /nonexistent/program 2>"$TMP/noexec.err"
rc=$?
check launch-missing-program test $rc != 0 -a "$(wc -l <"$TMP/noexec.err")" = 1

# --- attach to a running process: every full interval sees its paced writes -----------------
"$W" --wss 16M --rate 2000 --duration 4 >"$TMP/w.out" &
wpid=$!
writer_ready "$TMP/w.out" >/dev/null
"$DPT" track --pid $wpid --interval 500ms --count 4 -o csv:"$TMP/attach.csv" 2>"$TMP/attach.err"
check attach-exit-0 test $? = 0
# 2000 pages/s over 500 ms = 1000 distinct pages of a 4096-page working set, plus a few pages
# of stack and libc per interval. The writer keeps to its clock (after t s, floor(2000 t) writes),
# so an interval holds 2000 x its own length; a writer held up at a boundary for a few ms moves
# a few pages to the next interval, and the sum over the run stays exact.
check attach-rate awk -F, 'NR > 1 { d = $4 - 2000 * $3; if (d < -40 || d > 60) bad = 1; s += d }
	END { exit bad || s < -20 || s > 80 }' "$TMP/attach.csv"
check attach-target-running kill -0 $wpid
check attach-no-uffd-left bash -c "! ls -l /proc/$wpid/fd | grep -q userfaultfd"
wait $wpid
check attach-target-exit-0 test $? = 0

# --- discarded is not written: a program that frees (MADV_DONTNEED) half of its 64 MiB --------
"$W" --wss 64M --rate 2000 --duration 4 --free-at 1.2 >"$TMP/wf.out" &
wpid=$!
writer_ready "$TMP/wf.out" >/dev/null
"$DPT" track -v --pid $wpid --interval 500ms --count 6 -o csv:"$TMP/free.csv" 2>"$TMP/free.err"
check free-exit-0 test $? = 0
check free-verbose-line grep -q '^    discarded 8192 pages (zapped without a write; zeros now)$' "$TMP/free.err"
freed=$(sed -n 's/^writer freed pages=\([0-9]*\)$/\1/p' "$TMP/wf.out")
# every freed page counted as discarded, none as dirty: each interval sees the writer's 1000
# page writes (plus a few pages of its stack), not 8192 more
check free-discarded-counted awk -F, -v f="${freed:-0}" 'NR > 1 { d += $8 } END { exit !(f == 8192 && d == f) }' \
	"$TMP/free.csv"
check free-not-dirty awk -F, 'NR > 1 && $4 > 1040 { bad = 1 } END { exit bad }' "$TMP/free.csv"
wait $wpid

# --- outputs and monitor as for dpt vm: --compat bitmaps, csv, a monitor session -------------
"$W" --wss 8M --rate 2000 --duration 5 >"$TMP/w3.out" &
wpid=$!
writer_ready "$TMP/w3.out" >/dev/null
mkdir -p "$TMP/tbm"
"$DPT" track --pid $wpid --interval 300ms --count 2 --compat --bitmaps "$TMP/tbm" 2>"$TMP/tbm.err"
check track-compat-exit test $? = 0
first=$(grep -m1 '^create bitmap' "$TMP/tbm.err" | cut -d' ' -f3)
total=$(grep -m1 '^create bitmap' "$TMP/tbm.err" | sed 's|.* / \([0-9]*\) .*|\1|')
read -r _ bits _ < <("$HELPERS/bmcount" "$first")
check track-compat-all-dirty test "$bits" = "$total"
check track-compat-files test "$(ls "$TMP/tbm" | grep -c "^qemu.bm-$wpid\.")" = 3
sock=$TMP/tmon.sock
"$DPT" track --pid $wpid --interval 200ms --monitor unix:"$sock" 2>"$TMP/tmon.err" &
dpid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
printf '%s\n' dpt_stop dpt_start "sleep 700" dpt_start "info dirty" dpt_stop quit |
	"$HELPERS/monitor-client" "$sock" >"$TMP/tmon.out"
wait $dpid
check track-monitor-exit test $? = 0
check track-monitor-errors test "$(grep -c '^error: \|(dpt) error: ' "$TMP/tmon.out")" = 2
check track-monitor-info grep -qE 'last interval: [0-9]+ .*dirty [0-9]+ / [0-9]+' "$TMP/tmon.out"
check track-monitor-no-uffd-left bash -c "! ls -l /proc/$wpid/fd | grep -q userfaultfd"
# two sessions, then "info dirty": every figure covers the last session (intervals, dirty
# pages and distinct pages alike), as the rows of that session in the CSV show
"$DPT" track -q --pid $wpid --interval 200ms --monitor unix:"$sock" -o csv:"$TMP/tmon2.csv" \
	2>"$TMP/tmon2.err" &
dpid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
printf '%s\n' dpt_start "sleep 700" dpt_stop dpt_start "sleep 500" dpt_stop "info dirty" quit |
	"$HELPERS/monitor-client" "$sock" >"$TMP/tmon2.out"
wait $dpid
# the rows of the second session: after the first final row
awk -F, 'NR > 1 && s { n++; d += $4; if ($4 > m) m = $4 } $7 ~ /final/ { s = 1 }
	END { print n, d, m }' "$TMP/tmon2.csv" >"$TMP/tmon2.want"
read -r want_n want_d want_max <"$TMP/tmon2.want"
got=$(sed -n 's/^session 2 (since dpt_start at [0-9:]*): \([0-9]*\) intervals, [0-9.]* s, \([0-9]*\) dirty pages.*/\1 \2/p' "$TMP/tmon2.out")
distinct=$(sed -n 's/^distinct pages dirtied in the session: \([0-9]*\)$/\1/p' "$TMP/tmon2.out")
echo "# session 2 in the CSV: $want_n rows, $want_d dirty pages (max $want_max); info dirty: $got, distinct $distinct"
check track-monitor-session-totals test "$got" = "$want_n $want_d" -a "${want_n:-0}" -ge 2
check track-monitor-session-distinct test "${distinct:-0}" -le "${want_d:-0}" -a \
	"${distinct:-0}" -ge "${want_max:-1}"
wait $wpid

# --- the target exits mid-run: last partial interval, dpt says so ----------------------------
"$W" --wss 4M --rate 1000 --duration 1 >"$TMP/w2.out" &
wpid=$!
writer_ready "$TMP/w2.out" >/dev/null
"$DPT" track --pid $wpid --interval 300ms -o csv:"$TMP/exit.csv" 2>"$TMP/exit.err"
check target-exit-dpt-exit-0 test $? = 0
check target-exit-said grep -qi 'exited' "$TMP/exit.err"
check target-exit-stop-line test "$(tail -n1 "$TMP/exit.err" | grep -c 'stop dirty page tracking\|exited')" = 1
check target-exit-lost-says-hold grep -q 'only with --hold' "$TMP/exit.err"
# the run still ends on a final row: its dirty pages unknown (empty), not 0
check target-exit-last-row-final-lost bash -c "tail -n1 '$TMP/exit.csv' | grep -q '^[0-9]*,[0-9.]*,[0-9.]*,,[0-9]*,,final|partial|lost,\$'"
check target-exit-lost-line grep -q '^interval [0-9]* ([0-9.]* s, lost): its dirty pages went with the target$' "$TMP/exit.err"

# --- a big target killed: its address space has gone (collect fails) well before its pidfd
# says it exited; at 10 ms an interval's collect falls in between every time (dpt exited 1,
# "tracking failed", 5 of 5 before the fix). It is the target's end all the same.
"$W" --wss 512M --rate 0 --duration 60 >"$TMP/wk.out" &
wpid=$!
writer_ready "$TMP/wk.out" >/dev/null
"$DPT" track -q --pid $wpid --interval 10ms -o csv:"$TMP/killed.csv" 2>"$TMP/killed.err" &
dpid=$!
sleep 1
{
	kill -9 $wpid
	wait $wpid
} 2>/dev/null
wait $dpid
check target-killed-big-dpt-exit-0 test $? = 0
check target-killed-big-said grep -q 'exited; the writes of its last partial interval went with' \
	"$TMP/killed.err"
check target-killed-big-last-row-final-lost bash -c "tail -n1 '$TMP/killed.csv' | grep -q ',final|partial|lost,\$'"

# --- --hold: a process dpt attached to is held at its exit: the last partial interval too ----
"${LW[@]}" --wss 4M --rate 1000 --duration 1 >"$TMP/wh.out" &
wpid=$!
writer_ready "$TMP/wh.out" >/dev/null
"$DPT" track --pid $wpid --hold --interval 300ms -o csv:"$TMP/hold.csv" 2>"$TMP/hold.err" &
dpid=$!
sleep 0.3
tracer=$(awk '/^TracerPid:/ { print $2 }' "/proc/$wpid/status")
wait $dpid
check hold-dpt-exit-0 test $? = 0
check hold-traced test "${tracer:-0}" -gt 0
check hold-says-written grep -q 'exited with status 0; its last partial interval .* is written' \
	"$TMP/hold.err"
check hold-last-row-partial bash -c "tail -n1 '$TMP/hold.csv' | grep -q ',final|partial,[0-9]*\$'"
wait $wpid
check hold-writer-exit-0 test $? = 0
# dpt killed while it holds a process it attached to: untraced, no uffd, it runs to its end
"$W" --wss 4M --rate 2000 --duration 1.5 >"$TMP/wh9.out" &
wpid=$!
writer_ready "$TMP/wh9.out" >/dev/null
"$DPT" track -q --pid $wpid --hold --interval 100ms &
dpid=$!
sleep 0.5
kill -9 $dpid
wait $dpid 2>/dev/null
sleep 0.2
check hold-kill9-untraced test "$(awk '/^TracerPid:/ { print $2 }' "/proc/$wpid/status")" = 0
check hold-kill9-no-uffd bash -c "! ls -l /proc/$wpid/fd | grep -q userfaultfd"
wait $wpid
check hold-kill9-writer-done test $? = 0 -a "$(grep -c 'writer done writes=3000 ' "$TMP/wh9.out")" = 1

# --- bad input -------------------------------------------------------------------------------
sleep 30 &
spid=$!
sh -c 'exit 0' &
zpid=$!
# a zombie: a child of ours that exited and is not reaped yet
(sh -c 'sleep 0.1' & echo $! >"$TMP/zpid"; exec sleep 5) &
zparent=$!
sleep 0.5
zombie=$(cat "$TMP/zpid")
mkdir -p "$TMP/bad" && cd "$TMP/bad"
bad_case track nothing-to-track
bad_case track no-such-pid --pid 4194303
bad_case track bad-pid --pid abc
bad_case track kernel-thread --pid 2
[ "$(cut -d' ' -f3 /proc/$zombie/stat 2>/dev/null)" = Z ] && bad_case track zombie --pid $zombie ||
	skip bad-zombie "could not make a zombie"
bad_case track region-outside --pid $spid --region 0x1000-0x2000
bad_case track region-unknown --pid $spid --region '[nothing]'
bad_case track bad-method --pid $spid --method magic
bad_case track pid-and-command --pid $spid -- true
bad_case track mode-with-pid --pid $spid --mode dirty-ring
bad_case track qemu-not-qemu --pid $spid --qemu
bad_case track bitmaps-unwritable --pid $spid --bitmaps /proc
bad_case track no-hold-with-pid --pid $spid --no-hold
bad_case track hold-with-command --hold -- true
cd - >/dev/null
check bad-target-untouched kill -0 $spid
check bad-no-uffd-left bash -c "! ls -l /proc/$spid/fd | grep -q userfaultfd"

# --- a target already tracked by another dpt ------------------------------------------------
"$DPT" track -q --pid $spid --interval 200ms --duration 3 &
first=$!
sleep 1
"$DPT" track -q --pid $spid --count 1 2>"$TMP/twice.err"
rc=$?
check already-tracked test $rc != 0 -a "$(wc -l <"$TMP/twice.err")" = 1
wait $first
check already-tracked-first-ok test $? = 0
kill $spid $zparent 2>/dev/null
wait 2>/dev/null
true
