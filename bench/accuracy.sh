#!/bin/bash
# accuracy.sh - every tracker side by side on the same workloads, against the ground truth, and
# the overhead each one imposes (docs/accuracy.md). Prints a markdown table on stdout, then the
# command, the date and the machine; progress on stderr. About 8 minutes.
#
#   bench/accuracy.sh [--intervals N] [--only NAME[,NAME...]] [--no-overhead] [--keep DIR]
#
# Workloads and their truth come from build/bench/accuracy (bench/accuracy.c: `accuracy list`).
# Each one is measured by:
#   kvm            dpt's micro-VM, 256 MiB, 1 vCPU (build/bench/accuracy run: the kvm tracker in
#                  bitmap mode, the same code as `dpt vm`)
#   pid            dpt track --pid on QEMU 7.2 -accel kvm running the same workload
#                  (build/guest/dpt-guest.elf, -m 256M -smp 1)
#   page-sampling  dpt track --qmp --mode page-sampling (QEMU's default 512 pages per GiB)
#   dirty-bitmap   dpt track --qmp --mode dirty-bitmap
#   dirty-ring     dpt track --qmp --mode dirty-ring, on a QEMU of its own
#                  (-accel kvm,dirty-ring-size=4096: dirty-bitmap is refused once a ring is on)
# pid runs alongside page-sampling (both only observe: the workload is paced), then
# page-sampling 16384 and dirty-bitmap take turns on the same QEMU; the phase change boots a QEMU
# per qmp mode (the guest changes rate once, phase=S:R seconds after its ready line).
# Overhead: the workload's pattern and working set written unpaced (rate=0), page writes per
# second tracked against untracked. QEMU: one guest reporting its writes every 250 ms; 2.5 s
# untracked, then per tracker 2.5 s tracked and 2.5 s untracked (pid and dirty-bitmap twice);
# each segment's rate is the median of its 250 ms rates, the reference the mean of the
# untracked segments either side. Micro-VM: five runs (untracked, tracked, untracked, tracked,
# untracked), each the median of three 1 s intervals.
# Not for dirty-ring: an unpaced writer freezes a VM with a dirty ring on this host
# (docs/multiboot-guest.md).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
DPT=${DPT:-$ROOT/$BUILD/dpt}
ACC=$ROOT/$BUILD/bench/accuracy
KERNEL=$ROOT/$BUILD/guest/dpt-guest.elf
QEMU=${DPT_VMKIT_QEMU:-qemu-system-x86_64}
STOP=$ROOT/tests/vmkit/stop.sh
RING=4096

N=6 ONLY="" OVERHEAD=1 KEEP=""
CMDLINE="bench/accuracy.sh${*:+ $*}"
die() {
	echo "accuracy.sh: $*" >&2
	exit 1
}
while [ $# -gt 0 ]; do
	case $1 in
	--intervals) [ $# -ge 2 ] || die "--intervals needs a value"; N=$2; shift 2 ;;
	--only) [ $# -ge 2 ] || die "--only needs a value"; ONLY=$2; shift 2 ;;
	--no-overhead) OVERHEAD=0; shift ;;
	--keep) [ $# -ge 2 ] || die "--keep needs a directory"; KEEP=$2; shift 2 ;;
	-h | --help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option '$1' (--help)" ;;
	esac
done
case $N in '' | *[!0-9]* | 0 | 1) die "--intervals: a number from 2 on" ;; esac
for f in "$DPT" "$ACC" "$KERNEL"; do
	[ -e "$f" ] || die "$f is missing: make $BUILD/dpt $BUILD/bench/accuracy guest-kernel"
done
command -v "$QEMU" >/dev/null || die "$QEMU not found (scripts/deps.sh)"
command -v socat >/dev/null || die "socat not found (scripts/deps.sh)"
[ -w /dev/kvm ] || die "/dev/kvm is not usable"

TMP=$(mktemp -d /tmp/dpt-accuracy.XXXXXX)
VMS=() JOBS=()
cleanup() {
	local v j
	for j in ${JOBS[@]+"${JOBS[@]}"}; do
		kill "$j" 2>/dev/null
	done
	for v in ${VMS[@]+"${VMS[@]}"}; do
		"$STOP" --pidfile "$v.pid" --qmp "$v.sock" >/dev/null 2>&1
	done
	if [ -n "$KEEP" ]; then
		mkdir -p "$KEEP" && cp -r "$TMP"/. "$KEEP"/
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "accuracy.sh: $*" >&2; }

