#!/bin/bash
# dpt track -o trace:FILE records the non-zero pages of a process (the pid tracker's scan):
# - against ground truth on a host program (tests/helpers/pid-target): the set of its buffer in
#   the record taken at the start, and in the one taken at the stop after it changed, equal
#   the pages it made non-zero, not those it wrote and zeroed, read, discarded or never
#   touched; nothing unknown in the whole process (its file mappings read from their files);
# - a target killed (kill -9) while dpt records and scans it: the run ends as it does without
#   scans, the trace is valid;
# - hugetlbfs: content read per 4 KiB page;
# - dpt in a TCG guest (Debian's 6.1 kernel, the soft-dirty method): present zeros read as zero,
#   pages swapped out (to zram) counted unknown, said once, and not swapped in;
# - a QEMU (TCG) with Debian's kernel and a random writer in the guest: the count lies between
#   the writer's distinct pages and QEMU's present RAM pages, far below the RAM; it grows as
#   the writer runs; the time each scan took is said with -v.
set -u
. "$(dirname "$0")/lib.sh"
VMKIT=$ROOT/tests/vmkit
DUMP=$HELPERS/trace-dump

if ! "$DPT" check | grep -q '^tracker pid, uffd method *works'; then
	skip zscan "the pid tracker's uffd method does not work on this host"
	exit 0
fi

# nz_set DUMP N ADDR PAGES: the pages among the first PAGES of the region starting at ADDR (hex)
# in the N-th non-zero record of a `trace-dump --pages --regions` output (the region may run on
# over memory mapped right after), numbered from ADDR, as runs "a-b,c,..."; then
# " unknown=U count=C".
nz_set() {
	awk -v want="$2" -v addr="$3" -v npages="$4" '
	function flush() {
		if (!inrec) return
		n = split(pages, r, ",")
		out = ""
		for (i = 1; i <= n; i++) {
			if (r[i] == "") continue
			m = split(r[i], ab, "-"); a = ab[1] + 0; b = (m > 1 ? ab[2] : ab[1]) + 0
			if (b < first || a >= first + len) continue
			if (a < first) a = first
			if (b >= first + len) b = first + len - 1
			out = out (out == "" ? "" : ",") (a == b ? a - first : (a - first) "-" (b - first))
		}
		printf "%s unknown=%s count=%s\n", out, unk, cnt
		inrec = 0; done = 1
	}
	/^nonzero / { if (inrec) flush(); if (done) exit; k++
		if (k != want) next
		inrec = 1; pages = ""; first = -1; len = 0
		for (i = 1; i <= NF; i++) {
			if ($i ~ /^pages=/) pages = substr($i, 7)
			if ($i ~ /^unknown=/) unk = substr($i, 9)
			if ($i ~ /^count=/) cnt = substr($i, 7)
		}
		next }
	inrec && /^  region / {
		s = ""; p = 0; f = 0
		for (i = 2; i <= NF; i++) {
			if ($i ~ /^start=/) s = substr($i, 9)
			if ($i ~ /^pages=/) p = substr($i, 7)
			if ($i ~ /^first=/) f = substr($i, 7)
		}
		if (s == addr) { first = f + 0; len = p + 0 < npages + 0 ? p + 0 : npages + 0 }
		next }
	inrec { flush() }
	END { flush() }' "$1"
}

# --- ground truth on a host program --------------------------------------------------------------
coproc TGT { exec "$HELPERS/pid-target" 4096; }
read -r -t 5 -u "${TGT[0]}" _ addr pages || addr=""
tpid=$TGT_PID
cmd() { echo "$*" >&"${TGT[1]}" && read -r -t 5 -u "${TGT[0]}" ans && [ "${ans:0:2}" = ok ]; }
# non-zero: 0-99, 1000-1499, 3000; zeros: 200-399 written then zeroed, 500-699 read (the shared
# zero page), 800-899 made non-zero then discarded; the rest never touched
ok_setup=0
[ -n "$addr" ] && cmd N 0 100 && cmd N 1000 1500 && cmd N 3000 3001 && cmd Z 200 400 &&
	cmd r 500 700 && cmd N 800 900 && cmd d 800 900 && ok_setup=1
