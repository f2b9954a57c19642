#!/bin/bash
# dpt import, dpt export and -o ndjson: end to end (docs/import-export.md).
#  - ground truth through the chain: micro-VM runs (seq, random, hotcold; 100 ms) recorded as a
#    trace and, at the same time, as Qemu-DPT bitmap files, CSV and ndjson; dpt export of the
#    trace gives the same file names and bytes, the same CSV, the same ndjson;
#  - the same for a counts-only trace (the qmp tracker, on the fake QMP server) and a followed
#    process tree (per-process rows: the CSV's companion file);
#  - Qemu-DPT round trips: directories written by dpt --compat and without, and ones made by
#    hand as Qemu-DPT wrote them (a 4 GiB guest's 1,050,736 pages, a page count that is not a
#    multiple of 64, files sharing a second): import, export, the same names and bytes; the
#    page count exact after an all-dirty first file, said to be an upper bound otherwise;
#  - every -o ndjson: line valid JSON with the documented keys (tests/helpers/ndjson-check);
#  - a torn trace exports what it holds and says so; bad input: one "dpt" line, a non-zero
#    exit, no file left behind.
set -u
. "$(dirname "$0")/lib.sh"

CHECK_ND=$HELPERS/ndjson-check
DUMP=$HELPERS/trace-dump

# same_dir A B: the same file names, and every file the same bytes
same_dir() {
	[ "$(ls "$1")" = "$(ls "$2")" ] || { echo "# names differ: $(diff <(ls "$1") <(ls "$2") | head -4)"; return 1; }
	for f in "$1"/*; do
		cmp -s "$f" "$2/${f##*/}" || { echo "# ${f##*/} differs"; return 1; }
	done
}
# bad_io NAME ARGS...: dpt ARGS must fail with one "dpt" line on stderr and create nothing in
# $TMP/out (outputs of the bad cases go there; $TMP/out/bm is an empty directory)
bad_io() {
	local name=$1
	shift
	rm -rf "$TMP/out" && mkdir -p "$TMP/out/bm"
	"$DPT" "$@" >"$TMP/bad.out" 2>"$TMP/bad.err"
	local rc=$?
	if [ $rc = 0 ]; then
		fail "bad-$name" "exit 0 for: $*"
	elif [ "$(wc -l <"$TMP/bad.err")" != 1 ] || ! grep -q '^dpt' "$TMP/bad.err"; then
		fail "bad-$name" "not one dpt line: $(head -c 300 "$TMP/bad.err")"
	elif [ -n "$(find "$TMP/out" -mindepth 1 ! -path "$TMP/out/bm")" ]; then
		fail "bad-$name" "left behind: $(find "$TMP/out" -mindepth 1 ! -path "$TMP/out/bm" | head -3)"
	else
		ok "bad-$name"
	fi
}
# bytes FILE OFFSET OCTAL...: write these bytes at OFFSET
bytes() {
	local f=$1 off=$2
	shift 2
	# shellcheck disable=SC2059 # octal escapes, built on purpose
	printf "$(printf '\\%s' "$@")" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}
# zeros FILE N: a file of N zero bytes
zeros() { head -c "$2" /dev/zero >"$1"; }
# ones FILE N: a file of N 0xff bytes
ones() { head -c "$2" /dev/zero | tr '\0' '\377' >"$1"; }

