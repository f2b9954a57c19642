#!/bin/bash
# Huge pages, and memory left out, said: hugetlbfs memory (anonymous MAP_HUGETLB, a file on a
# hugetlbfs mount this test mounts) is tracked per huge page, and dpt says so -- a line naming
# the region and its page size, the flag huge on every row -- with counts in 4 KiB pages (a
# write counts the 512 of its huge page); a --region range that cuts huge pages is widened to
# whole ones. Shared writable memory left out by default is said too (a line, the flag
# untracked). Needs root; skips only where the kernel gives no huge pages.
set -u
. "$(dirname "$0")/lib.sh"
W=$HELPERS/writer

if ! "$DPT" check | grep -q '^tracker pid, uffd method *works'; then
	skip track-huge "the pid tracker's uffd method does not work on this host"
	exit 0
fi
orig=$(cat /proc/sys/vm/nr_hugepages)
mnt=$TMP/hugetlbfs
cleanup() {
	kill $(jobs -p) 2>/dev/null
	wait 2>/dev/null
	umount "$mnt" 2>/dev/null
	echo "$orig" >/proc/sys/vm/nr_hugepages
	rm -rf "$TMP"
}
trap cleanup EXIT
echo $((orig + 24)) >/proc/sys/vm/nr_hugepages 2>/dev/null
free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
if [ "${free:-0}" -lt 24 ]; then
	skip track-huge "this kernel gives no 2 MiB huge pages (HugePages_Free ${free:-0} after asking for 24)"
	exit 0
fi

# rows CSV: every row flagged huge, every dirty count 2 or 3 huge pages (1000 page writes per
# 500 ms interval, in sequence: they span 2 huge pages, or 3)
rows_huge() {
	awk -F, 'NR > 1 { n++; if ($7 !~ /huge/ || ($4 != 1024 && $4 != 1536)) bad = 1 }
		END { exit bad || n != 3 }' "$1"
}

# --- anonymous MAP_HUGETLB ----------------------------------------------------------------------
"$W" --wss 16M --hugetlb --rate 2000 --duration 4 >"$TMP/anon.out" 2>&1 &
wpid=$(writer_ready "$TMP/anon.out")
if [ -z "$wpid" ]; then
	fail huge-anon-writer "the writer did not start: $(head -c 200 "$TMP/anon.out")"
	exit 0
fi
addr=$(sed -n 's/.*addr=0x\([0-9a-f]*\).*/\1/p' "$TMP/anon.out")
"$DPT" track --pid "$wpid" --region '/anon_hugepage (deleted)' --interval 500ms --count 3 \
	-o csv:"$TMP/anon.csv" 2>"$TMP/anon.err"
check huge-anon-exit test $? = 0
check huge-anon-line grep -q "region /anon_hugepage (deleted) (0x$addr, 16.0 MiB) is backed by 2048 KiB huge pages" \
	"$TMP/anon.err"
check huge-anon-rows rows_huge "$TMP/anon.csv"
# the default regions: the flag too (and the program's 4 KiB memory beside it)
"$DPT" track -q --pid "$wpid" --interval 500ms --count 2 -o csv:"$TMP/anon-all.csv" 2>/dev/null
check huge-anon-default-flag awk -F, 'NR > 1 && $7 !~ /huge/ { bad = 1 } END { exit bad || NR != 3 }' \
	"$TMP/anon-all.csv"
# a range cutting its first three huge pages on both ends: widened to the three whole ones
lo=$(printf '%x' $((0x$addr + 0x1000))) hi=$(printf '%x' $((0x$addr + 0x5ff000)))
"$DPT" track -q --pid "$wpid" --region "$lo-$hi" --interval 500ms --count 2 -o csv:"$TMP/cut.csv" \
	2>/dev/null
check huge-range-widened awk -F, 'NR > 1 && ($5 != 1536 || $4 % 512 || $7 !~ /huge/) { bad = 1 }
	END { exit bad || NR != 3 }' "$TMP/cut.csv"
wait

# --- a file on a hugetlbfs mount, mapped shared ------------------------------------------------
mkdir -p "$mnt"
if ! mount -t hugetlbfs -o pagesize=2M none "$mnt"; then
	fail huge-mount "cannot mount hugetlbfs on $mnt"
	exit 0
fi
"$W" --wss 16M --file "$mnt/ram" --rate 2000 --duration 4 >"$TMP/file.out" 2>&1 &
wpid=$(writer_ready "$TMP/file.out")
# by default a shared mapping is left out, and dpt says so: how much, which, how to take it
"$DPT" track --pid "$wpid" --interval 500ms --count 2 -o csv:"$TMP/left.csv" 2>"$TMP/left.err"
check shared-left-out-exit test $? = 0
check shared-left-out-line grep -q "16.0 MiB of shared writable memory is not tracked: $mnt/ram (16.0 MiB)\..*--region" \
	"$TMP/left.err"
check shared-left-out-flag awk -F, 'NR > 1 && $7 !~ /untracked/ { bad = 1 } END { exit bad || NR != 3 }' \
	"$TMP/left.csv"
"$DPT" track --pid "$wpid" --region "$mnt/ram" --interval 500ms --count 3 -o csv:"$TMP/file.csv" \
	2>"$TMP/file.err"
check huge-file-exit test $? = 0
check huge-file-line grep -q "region $mnt/ram (0x[0-9a-f]*, 16.0 MiB) is backed by 2048 KiB huge pages" \
	"$TMP/file.err"
check huge-file-rows rows_huge "$TMP/file.csv"
wait
