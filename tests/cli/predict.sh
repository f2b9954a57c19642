#!/bin/bash
# dpt predict from the command line:
#  - a trace the micro-VM recorded (a sequential writer at 4 MiB/s over 16 MiB), migrated from
#    5 s on (all 16 MiB written by then; at 0 s the VM fits in QEMU's first window), against
#    the closed form: it converges iff the dirty rate (1024 pages/s x 4104 bytes) is below the
#    bandwidth, so a sweep flips between 3.8 and 4.2 MiB/s, and --bandwidth below says where
#    it would converge;
#  - text and JSON agree, --sweep's table and JSON;
#  - a counts-only trace (trace-gen --counts-only) is a constant-rate forecast and says so;
#    a trace without non-zero records says every page is taken to hold data;
#  - --dest-hugepage-cost: said in the text (and the assumption when it is not given, in one
#    line), in the JSON (regions, stall = regions x cost), in each run of a sweep;
#  - bad input: one line, non-zero exit (bandwidth 0 without --link, negative, absurd, a missing
#    or truncated file, a start past the end; a negative, NaN or absurd destination cost).
set -u
. "$(dirname "$0")/lib.sh"
trap 'rm -rf "$TMP"' EXIT
cd "$TMP" || exit 1
J="$HELPERS/json-get"

# j FILE EXPR...: values from a JSON file (python3, one per line)
j() {
	local f=$1
	shift
	python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
for e in sys.argv[2:]:
    v = eval(e, {"d": d, "len": len})
    print(str(v).lower() if isinstance(v, bool) else v)' "$f" "$@"
}

# --- a recorded micro-VM trace against the closed form ---------------------------------------
if have_kvm; then
	"$DPT" vm --mem 64M --wss 16M --pattern seq --rate 4M --interval 100ms --duration 10s -q \
		-o trace:vm.dpt 2>vm.err
	check vm-recorded test -s vm.dpt
	"$DPT" predict vm.dpt --start 5 --sweep --bandwidths 3.2M,3.6M,3.8M,4.2M,4.6M,6M --limits 300ms \
		--json >sweep.json 2>sweep.err
	check vm-sweep-runs test $? = 0
	got=$(j sweep.json '" ".join("y" if r["converged"] else "n" for r in d["runs"])')
	check vm-sweep-boundary test "$got" = "n n n y y y"
	"$DPT" predict vm.dpt --start 5 --sweep --bandwidths 3.2M,3.6M,3.8M,4.2M,4.6M,6M --limits 300ms \
		>sweep.txt
	check vm-sweep-text grep -q '^converges from *4.2 MiB/s' sweep.txt

	# below the boundary: not converging, where it would, from text and JSON alike
	"$DPT" predict vm.dpt --start 5 --bandwidth 3M >below.txt 2>below.err
	check vm-below-exit test $? = 0
	check vm-below-says grep -q '^converges   no: clear after [0-9]* passes' below.txt
	edge=$(sed -n 's/^would  *converge at a bandwidth of \([0-9.]*\) MiB\/s.*/\1/p' below.txt)
	check vm-below-edge python3 -c "import sys; sys.exit(not 4.0 <= float('${edge:-0}') <= 4.2)"
	"$DPT" predict vm.dpt --start 5 --bandwidth 3M --json >below.json
	check vm-below-json test "$(j below.json 'd["status"]' 'd["converged"]' \
		'4.0*2**20 <= d["converges_at_bandwidth"] <= 4.2*2**20' | tr '\n' ' ')" = \
		"does not converge false true "

	# above it: converges; text and JSON give the same numbers; passes listed with -v
	"$DPT" predict vm.dpt --start 5 --bandwidth 8M --link 1G -v >above.txt
	"$DPT" predict vm.dpt --start 5 --bandwidth 8M --link 1G --json >above.json
	check vm-above-converges grep -q '^converges   yes' above.txt
	total=$(sed -n 's/^total time  \([0-9.]*\) s/\1/p' above.txt)
	check vm-above-same test "$total" = "$(j above.json '"%.3f" % d["total_time"]')"
	check vm-above-syncs test "$(j above.json 'd["dirty_sync_count"] == len(d["passes"]) + 1')" = true
	# the micro-VM's first 16 MiB hold data, the rest zeros: 12288 zero pages sent as such
	check vm-above-zero test "$(j above.json 'd["zero_known"]' 'd["duplicate"] >= 12000' \
		'd["normal"] >= 4096' | tr '\n' ' ')" = "true true true "

	# dpt plot --kind predict: the same sweep drawn, in the terminal and through gnuplot
	"$DPT" plot vm.dpt --kind predict --start 5 --bandwidths 3.2M,3.6M,3.8M,4.2M,4.6M,6M \
		--limits 300ms >plot.txt
	check vm-plot-term test "$(grep -c 'does not converge' plot.txt)" = 3 -a \
		"$(grep -c '#.* s, down ' plot.txt)" = 3
	if command -v gnuplot >/dev/null; then
		"$DPT" plot vm.dpt --kind predict --start 5 --bandwidths 3.2M,3.6M,3.8M,4.2M,4.6M,6M \
			--limits 300ms,1s -o sweep.svg --keep-data kept >/dev/null
		check vm-plot-svg grep -q '<svg' sweep.svg
		check vm-plot-data test "$(grep -vc '^#' kept/predict.dat)" = 6 -a \
			"$(grep -v '^#' kept/predict.dat | grep -c NaN)" = 3
	else
		skip vm-plot-svg "no gnuplot (package gnuplot-nox)"
	fi
	"$DPT" plot vm.dpt --start 5 >/dev/null 2>err
	check plot-start-needs-predict test $? = 2
