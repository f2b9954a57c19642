#!/bin/bash
# dpt plot: the files are what they say (SVG parses, PNG has its signature and the size asked,
# PDF is a PDF); the data gnuplot was given are dpt report --json's numbers and the trace's
# (rate = trace-dump's intervals, N(t) = report's curve and a brute-force count of distinct
# pages per window, heat map bins = a brute-force binning of trace-dump --pages); the terminal
# heat map shows a sequential sweep as a diagonal and a hot/cold pattern's hot pages as its
# darkest rows; synthetic traces (trace-gen): a remapped region, a lost interval, counts only;
# dpt report --html: one well-formed page, no script, nothing outside itself, report's numbers;
# bad input is one "dpt" line, a non-zero exit and no file left behind.
set -u
. "$(dirname "$0")/lib.sh"

DUMP=$HELPERS/trace-dump
JG=$HELPERS/json-get
GEN=$HELPERS/trace-gen
if ! "$DPT" plot --help >/dev/null 2>&1 || [ ! -x "$DUMP" ] || [ ! -x "$JG" ] || [ ! -x "$GEN" ]; then
	skip plot "needs build/dpt with plot, $DUMP, $JG and $GEN (make tests)"
	exit 0
fi
j() { "$JG" "$@" 2>/dev/null; }
# near A B [REL]: A and B equal within REL (default 1e-9) of the larger
near() { awk -v a="$1" -v b="$2" -v r="${3:-1e-9}" 'BEGIN { d = a - b; if (d < 0) d = -d
	m = (a < 0 ? -a : a) > (b < 0 ? -b : b) ? (a < 0 ? -a : a) : (b < 0 ? -b : b)
	exit !(a != "" && b != "" && d <= r * m + 1e-12) }'; }
if ! have_kvm; then
	skip plot "needs /dev/kvm for the micro-VM's traces"
	exit 0
fi
have_gnuplot() { command -v gnuplot >/dev/null 2>&1; }

vm() { # vm NAME ARGS...: a 50-interval micro-VM trace in $TMP/NAME.dpt
	local name=$1
	shift
	"$DPT" vm --interval 100ms --count 50 -q -o trace:"$TMP/$name.dpt" "$@" 2>"$TMP/vm.err" ||
		{ fail "plot-trace-$name" "dpt vm failed: $(head -c 300 "$TMP/vm.err")"; exit 0; }
}
vm seq --mem 64M --wss 64M --pattern seq --rate 12M
vm hot --mem 64M --wss 64M --pattern hotcold --rate 8M
vm rnd --mem 64M --wss 16M --pattern random --rate 8M

# --- files -----------------------------------------------------------------------------------
if have_gnuplot; then
	mkdir -p "$TMP/out"
	"$DPT" plot "$TMP/rnd.dpt" -o "$TMP/out/all.svg" >"$TMP/out.txt" 2>"$TMP/err"
	check plot-svg-exit test $? = 0
	for k in rate wss heatmap; do
		check "plot-svg-$k-parses" xmllint --noout "$TMP/out/all-$k.svg"
		check "plot-svg-$k-listed" grep -q "^$TMP/out/all-$k.svg: " "$TMP/out.txt"
	done
	check plot-svg-heatmap-image grep -q "<image .*data:image/png;base64," "$TMP/out/all-heatmap.svg"
	check plot-no-temporary-left test -z "$(ls -A "$TMP/out" | grep '^\.')"

	"$DPT" plot "$TMP/rnd.dpt" --kind heatmap --size 640x400 -o "$TMP/out/h.png" >/dev/null
	sig=$(od -An -tx1 -N8 "$TMP/out/h.png" | tr -d ' \n')
	check plot-png-signature test "$sig" = 89504e470d0a1a0a
	# IHDR: length (4), "IHDR" (4), width (4, big-endian), height (4)
	ihdr=$(od -An -tx1 -j12 -N12 "$TMP/out/h.png" | tr -d ' \n')
	check plot-png-ihdr test "${ihdr:0:8}" = 49484452
	check plot-png-size test "$((16#${ihdr:8:8}))x$((16#${ihdr:16:8}))" = 640x400

	"$DPT" plot "$TMP/rnd.dpt" --kind wss -o "$TMP/out/w.pdf" >/dev/null
	check plot-pdf-magic test "$(head -c 5 "$TMP/out/w.pdf")" = "%PDF-"
	check plot-pdf-whole sh -c "tail -c 64 '$TMP/out/w.pdf' | grep -q '%%EOF' &&
		test \$(stat -c %s '$TMP/out/w.pdf') -gt 2000"
else
	skip plot-files "gnuplot is not installed"
fi