# --- ground truth through the chain: the micro-VM --------------------------------------------
if have_kvm; then
	for p in seq random hotcold; do
		case $p in
		seq) extra="--compat" ;;
		random) extra="" ;;
		hotcold) extra="--compat --vcpus 2 --log-mode ring" ;;
		esac
		d=$TMP/$p
		mkdir -p "$d/live" "$d/ex"
		# shellcheck disable=SC2086
		"$DPT" vm --mem 64M --wss 16M --pattern $p --rate 8M --interval 100ms --count 20 \
			$extra -q --bitmaps "$d/live" -o trace:"$d/T.dpt" -o csv:"$d/C.csv" \
			-o ndjson:"$d/N.json" 2>"$d/err"
		check chain-$p-run test $? = 0
		n=$(ls "$d/live" | wc -l)
		want=$((20 + (${#extra} > 0)))
		# several intervals in one second: the .1, .2 suffixes are exercised too
		check chain-$p-live-files test "$n" = $want -a "$(ls "$d/live" | grep -c '\.[0-9]*\.[0-9]*$')" -gt 5
		"$DPT" export "$d/T.dpt" --bitmaps "$d/ex" --csv "$d/C2.csv" --ndjson "$d/N2.json" \
			2>"$d/exerr"
		check chain-$p-export test $? = 0 -a ! -s "$d/exerr"
		check chain-$p-bitmaps same_dir "$d/live" "$d/ex"
		check chain-$p-csv cmp "$d/C.csv" "$d/C2.csv"
		check chain-$p-ndjson cmp "$d/N.json" "$d/N2.json"
		check chain-$p-ndjson-valid "$CHECK_ND" "$d/N.json"
		"$CHECK_ND" "$d/N.json" >"$d/nd.sum"
		check chain-$p-ndjson-lines grep -q "start=1 stop=1 intervals=$want lost=0" "$d/nd.sum"
		# the CSV to stdout is the same CSV
		"$DPT" export "$d/T.dpt" --csv - >"$d/C3.csv"
		check chain-$p-csv-stdout cmp "$d/C.csv" "$d/C3.csv"
	done
	check chain-hotcold-vcpus grep -q 'vcpus=20' "$TMP/hotcold/nd.sum"

	# --from/--to: whole intervals in the window, as they are in the full export
	"$DPT" export "$TMP/seq/T.dpt" --from 0.5 --to 1.5 --csv "$TMP/win.csv"
	check export-window-exit test $? = 0
	rows=$(($(wc -l <"$TMP/win.csv") - 1))
	check export-window-rows test "$rows" -ge 8 -a "$rows" -le 10
	check export-window-subset bash -c "tail -n +2 '$TMP/win.csv' | grep -vxFf '$TMP/seq/C.csv' | grep -q . && exit 1 || exit 0"

	# --- Qemu-DPT round trip: a dpt --compat directory, and one without ------------------
	for p in seq random; do
		d=$TMP/$p
		mkdir -p "$d/rt"
		"$DPT" import "$d/live" -o "$d/I.dpt" 2>"$d/imerr"
		check import-$p-exit test $? = 0 -a -f "$d/I.dpt" -a ! -e "$d/I.dpt.tmp"
		"$DPT" export "$d/I.dpt" --bitmaps "$d/rt"
		check import-$p-round-trip same_dir "$d/live" "$d/rt"
		"$DUMP" "$d/I.dpt" >"$d/I.dump"
		check import-$p-intervals test "$(grep -c '^interval.*total=16384 ' "$d/I.dump")" = \
			"$(ls "$d/live" | wc -l)"
	done
	# after the all-dirty first file the page count is exact, and said so
	check import-seq-exact grep -q '16384 pages (exact' "$TMP/seq/imerr"
	check import-seq-all grep -q '^interval seq=0 .*dirty=16384 total=16384 .*flags=0x2 ' \
		"$TMP/seq/I.dump"
	check import-seq-header grep -q 'tracker=import .*flags=0x32 .*pid=[1-9]' "$TMP/seq/I.dump"
	check import-random-upper-bound grep -q '16384 pages, an upper bound' "$TMP/random/imerr"
	# 100-ms files share seconds: their ends are spread over them (m files of a second 1/m s
	# apart), so every interval has a length, under a second; said to be an estimate
	check import-spread-lengths awk '/^interval seq=[1-9]/ { sub(/mono=/, "", $3)
		split($3, t, /\.\./); d = t[2] - t[1]
		if (d <= 0.05 || d > 1) bad = 1; n++ } END { exit bad || n < 10 }' "$TMP/random/I.dump"
	check import-spread-said grep -q 'spread evenly over it' "$TMP/random/imerr"
	# the dirty counts come through: the import's ndjson has the live run's counts
	"$DPT" export "$TMP/seq/I.dpt" --csv "$TMP/seq/I.csv"
	check import-seq-counts cmp <(cut -d, -f1,4,5 "$TMP/seq/C.csv") \
		<(cut -d, -f1,4,5 "$TMP/seq/I.csv")
else
	skip chain "/dev/kvm is not usable here"
fi

# --- Qemu-DPT as it wrote them: a 4 GiB guest (README: 131344 bytes, 1050736 pages) -------------
q=$TMP/qemu4g
mkdir -p "$q/in" "$q/out"
ones "$q/in/qemu.bm-14528.1434530585" $((16417 * 8))
bytes "$q/in/qemu.bm-14528.1434530585" $((16417 * 8)) 377 377 377 377 377 377 000 000
for s in 1434530586 1434530587 1434530589; do zeros "$q/in/qemu.bm-14528.$s" 131344; done
bytes "$q/in/qemu.bm-14528.1434530586" 0 001 003 # pages 0, 8, 9
bytes "$q/in/qemu.bm-14528.1434530587" 131341 200 # page 1050735, the last
bytes "$q/in/qemu.bm-14528.1434530589" 4096 377 # pages 32768-32775
"$DPT" import "$q/in" -o "$q/I.dpt" 2>"$q/err"
check qemu4g-import test $? = 0
check qemu4g-exact grep -q '1050736 pages (exact' "$q/err"
"$DUMP" "$q/I.dpt" >"$q/dump"
check qemu4g-counts test "$(grep -o 'seq=[0-9]* .*dirty=[0-9]* total=[0-9]*' "$q/dump" |
	sed 's/ mono.*dirty=/ /; s/ total=/ /' | tr '\n' ' ')" = \
	"seq=0 1050736 1050736 seq=1 3 1050736 seq=2 1 1050736 seq=3 8 1050736 "
# the last file is named after the second after its end (dpt_stop): it ended in ...588
check qemu4g-final-end grep -q '^interval seq=3 .*wall=1434530587.000000..1434530588.000000 .*flags=0x4 ' "$q/dump"
"$DPT" export "$q/I.dpt" --bitmaps "$q/out"
check qemu4g-round-trip same_dir "$q/in" "$q/out"

# --- by hand: 100 pages (not a multiple of 64), two files in one second ---------------------------
h=$TMP/hand
mkdir -p "$h/in" "$h/out" "$h/nc" "$h/ncout"
ones "$h/in/qemu.bm-77.1000" 12
bytes "$h/in/qemu.bm-77.1000" 12 017 000 000 000
for s in 1001 1001.1 1002 1004; do zeros "$h/in/qemu.bm-77.$s" 16; done
bytes "$h/in/qemu.bm-77.1001.1" 12 010 # page 99, the last
"$DPT" import "$h/in" -o "$h/I.dpt" 2>"$h/err"
check hand-import test $? = 0
check hand-exact grep -q '100 pages (exact' "$h/err"
check hand-same-second grep -q '1 interval ended in the same second as the one before' "$h/err"
"$DUMP" "$h/I.dpt" >"$h/dump"
check hand-total test "$(grep -c '^interval .*total=100 ' "$h/dump")" = 5
"$DPT" export "$h/I.dpt" --bitmaps "$h/out"
check hand-round-trip same_dir "$h/in" "$h/out"
# without the all-dirty file: 128 pages, an upper bound; names and bytes still round-trip
cp "$h"/in/qemu.bm-77.100[1-4]* "$h/nc/"
"$DPT" import "$h/nc" -o "$h/N.dpt" 2>"$h/ncerr"
check hand-upper-bound grep -q '128 pages, an upper bound (no all-dirty first file to count them: files of 16 bytes hold 65 to 128 pages)' "$h/ncerr"
"$DPT" export "$h/N.dpt" --bitmaps "$h/ncout"
check hand-nc-round-trip same_dir "$h/nc" "$h/ncout"
# several pids: --pid picks one
mkdir -p "$h/two"
cp "$h"/in/* "$h/two/"
zeros "$h/two/qemu.bm-78.1000" 16
"$DPT" import "$h/two" --pid 77 -o "$h/P.dpt" 2>/dev/null
check import-pid-picks cmp <("$DUMP" "$h/I.dpt" | grep ^interval) <("$DUMP" "$h/P.dpt" | grep ^interval)

# --- a counts-only trace: the qmp tracker on the fake QMP server ---------------------------------
if [ -x "$HELPERS/qmp-fake" ]; then
	"$HELPERS/qmp-fake" "$TMP/q.sock" ring >"$TMP/fake.out" 2>&1 &
	fake=$!
	for _ in $(seq 100); do grep -q ready "$TMP/fake.out" 2>/dev/null && break; sleep 0.05; done
	"$DPT" track --qmp "$TMP/q.sock" -c 3 -q -o trace:"$TMP/Q.dpt" -o csv:"$TMP/Q.csv" \
		-o ndjson:"$TMP/Q.json" 2>/dev/null
	check qmp-run test $? = 0
	kill $fake 2>/dev/null
	wait $fake 2>/dev/null
	"$DPT" export "$TMP/Q.dpt" --csv "$TMP/Q2.csv" --ndjson "$TMP/Q2.json"
	check qmp-csv cmp "$TMP/Q.csv" "$TMP/Q2.csv"
	check qmp-ndjson cmp "$TMP/Q.json" "$TMP/Q2.json"
	check qmp-ndjson-valid "$CHECK_ND" "$TMP/Q.json"
	bad_io export-counts-only export "$TMP/Q.dpt" --bitmaps "$TMP/out/bm"
	check export-counts-only-says grep -q 'counts-only trace' "$TMP/bad.err"
else
	skip qmp "no $HELPERS/qmp-fake (make tests)"
fi

# --- a followed tree: per-process rows, the CSV's companion file ---------------------------------
if "$DPT" check 2>/dev/null | grep -q '^tracker pid, uffd method *works'; then
	W=$HELPERS/writer
	# its processes are traced by a keeper: a sanitizer build's leak check must be off there
	LSAN_OPTIONS=detect_leaks=0 "$DPT" track -q -f --interval 200ms -o trace:"$TMP/F.dpt" -o csv:"$TMP/F.csv" \
		-o ndjson:"$TMP/F.json" -- sh -c "\"$W\" --wss 4M --rate 2000 --duration 1 >/dev/null &
		\"$W\" --wss 4M --rate 1000 --duration 1.2 >/dev/null; wait" 2>/dev/null
	check follow-run test $? = 0 -a -s "$TMP/F.procs.csv"
	"$DPT" export "$TMP/F.dpt" --csv "$TMP/F2.csv" --ndjson "$TMP/F2.json"
	check follow-csv cmp "$TMP/F.csv" "$TMP/F2.csv"
	check follow-procs-csv cmp "$TMP/F.procs.csv" "$TMP/F2.procs.csv"
	check follow-ndjson cmp "$TMP/F.json" "$TMP/F2.json"
	check follow-ndjson-valid "$CHECK_ND" "$TMP/F.json"
	check follow-ndjson-processes bash -c "'$CHECK_ND' '$TMP/F.json' | grep -q 'processes=[1-9]'"
else
	skip follow "the pid tracker's uffd method does not work on this host"
fi

# --- a torn trace: what is there, said in one line -------------------------------------------------
if [ -f "$TMP/seq/T.dpt" ]; then
	size=$(stat -c %s "$TMP/seq/T.dpt")
	# cut inside a record (at a record's boundary, 7 bytes less: a record is 20 bytes at least)
	for back in 0 7; do
		head -c $((size * 3 / 4 - back)) "$TMP/seq/T.dpt" >"$TMP/torn.dpt"
		"$DUMP" "$TMP/torn.dpt" | grep -q '^end tail=[1-9]' && break
	done
	mkdir -p "$TMP/torn"
	"$DPT" export "$TMP/torn.dpt" --csv "$TMP/torn.csv" --bitmaps "$TMP/torn" 2>"$TMP/torn.err"
	check torn-exit-0 test $? = 0
	check torn-one-line test "$(wc -l <"$TMP/torn.err")" = 1
	check torn-says-bytes grep -q '^dpt: warning: .*torn.dpt: its last [1-9][0-9]* bytes are a torn record' "$TMP/torn.err"
	n=$(wc -l <"$TMP/torn.csv")
	check torn-csv-prefix test "$n" -gt 3 -a "$n" -lt 22
	check torn-csv-same cmp "$TMP/torn.csv" <(head -n "$n" "$TMP/seq/C.csv")
	check torn-bitmaps test "$(ls "$TMP/torn" | wc -l)" = $((n - 1))
	# cut at a record's boundary: no torn bytes, but no footer either, and that is said
	tail=$("$DUMP" "$TMP/torn.dpt" | sed -n 's/^end tail=\([0-9]*\) .*/\1/p')
	head -c $((size * 3 / 4 - back - tail)) "$TMP/seq/T.dpt" >"$TMP/cut.dpt"
	"$DPT" export "$TMP/cut.dpt" --csv "$TMP/cut.csv" 2>"$TMP/cut.err"
	check cut-exit-0 test $? = 0 -a "$(wc -l <"$TMP/cut.err")" = 1
	check cut-says-no-footer grep -q '^dpt: warning: .*cut.dpt: no footer' "$TMP/cut.err"
	check cut-csv-same cmp "$TMP/cut.csv" "$TMP/torn.csv"

	# a trace damaged in its middle: an error, and every file the export wrote removed
	cp "$TMP/seq/T.dpt" "$TMP/bad.dpt"
	bytes "$TMP/bad.dpt" $((size * 2 / 3)) 125 125 125 125
	bad_io export-damaged export "$TMP/bad.dpt" --bitmaps "$TMP/out/bm" --csv "$TMP/out/x.csv" \
		--ndjson "$TMP/out/x.json"
	check export-damaged-names-it grep -q "bad.dpt: trace: record at offset" "$TMP/bad.err"
	check export-damaged-files-removed test -z "$(ls "$TMP/out/bm")"
	bad_io export-bitmaps-taken export "$TMP/seq/T.dpt" --bitmaps "$TMP/seq/live"
fi

# --- bad input --------------------------------------------------------------------------------
mkdir -p "$TMP/empty" "$TMP/b"
printf 'seq,time\n' >"$TMP/b/not.dpt"
head -c 20 "$h/I.dpt" >"$TMP/b/short.dpt"
bad_io import-not-a-dir import "$h/I.dpt" -o "$TMP/out/x.dpt"
bad_io import-missing-dir import "$TMP/nonexistent" -o "$TMP/out/x.dpt"
bad_io import-empty-dir import "$TMP/empty" -o "$TMP/out/x.dpt"
bad_io import-two-pids import "$h/two" -o "$TMP/out/x.dpt"
check import-two-pids-named grep -q '2 processes (pids 77, 78): pick one with --pid' "$TMP/bad.err"
bad_io import-pid-absent import "$h/in" --pid 5 -o "$TMP/out/x.dpt"
bad_io import-no-output import "$h/in"
# (each case: a copy of the good directory with one thing wrong)
case_dir() { rm -rf "$TMP/c" && mkdir -p "$TMP/c" && cp "$h"/in/* "$TMP/c/"; }
case_dir && zeros "$TMP/c/qemu.bm-77.1003" 24
bad_io import-other-size import "$TMP/c" -o "$TMP/out/x.dpt"
check import-other-size-says grep -q 'qemu.bm-77.1003: 24 bytes, but qemu.bm-77.1000 has 16' "$TMP/bad.err"
case_dir && echo hello >"$TMP/c/README"
bad_io import-foreign-file import "$TMP/c" -o "$TMP/out/x.dpt"
case_dir && zeros "$TMP/c/qemu.bm-77.1003" 12
bad_io import-odd-size import "$TMP/c" -o "$TMP/out/x.dpt"
case_dir && mkdir "$TMP/c/qemu.bm-77.1003"
bad_io import-not-regular import "$TMP/c" -o "$TMP/out/x.dpt"
case_dir && ln -s "$TMP/nonexistent" "$TMP/c/qemu.bm-77.1003"
bad_io import-unreadable import "$TMP/c" -o "$TMP/out/x.dpt"
case_dir && bytes "$TMP/c/qemu.bm-77.1002" 15 001 # page 120: past the 100 pages
bad_io import-past-the-pages import "$TMP/c" -o "$TMP/out/x.dpt"
check import-past-says grep -q 'page 120 is set, past the 100 pages' "$TMP/bad.err"
bad_io import-unwritable import "$h/in" -o /proc/x.dpt
bad_io import-output-missing-dir import "$h/in" -o "$TMP/out/no/x.dpt"
bad_io import-output-a-dir import "$h/in" -o "$TMP/out/bm"
bad_io export-not-a-trace export "$TMP/b/not.dpt" --csv "$TMP/out/x.csv"
bad_io export-short-trace export "$TMP/b/short.dpt" --ndjson "$TMP/out/x.json"
bad_io export-missing-trace export "$TMP/nonexistent.dpt" --csv "$TMP/out/x.csv"
bad_io export-nothing-to-write export "$h/I.dpt"
bad_io export-unwritable export "$h/I.dpt" --bitmaps "$TMP/out/bm" --csv /proc/x.csv
bad_io export-bitmaps-missing export "$h/I.dpt" --bitmaps "$TMP/out/none"
bad_io export-two-stdout export "$h/I.dpt" --csv - --ndjson -
bad_io export-bad-time export "$h/I.dpt" --csv "$TMP/out/x.csv" --from soon
bad_io ndjson-unwritable vm --count 1 -o ndjson:/proc/x.json