# boot V ACCEL APPEND: QEMU in the background with the guest, paths $V.{pid,sock,log};
# returns once the guest is ready and leaves the host's wall-clock time of that in $V.ready.
boot() {
	local v=$1 accel=$2 append=$3 pid
	VMS+=("$v")
	rm -f "$v.log"
	"$QEMU" -accel "$accel" -m 256M -smp 1 -nodefaults -no-reboot -display none \
		-name "dpt-accuracy" -serial "file:$v.log" \
		-qmp "unix:$v.sock,server=on,wait=off" -daemonize -pidfile "$v.pid" \
		-kernel "$KERNEL" -append "$append" </dev/null >"$v.err" 2>&1 ||
		die "QEMU does not start with -accel $accel: $(grep -v warning "$v.err" | head -n 1)"
	pid=$(cat "$v.pid")
	for _ in $(seq 1500); do
		if grep -aq '^dpt-guest ready' "$v.log"; then
			date +%s.%N >"$v.ready"
			return 0
		fi
		grep -aq '^dpt-guest error' "$v.log" && die "$(grep -a '^dpt-guest error' "$v.log" | tr -d '\r')"
		[ -d "/proc/$pid" ] || die "QEMU ended before the guest was ready: $(tr -d '\r' <"$v.log" | tail -n 2)"
		sleep 0.02
	done
	die "no ready line from the guest ($append) within 30 s"
}

halt() {
	"$STOP" --pidfile "$1.pid" --qmp "$1.sock" >/dev/null 2>&1
}

# --- analysis helpers ----------------------------------------------------------------------

# mean FILE: mean of the per-interval pages (csv from dpt track, or "interval" lines of the
# micro-VM), complete intervals only
mean() {
	[ -s "$1" ] || { echo "-"; return; }
	awk -F'[, ]' '
		/^interval / { s += $4; n++; next }
		NR > 1 && $7 !~ /partial/ { s += $4; n++ }
		END { if (n) printf "%.1f", s / n; else print "-" }' "$1"
}

# cell MEAN TRUTH: "mean (+e.e%)"
cell() {
	awk -v m="$1" -v t="$2" 'BEGIN {
		if (m == "-") { print "–"; exit }
		e = (m / t - 1) * 100
		printf "%.0f (%s%.1f%%)", m, (e >= 0 ? "+" : ""), e }'
}

# median MEDIAN_INPUT: the median of the numbers on stdin, one a line ("-" if none)
median() {
	sort -g | awk '{ v[++n] = $1 } END {
		if (!n) print "-"; else printf "%.1f\n", n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }'
}

# rate_between LOG A B: page writes per second of the guest between lines A and B of its
# console: the median over its progress lines (every 250 ms) of the rate since the line before,
# so that a second in which the host ran something else does not count
rate_between() {
	tr -d '\r' <"$1" | awk -v a="$2" -v b="$3" '
		NR > a && NR <= b && /^dpt-guest progress/ {
			for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
			if (n++ && f["t"] > t) print (f["writes"] - w) / (f["t"] - t)
			t = f["t"]; w = f["writes"] }' | median
}

lines() {
	wc -l <"$1"
}

# phase FILE READY S R1 R2: per-phase means and how many intervals the tracker takes to follow
# ("M1 M2 FOLLOW"); READY = host time of the guest's ready line (its schedule's origin), the
# change S s later. Intervals that straddle the change (0.05 s margin) are left out of the means.
# FOLLOW: full intervals after the change still nearer R1 than R2 before the first that is not.
phase() {
	awk -F, -v r="$2" -v s="$3" -v r1="$4" -v r2="$5" '
		NR > 1 && $7 !~ /partial/ {
			b = $2; a = b - $3; c = r + s
			if (b <= c - 0.05) { s1 += $4; n1++ }
			else if (a >= c + 0.05) {
				s2 += $4; n2++
				if (!done) { if (($4 - r1) ^ 2 < ($4 - r2) ^ 2) f++; else done = 1 }
			}
		}
		END { printf "%s %s %d\n", n1 ? sprintf("%.1f", s1 / n1) : "-",
			n2 ? sprintf("%.1f", s2 / n2) : "-", f }' "$1"
}