check truth-target-ready test "$ok_setup" = 1
"$DPT" track -v --pid "$tpid" --interval 200ms --duration 3s --zero-scan-every 500ms \
	-o trace:"$TMP/t.dpt" 2>"$TMP/t.err" &
dpid=$!
# once the first record is out, change the buffer: 50-59 zeroed, 2000-2099 non-zero, 1400-1499
# discarded
for _ in $(seq 50); do "$DUMP" "$TMP/t.dpt" 2>/dev/null | grep -q '^nonzero after=0' && break; sleep 0.1; done
cmd Z 50 60 && cmd N 2000 2100 && cmd d 1400 1500
wait $dpid
check truth-dpt-exit test $? = 0
"$DUMP" --pages --regions "$TMP/t.dpt" >"$TMP/t.txt"
check truth-trace-valid grep -q '^end tail=0 footer=yes' "$TMP/t.txt"
nr=$(grep -c '^nonzero ' "$TMP/t.txt")
first=$(nz_set "$TMP/t.txt" 1 "$addr" 4096)
last=$(nz_set "$TMP/t.txt" "$nr" "$addr" 4096)
echo "# $nr non-zero records; buffer at the start: $first; at the stop: $last"
check truth-records-start-periodic-stop test "$nr" -ge 4
check truth-exact-at-start test "$first" = "0-99,1000-1499,3000 unknown=0 count=${first##*count=}"
check truth-exact-at-stop test "$last" = "0-49,60-99,1000-1399,2000-2099,3000 unknown=0 count=${last##*count=}"
check truth-scan-time-said grep -q 'non-zero pages: .* read in [0-9.]* s' "$TMP/t.err"
exec {TGT[1]}>&-
wait "$tpid" 2>/dev/null

# --- the target killed while dpt records and scans it ------------------------------------------------
# 512 MiB written (a scan takes a few hundred ms), scans back to back
"$HELPERS/writer" --wss 512M --rate 0 --duration 60 >"$TMP/k.out" &
wpid=$(writer_ready "$TMP/k.out")
"$DPT" track -q --pid "$wpid" --interval 200ms --zero-scan-every 100ms -o trace:"$TMP/k.dpt" \
	2>"$TMP/k.err" &
dpid=$!
sleep 2.2
{
	kill -9 "$wpid"
	wait "$wpid"
} 2>/dev/null
wait "$dpid"
rc=$?
"$DUMP" "$TMP/k.dpt" >"$TMP/k.txt"
check kill9-target-dpt-exit test "$rc" = 0
check kill9-target-said grep -q 'was killed by signal 9\|exited' "$TMP/k.err"
check kill9-target-trace-valid grep -q '^end tail=0 footer=yes' "$TMP/k.txt"
check kill9-target-scans-recorded test "$(grep -c '^nonzero ' "$TMP/k.txt")" -ge 2
check kill9-target-no-crash bash -c "! grep -qi 'sanitizer\|runtime error\|segmentation' '$TMP/k.err'"

# --- hugetlbfs: still read per 4 KiB page -------------------------------------------------------------
# a writer in 8 MiB of 2 MiB pages, all present (written with zeros first), then 1500 pages
# made non-zero in sequence: exactly pages 0-1499 at the end, though writes there are tracked
# per huge page
orig=$(cat /proc/sys/vm/nr_hugepages)
echo $((orig + 8)) >/proc/sys/vm/nr_hugepages 2>/dev/null
if [ "$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)" -lt 8 ]; then
	skip huge "this kernel gives no 2 MiB huge pages"
else
	# held at its exit (--hold), for the scan at the stop to see its memory
	LSAN_OPTIONS=detect_leaks=0 "$HELPERS/writer" --wss 8M --hugetlb --rate 1000 --delay 0.5 \
		--duration 1.5 >"$TMP/h.out" 2>&1 &
	hpid=$(writer_ready "$TMP/h.out")
	"$DPT" track -q --pid "$hpid" --hold --interval 500ms --region '/anon_hugepage (deleted)' \
		-o trace:"$TMP/h.dpt" 2>"$TMP/h.err"
	check huge-dpt-exit test $? = 0
	wait
	"$DUMP" --pages --regions "$TMP/h.dpt" >"$TMP/h.txt"
	haddr=$(sed -n 's/.*addr=0x\([0-9a-f]*\).*/\1/p' "$TMP/h.out")
	hlast=$(nz_set "$TMP/h.txt" "$(grep -c '^nonzero ' "$TMP/h.txt")" "$haddr" 2048)
	echo "# hugetlbfs: at the stop $hlast"
	check huge-exact-per-4k test "$hlast" = "0-1499 unknown=0 count=1500"
	check huge-region-granule grep -q "^  region start=0x$haddr pages=2048 .* granule=2097152 " "$TMP/h.txt"