# --- the data gnuplot was given = the trace's numbers ------------------------------------------
if have_gnuplot; then
	"$DPT" plot "$TMP/rnd.dpt" -o "$TMP/d.svg" --keep-data "$TMP/data" >/dev/null 2>"$TMP/err"
	check plot-keep-data-exit test $? = 0
	"$DUMP" --pages "$TMP/rnd.dpt" >"$TMP/rnd.txt"
	"$DPT" report --json "$TMP/rnd.dpt" >"$TMP/rnd.json"
	# rate: one row per interval, seq, times, dirty and total as trace-dump says
	check plot-data-rate awk '
		FNR == NR { if ($1 == "interval") { n++; for (i = 2; i <= NF; i++) {
				split($i, kv, "="); v[kv[1]] = kv[2] }
			split(v["mono"], t, /\.\./); seq[n] = v["seq"]; t0[n] = t[1]; t1[n] = t[2]
			dirty[n] = v["dirty"]; total[n] = v["total"] } next }
		/^#/ { next }
		{ m++; d0 = $2 - t0[m]; d1 = $3 - t1[m]; r = $4 / ($3 - $2); mr = r * 4096 / 1048576
		  if ($1 != seq[m] || $4 != dirty[m] || $5 != total[m] || d0 > 1e-6 || d0 < -1e-6 ||
		      d1 > 1e-6 || d1 < -1e-6 || ($6 - r) > 1e-6 * r || (r - $6) > 1e-6 * r ||
		      ($7 - mr) > 1e-6 * mr || (mr - $7) > 1e-6 * mr) {
			print "# row " m ": " $0; bad = 1 } }
		END { exit bad || m != n || n != 50 }' "$TMP/rnd.txt" "$TMP/data/rate.dat"
	# and report's statistics of them: count, mean, least, most, overall
	stats=$(awk '/^#/ { next } { n++; s += $6; d += $4; t += $3 - $2
			if (n == 1 || $6 < lo) lo = $6; if ($6 > hi) hi = $6 }
		END { printf "%d %.17g %.17g %.17g %.17g", n, s / n, lo, hi, d / t }' "$TMP/data/rate.dat")
	read -r n mean lo hi overall <<<"$stats"
	check plot-data-rate-report sh -c "test '$n' = '$(j "$TMP/rnd.json" rates.intervals)' &&
		$(declare -f near); near $mean $(j "$TMP/rnd.json" rates.pages_per_s.mean) 1e-9 &&
		near $lo $(j "$TMP/rnd.json" rates.pages_per_s.min) 1e-9 &&
		near $hi $(j "$TMP/rnd.json" rates.pages_per_s.max) 1e-9 &&
		near $overall $(j "$TMP/rnd.json" rates.pages_per_s.overall) 1e-9"
	# the mean line drawn is report's mean
	got=$(sed -n "s/^ *\([0-9.e+-]*\) with lines dt 2.*/\1/p" "$TMP/data/plot.gp")
	check plot-data-rate-mean near "$got" "$(j "$TMP/rnd.json" rates.mib_per_s.mean)" 1e-8

	# N(t): report's curve, point for point
	npts=$(j "$TMP/rnd.json" "length(working_set.points)")
	check plot-data-wss-report awk -v npts="$npts" -v jg="$JG" -v js="$TMP/rnd.json" '
		/^#/ { next }
		{ i = m++; cmd = jg " " js " working_set.points[" i "].k working_set.points[" i "].t_s working_set.points[" i "].windows working_set.points[" i "].mean working_set.points[" i "].max"
		  c = 0; while ((cmd | getline line) > 0) v[c++] = line; close(cmd)
		  if ($1 != v[0] || $3 != v[2] || $5 != v[4] || ($2 - v[1]) > 1e-9 * v[1] || (v[1] - $2) > 1e-9 * v[1] ||
		      ($4 - v[3]) > 1e-9 * v[3] || (v[3] - $4) > 1e-9 * v[3]) { print "# point " i ": " $0 " report: " v[0], v[1], v[2], v[3], v[4]; bad = 1 } }
		END { exit bad || m != npts || m < 6 }' "$TMP/data/wss.dat"

	# N(t): every k's mean and most distinct pages over the windows, counted by brute force
	check plot-data-wss awk '
		function expand(list, n,   parts, i, ab, p, c) {
			c = split(list, parts, ",")
			for (i = 1; i <= c; i++) {
				if (split(parts[i], ab, "-") == 2) { for (p = ab[1]; p <= ab[2]; p++) pg[n, p] = 1; np[n] += ab[2] - ab[1] + 1 }
				else { pg[n, parts[i]] = 1; np[n]++ }
			}
		}
		FNR == NR { if ($1 == "interval") { n++; for (i = 2; i <= NF; i++) if ($i ~ /^pages=/) expand(substr($i, 7), n) } next }
		/^#/ { next }
		{ k = $1; sum = 0; most = 0
		  for (s = 1; s + k - 1 <= n; s++) {
			delete seen; c = 0
			for (j = s; j < s + k; j++) for (key in pg) { split(key, ij, SUBSEP); if (ij[1] == j && !((ij[2]) in seen)) { seen[ij[2]] = 1; c++ } }
			sum += c; if (c > most) most = c
		  }
		  mean = sum / (n - k + 1); w++
		  if ($3 != n - k + 1 || $5 != most || ($4 - mean) > 1e-9 * mean || (mean - $4) > 1e-9 * mean) { print "# k=" k ": " $0 " expected mean " mean " most " most; bad = 1 } }
		END { exit bad || w < 6 }' "$TMP/rnd.txt" "$TMP/data/wss.dat"

	# heat map: every bin against a brute-force binning of trace-dump --pages
	check plot-data-heatmap awk 'BEGIN { row = 0 }
		FNR == NR { if ($1 == "interval") { n++; for (i = 2; i <= NF; i++) { if ($i ~ /^total=/) total[n] = substr($i, 7) + 0; if ($i ~ /^pages=/) list[n] = substr($i, 7) } } next }
		/^# rows/ { P = $7; W = $9; for (i = 1; i <= n; i++) { c = split(list[i], parts, ",")
				for (j = 1; j <= c; j++) { if (split(parts[j], ab, "-") < 2) ab[2] = ab[1]
					for (p = ab[1]; p <= ab[2]; p++) d[int(p / P), int((i - 1) / W)]++ } }
			for (i = 1; i <= n; i++) for (r = 0; r * P < total[i]; r++) t[r, int((i - 1) / W)] += (total[i] - r * P < P ? total[i] - r * P : P)
			next }
		/^#/ { next }
		{ for (c = 1; c <= NF; c++) { want = t[row, c - 1] ? d[row, c - 1] / t[row, c - 1] : "nan"
			got = $c; cells++
			if (want == "nan" ? tolower(got) != "nan" : (got - want > 1e-7 || want - got > 1e-7)) { if (bad++ < 5) print "# cell " row "," c - 1 ": " got ", expected " want } }
		  row++ }
		END { exit bad || !cells || row != int((total[1] + P - 1) / P) }' "$TMP/rnd.txt" "$TMP/data/heatmap.dat"
	# its columns: W intervals each, their times those of the intervals
	check plot-data-heatmap-cols awk '
		FNR == NR { if ($1 == "interval") { n++; for (i = 2; i <= NF; i++) if ($i ~ /^mono=/) { split(substr($i, 6), t, /\.\./); t0[n] = t[1]; t1[n] = t[2] } } next }
		/^#/ { next }
		{ f = $2 + 1; l = $2 + $3; c++
		  if ($4 - t0[f] > 1e-6 || t0[f] - $4 > 1e-6 || $5 - t1[l] > 1e-6 || t1[l] - $5 > 1e-6) bad = 1
		  covered += $3 }
		END { exit bad || covered != n }' "$TMP/rnd.txt" "$TMP/data/heatmap-cols.dat"

	# --from/--to: the intervals whose middle is in [from, to), as dpt report counts them
	"$DPT" plot "$TMP/rnd.dpt" --kind rate --from 1s --to 3s -o "$TMP/ft.svg" \
		--keep-data "$TMP/ft" >/dev/null
	want=$(awk '$1 == "interval" { for (i = 2; i <= NF; i++) if ($i ~ /^mono=/) {
			split(substr($i, 6), t, /\.\./); m = (t[1] + t[2]) / 2; if (m >= 1 && m < 3) n++ } }
		END { print n + 0 }' "$TMP/rnd.txt")
	got=$(grep -vc '^#' "$TMP/ft/rate.dat")
	check plot-from-to sh -c "test '$got' = '$want' &&
		test '$got' = '$("$DPT" report --json --from 1s --to 3s "$TMP/rnd.dpt" | j - rates.intervals)'"
	"$DPT" plot "$TMP/rnd.dpt" --kind rate --from 1s --to +2s -o "$TMP/ft2.svg" \
		--keep-data "$TMP/ft2" >/dev/null
	check plot-from-to-plus cmp -s "$TMP/ft/rate.dat" "$TMP/ft2/rate.dat"
