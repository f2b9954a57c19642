#!/bin/bash
# dpt report end to end. Micro-VM runs with known patterns: seq (N(t) = min(W, r t) within a
# guest batch, and exactly what the run's own CSV implies; rates equal to the CSV's), random
# (N(t) against its expectation), hotcold (the hottest ranges are the hot part), 2 vCPUs, a cut,
# --compat, a recording killed. Synthetic traces through the trace writer (trace-gen): a region
# table that renumbers pages, a counts-only trace, sessions, messages, processes, a torn tail.
# A counts-only trace from the qmp tracker (against the fake QMP server). Bad input.
set -u
. "$(dirname "$0")/lib.sh"

JG=$HELPERS/json-get
GEN=$HELPERS/trace-gen
if [ ! -x "$JG" ] || [ ! -x "$GEN" ] || ! "$DPT" report --help >/dev/null 2>&1; then
	skip report-all "needs build/dpt with report, $JG and $GEN (make tests)"
	exit 0
fi
cd "$TMP" || exit 1

# near A B TOL: |A - B| <= TOL
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; exit !(d <= t && -d <= t) }'; }
# report NAME ARGS...: dpt report --json ARGS into NAME.json (and stderr into NAME.err)
report() {
	local name=$1
	shift
	"$DPT" report --json "$@" >"$name.json" 2>"$name.err"
}
j() { "$JG" "$@" 2>/dev/null; }
# one_line NAME STATUS RC PATTERN: exit status RC and exactly one stderr line matching PATTERN
one_line() {
	local n
	n=$(wc -l <err)
	if [ "$2" = "$3" ] && [ "$n" = 1 ] && grep -qE "$4" err; then ok "$1"; else
		fail "$1" "status $2 (want $3), $n lines: $(head -c 300 err)"
	fi
}

# --- synthetic: a region inserted before the pages renumbers them, N(t) must not change ----
"$GEN" --pages 2000 --intervals 40 --pattern seq --dirty 150 plain.dpt >/dev/null
"$GEN" --pages 2000 --intervals 40 --pattern seq --dirty 150 --remap 20 remap.dpt >/dev/null
report plain plain.dpt && report remap remap.dpt
check report-remap-curve test "$(j plain.json working_set.points)" = \
	"$(j remap.json working_set.points)"
check report-remap-said test "$(j remap.json working_set.renumbered \
	working_set.table_changes working_set.distinct | tr '\n' ' ')" = "true 1 2000 "
check report-remap-regions test "$(j remap.json regions.regions[0].name \
	regions.regions[0].distinct regions.regions[1].name regions.regions[1].pages \
	regions.regions[1].distinct | tr '\n' ' ')" = "ram 2000 new 64 0 "
"$DPT" report remap.dpt >remap.txt
check report-remap-text grep -q "region table changed 1 times and renumbered pages" remap.txt

# --- synthetic: counts only, with vCPUs, processes, sessions and a message ------------------
"$GEN" --pages 1000 --intervals 12 --counts-only --vcpus 2 --procs --sessions 3 \
	--message "warning: a test line" counts.dpt >/dev/null
report counts counts.dpt
check report-counts-exit test $? = 0
check report-counts-unavailable test "$(j counts.json working_set.available hot.available \
	regions.available | tr '\n' ' ')" = "false false false "
"$DPT" report counts.dpt >counts.txt
check report-counts-said test "$(grep -c "cannot be computed: a counts-only trace" counts.txt)" = 3
check report-counts-rates test "$(j counts.json rates.intervals)" = 12
check report-counts-vcpus test "$(($(j counts.json vcpus[0].dirty_pages) + \
	$(j counts.json vcpus[1].dirty_pages)))" = "$(j counts.json intervals.dirty_pages)"
check report-counts-procs test "$(($(j counts.json processes[0].dirty_pages) + \
	$(j counts.json processes[1].dirty_pages)))" = "$(j counts.json intervals.dirty_pages)"