# phase_kvm FILE S R1 R2: the same for the micro-VM, whose change falls on boundary S exactly
phase_kvm() {
	awk -v s="$2" -v r1="$3" -v r2="$4" '
		/^interval / {
			if ($2 <= s) { s1 += $4; n1++ }
			else {
				s2 += $4; n2++
				if (!done) { if (($4 - r1) ^ 2 < ($4 - r2) ^ 2) f++; else done = 1 }
			}
		}
		END { printf "%s %s %d\n", n1 ? sprintf("%.1f", s1 / n1) : "-",
			n2 ? sprintf("%.1f", s2 / n2) : "-", f }' "$1"
}

# --- runs -----------------------------------------------------------------------------------

# The trackers on QEMU, in table order: ps16k is page-sampling at QEMU's most samples.
QTRACKERS="pid ps ps16k bm ring"
declare -A TITLE=([pid]="pid" [ps]="page-sampling" [ps16k]="page-sampling 16384"
	[bm]="dirty-bitmap" [ring]="dirty-ring")

# tracker TR V OUT COUNT: dpt track with tracker TR on QEMU V, COUNT intervals of 1 s, csv in
# OUT.csv, stderr in OUT.err
tracker() {
	local tr=$1 v=$2 out=$3 count=$4
	case $tr in
	pid) set -- --pid "$(cat "$v.pid")" ;;
	ps) set -- --qmp "$v.sock" --mode page-sampling ;;
	ps16k) set -- --qmp "$v.sock" --mode page-sampling --sample-pages 16384 ;;
	bm) set -- --qmp "$v.sock" --mode dirty-bitmap ;;
	ring) set -- --qmp "$v.sock" --mode dirty-ring ;;
	esac
	"$DPT" track --interval 1s --count "$count" -q -o csv:"$out.csv" "$@" 2>"$out.err" ||
		say "$out: dpt track failed: $(head -n 2 "$out.err" | tr '\n' ' ')"
}

cd "$TMP" || die "cannot enter $TMP"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$(date +%s)
"$ACC" list >workloads.tsv || die "$ACC list failed"

# overhead GROUP APPEND NAME: unpaced throughput ratios for one pattern and working set, into
# ovh-GROUP.txt: "kvm pid ps ps16k bm"; the untracked throughputs into ovh-GROUP.base (QEMU)
# and ovh-GROUP.kbase (micro-VM)
overhead() {
	local g=$1 append=$2 name=$3 v=ovh tr r t u1 u2 a b unpaced
	local f="ovh-${g//\//-}"
	[ -s "$f.txt" ] && return
	say "overhead $g: micro-VM, unpaced: untracked, then tracked and untracked twice"
	# page writes per second of a run: the median of 3 intervals of 1 s (after 0.5 s warm-up)
	for r in u1 t1 u2 t2 u3; do
		if [ "${r#t}" != "$r" ]; then
			"$ACC" run "$name" --unpaced --intervals 3
		else
			"$ACC" run "$name" --unpaced --untracked --intervals 3
		fi | awk '{ print $6 / $3 }' | median
	done | tr '\n' ' ' >"$f.kruns"
	awk '{ print $1, $3, $5 }' "$f.kruns" >"$f.kbase"
	awk '{ printf "kvm %s %s %s\nkvm %s %s %s\n", $2, $1, $3, $4, $3, $5 }' "$f.kruns" >"$f.segs"
	say "overhead $g: kvm: $(cat "$f.kruns")(untracked, tracked, ...)"
	unpaced="$(sed -E 's/ (rate|phase)=[^ ]*//g' <<<"$append") rate=0 progress=250ms"
	say "overhead $g: QEMU ($unpaced): untracked, then per tracker tracked and untracked"
	boot $v kvm "$unpaced"
	sleep 1
	a=$(lines $v.log); sleep 2.5; b=$(lines $v.log)
	u1=$(rate_between $v.log "$a" "$b")
	echo "$u1" >"$f.base"
	# pid and dirty-bitmap write-protect guest memory: twice; page-sampling only hashes: once
	for tr in pid bm ps ps16k pid bm; do
		tracker $tr $v "$f.$tr" 4 &
		JOBS+=($!)
		sleep 0.8
		a=$(lines $v.log); sleep 2.5; b=$(lines $v.log)
		wait "${JOBS[-1]}"
		t=$(rate_between $v.log "$a" "$b")
		a=$(lines $v.log); sleep 2.5; b=$(lines $v.log)
		u2=$(rate_between $v.log "$a" "$b")
		echo "$u2" >>"$f.base"
		echo "$tr $t $u1 $u2" >>"$f.segs"
		say "overhead $g: ${TITLE[$tr]}: $t page writes/s tracked, $u1 and $u2 untracked"
		u1=$u2
	done
	halt $v
	cp $v.log "$f.log"
	# per tracker: the mean over its segments of tracked / (mean of the untracked either side)
	for tr in kvm pid ps ps16k bm; do
		awk -v tr=$tr '$1 == tr && $2 != "-" && $3 != "-" && $4 != "-" {
				s += $2 / (($3 + $4) / 2); n++ }
			END { if (n) printf "%.3f\n", s / n; else print "-" }' "$f.segs"
	done | tr '\n' ' ' >"$f.txt"
}