else
	skip plot-data "gnuplot is not installed"
fi

# --- the terminal ------------------------------------------------------------------------------
# per FILE HEADER: the columns an interval takes in the chart whose header starts with HEADER
# ("an interval: N columns" / "an interval = N columns"; 1 when binned)
per() {
	awk -v h="$2" 'index($0, h) == 1 { n = 1; if (match($0, /an interval(:| =) [0-9]+ columns/)) {
			s = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", s); n = s }
		print n; exit }' "$1"
}
# cells FILE HEADER PER: the chart under HEADER read back a bin at a time, as "row bin char
# same" (char: the bin's first column, a space as "_"; same: 1 when its PER columns are all
# that character); its rows: the lines after HEADER with a "|" after 10 characters of label
# and 1 of space, up to its bottom border
cells() {
	awk -v h="$2" -v per="$3" 'BEGIN { r = 0 } index($0, h) == 1 { on = 1; next }
		on && /^           \+-+\+$/ { exit }
		on && substr($0, 11, 2) ~ /^ [|+]$/ && substr($0, 12) ~ /^[|].*[|]/ {
			s = substr($0, 13); s = substr(s, 1, index(s, "|") - 1)
			if (length(s) % per) print r, -1, "width", 0
			for (c = 0; c * per < length(s); c++) {
				ch = substr(s, c * per + 1, 1); same = 1
				for (k = 2; k <= per; k++) if (substr(s, c * per + k, 1) != ch) same = 0
				print r, c, ch == " " ? "_" : ch, same }
			r++ }' "$1"
}
# axis_ok TERM DUMP PER: under each chart, every time label starts under the first column of
# an interval (column 13 + c * PER) and reads its start (trace-dump's mono=), the last one
# the end of the last interval followed by " s"; labels regularly spaced up to the end's
axis_ok() {
	awk -v per="$3" 'BEGIN { n = 0 } FNR == NR { if ($1 == "interval") for (i = 2; i <= NF; i++) if ($i ~ /^mono=/) {
				split(substr($i, 6), t, /\.\./); t0[n] = t[1]; t1[n] = t[2]; n++ } next }
		axis { axis = 0; charts++; rest = $0; p = 0; nl = 0; gap = -1
		       while (match(rest, /[0-9.]+/)) {
			p += RSTART; v = substr(rest, RSTART, RLENGTH); rest = substr(rest, RSTART + RLENGTH)
			off = p - 13; c = off / per; d = index(v, ".") ? length(v) - index(v, ".") : 0
			tol = 0.5 * 10 ^ -d + 1e-9; p += RLENGTH - 1
			if (off % per || c > n) { print "# label " v " at column " off + 13; bad = 1; continue }
			want = c < n ? t0[c] : t1[n - 1]
			if (v - want > tol || want - v > tol || (c == n) != (rest == " s")) {
				print "# label " v " of interval " c ", want " want; bad = 1 }
			if (nl && c < n) { if (gap >= 0 && c - last != gap) { print "# irregular at " v; bad = 1 }; gap = c - last }
			if (nl && c == n && gap >= 0 && c - last > gap) { print "# a label missing before the end"; bad = 1 }
			last = c; nl++ }
		       if (nl < 3 || last != n) bad = 1 }
		/^           \+-+\+$/ { axis = 1 }
		END { exit bad || !charts }' "$2" "$1"
}
# grid FILE: the heat map's cells, an interval (or a bin of them) a cell, as "row col level"
# (level: index in the ramp " .:-=+*#%@", -1 for '?' not tracked)
grid() {
	cells "$1" "dirty pages, page x time" "$(per "$1" "dirty pages, page x time")" |
		awk '$3 != "width" { print $1, $2, index("_.:-=+*#%@", $3) - 1 }'
}
"$DPT" plot "$TMP/seq.dpt" --kind heatmap --width 80 --height 16 >"$TMP/seq.term" 2>"$TMP/err"
check plot-term-exit test $? = 0
grid "$TMP/seq.term" >"$TMP/seq.grid"
# a sweep over the pages: each column's darkest row moves down as time goes right
check plot-term-seq-diagonal awk '
	{ if (!($2 in best) || $3 > lv[$2]) { best[$2] = $1; lv[$2] = $3 }; if ($2 > cols) cols = $2 }
	END { for (c = 0; c <= cols; c++) { if (lv[c] < 1) bad = 1; if (c && best[c] < best[c - 1]) bad = 1 }
	      exit bad || cols < 40 || best[cols] - best[0] < 12 }' "$TMP/seq.grid"