check report-sessions test "$(j counts.json intervals.sessions)" = 3
check report-message grep -q "warning: a test line" counts.txt

# --- synthetic: --compat's all-dirty first interval and a lost last one are left out --------
"$GEN" --pages 1000 --intervals 10 --compat --lost --nonzero compat.dpt >/dev/null
report compat compat.dpt
check report-compat-left-out test "$(j compat.json intervals.synthetic intervals.lost \
	intervals.counted working_set.intervals | tr '\n' ' ')" = "1 1 9 9 "
check report-compat-n1 test "$(j compat.json working_set.points[0].max)" -lt 100
check report-nonzero test "$(j compat.json 'length(nonzero)' nonzero[0].count | tr '\n' ' ')" = \
	"2 250 "

# --- synthetic: rates are each interval's pages over its length, percentiles by rank ------
"$GEN" --pages 5000 --intervals 37 --dirty 400 --interval-ms 250 rates.dpt >/dev/null
report rates rates.dpt
# each interval's rate from trace-dump's lines, sorted: mean, p50 (rank ceil(n / 2)), max
"$HELPERS/trace-dump" rates.dpt | awk '/^interval/ { sub("mono=", "", $3); split($3, t, "[.][.]")
	sub("dirty=", "", $5); print $5 / (t[2] - t[1]) }' | sort -g >rates.v
want=$(awk '{ r[NR] = $1; s += $1 } END { printf "%.3f %.3f %.3f", s / NR,
	r[int((50 * NR + 99) / 100)], r[NR] }' rates.v)
got=$(j rates.json rates.pages_per_s.mean rates.pages_per_s.p50 rates.pages_per_s.max |
	awk '{ printf "%s%.3f", (NR > 1 ? " " : ""), $1 }')
check report-rates-exact test "$got" = "$want"

# --- synthetic: a torn tail is read up to the tear and said ---------------------------------
"$GEN" --pages 1000 --intervals 5 --no-footer --torn 20 torn.dpt >/dev/null
"$DPT" report torn.dpt >torn.txt 2>err
check report-torn-exit test $? = 0
check report-torn-said grep -q "20 bytes at the end ignored: the recording was killed" torn.txt
report torn torn.dpt
check report-torn-json test "$(j torn.json file.torn_tail_bytes intervals.counted |
	tr '\n' ' ')" = "20 5 "

# --- bad input: one "dpt: ..." line, exit 1; bad usage: exit 2 -----------------------------
"$DPT" report "$TMP/nonexistent.dpt" >out 2>err
one_line report-bad-missing $? 1 "^dpt: .*nonexistent.dpt: No such file"
echo "just some text, long enough to be read as a trace prefix" >text.dpt
"$DPT" report text.dpt >out 2>err
one_line report-bad-not-trace $? 1 "^dpt: .*not a dpt trace"
: >empty.dpt
"$DPT" report empty.dpt >out 2>err
one_line report-bad-empty $? 1 "^dpt: .*not a dpt trace"
# a byte flipped inside a record in the middle of the file: its checksum fails
cp plain.dpt flipped.dpt
size=$(stat -c %s flipped.dpt)
printf '\xff' | dd of=flipped.dpt bs=1 seek=$((size / 2)) conv=notrunc status=none
"$DPT" report flipped.dpt >out 2>err
one_line report-bad-corrupt $? 1 "^dpt: .*record at offset [0-9]+: (checksum|bad magic|no record)"
check report-bad-corrupt-nothing-printed test ! -s out
"$DPT" report >out 2>err
one_line report-usage-no-file $? 2 "^dpt report: which trace"
"$DPT" report --bogus plain.dpt >out 2>err
one_line report-usage-option $? 2 "^dpt report: unknown option"
"$DPT" report --from 2 --to 1 plain.dpt >out 2>err
one_line report-usage-cut $? 2 "^dpt report: --to must be after --from"
"$DPT" report --from soon plain.dpt >out 2>err
one_line report-usage-time $? 2 "^dpt report: --from: 'soon' is not a time"
"$DPT" report plain.dpt remap.dpt >out 2>err
one_line report-usage-two $? 2 "^dpt report: one trace at a time"

