#!/bin/bash
# One real QEMU 7.2 live migration over 127.0.0.1, recorded by dpt, for make validate.
#
#   scripts/validate/migrate.sh [--cases FILE] [--pre S] [--post S] [--settle S] [--no-track]
#                               CASE OUTDIR
#
# CASE is a name in the cases file (default scripts/validate/cases, which describes the
# fields). Starts the source (TCG, the test-VM kit's guest and writer, or the multiboot
# micro-guest) and a destination waiting with -incoming, records the source with
# `dpt track --pid QEMU --qmp SOCK --interval 100ms --zero-scan-every 1s`, and after --pre
# seconds (default 8) sets max-bandwidth and downtime-limit and sends `migrate`; polls
# query-migrate until completed, or migrate_cancel after the case's limit; records --post
# seconds more (default 2), then stops dpt with SIGINT. Before it all, it waits --settle seconds
# (default 10) and measures this host's cost per 2 MiB of guest RAM first written (below).
# Writes into OUTDIR:
#
#   CASE.dpt            the source's trace (pid tracker, QEMU layout)
#   CASE.dest.json      `dpt check --destination --size MEM --json`, run before the QEMUs
#                       start: this host's (the destination's) cost per 2 MiB of guest RAM
#                       first written, for dpt predict --dest-hugepage-cost (compare.py)
#   CASE.real.json      the case, the migration's start in trace time (migrate_start_s, the
#                       value for dpt predict --start), QEMU's results, its RAM blocks, its
#                       dirty-log syncs from its own trace events, the query-migrate polls
#   CASE.qemu-trace.log QEMU's trace events (migration_bitmap_sync_*, migrate_pending, ...)
#   CASE.src.log        the source's console; CASE.dpt.err dpt's stderr; CASE.qmp.json raw
#
# --no-track: the same without dpt (to see whether tracking changes the migration); times in
# CASE.real.json are then seconds from the migrate command.
#
# Exit 0 when the migration ended as the case expects (completed; cancelled for a nonconv
# case), 1 otherwise, 2 for usage. Both QEMUs and dpt are always stopped.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VMKIT=$ROOT/tests/vmkit
DPT=${DPT:-$ROOT/build/dpt}
MB_ELF=$ROOT/build/guest/dpt-guest.elf

die() { echo "migrate.sh: $*" >&2; exit 2; }
usage() { die "usage: migrate.sh [--cases FILE] [--pre S] [--post S] [--settle S] [--no-track] CASE OUTDIR"; }

cases=$HERE/cases pre=8 post=2 settle=10 track=1
while [ $# -gt 0 ]; do
	case $1 in
	--cases) [ $# -ge 2 ] || usage; cases=$2; shift 2 ;;
	--pre) [ $# -ge 2 ] || usage; pre=$2; shift 2 ;;
	--post) [ $# -ge 2 ] || usage; post=$2; shift 2 ;;
	--settle) [ $# -ge 2 ] || usage; settle=$2; shift 2 ;;
	--no-track) track=0; shift ;;
	-h | --help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# = 2 ] || usage
name=$1 out=$2
[ -x "$DPT" ] || die "$DPT: not built (make -j2)"
line=$(awk -v n="$name" '!/^#/ && $1 == n' "$cases")
[ -n "$line" ] || die "no case '$name' in $cases"
read -r _ tags guest mem bw dl limit workload <<<"$line"
case $guest in
linux | mb) ;;
*) die "$name: guest '$guest' is neither linux nor mb" ;;
esac
[ "$guest" != mb ] || [ -f "$MB_ELF" ] || die "$MB_ELF: not built (make -j2)"
mkdir -p "$out" || die "cannot create $out"
out=$(cd "$out" && pwd)