check plot-term-seq-width awk '/^ +page \+-+\+$/ { exit !(length($0) <= 80) }' "$TMP/seq.term"
"$DUMP" "$TMP/seq.dpt" >"$TMP/seq.txt"
# the labels: the first interval's start (0.00, or 0.01 when the guest was slow to start), ...,
# the end of the 50th interval of 100 ms; each is its interval's time (axis_ok)
check plot-term-time-axis sh -c "grep -qE '^ +0\.0[0-9] +.* 5\.[01][0-9] s$' '$TMP/seq.term' || {
	grep -A1 -E '^ +\+-+\+$' '$TMP/seq.term' | sed 's/^/# /'; false; }"
check plot-term-time-axis-labels axis_ok "$TMP/seq.term" "$TMP/seq.txt" "$(per "$TMP/seq.term" "dirty pages, page x time")"
check plot-term-region grep -qE '^ +0 \|.*\| ram$' "$TMP/seq.term"

"$DPT" plot "$TMP/hot.dpt" --kind heatmap --width 80 --height 20 >"$TMP/hot.term"
grid "$TMP/hot.term" >"$TMP/hot.grid"
P=$(sed -n 's/.*a row = \([0-9]*\) pages.*/\1/p' "$TMP/hot.term")
# hotcold: the first 10 % of the working set (1638 pages) take 90 % of the writes
check plot-term-hot-band awk -v P="$P" '
	{ s[$1] += $3; n[$1]++ }
	END { hot = int((1638 + P - 1) / P); minhot = 1e9; maxcold = 0
	      for (r in s) { m = s[r] / n[r]; if (r + 0 < hot) { if (m < minhot) minhot = m } else if (m > maxcold) maxcold = m }
	      exit !(P > 0 && minhot > maxcold + 3) }' "$TMP/hot.grid"