# --- counts only, for real: the qmp tracker against the fake QMP server ---------------------
if [ -x "$HELPERS/qmp-fake" ]; then
	"$HELPERS/qmp-fake" q.sock ring >fake.out 2>&1 &
	fake=$!
	for _ in $(seq 100); do grep -q ready fake.out 2>/dev/null && break; sleep 0.05; done
	"$DPT" track --qmp q.sock -c 2 -q -o trace:qmp.dpt 2>err
	kill $fake 2>/dev/null
	wait $fake 2>/dev/null
	report qmp qmp.dpt
	check report-qmp-counts-only test "$(j qmp.json working_set.available hot.available \
		rates.intervals 'length(vcpus)' | tr '\n' ' ')" = "false false 2 2 "
else
	skip report-qmp-counts-only "no $HELPERS/qmp-fake"
fi

if ! have_kvm; then
	skip report-vm "/dev/kvm is not usable here"
	exit 0
fi
# vm NAME ARGS...: a micro-VM run of 50 intervals of 100 ms recorded to NAME.dpt and NAME.csv
vm() {
	local name=$1
	shift
	"$DPT" vm --mem 64M --wss 16M --interval 100ms --count 50 -q -o trace:"$name.dpt" \
		-o csv:"$name.csv" "$@" 2>"$name.vmerr"
}
W=4096 # pages of --wss 16M