t=$(mktemp -d /tmp/dpt-validate.XXXXXX) # sockets: short paths
src=$t/src dst=$t/dst dpid=""
cleanup() {
	if [ -n "$dpid" ] && kill -0 "$dpid" 2>/dev/null; then
		kill -INT "$dpid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$dpid" 2>/dev/null
		wait "$dpid" 2>/dev/null
	fi
	"$VMKIT/stop.sh" --pidfile "$src.pid" --qmp "$src.sock" >/dev/null 2>&1
	"$VMKIT/stop.sh" --pidfile "$dst.pid" --qmp "$dst.sock" >/dev/null 2>&1
	rm -rf "$t"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -f "$out/$name".*
# The destination is this host: what a first write into 2 MiB of its guest RAM costs
# (transparent huge pages), on a mapping of the guest's size, measured before the QEMUs start,
# --settle s after the last case's QEMUs quit: memory freed just before is warm on this host,
# and the destination's RAM, written 10 s and more later, is not (docs/validation.md).
sleep "$settle"
"$DPT" check --destination --size "$mem" --json >"$out/$name.dest.json" 2>"$t/dest.err" ||
	{ echo "migrate.sh: $name: dpt check --destination failed: $(cat "$t/dest.err")" >&2
	  rm -f "$out/$name.dest.json"; }
# QEMU's own trace of its migration thread: the exact times of its dirty-log syncs.
printf '%s\n' migration_bitmap_sync_start migration_bitmap_sync_end migrate_pending \
	migrate_transferred migrate_set_state migration_thread_setup_complete \
	migration_thread_low_pending migration_completion_vm_stop migration_thread_after_loop \
	migration_socket_outgoing_connected >"$t/events"
src_extra=(--qemu-arg -qmp --qemu-arg "unix:$t/ctl.sock,server=on,wait=off"
	--qemu-arg -trace --qemu-arg "events=$t/events,file=$out/$name.qemu-trace.log"
	--qemu-arg -msg --qemu-arg timestamp=on)

port=$((20000 + RANDOM % 30000))
while ss -ltn 2>/dev/null | grep -q ":$port "; do port=$((20000 + RANDOM % 30000)); done

# start_mb PREFIX LOG [QEMU-ARG...]: the multiboot guest, daemonized, as start.sh does.
start_mb() {
	local p=$1 log=$2
	shift 2
	qemu-system-x86_64 -accel tcg -m "$mem" -smp 1 -nodefaults -display none -no-reboot \
		-serial "file:$log" -qmp "unix:$p.sock,server=on,wait=off" -daemonize \
		-pidfile "$p.pid" -kernel "$MB_ELF" -append "$workload" "$@" >"$p.qemu.err" 2>&1 ||
		{ cat "$p.qemu.err" >&2; return 1; }
}
mb_args() { # start.sh's --qemu-arg X pairs as plain QEMU arguments
	while [ $# -gt 0 ]; do echo "$2"; shift 2; done
}

if [ "$guest" = linux ]; then
	if [ "$workload" = - ]; then
		cmd=() ready='DPT-READY'
	else
		# shellcheck disable=SC2206 # the workload is words on purpose
		cmd=(-- writer $workload --duration 0) ready='^writer ready'
	fi
	# The destination first: what comes between the workload's start and dpt's is then
	# only the wait for the ready line (a --phase lands at the same point of every run).
	"$VMKIT/start.sh" --qmp "$dst.sock" --pidfile "$dst.pid" --log "$t/dst.log" \
		--mem "$mem" --helpers --incoming "tcp:127.0.0.1:$port" "${cmd[@]}" >/dev/null ||
		{ echo "migrate.sh: $name: the destination did not start" >&2; exit 1; }
	"$VMKIT/start.sh" --qmp "$src.sock" --pidfile "$src.pid" --log "$out/$name.src.log" \
		--mem "$mem" --helpers --ready "$ready" "${src_extra[@]}" "${cmd[@]}" >/dev/null ||
		{ echo "migrate.sh: $name: the source did not start" >&2; exit 1; }
else
	start_mb "$dst" "$t/dst.log" -incoming "tcp:127.0.0.1:$port" ||
		{ echo "migrate.sh: $name: the destination did not start" >&2; exit 1; }
	mapfile -t extra < <(mb_args "${src_extra[@]}")
	start_mb "$src" "$out/$name.src.log" "${extra[@]}" ||
		{ echo "migrate.sh: $name: the source did not start" >&2; exit 1; }
	for _ in $(seq 300); do grep -aq '^dpt-guest \(ready\|error\)' "$out/$name.src.log" && break; sleep 0.1; done
	grep -aq '^dpt-guest ready' "$out/$name.src.log" ||
		{ echo "migrate.sh: $name: the multiboot guest is not ready:" >&2; tail -n 3 "$out/$name.src.log" >&2; exit 1; }
fi
qsrc=$(cat "$src.pid")

if [ $track = 1 ]; then
	"$DPT" track -q --pid "$qsrc" --qmp "$src.sock" --interval 100ms --zero-scan-every 1s \
		-o "trace:$out/$name.dpt" 2>"$out/$name.dpt.err" &
	dpid=$!
	for _ in $(seq 100); do [ -s "$out/$name.dpt" ] && break; sleep 0.05; done
	[ -s "$out/$name.dpt" ] && kill -0 "$dpid" 2>/dev/null ||
		{ echo "migrate.sh: $name: dpt did not start:" >&2; cat "$out/$name.dpt.err" >&2; exit 1; }
fi
sleep "$pre"

bw_bytes=$((bw * 1048576))
echo "migrate.sh: $name: migrate at $bw MiB/s, downtime-limit $dl ms, limit $limit s ($workload)" >&2
python3 "$HERE/qmpmig.py" migrate "$t/ctl.sock" "$port" "$bw_bytes" "$dl" "$limit" \
	"$out/$name.qmp.json" >&2
mig=$?
drc=0 report=-
if [ $track = 1 ]; then
	sleep "$post"
	kill -INT "$dpid"
	wait "$dpid"
	drc=$?
	dpid=""
	[ $drc = 0 ] || echo "migrate.sh: $name: dpt track exited $drc" >&2
	report=$t/report.json
	"$DPT" report --json "$out/$name.dpt" >"$report" ||
		{ echo "migrate.sh: $name: dpt report failed" >&2; exit 1; }
fi
[ -s "$out/$name.qmp.json" ] || { echo "migrate.sh: $name: no QMP record" >&2; exit 1; }
writer=$(tr -d '\r' <"$out/$name.src.log" | grep -a -m1 '^\(writer\|dpt-guest\) ready' || true)
jq -n --arg name "$name" --arg tags "$tags" --arg guest "$guest" --arg mem "$mem" \
	--argjson bw "$bw" --argjson dl "$dl" --argjson limit "$limit" --arg workload "$workload" \
	--arg ready "$writer" --argjson pre "$pre" --argjson post "$post" --argjson drc "$drc" \
	--argjson track "$track" \
	'{name: $name, tags: ($tags | if . == "-" then [] else split(",") end), guest: $guest,
	  mem: $mem, bandwidth_mib_s: $bw, bandwidth_bytes_s: ($bw * 1048576),
	  downtime_limit_ms: $dl, limit_s: $limit, workload: $workload, workload_ready: $ready,
	  pre_s: $pre, post_s: $post, tracked: ($track == 1), dpt_exit: $drc}' >"$t/case.json"
python3 "$HERE/qmpmig.py" assemble "$t/case.json" "$out/$name.qmp.json" "$report" \
	"$out/$name.qemu-trace.log" "$out/$name.real.json" ||
	{ echo "migrate.sh: $name: could not assemble $name.real.json" >&2; exit 1; }
status=$(jq -r .real.status "$out/$name.real.json")
want=completed
case ",$tags," in *,nonconv,*) want=cancelled ;; esac
jq -r '"migrate.sh: \(.case.name): \(.real.status), total \(.real["total-time"]) ms, downtime \(.real.downtime // "-") ms, \(.real.ram.transferred) bytes, \(.real.ram["dirty-sync-count"]) syncs, migrate at \(.migrate_start_s) s of the trace"' \
	"$out/$name.real.json" >&2
[ "$status" = "$want" ] && [ $drc = 0 ] && [ $mig = 0 ]
