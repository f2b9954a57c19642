#!/bin/bash
# -o trace:FILE survives kill -9: dpt killed at random moments while it records (the micro-VM,
# seq and random patterns, 10 ms intervals; and dpt track on a running writer), and killed
# while it ends (--count racing the kill, the footer's write cut at every byte).
#
# What "complete" means. The trace's writer thread appends each record (frame, payload,
# CRC) with one write() on an O_APPEND descriptor; a write stopped by SIGKILL stops between
# pages, so the file left behind is whole records followed by at most one prefix of a record.
# Each run checks:
#  - the reader returns every whole record and nothing else: trace-dump exits 0 and reads to
#    the end, and the tail it ignores is a strict prefix of one record (it starts with the
#    record magic, and is shorter than the frame it declares), so no record whose bytes are all
#    in the file was left unread;
#  - the intervals are seq 1..n, contiguous, each with the dirty and total pages of the CSV row
#    of the same seq (the CSV is written by the loop's thread and flushed per row; it is named
#    first, so a row is out before its interval is queued for the trace's thread: n <= rows);
#  - the trace lags the CSV by at most LAG intervals (its queue, and the record being written);
#  - a run that ended before the kill has its footer, every row's interval, the last final.
# A kill before the first interval may leave a file without a whole header: then the reader
# refuses it in one line, and the CSV has no row either.
set -u
. "$(dirname "$0")/lib.sh"

RUNS=${DPT_CRASH_RUNS:-50}
LAG=10
DUMP=$HELPERS/trace-dump
RANDOM=${DPT_CRASH_SEED:-1}

# tail_is_prefix FILE TAIL: the last TAIL bytes of FILE are a strict prefix of one record, or
# of the trailer after a whole footer (its footer offset, then "DPTINDEX").
tail_is_prefix() {
	local f=$1 t=$2
	[ "$t" = 0 ] && return 0
	local head
	head=$(tail -c "$t" "$f" | head -c 16 | od -An -v -tu1 | tr -s ' \n' ' ')
	read -r -a b <<<"$head"
	if [ "$t" -lt 16 ] && [ "$t" -gt 8 ] &&
		[ "$(tail -c "$t" "$f" | tail -c +9)" = "$(printf DPTINDEX | head -c $((t - 8)))" ]; then
		return 0
	fi
	[ "$t" -lt 4 ] && return 0
	# "DPTR"
	[ "${b[0]}" = 68 ] && [ "${b[1]}" = 80 ] && [ "${b[2]}" = 84 ] && [ "${b[3]}" = 82 ] || return 1
	[ "$t" -lt 16 ] && return 0
	local stored=$((b[8] | b[9] << 8 | b[10] << 16 | b[11] << 24))
	[ "$t" -lt $((16 + stored + 4)) ]
}