"$DPT" plot "$TMP/rnd.dpt" --width 100 >"$TMP/all.term"
check plot-term-all sh -c "grep -q '^dirty rate, MiB/s: mean' '$TMP/all.term' &&
	grep -q '^working set N(t)' '$TMP/all.term' && grep -q '^dirty pages, page x time' '$TMP/all.term'"
# the sparkline under the bars: a shade per column, from the least column's rate to the most's
check plot-term-sparkline grep -qE '^ +[0-9.e+-]+ \|[.:=+*#%@-]+\| to [0-9.e+-]+$' "$TMP/all.term"
check plot-term-ascii sh -c "! LC_ALL=C grep -q '[^ -~]' '$TMP/all.term'"
"$DPT" plot "$TMP/rnd.dpt" --utf8 >"$TMP/utf8.term"
block=$(printf '\342\226\210') # U+2588 FULL BLOCK
check plot-term-utf8 sh -c "iconv -f UTF-8 -t UTF-8 '$TMP/utf8.term' >/dev/null &&
	grep -q '$block' '$TMP/utf8.term'"
# the rate chart's mean is report's
"$DPT" report --json "$TMP/rnd.dpt" >"$TMP/rnd-t.json"
mean=$(printf '%.4g' "$(j "$TMP/rnd-t.json" rates.mib_per_s.mean)")
check plot-term-rate-mean grep -q "^dirty rate, MiB/s: mean $mean," "$TMP/all.term"

# few intervals: each takes the same whole number of columns, the charts reach across the width
"$GEN" --intervals 10 --pattern seq --dirty 300 "$TMP/ten.dpt" >/dev/null
"$DUMP" "$TMP/ten.dpt" >"$TMP/ten.txt"
"$DPT" plot "$TMP/ten.dpt" --width 80 --height 8 >"$TMP/ten.term" 2>"$TMP/err"
check plot-term-stretch-exit test $? = 0
rp=$(per "$TMP/ten.term" "dirty rate, MiB/s")
hp=$(per "$TMP/ten.term" "dirty pages, page x time")
cells "$TMP/ten.term" "dirty rate, MiB/s" "$rp" >"$TMP/ten-rate.cells"
cells "$TMP/ten.term" "dirty pages, page x time" "$hp" >"$TMP/ten-heat.cells"
# at width 80: both charts 60 columns or more (a whole number per interval), no line past 80
check plot-term-stretch-width sh -c "test '$rp' = '$hp' && test $((rp * 10)) -ge 60 &&
	test \$(grep -cxE ' {11}\+-{$((rp * 10))}\+' '$TMP/ten.term') = 2 &&
	awk 'prev && length(\$0) > 80 { bad = 1 } { prev = /^           \+-+\+$/ }
		substr(\$0, 12, 1) ~ /[|+]/ && length(\$0) > 80 { bad = 1 } END { exit bad }' '$TMP/ten.term'"
# each interval's columns identical: the rate's 8 rows of bars and its sparkline, the heat map's
# 8 rows (4096 pages, --height 8: 512 pages a row, labelled 0, 512, ... 3584)
check plot-term-stretch-same sh -c "awk '\$4 != 1 || \$2 < 0 { bad = 1 } { if (\$2 > m) m = \$2; n++ }
		END { exit bad || m != 9 || n != 90 }' '$TMP/ten-rate.cells' &&
	awk '\$4 != 1 || \$2 < 0 { bad = 1 } { if (\$2 > m) m = \$2; n++ }
		END { exit bad || m != 9 || n != 80 }' '$TMP/ten-heat.cells' &&
	test \"\$(grep -E '^ +[0-9]+ \|' '$TMP/ten.term' | awk '{ printf \"%s \", \$1 }')\" = '0 512 1024 1536 2048 2560 3072 3584 ' &&
	grep -q 'a row = 512 pages, an interval = $hp columns' '$TMP/ten.term'"
check plot-term-stretch-axis axis_ok "$TMP/ten.term" "$TMP/ten.txt" "$rp"
# the sweep, judged per interval: each interval's darkest row moves down
grid "$TMP/ten.term" >"$TMP/ten.grid"
check plot-term-stretch-diagonal awk '
	{ if (!($2 in best) || $3 > lv[$2]) { best[$2] = $1; lv[$2] = $3 }; if ($2 > cols) cols = $2 }
	END { for (c = 0; c <= cols; c++) { if (lv[c] < 1) bad = 1; if (c && best[c] < best[c - 1]) bad = 1 }
	      exit bad || cols != 9 || best[cols] - best[0] < 4 }' "$TMP/ten.grid"