while IFS=$'\t' read -r name truth truth2 phase_s group append; do
	if [ -n "$ONLY" ] && [[ ",$ONLY," != *",$name,"* ]]; then
		continue
	fi
	mkdir -p "$name"
	say "$name: $append"
	if [ "$phase_s" = 0 ]; then
		"$ACC" run "$name" --intervals "$N" >"$name/kvm.txt" || say "$name: micro-VM run failed"
		boot vm kvm "$append progress=0"
		tracker pid vm "$name/pid" "$N" &
		JOBS+=($!)
		sleep 0.3
		tracker ps vm "$name/ps" "$N"
		wait "${JOBS[-1]}"
		tracker ps16k vm "$name/ps16k" "$N"
		tracker bm vm "$name/bm" "$N"
		halt vm
		boot vm kvm,dirty-ring-size=$RING "$append progress=0"
		tracker ring vm "$name/ring" "$N"
		halt vm
	else
		"$ACC" run "$name" --intervals $((2 * phase_s)) >"$name/kvm.txt" ||
			say "$name: micro-VM run failed"
		for tr in ps ps16k bm ring; do
			if [ $tr = ring ]; then
				boot vm kvm,dirty-ring-size=$RING "$append progress=0"
			else
				boot vm kvm "$append progress=0"
			fi
			cp vm.ready "$name/$tr.ready"
			if [ $tr = ps ]; then # pid alongside
				cp vm.ready "$name/pid.ready"
				tracker pid vm "$name/pid" $((2 * phase_s + 1)) &
				JOBS+=($!)
				sleep 0.3
			fi
			tracker $tr vm "$name/$tr" $((2 * phase_s + 1))
			wait
			halt vm
		done
	fi
	[ $OVERHEAD = 1 ] && overhead "$group" "$append" "$name"
done <workloads.tsv
T1=$(date +%s)
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the table ------------------------------------------------------------------------------

# whole MiB/s, as QEMU reports: floor(pages x 4096 / 2^20) x 256 pages
mib_floor() {
	awk -v t="$1" 'BEGIN { printf "%d", int(t / 256) * 256 }'
}

# neighbours FILE...: "a median of M% and at most X%": |b / a - 1| over neighbouring
# throughputs a, b within each file (numbers in order, any number a line)
neighbours() {
	awk 'FNR == 1 { have = 0 } { for (k = 1; k <= NF; k++) {
			if ($k == "-") continue
			if (have) print ($k > prev ? $k / prev : prev / $k) - 1
			prev = $k; have = 1 } }' "$@" | sort -g | awk '{ v[++n] = $1 } END {
		if (!n) { print "-"; exit }
		printf "a median of %.1f%% and at most %.1f%%", 100 * (n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2), 100 * v[n] }'
}

head="| workload | truth | truth in whole MiB | kvm"
rule="|---|--:|--:|--:"
for tr in $QTRACKERS; do
	head+=" | ${TITLE[$tr]}"
	rule+="|--:"
done
head+=" | overhead: kvm"
rule+="|--:"
for tr in $QTRACKERS; do
	head+=" | ${TITLE[$tr]}"
	rule+="|--:"