# judge NAME CSV TRACE: one run's checks; prints "ok NAME" or "FAIL NAME: why", and sets
# N ROWS TAIL FOOTER for the summary.
judge() {
	local name=$1 csv=$2 trace=$3 out=$TMP/dump.out err=$TMP/dump.err
	# rows: complete CSV lines only (a kill may cut the last one)
	ROWS=0
	if [ -s "$csv" ]; then
		ROWS=$(($(wc -l <"$csv") - 1))
		[ "$(tail -c1 "$csv" | od -An -tu1 | tr -d ' ')" = 10 ] || ROWS=$((ROWS - 1))
		[ "$ROWS" -lt 0 ] && ROWS=0
	fi
	N=0 TAIL=0 FOOTER=no
	if ! "$DUMP" "$trace" >"$out" 2>"$err"; then
		if [ "$ROWS" = 0 ] && [ "$(wc -l <"$err")" = 1 ] &&
			grep -qE 'too short|header is truncated|No such file' "$err"; then
			# killed before its header was whole (or, on a slow machine, before the file
			# was made): nothing was measured yet, nothing is promised
			FOOTER=early
			ok "$name"
		else
			fail "$name" "trace-dump failed with $ROWS CSV rows: $(head -c 300 "$err")"
		fi
		return
	fi
	read -r TAIL FOOTER < <(sed -n 's/^end tail=\([0-9]*\) footer=\(.*\)/\1 \2/p' "$out")
	local why
	why=$(awk -F, -v rows="$ROWS" -v lag="$LAG" -v footer="$FOOTER" '
		FNR == NR { if (FNR > 1 && FNR <= rows + 1) { d[$1] = $4; t[$1] = $5; f[$1] = $7 } next }
		/^interval / {
			for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			n++
			if (v["seq"] != n) { print "interval " n " has seq " v["seq"]; exit }
			if (!(n in d)) { print "interval " n " has no CSV row (" rows " rows)"; exit }
			if (v["dirty"] != d[n] || v["total"] != t[n]) {
				print "interval " n ": dirty " v["dirty"] " total " v["total"] ", CSV " d[n] " " t[n]
				exit
			}
			last = v["flags"]
		}
		END {
			if (n > rows) print n " intervals, " rows " CSV rows"
			else if (rows - n > lag) print "the trace lags: " n " intervals, " rows " rows"
			else if (footer == "yes" && (n != rows || f[n] !~ /final/))
				print "a footer after " n " intervals of " rows ", the last not final"
			print "n=" n
		}' FS='[ ,]' "$csv" FS=' ' "$out")
	N=$(sed -n 's/^n=//p' <<<"$why")
	why=$(grep -v '^n=' <<<"$why")
	if [ -z "$TAIL" ]; then
		fail "$name" "no end line: $(tail -n1 "$out")"
	elif [ -n "$why" ]; then
		fail "$name" "$why"
	elif [ "$FOOTER" = yes ] && [ "$TAIL" != 0 ]; then
		fail "$name" "a footer and a tail of $TAIL bytes"
	elif ! tail_is_prefix "$trace" "$TAIL"; then
		fail "$name" "its tail of $TAIL bytes is not a prefix of one record"
	else
		ok "$name"
	fi
}

# spin DELAY CMD...: run CMD, kill -9 it after DELAY seconds (unless it ended); wait for it.
spin() {
	local delay=$1
	shift
	"$@" &
	local pid=$!
	sleep "$delay"
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
}

summary() {
	echo "# $1: ${*:2}"
}

if have_kvm; then
	# --- the micro-VM killed at random moments ---------------------------------------------
	maxlag=0 tails=0 torn=0 early=0 ended=0 intervals=0
	for i in $(seq "$RUNS"); do
		pattern=$([ $((i % 2)) = 0 ] && echo seq || echo random)
		rates=(16M 64M 256M max)
		rate=${rates[$((RANDOM % 4))]}
		mem=$([ $((RANDOM % 4)) = 0 ] && echo 256M || echo 64M)
		delay=0.$(printf '%03d' $((5 + RANDOM % 200)))
		rm -f "$TMP/c.csv" "$TMP/t.dpt"
		spin "$delay" "$DPT" vm --mem "$mem" --wss 16M --pattern "$pattern" --rate "$rate" \
			--interval 10ms --count 1000 -q -o csv:"$TMP/c.csv" -o trace:"$TMP/t.dpt" \
			2>/dev/null
		judge "crash-vm-$i" "$TMP/c.csv" "$TMP/t.dpt"
		echo "# run $i: $pattern $rate $mem killed after ${delay}s: $N intervals, $ROWS rows," \
			"tail $TAIL, footer $FOOTER"
		[ $((ROWS - N)) -gt "$maxlag" ] && maxlag=$((ROWS - N))
		[ "$TAIL" != 0 ] && torn=$((torn + 1))
		[ "$FOOTER" = early ] && early=$((early + 1))
		intervals=$((intervals + N))
	done
	summary crash-vm "$RUNS kills: $intervals intervals read, $torn torn tails, $early before" \
		"the header, the trace at most $maxlag intervals behind the CSV"

	# --- killed while it ends: --count 10 (about 100 ms) racing the kill --------------------
	for i in $(seq 12); do
		delay=0.$(printf '%03d' $((70 + i * 5)))
		rm -f "$TMP/c.csv" "$TMP/t.dpt"
		spin "$delay" "$DPT" vm --mem 64M --wss 16M --pattern random --rate 64M \
			--interval 10ms --count 10 -q -o csv:"$TMP/c.csv" -o trace:"$TMP/t.dpt" 2>/dev/null
		judge "crash-vm-end-$i" "$TMP/c.csv" "$TMP/t.dpt"
		echo "# end run $i killed after ${delay}s: $N intervals, $ROWS rows, tail $TAIL," \
			"footer $FOOTER"
		[ "$FOOTER" = yes ] && ended=$((ended + 1))
	done
	summary crash-vm-end "12 kills around the end of --count 10: $ended ended with a footer"

	# --- writes torn by the kernel: RLIMIT_FSIZE stops the trace's write() at k KiB, and
	# SIGXFSZ ends dpt: a real short write, cut at a byte no record boundary chose ---------
	torn=0
	for i in $(seq 8); do
		k=$((4 + RANDOM % 24))
		rm -f "$TMP/c.csv" "$TMP/t.dpt"
		(
			ulimit -f "$k"
			exec "$DPT" vm --mem 256M --wss 64M --pattern random --rate max \
				--interval 10ms --count 1000 -q -o csv:"$TMP/c.csv" -o trace:"$TMP/t.dpt"
		) 2>/dev/null
		judge "crash-vm-fsize-$i" "$TMP/c.csv" "$TMP/t.dpt"
		echo "# fsize run $i cut at $k KiB: $N intervals, $ROWS rows, tail $TAIL, footer $FOOTER"
		[ "$TAIL" != 0 ] && torn=$((torn + 1))
	done
	check crash-vm-fsize-torn test "$torn" -ge 4
	summary crash-vm-fsize "8 writes cut by RLIMIT_FSIZE: $torn torn tails read past"

	# --- the footer's write cut at every byte: a complete trace cut from its footer on ------
	rm -f "$TMP/c.csv"
	"$DPT" vm --mem 64M --wss 16M --pattern seq --rate 64M --interval 10ms --count 20 -q \
		-o csv:"$TMP/c.csv" -o trace:"$TMP/full.dpt" 2>/dev/null
	size=$(stat -c %s "$TMP/full.dpt")
	footer_at=$(tail -c 16 "$TMP/full.dpt" | head -c 8 | od -An -tu8 | tr -d ' ')
	bad=""
	for cut in $(seq "$footer_at" "$size"); do
		head -c "$cut" "$TMP/full.dpt" >"$TMP/t.dpt"
		"$DUMP" "$TMP/t.dpt" >"$TMP/cut.out" 2>&1
		n=$(grep -c '^interval ' "$TMP/cut.out")
		end=$(tail -n1 "$TMP/cut.out")
		# a torn footer is a tail; a whole footer without its trailer is the end, and the
		# trailer's bytes the tail
		want="end tail=$((cut - footer_at)) footer=no"
		[ "$cut" -ge $((size - 16)) ] && want="end tail=$((cut - size + 16)) footer=no"
		[ "$cut" = "$size" ] && want="end tail=0 footer=yes"
		if [ "$n" != 20 ] || [ "$end" != "$want" ]; then
			bad="at $cut of $size: $n intervals, '$end', want '$want'"
			break
		fi
	done
	check crash-vm-footer-cut-every-byte test -z "$bad" -a "$footer_at" -gt 0
	[ -n "$bad" ] && echo "    $bad"
else
	skip crash-vm "/dev/kvm is not usable here"
fi

# --- dpt track on a running writer, killed at random moments ----------------------------------
if ! "$DPT" check | grep -qE '^tracker pid, (uffd|soft-dirty) method *works'; then
	skip crash-track "the pid tracker does not work on this host"
	exit 0
fi
"$HELPERS/writer" --wss 16M --rate 20000 --pattern random --duration 0 >"$TMP/w.out" &
wpid=$(writer_ready "$TMP/w.out")
for i in $(seq 6); do
	delay=0.$(printf '%03d' $((100 + RANDOM % 200)))
	rm -f "$TMP/c.csv" "$TMP/t.dpt"
	spin "$delay" "$DPT" track --pid "$wpid" --interval 10ms -q -o csv:"$TMP/c.csv" \
		-o trace:"$TMP/t.dpt" 2>/dev/null
	judge "crash-track-$i" "$TMP/c.csv" "$TMP/t.dpt"
	echo "# track run $i killed after ${delay}s: $N intervals, $ROWS rows, tail $TAIL," \
		"footer $FOOTER"
done
kill "$wpid"
wait "$wpid" 2>/dev/null