# --- seq: N(t) = min(W, r t), and exactly what the CSV's counts imply -----------------------
# For seq, a window's distinct pages are min(W, its writes): consecutive pages, wrapping.
vm seq --pattern seq --rate 4000p
report seq seq.dpt
check report-seq-exit test $? = 0
bad="" n=$(j seq.json 'length(working_set.points)')
for i in $(seq 0 $((n - 1))); do
	read -r k mean max < <(j seq.json "working_set.points[$i].k" "working_set.points[$i].mean" \
		"working_set.points[$i].max" | tr '\n' ' ')
	read -r wmean wmax < <(awk -F, -v k="$k" -v W=$W 'NR > 1 { d[++n] = $4 }
		END { for (s = 1; s + k - 1 <= n; s++) { t = 0
			for (i = s; i < s + k; i++) t += d[i]
			if (t > W) t = W; sum += t; if (t > mx) mx = t; w++ }
		printf "%.6f %d\n", sum / w, mx }' seq.csv)
	truth=$((400 * k < W ? 400 * k : W))
	near "$mean" "$wmean" 0.000001 && [ "$max" = "$wmax" ] || bad="$bad k=$k: $mean/$max, csv $wmean/$wmax;"
	near "$mean" "$truth" 16 || bad="$bad k=$k: mean $mean, min(W, r t) = $truth;"
done
check report-seq-curve test -z "$bad" -a "$n" = 7
[ -n "$bad" ] && echo "#$bad"
check report-seq-distinct test "$(j seq.json working_set.distinct)" = $W
# rates: the CSV's pages over its interval lengths (6 decimals: within 0.05 pages/s)
read -r cmean cmax csum < <(awk -F, 'NR > 1 { r = $4 / $3; s += r; n++; t += $4
	if (r > mx) mx = r } END { printf "%.4f %.4f %d\n", s / n, mx, t }' seq.csv)
check report-seq-rates near "$(j seq.json rates.pages_per_s.mean)" "$cmean" 0.05
check report-seq-rate-max near "$(j seq.json rates.pages_per_s.max)" "$cmax" 0.05
check report-seq-dirty test "$(j seq.json intervals.dirty_pages)" = "$csum"
check report-seq-mib near "$(j seq.json rates.mib_per_s.mean)" \
	"$(awk -v r="$cmean" 'BEGIN { print r * 4096 / 1048576 }')" 0.001

# --- the cut: intervals whose middle is in [1 s, 2 s): the 11th to the 20th ----------------
report cut --from 1 --to 2 seq.dpt
check report-cut-counted test "$(j cut.json intervals.counted working_set.intervals \
	intervals.outside_cut | tr '\n' ' ')" = "10 10 40 "
want=$(awk -F, 'NR >= 12 && NR <= 21 { t += $4 } END { print t }' seq.csv)
check report-cut-dirty test "$(j cut.json intervals.dirty_pages)" = "$want"
report cut2 --from 1s --to +1 seq.dpt
check report-cut-relative test "$(j cut.json working_set)" = "$(j cut2.json working_set)"

# --- random: the mean of N(t) against W (1 - (1 - 1/W)^(r t)), within 3 % ------------------
vm random --pattern random --rate 4000p
report random random.dpt
for i in 0 3; do
	read -r k mean < <(j random.json "working_set.points[$i].k" \
		"working_set.points[$i].mean" | tr '\n' ' ')
	want=$(awk -v k="$k" -v W=$W 'BEGIN { print W * (1 - (1 - 1 / W) ^ (400 * k)) }')
	check "report-random-k$k" near "$mean" "$want" "$(awk -v w="$want" 'BEGIN { print w * 0.03 }')"
done

# --- hotcold: the hottest ranges (within half the hottest's mean) are the hot tenth ---------
vm hot --pattern hotcold --rate 4000p
report hot --top 20 hot.dpt
hot=$((W * 10 / 100))
got=$(for i in $(seq 0 $(($(j hot.json 'length(hot.ranges)') - 1))); do
	j hot.json "hot.ranges[$i].region" "hot.ranges[$i].page" "hot.ranges[$i].pages" \
		"hot.ranges[$i].mean" | tr '\n' ' '
	echo
done | awk 'NR == 1 { top = $4 } $4 >= top / 2 { print $1, $2, $3 }' | sort -k2,2n |
	awk '{ if ($1 != "ram" || $2 != end) bad = 1; end = $2 + $3 } END { print bad ? "gap" : end }')
check report-hotcold-hot-part test "$got" = "$hot"
[ "$got" != "$hot" ] && "$DPT" report --top 10 hot.dpt | sed -n '/^hot pages/,/^$/p' | sed 's/^/# /'

# --- two vCPUs (dirty ring): their counts add up --------------------------------------------
vm two --vcpus 2 --log-mode ring --pattern random --rate 4000p
report two two.dpt
check report-vcpus test "$(($(j two.json vcpus[0].dirty_pages) + \
	$(j two.json vcpus[1].dirty_pages)))" = "$(j two.json intervals.dirty_pages)"

# --- --compat: the synthetic all-dirty interval is left out -------------------------------
"$DPT" vm --compat --mem 64M --wss 16M --rate 4000p --interval 100ms --count 5 -q \
	-o trace:compat-vm.dpt 2>/dev/null
report compatvm compat-vm.dpt
check report-compat-vm test "$(j compatvm.json intervals.synthetic intervals.counted |
	tr '\n' ' ')" = "1 5 "
check report-compat-vm-n1 test "$(j compatvm.json working_set.points[0].max)" -le 416

# --- a recording killed: read to its end, said -----------------------------------------------
"$DPT" vm --mem 64M --wss 16M --rate 4000p --interval 100ms --count 1000 -q \
	-o trace:killed.dpt 2>/dev/null &
sleep 1.5
kill -9 $! 2>/dev/null
wait $! 2>/dev/null
"$DPT" report killed.dpt >killed.txt 2>err
check report-killed-exit test $? = 0
check report-killed-said grep -q "no footer: the recording did not end cleanly" killed.txt