done
echo "$head |"
echo "$rule|"
exact_note="" legend=""
while IFS=$'\t' read -r name truth truth2 phase_s group append; do
	[ -d "$name" ] || continue
	g="ovh-${group//\//-}"
	ovh=""
	if [ -s "$g.txt" ]; then
		read -r ok opid ops ops16k obm <<<"$(cat "$g.txt")"
		ovh="| $ok | $opid | $ops | $ops16k | $obm | N/A"
	else
		ovh="| - | - | - | - | - | -"
	fi
	# kvm against the page-by-page truth (pages holding the interval's stamp)
	bad=$(awk '/^interval / && $4 != $5' "$name/kvm.txt" | wc -l)
	all=$(grep -c '^interval ' "$name/kvm.txt")
	exact_note+="$name $((all - bad))/$all, "
	legend+="- $name: guest \`$append\`"$'\n'
	if [ "$phase_s" = 0 ]; then
		row="| $name | $(printf %.0f "$truth") | $(mib_floor "$truth") | $(cell "$(mean "$name/kvm.txt")" "$truth")"
		for tr in $QTRACKERS; do
			row+=" | $(cell "$(mean "$name/$tr.csv")" "$truth")"
		done
		echo "$row $ovh |"
	else
		r1=$(sed 's/.*rate=\([0-9]*\)p.*/\1/' <<<"$append")
		r2=$(sed 's/.*phase=[0-9]*:\([0-9]*\)p.*/\1/' <<<"$append")
		read -r k1 k2 kf <<<"$(phase_kvm "$name/kvm.txt" "$phase_s" "$r1" "$r2")"
		b="| $name: first ${phase_s} s | $(printf %.0f "$truth") | $(mib_floor "$truth") | $(cell "$k1" "$truth")"
		a="| $name: after | $(printf %.0f "$truth2") | $(mib_floor "$truth2") | $(cell "$k2" "$truth2")"
		f="| $name: intervals to follow | | | $kf"
		for tr in $QTRACKERS; do
			if [ -s "$name/$tr.csv" ]; then
				read -r m1 m2 mf <<<"$(phase "$name/$tr.csv" "$(cat "$name/$tr.ready")" "$phase_s" "$r1" "$r2")"
			else
				m1=- m2=- mf=-
			fi
			b+=" | $(cell "$m1" "$truth")"
			a+=" | $(cell "$m2" "$truth2")"
			f+=" | $mf"
		done
		echo "$b $ovh |"
		echo "$a $ovh |"
		echo "$f | | | | | | |"
	fi
done <workloads.tsv
echo
printf '%s' "$legend"
echo
echo "Cells: mean dirty pages per 1 s interval over $N intervals (phase change: the intervals wholly before, or wholly after, the change) and the error against the truth."
echo "kvm equal to the page-by-page truth (pages stamped in the interval), intervals: ${exact_note%, }."
echo "QEMU reports whole MiB/s, floored: the exact modes can say no more than the truth in whole MiB."
if [ -d /sys/module/kvm_pvm ]; then
	echo "dirty-ring under PVM: every emulated store is a ring entry, so a page written twice in a window counts twice (loop-1k, random, hotcold; hotcold's loop also spills registers to its stack page); seq writes each page once per window and matches dirty-bitmap."
fi
if ls ovh-*.base >/dev/null 2>&1; then
	echo "Overhead: page writes per second of the workload unpaced, tracked / untracked (1.000: none), against the mean of the untracked segments either side; pid, dirty-bitmap and kvm twice, averaged. Noise: neighbouring untracked segments differed by $(neighbours ovh-*.base) on QEMU, neighbouring untracked runs by $(neighbours ovh-*.kbase) on the micro-VM."
fi
echo
echo "Made by \`$CMDLINE\` on $(date -u -d @"$T0" '+%Y-%m-%d %H:%M UTC'), in $(((T1 - T0) / 60)) min $(((T1 - T0) % 60)) s; load average $LOAD0 before, $LOAD1 after."
echo "Host: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), Linux $(uname -r), /dev/kvm $([ -d /sys/module/kvm_pvm ] && echo 'is PVM (kvm_pvm)' || echo 'KVM'), $("$QEMU" --version | head -n 1 | sed 's/ (.*//'), dpt $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')."