# 30 intervals of 200 ms: labels every second up to the end's, none dropped before it
"$GEN" --intervals 30 --interval-ms 200 "$TMP/thirty.dpt" >/dev/null
"$DUMP" "$TMP/thirty.dpt" >"$TMP/thirty.txt"
"$DPT" plot "$TMP/thirty.dpt" --kind rate --width 80 >"$TMP/thirty.term"
check plot-term-axis-regular sh -c "$(declare -f axis_ok); axis_ok '$TMP/thirty.term' '$TMP/thirty.txt' \
	$(per "$TMP/thirty.term" "dirty rate, MiB/s") &&
	tail -n 1 '$TMP/thirty.term' | grep -qE '^ +0\.00 +1\.00 +2\.00 +3\.00 +4\.00 +5\.00 +6\.00 s$'"
# the same trace binned (width 40: 13 columns): a column of 3 intervals, the labels under theirs
"$DPT" plot "$TMP/thirty.dpt" --kind rate --width 40 >"$TMP/thirty40.term"
check plot-term-axis-binned sh -c "grep -q 'a column: 3 intervals' '$TMP/thirty40.term' &&
	awk '/^           \+-+\+$/ { getline; print; exit }' '$TMP/thirty40.term' | grep -qE '^ +0\.00 +3\.00 +6\.00 s$'"

# a recording killed mid-write: drawn up to its last whole interval, the torn tail said
size=$(stat -c %s "$TMP/rnd.dpt")
head -c $((size - 200)) "$TMP/rnd.dpt" >"$TMP/torn.dpt"
"$DPT" plot "$TMP/torn.dpt" --kind rate >"$TMP/torn.term" 2>"$TMP/err"
check plot-torn sh -c "test $? = 0 && grep -q 'torn' '$TMP/err' &&
	grep -q '^dirty rate' '$TMP/torn.term'"

# --- a trace of counts only (QEMU's calc-dirty-rate): its rate, nothing else ----------------------
COUNTS=""
if [ -x "$HELPERS/qmp-fake" ]; then
	"$HELPERS/qmp-fake" "$TMP/q.sock" normal --rate 50 >"$TMP/fake.out" &
	fpid=$!
	for _ in $(seq 100); do grep -q ready "$TMP/fake.out" 2>/dev/null && break; sleep 0.05; done
	"$DPT" track --qmp "$TMP/q.sock" -c 2 -q -o trace:"$TMP/counts.dpt" 2>/dev/null && COUNTS=$TMP/counts.dpt
	kill "$fpid" 2>/dev/null
	wait "$fpid" 2>/dev/null
fi
if [ -n "$COUNTS" ]; then
	"$DPT" plot "$COUNTS" --kind rate >"$TMP/c.term" 2>"$TMP/err"
	check plot-counts-rate sh -c "test $? = 0 && grep -q '^dirty rate, MiB/s: mean' '$TMP/c.term'"
	"$DPT" plot "$COUNTS" >"$TMP/c.term" 2>"$TMP/err"
	check plot-counts-all sh -c "test $? = 0 && grep -q 'counts only' '$TMP/err' &&
		! grep -q '^dirty pages' '$TMP/c.term'"
else
	skip plot-counts "no counts-only trace (qmp-fake or dpt track --qmp failed)"
fi

# --- synthetic traces (trace-gen, through the real trace writer) -------------------------------
# a region inserted before the pages at interval 5: pages known by name and address, as report
"$GEN" --remap 5 --intervals 20 --pattern seq --dirty 300 "$TMP/remap.dpt" >/dev/null
"$DPT" plot "$TMP/remap.dpt" --kind heatmap --width 80 --height 12 >"$TMP/remap.term"
check plot-gen-remap-regions sh -c "grep -qE '^ +0 \|.*\| ram$' '$TMP/remap.term' &&
	grep -qE '\| new$' '$TMP/remap.term' && grep -q 'region table changed 1 times' '$TMP/remap.term'"
# its pages before they existed: not tracked ('?'), in the first 5 intervals of the last row
grid "$TMP/remap.term" >"$TMP/remap.grid"
check plot-gen-remap-untracked awk '{ last = $1; lv[$1, $2] = $3; if ($2 > cols) cols = $2 }
	END { for (c = 0; c <= cols; c++) if ((c < 5) != (lv[last, c] == -1) || (c >= 5 && lv[last, c] != 0)) bad = 1
	      exit bad || cols != 19 }' "$TMP/remap.grid"