else
	skip predict-vm "no usable /dev/kvm for the micro-VM"
fi

# --- a replayed trace gives the same forecast every time ----------------------------------------
# (the read-ahead once handed a slot back before reading its kind: at the trace's end the
# thread could refill it first, the replay lost its time shift, and a migration that outlasts
# the trace converged or not from one run to the next: b8ee1c3)
"$HELPERS/trace-gen" --pages 32768 --intervals 30 --interval-ms 100 --pattern seq --dirty 204 \
	replay.dpt >/dev/null
for i in 1 2 3 4 5 6 7 8; do
	"$DPT" predict replay.dpt --bandwidth 9M --json 2>/dev/null |
		python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["converged"], d["total_time"], d["transferred"], d["replays"])'
done >replay.out
check replay-deterministic test "$(sort -u replay.out | wc -l)" = 1 -a "$(awk '{print $4}' replay.out | sort -u)" != 0
sort -u replay.out | sed 's/^/# /'

# --- counts only; no non-zero records -------------------------------------------------------
"$HELPERS/trace-gen" --pages 16384 --intervals 50 --interval-ms 100 --pattern seq --dirty 100 \
	--counts-only counts.dpt >/dev/null
"$DPT" predict counts.dpt --bandwidth 16M >counts.txt 2>&1
check counts-only-runs test $? = 0
check counts-only-says grep -q 'counts, no sets (qmp tracker): a constant-rate forecast' counts.txt
check counts-only-converges grep -q '^converges   yes' counts.txt
"$DPT" predict counts.dpt --bandwidth 16M --json >counts.json
check counts-only-json test "$(j counts.json 'd["counts_only"]')" = true

"$HELPERS/trace-gen" --pages 16384 --intervals 50 --interval-ms 100 --pattern seq --dirty 100 \
	sets.dpt >/dev/null
"$DPT" predict sets.dpt --bandwidth 16M >nz.txt
check no-nonzero-says grep -q 'no non-zero record: every page taken to hold data' nz.txt
"$HELPERS/trace-gen" --pages 16384 --intervals 50 --interval-ms 100 --pattern seq --dirty 100 \
	--nonzero withnz.dpt >/dev/null
"$DPT" predict withnz.dpt --bandwidth 16M --json >nz.json
check nonzero-used test "$(j nz.json 'd["zero_known"]' 'd["initial_zero"]' | tr '\n' ' ')" = \
	"true 12288 "