fi
echo "$orig" >/proc/sys/vm/nr_hugepages

# --- in a TCG guest: Debian's 6.1 kernel, the soft-dirty method, pages swapped out ------------------------
# A static dpt and trace-dump run in the guest: make vmkit-dpt's, built apart without SimGrid
# (and without sanitizers, which cannot link statically). A writer fills 96 MiB with zeros
# and idles; dpt sees them present and zero. Then a second writer pushes most of them out to
# zram swap: the scans count them unknown (as many as VmSwap says), say so in one line, and
# swap none of them in.
lib=build/vmkit/obj/libdpt.a
mkdir -p "$TMP/g"
if ! (cd "$ROOT" && make -s BUILD=build vmkit-dpt && cp build/vmkit/dpt "$TMP/g/dpt" &&
	${CC:-cc} -std=gnu11 -D_GNU_SOURCE -Iinclude -Ilib -Isrc -O2 -static -pthread \
		-o "$TMP/g/trace-dump" tests/helpers/trace-dump.c "$lib" -lzstd -ljansson -lm) \
	>"$TMP/g/cc.err" 2>&1; then
	fail swap-build "$(grep -m1 -E 'error|undefined|cannot find' "$TMP/g/cc.err")"
else
	cat >"$TMP/g/swap.sh" <<'GUEST'