# a lost last interval: its column untracked, the rate without it
"$GEN" --lost --intervals 10 "$TMP/lost.dpt" >/dev/null
"$DPT" plot "$TMP/lost.dpt" --width 80 --height 6 >"$TMP/lost.term"
grid "$TMP/lost.term" >"$TMP/lost.grid"
check plot-gen-lost sh -c "grep -q '^dirty rate, MiB/s: .* over 9 intervals' '$TMP/lost.term' &&
	grep -q '1 lost' '$TMP/lost.term' && awk '{ if (\$2 > cols) cols = \$2; if (!(\$1 in rows)) { rows[\$1] = 1; nr++ }
			if ((\$2 == 9) != (\$3 == -1)) bad = 1 }
		END { exit bad || cols != 9 || nr != 6 }' '$TMP/lost.grid'"
# --compat: the synthetic all-dirty seq 0 is not drawn
"$GEN" --compat --intervals 8 "$TMP/compat.dpt" >/dev/null
"$DPT" plot "$TMP/compat.dpt" --kind rate >"$TMP/compat.term"
check plot-gen-compat grep -q '^dirty rate, MiB/s: .* over 8 intervals' "$TMP/compat.term"
if have_gnuplot; then
	"$DPT" plot "$TMP/remap.dpt" -o "$TMP/remap.svg" --keep-data "$TMP/rd" >/dev/null
	"$DPT" report --json "$TMP/remap.dpt" >"$TMP/remap.json"
	P=$(awk '/^# rows/ { print $7 }' "$TMP/rd/heatmap.dat")
	pages=$(j "$TMP/remap.json" working_set.pages)
	check plot-gen-remap-data sh -c "test '$pages' = 4160 &&
		test \$(grep -vc '^#' '$TMP/rd/heatmap.dat') = \$(( ($pages + $P - 1) / $P )) &&
		grep -q 'set label \"ram\"' '$TMP/rd/plot.gp' &&
		grep -q 'set arrow from graph 0, first 4096 ' '$TMP/rd/plot.gp' &&
		test \$(grep -vc '^#' '$TMP/rd/wss.dat') = '$(j "$TMP/remap.json" "length(working_set.points)")' &&
		test \"\$(awk '!/^#/ { print \$5 }' '$TMP/rd/wss.dat' | tail -n 1)\" = '$(j "$TMP/remap.json" working_set.distinct)'"
fi
# counts only: the rate is drawn, the others are said to need pages
"$GEN" --counts-only --intervals 10 "$TMP/gcounts.dpt" >/dev/null
"$DPT" plot "$TMP/gcounts.dpt" >"$TMP/gc.term" 2>"$TMP/gc.err"
rc=$?
check plot-gen-counts sh -c "test $rc = 0 && grep -q '^dirty rate, MiB/s: .* over 10 intervals' '$TMP/gc.term' &&
	grep -q 'counts only' '$TMP/gc.err' && ! grep -q '^working set' '$TMP/gc.term' &&
	! grep -q '^dirty pages' '$TMP/gc.term'"
if have_gnuplot; then
	rm -rf "$TMP/gco" && mkdir "$TMP/gco"
	"$DPT" plot "$TMP/gcounts.dpt" -o "$TMP/gco/c.svg" >/dev/null 2>&1
	rc=$?
	check plot-gen-counts-files sh -c "test $rc = 0 && test \"\$(ls -A '$TMP/gco')\" = c-rate.svg &&
		xmllint --noout '$TMP/gco/c-rate.svg'"
fi

# ids_prefixed FILE: every id, #reference and url(#...) of a figure starts with its kind
ids_prefixed() {
	! grep -oE "(id|href)=['\"][^'\"]*|url\(#[^)]*" "$1" |
		grep -vE "^(id|href)=['\"]#?(rate|wss|heatmap|fig)-|^url\(#(rate|wss|heatmap)-|^href=['\"]data:" |
		grep -q .
}
# --- dpt report --html ----------------------------------------------------------------------------
if have_gnuplot; then
	mkdir -p "$TMP/html"
	"$DPT" report "$TMP/rnd.dpt" --html "$TMP/html/r.html" >"$TMP/html.out" 2>"$TMP/html.err"
	check plot-html-exit test $? = 0
	H=$TMP/html/r.html
	check plot-html-parses xmllint --noout "$H"
	check plot-html-no-script sh -c "! grep -qi '<script' '$H' && ! grep -qi ' on[a-z]*=' '$H'"
	# the only URLs: the SVG and XLink namespace names
	check plot-html-no-url sh -c "! grep -oiE '[a-z:]*=?.https?://[^\"'\'' ]*' '$H' |
		grep -vxE 'xmlns=\"http://www.w3.org/2000/svg|xmlns:xlink=\"http://www.w3.org/1999/xlink' |
		grep -q . && ! grep -qiE 'src=|<link|@import|url\(http' '$H'"
	check plot-html-figures test "$(grep -c '<svg' "$H")" = 3
	# three SVGs in one page: every id of a figure is prefixed with its kind
	check plot-html-ids-prefixed ids_prefixed "$H"
	check plot-html-heat-inline grep -q "data:image/png;base64," "$H"
	check plot-html-numbers sh -c "grep -q '<td>$(printf '%.1f' "$(j "$TMP/rnd.json" rates.pages_per_s.mean)")</td>' '$H' &&
		grep -q '<td>$(printf '%.1f' "$(j "$TMP/rnd.json" working_set.points[2].mean)")</td>' '$H' &&
		grep -q '$(j "$TMP/rnd.json" header.target)' '$H'"
	check plot-html-no-temporary test "$(ls -A "$TMP/html")" = r.html
	"$DPT" report "$TMP/gcounts.dpt" --html "$TMP/html/c.html" 2>/dev/null
	check plot-html-counts sh -c "test $? = 0 && xmllint --noout '$TMP/html/c.html' &&
		test \$(grep -c '<svg' '$TMP/html/c.html') = 1 && grep -q 'counts only' '$TMP/html/c.html'"