# --- the destination's cost per 2 MiB first written ------------------------------------------
# withnz.dpt: 4096 pages of data at the start (8 regions of 2 MiB), the writer's pages on top
check dest-default-said test "$(grep -c '^destination assumed to take no huge pages: no cost' nz.txt)" = 1
"$DPT" predict withnz.dpt --bandwidth 16M --dest-hugepage-cost 5ms >dest.txt
check dest-text grep -q '^destination 5.000 ms for each 2 MiB of its RAM receiving its first page of data (--dest-hugepage-cost), the stream up to 4.0 MiB ahead of it' dest.txt
"$DPT" predict withnz.dpt --bandwidth 16M --dest-hugepage-cost 5ms --json >dest.json
check dest-json test "$(j dest.json 'd["dest_hugepage_cost"]' 'd["dest_regions"] >= 8' \
	'abs(d["dest_stall"] - 0.005 * d["dest_regions"]) < 1e-9' 'd["dest_buffer"]' \
	'0 <= d["dest_wait"] <= d["dest_stall"]' | tr '\n' ' ')" = "0.005 true true 4194304 true "
regions=$(j dest.json 'd["dest_regions"]')
check dest-text-regions grep -q "^destination $regions regions of 2 MiB received their first page of data" dest.txt
"$DPT" predict withnz.dpt --bandwidth 16M --json >nodest.json
check dest-regions-counted-at-no-cost test "$(j nodest.json 'd["dest_regions"]' 'd["dest_stall"]' | tr '\n' ' ')" = "$regions 0.0 " -a \
	"$(python3 -c "import json; a=json.load(open('dest.json')); b=json.load(open('nodest.json')); print(a['total_time'] >= b['total_time'])")" = True
"$DPT" predict withnz.dpt --sweep --bandwidths 16M,32M --limits 300ms --dest-hugepage-cost 5ms \
	--json >dsweep.json
check dest-sweep test "$(j dsweep.json '[r["dest_regions"] == '"$regions"' and r["dest_stall"] > 0 for r in d["runs"]]')" = "[True, True]"

# --- bad input: one line, non-zero exit -------------------------------------------------------
# bad NAME WANT-EXIT ARGS...
bad() {
	local name=$1 want=$2
	shift 2
	"$DPT" predict "$@" >out 2>err
	local rc=$?
	if [ $rc != "$want" ] || [ "$(wc -l <err)" != 1 ] || ! grep -q '^dpt' err; then
		fail "bad-$name" "exit $rc (want $want): $(head -c 300 err)"
	else
		ok "bad-$name"
	fi
}
bad bw-zero 2 sets.dpt --bandwidth 0
bad bw-negative 2 sets.dpt --bandwidth -5M
bad bw-absurd 2 sets.dpt --bandwidth 99999999999G
bad bw-garbage 2 sets.dpt --bandwidth fast
bad bw-missing 2 sets.dpt
bad limit-garbage 2 sets.dpt --bandwidth 16M --downtime-limit soon
bad two-files 2 sets.dpt sets.dpt --bandwidth 16M
bad dest-negative 2 sets.dpt --bandwidth 16M --dest-hugepage-cost -5ms
bad dest-nan 2 sets.dpt --bandwidth 16M --dest-hugepage-cost nan
bad dest-absurd 2 sets.dpt --bandwidth 16M --dest-hugepage-cost 2s
bad dest-garbage 2 sets.dpt --bandwidth 16M --dest-hugepage-cost slow
bad dest-missing 2 sets.dpt --bandwidth 16M --dest-hugepage-cost
bad dest-buffer-negative 2 sets.dpt --bandwidth 16M --dest-buffer -4M
bad dest-buffer-absurd 2 sets.dpt --bandwidth 16M --dest-buffer 9999T
bad no-file 1 nosuch.dpt --bandwidth 16M
bad start-past-end 1 sets.dpt --bandwidth 16M --start 1h
head -c 100 sets.dpt >torn.dpt
bad truncated 1 torn.dpt --bandwidth 16M
printf 'not a trace at all, just text\n' >text.dpt
bad not-a-trace 1 text.dpt --bandwidth 16M
"$DPT" predict sets.dpt --bandwidth 0 --link 1G >unl.txt 2>&1
check bw-unlimited-with-link grep -q '^converges   yes' unl.txt