#!/bin/sh
vmswap() { sed -n 's/^VmSwap:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/$1/status; }
echo 192M >/sys/block/zram0/disksize && mkswap /dev/zram0 >/dev/null && swapon /dev/zram0 || exit 3
writer --wss 96M --rate 0 --delay 1000 >/tmp/idle.out &
sleep 1
w=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' /tmp/idle.out)
dpt track -q --method soft-dirty --pid $w --interval 500ms --count 1 -o trace:/tmp/z.dpt
trace-dump /tmp/z.dpt | sed -n 's/^nonzero /zeros: nonzero /p'
echo "swap before: $(vmswap $w)"
writer --wss 150M --rate 0 --duration 3 >/dev/null
echo "swap after the hog: $(vmswap $w)"
dpt track -q --method soft-dirty --pid $w --interval 500ms --count 2 -o trace:/tmp/s.dpt 2>/tmp/s.err
cat /tmp/s.err
echo "swap after dpt: $(vmswap $w)"
trace-dump /tmp/s.dpt | sed -n 's/^nonzero /swapped: nonzero /p'
GUEST
	"$VMKIT/run.sh" --mem 256M --modules zram --helpers --file "$TMP/g/dpt" \
		--file "$TMP/g/trace-dump" --file "$TMP/g/swap.sh" --timeout 120 -- sh /bin/swap.sh \
		>"$TMP/g/out" 2>&1
	check swap-guest-ran test $? = 0
	sed 's/^/# /' "$TMP/g/out" | grep -E 'nonzero|swap|warning'
	zc=$(sed -n 's/^zeros: nonzero .*count=\([0-9]*\).*/\1/p' "$TMP/g/out" | tail -n1)
	sw0=$(sed -n 's/^swap after the hog: //p' "$TMP/g/out")
	sw1=$(sed -n 's/^swap after dpt: //p' "$TMP/g/out")
	unk=$(sed -n 's/^swapped: nonzero .*unknown=\([0-9]*\).*/\1/p' "$TMP/g/out" | tail -n1)
	# 24576 present pages of zeros, and a few non-zero ones of the program's own
	check swap-softdirty-zeros-read test "${zc:-99999}" -lt 200
	check swap-pushed-out test "${sw0:-0}" -gt 40000
	check swap-unknown-is-vmswap test "$((${unk:-0} * 4))" -le "${sw0:-0}" -a \
		"$((${unk:-0} * 4))" -ge "$((${sw0:-0} * 9 / 10))"
	check swap-said-once test "$(grep -c 'swapped out: the non-zero scan does not read them' "$TMP/g/out")" = 1
	check swap-none-swapped-in test "${sw1:-0}" = "${sw0:-1}"
fi

# --- a TCG guest with a random writer --------------------------------------------------------------------
vm=$TMP/vm
cleanup() { "$VMKIT/stop.sh" --pidfile "$vm.pid" --qmp "$vm.sock" >/dev/null 2>&1; }
trap 'cleanup; rm -rf "$TMP"' EXIT
WSS=64M
if ! "$VMKIT/start.sh" --qmp "$vm.sock" --pidfile "$vm.pid" --log "$vm.log" --mem 512M --helpers \
	--ready '^writer ready' -- sh -c "writer --wss $WSS --rate 1500 --pattern random --duration 14; sleep 1000" \
	>/dev/null; then
	fail guest-start "the test VM did not start"
	exit 0
fi
qemu=$(cat "$vm.pid")
"$DPT" track -v --pid "$qemu" --interval 1s --duration 16s --zero-scan-every 2s \
	-o trace:"$TMP/g.dpt" 2>"$TMP/g.err"
check guest-dpt-exit test $? = 0
for _ in $(seq 50); do grep -q '^writer done' "$vm.log" && break; sleep 0.1; done
distinct=$(sed -n 's/^writer done .*distinct=\([0-9]*\).*/\1/p' "$vm.log")
# QEMU's present RAM pages: Rss of its mappings that hold the regions scanned
"$DUMP" --regions "$TMP/g.dpt" >"$TMP/g.txt"
present=$(awk -v pid="$qemu" '
	function hex(h,   i, v) { # mawk has no strtonum; addresses fit a double exactly
		sub(/^0x/, "", h); v = 0
		for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
		return v }
	/^  region / { for (i = 2; i <= NF; i++) {
		if ($i ~ /^start=/) s = hex(substr($i, 7))
		if ($i ~ /^pages=/) p = substr($i, 7) }
		rs[++n] = s; re[n] = s + p * 4096 }
	/^nonzero / && n { exit }
	END {
		f = "/proc/" pid "/smaps"
		while ((getline l < f) > 0) {
			if (l ~ /^[0-9a-f]+-[0-9a-f]+ /) { split(l, a, "[- ]"); vs = hex(a[1]); ve = hex(a[2])
				in_r = 0; for (i = 1; i <= n; i++) if (rs[i] < ve && vs < re[i]) in_r = 1 }
			else if (in_r && l ~ /^Rss:/) { split(l, b, " "); kb += b[2] }
		}
		print int(kb / 4) }' "$TMP/g.txt")
counts=$(awk '/^nonzero / { for (i = 1; i <= NF; i++) if ($i ~ /^count=/) printf "%s ", substr($i, 7) }' "$TMP/g.txt")
last=${counts% }
last=${last##* }
total=$(awk '/^nonzero / { for (i = 1; i <= NF; i++) if ($i ~ /^total=/) { print substr($i, 7); exit } }' "$TMP/g.txt")
times=$(sed -n 's/.*non-zero pages: .* read in \([0-9.]*\) s/\1/p' "$TMP/g.err" | tr '\n' ' ')
echo "# guest: writer distinct $distinct pages, QEMU present $present pages, RAM $total pages"
echo "# non-zero counts: $counts"
echo "# scan times (s): $times"
check guest-count-at-least-writer test "${last:-0}" -ge "${distinct:-999999}"
check guest-count-at-most-present test "${last:-999999}" -le "${present:-0}"
check guest-count-far-below-ram test "${last:-999999}" -lt $((${total:-0} / 2))
# the count grows with the writer's distinct pages: at least 4 different values, never down by
# much (the guest frees memory too)
check guest-count-changes test "$(echo "$counts" | tr ' ' '\n' | grep -c . )" -ge 6 -a \
	"$(echo "$counts" | tr ' ' '\n' | grep . | sort -u | wc -l)" -ge 4
check guest-nothing-unknown bash -c "! grep '^nonzero ' '$TMP/g.txt' | grep -qv ' unknown=0 '"
check guest-scan-time-said test -n "$times"