else
	skip plot-html "gnuplot is not installed"
fi

# --- bad input: one "dpt" line, non-zero exit, no file left ------------------------------------
# bad NAME [report] ARGS...: dpt plot (or report) ARGS in an empty directory
bad() {
	local name=$1
	shift
	rm -rf "$TMP/bad"
	mkdir "$TMP/bad"
	local sub=plot
	[ "$1" = report ] && { sub=report; shift; }
	(cd "$TMP/bad" && "$DPT" $sub "$@" >"$TMP/bad.out" 2>"$TMP/bad.err")
	local rc=$?
	if [ $rc = 0 ]; then
		fail "plot-bad-$name" "exit 0 for: $*"
	elif [ "$(wc -l <"$TMP/bad.err")" != 1 ] || ! grep -q '^dpt' "$TMP/bad.err"; then
		fail "plot-bad-$name" "not one dpt line: $(head -c 300 "$TMP/bad.err")"
	elif [ -n "$(ls -A "$TMP/bad")" ]; then
		fail "plot-bad-$name" "left behind: $(ls -A "$TMP/bad" | head -c 200)"
	else
		ok "plot-bad-$name"
	fi
}
echo "not a trace" >"$TMP/text.dpt"
bad not-a-trace "$TMP/text.dpt" -o x.svg
bad not-a-trace-term "$TMP/text.dpt"
bad missing-trace "$TMP/nothing.dpt" -o x.svg
bad kind "$TMP/rnd.dpt" --kind bars -o x.svg
bad extension "$TMP/rnd.dpt" -o x.jpg
bad no-extension "$TMP/rnd.dpt" -o x
bad unwritable "$TMP/rnd.dpt" -o nodir/x.svg
touch "$TMP/afile"
bad not-a-dir "$TMP/rnd.dpt" -o "$TMP/afile/x.svg"
bad from-after-end "$TMP/rnd.dpt" --from 100s -o x.svg
bad to-before-from "$TMP/rnd.dpt" --from 2s --to 1s -o x.svg
bad width "$TMP/rnd.dpt" --width 7
bad size "$TMP/rnd.dpt" --size 10x10 -o x.png
bad two-traces "$TMP/rnd.dpt" "$TMP/seq.dpt"
if [ -n "$COUNTS" ]; then
	bad counts-heatmap "$COUNTS" --kind heatmap -o x.svg
	check plot-bad-counts-heatmap-says grep -q 'cannot be drawn from a trace of counts only' "$TMP/bad.err"
	bad counts-wss "$COUNTS" --kind wss
fi
bad html-unwritable report "$TMP/rnd.dpt" --html nodir/r.html
bad html-and-json report "$TMP/rnd.dpt" --html r.html --json
bad html-not-a-trace report "$TMP/text.dpt" --html r.html
if have_gnuplot; then
	rm -rf "$TMP/bad" && mkdir "$TMP/bad"
	(cd "$TMP/bad" && PATH=/nonexistent "$DPT" report "$TMP/rnd.dpt" --html r.html >/dev/null 2>"$TMP/bad.err")
	rc=$?
	check plot-html-no-gnuplot sh -c "test $rc = 1 && test \$(wc -l <'$TMP/bad.err') = 1 &&
		grep -q '^dpt: .*install gnuplot-nox' '$TMP/bad.err' && test -z \"\$(ls -A '$TMP/bad')\""
	rm -rf "$TMP/bad" && mkdir "$TMP/bad"
	(cd "$TMP/bad" && PATH=/nonexistent "$DPT" plot "$TMP/rnd.dpt" -o x.svg >/dev/null 2>"$TMP/bad.err")
	rc=$?
	check plot-no-gnuplot sh -c "test $rc = 1 && test \$(wc -l <'$TMP/bad.err') = 1 &&
		grep -q '^dpt: .*install gnuplot-nox' '$TMP/bad.err' && test -z \"\$(ls -A '$TMP/bad')\""
fi
exit 0
