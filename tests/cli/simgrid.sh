#!/bin/bash
# dpt simgrid end to end, on synthetic traces of exact rates (trace-gen: 1 s intervals):
# - an idle VM: SimGrid sends the RAM once: time = latency + R/B (stage 1) + latency (an empty
#   stage 3) + latency (the destination's ACK), bytes = R;
# - a VM dirtying 1 MiB/s sequentially: the parameters (intensity = rate / B, working set =
#   N(stage 1)), then SimGrid's time and bytes against SimGrid's precopy recurrence computed
#   here in Python from VmLiveMigration.cpp's rules (docs/simgrid.md), with and without an
#   imposed working set that caps the rounds;
# - a dirty rate equal to the bandwidth: reported as not converging (exit 3), in well under a
#   second, never simulated; --params as JSON and as C; --vms: two VMs share the link;
# - a counts-only trace (as the qmp tracker's); a micro-VM trace when KVM works; bad input.
set -u
. "$(dirname "$0")/lib.sh"

# Built without SimGrid (SIMGRID=no), dpt builds and `dpt simgrid` says so in one line, exit 2
built_without simgrid-missing-at-build SIMGRID simgrid 'built without SimGrid: install libsimgrid-dev' \
	simgrid x.dpt --bandwidth 1G

JG=$HELPERS/json-get
GEN=$HELPERS/trace-gen
if [ ! -x "$JG" ] || [ ! -x "$GEN" ] || ! "$DPT" simgrid --help >/dev/null 2>&1; then
	skip simgrid-all "needs build/dpt with simgrid, $JG and $GEN (make tests)"
	exit 0
fi
cd "$TMP" || exit 1

j() { "$JG" "$@" 2>/dev/null; }
# near A B REL: |A - B| <= REL x |B| (and A is a number)
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (b < 0) b = -b;
	exit !(a == a + 0 && d <= t * b && -d <= t * b) }'; }
# near_abs A B TOL: |A - B| <= TOL (SimGrid logs a stage's duration to the microsecond)
near_abs() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; exit !(d <= t && -d <= t) }'; }
# one_line NAME STATUS RC PATTERN: exit status RC, nothing on stdout, one stderr line PATTERN
one_line() {
	local n
	n=$(wc -l <err)
	if [ "$2" = "$3" ] && [ "$n" = 1 ] && [ ! -s out ] && grep -qE "$4" err; then ok "$1"; else
		fail "$1" "status $2 (want $3), $n lines: $(head -c 300 err)"
	fi
}

# SimGrid 3.32's MigrationTx loop (VmLiveMigration.cpp) for one VM alone on the link, with the
# platform dpt builds (a message of x bytes takes L + x/B): prints time, bytes, rounds,
# downtime. rate = cpu share x migration speed x intensity (bytes/s).
model() {
	python3 - "$@" <<'EOF'
import sys, math
R, B, L, rate, WS = (float(a) for a in sys.argv[1:6])
t = L + R / B
tot, sent, rounds = t, R, 0
thr = math.floor(R / t * 0.03)
x = min(math.floor(rate * t), WS)
while thr < x:
    d = L + x / B
    tot += d; sent += x; rounds += 1
    thr = math.floor(x / d * 0.03)
    x = min(math.floor(rate * d), WS)
down = L + x / B
print("%.12f %d %d %.12f" % (tot + down + L, sent + x, rounds, down))
EOF
}
MiB=1048576

"$GEN" --pages 16 --intervals 2 --dirty 0 probe.dpt >/dev/null 2>&1
if ! simgrid_built=$("$DPT" simgrid probe.dpt --bandwidth 1M 2>&1); then
	case "$simgrid_built" in
	*"built without SimGrid"*)
		skip simgrid-sim "dpt was built without SimGrid (libsimgrid-dev)" ;;
	*) fail simgrid-probe "$simgrid_built" ;;
	esac
	SIM=0
else
	SIM=1
fi

"$GEN" --pages 16384 --intervals 10 --dirty 0 --pattern seq idle.dpt >/dev/null
"$GEN" --pages 16384 --intervals 20 --dirty 256 --pattern seq seq.dpt >/dev/null
"$GEN" --pages 16384 --intervals 20 --dirty 256 --pattern seq --counts-only counts.dpt >/dev/null

# --- --params: JSON that parses, the values derived as docs/simgrid.md says -----------------
"$DPT" simgrid seq.dpt --bandwidth 4M --latency 1ms --params >p.json 2>err
rc=$?
if [ $rc = 0 ] && python3 -m json.tool p.json >/dev/null; then ok params-json; else
	fail params-json "status $rc: $(head -c 300 err)"
fi
ram=$(j p.json 'params[0].ramsize')
intensity=$(j p.json 'params[0].dirty_page_intensity')
ws=$(j p.json 'params[0].working_set_memory')
speed=$(j p.json 'params[0].migration_speed')
# 256 pages/s = 1 MiB/s over 4 MiB/s: 0.25; stage 1 = 1 ms + 16 s: N = 256 x 16.001 pages
check params-ramsize [ "$ram" = 67108864 ]
check params-speed near "$speed" $((4 * MiB)) 1e-12
check params-intensity near "$intensity" 0.25 1e-9
check params-working-set near "$ws" "$(python3 -c 'print(round(256 * 16.001 * 4096))')" 1e-9
check params-window near "$(j p.json 'params[0].from.working_set_window')" 16.001 1e-9
"$DPT" simgrid seq.dpt --bandwidth 4M --cpu-share 0.5 --params >p2.json 2>/dev/null
check params-cpu-share near "$(j p2.json 'params[0].dirty_page_intensity')" 0.5 1e-9
"$DPT" simgrid seq.dpt --bandwidth 4M --params=c >p.c 2>/dev/null
check params-c grep -q 'sg_vm_set_dirty_page_intensity(vm0, 0.25);' p.c
# C that compiles against SimGrid's headers, when they are there
if [ $SIM = 1 ]; then
	{ echo '#include <simgrid/actor.h>'; echo '#include <simgrid/host.h>'
	  echo '#include <simgrid/vm.h>'; echo '#include <simgrid/plugins/live_migration.h>'
	  echo 'void f(sg_host_t pm) {'; cat p.c; echo '(void)vm0; }'; } >snippet.c
	check params-c-compiles cc -c -Wall -Werror -o snippet.o snippet.c
fi
# --start: the cut begins there (10 intervals left)
"$DPT" simgrid seq.dpt --bandwidth 4M --start 10 --params >p3.json 2>/dev/null
check params-start [ "$(j p3.json 'params[0].from.intervals')" = 10 ]

# --- a counts-only trace: a rate, no working set (the whole RAM, said) ----------------------
"$DPT" simgrid counts.dpt --bandwidth 4M --params >c.json 2>err
if [ "$(j c.json 'params[0].from.working_set_from')" = ramsize ] &&
	[ "$(j c.json 'params[0].working_set_memory')" = 67108864 ] &&
	near "$(j c.json 'params[0].dirty_page_intensity')" 0.25 1e-9 &&
	j c.json 'params[0].from.note' | grep -q 'working set unknown'; then
	ok counts-only-params
else
	fail counts-only-params "$(head -c 600 c.json)"
fi
"$DPT" simgrid counts.dpt --bandwidth 4M --working-set 2M --params >c2.json 2>/dev/null
check counts-only-imposed [ "$(j c2.json 'params[0].working_set_memory')" = $((2 * MiB)) ]

if [ $SIM = 1 ]; then
	# --- an idle VM: the RAM once, three latencies ------------------------------------------
	"$DPT" simgrid idle.dpt --bandwidth 64M --latency 1ms --json >idle.json 2>err
	rc=$?
	t=$(j idle.json 'vms[0].simgrid.total_time')
	if [ $rc = 0 ] && near "$t" 1.003 1e-9 &&
		near "$(j idle.json 'vms[0].simgrid.bytes')" 67108864 1e-12; then
		ok idle-time-bytes
	else
		fail idle-time-bytes "status $rc, time $t (want 1.003), bytes $(j idle.json 'vms[0].simgrid.bytes')"
	fi
	"$DPT" simgrid idle.dpt --bandwidth 64M >idle.txt 2>&1
	check idle-says grep -q 'nothing is dirtied: SimGrid sends the RAM once' idle.txt

	# --- 1 MiB/s at 4 MiB/s: several precopy rounds, against the recurrence ---------------
	for c in derived:: capped:--working-set=2M:2097152; do
		name=${c%%:*} rest=${c#*:} opt=${rest%%:*} cap=${rest#*:}
		"$DPT" simgrid seq.dpt --bandwidth 4M --latency 1ms ${opt:+"$opt"} --json >"$name.json" 2>err
		rc=$?
		w=${cap:-$(j "$name.json" 'vms[0].params.working_set_memory')}
		read -r mt mb mr md <<<"$(model 67108864 $((4 * MiB)) 0.001 $MiB "$w")"
		st=$(j "$name.json" 'vms[0].simgrid.total_time')
		sb=$(j "$name.json" 'vms[0].simgrid.bytes')
		sr=$(j "$name.json" 'vms[0].simgrid.rounds')
		sd=$(j "$name.json" 'vms[0].simgrid.downtime')
		# bytes: SimGrid truncates flops x rate per round; allow a byte per round
		if [ $rc = 0 ] && near "$st" "$mt" 1e-9 && near "$sb" "$mb" 1e-7 && [ "$sr" = "$mr" ] &&
			near_abs "$sd" "$md" 1e-6 && [ "$mr" -ge 2 ]; then
			ok "rounds-$name"
		else
			fail "rounds-$name" "status $rc; simgrid $st s $sb B $sr rounds $sd s; model $mt s $mb B $mr rounds $md s"
		fi
	done

	# --- the same VM twice over the one link takes longer than alone ----------------------
	"$DPT" simgrid --vms seq.dpt,seq.dpt --bandwidth 4M --latency 1ms --json >two.json 2>err
	rc=$?
	t0=$(j two.json 'vms[0].simgrid.total_time') t1=$(j two.json 'vms[1].simgrid.total_time')
	alone=$(j derived.json 'vms[0].simgrid.total_time') all=$(j two.json 'evacuation.time')
	if [ $rc = 0 ] && awk -v a="$t0" -v b="$t1" -v s="$alone" -v e="$all" \
		'BEGIN { exit !(a > 1.5 * s && b > 1.5 * s && e >= a && e >= b) }'; then
		ok vms-shared-link
	else
		fail vms-shared-link "status $rc: $t0 and $t1 s together, $alone s alone, all $all"
	fi
	"$DPT" simgrid --vms seq.dpt,idle.dpt --bandwidth 4M >two.txt 2>&1
	check vms-text [ "$(grep -cE '^ +[01] +seq.dpt|^ +[01] +idle.dpt' two.txt)" = 2 ]

	# --- a dirty rate equal to the bandwidth: reported at once, exit 3 ---------------------
	start=$(date +%s%N)
	"$DPT" simgrid seq.dpt --bandwidth 1M >nc.txt 2>err
	rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	if [ $rc = 3 ] && grep -q 'converges.*no' nc.txt && grep -q 'not simulated' nc.txt &&
		[ $ms -lt 1000 ]; then
		ok no-convergence
	else
		fail no-convergence "status $rc in $ms ms: $(tail -3 nc.txt) $(head -c 200 err)"
	fi
	"$DPT" simgrid seq.dpt --bandwidth 1M --json >nc.json 2>/dev/null
	check no-convergence-json [ "$(j nc.json 'evacuation.converges')" = false ]
	# two that converge alone but not sharing: 1 MiB/s each over 1.5 MiB/s
	"$DPT" simgrid --vms seq.dpt,seq.dpt --bandwidth 1536K >nc2.txt 2>&1
	check no-convergence-shared [ $? = 3 ]

	# --- a counts-only trace simulates, saying what it assumed -----------------------------
	"$DPT" simgrid counts.dpt --bandwidth 4M >c.txt 2>&1
	check counts-only-run grep -q 'working set unknown' c.txt

	# --- the micro-VM, as the brief's example ---------------------------------------------
	if have_kvm && "$DPT" vm --mem 64M --wss 16M --pattern seq --rate 4M --interval 100ms \
		--duration 3s -q -o trace:vm.dpt >/dev/null 2>&1; then
		"$DPT" simgrid vm.dpt --bandwidth 64M --latency 1ms --json >vm.json 2>err
		rc=$?
		i=$(j vm.json 'vms[0].params.dirty_page_intensity')
		if [ $rc = 0 ] && near "$i" 0.0625 0.05 &&
			[ "$(j vm.json 'vms[0].simgrid.converges')" = true ]; then
			ok micro-vm
		else
			fail micro-vm "status $rc, intensity $i: $(head -c 300 err)"
		fi
	else
		skip micro-vm "no usable /dev/kvm"
	fi
fi

# --- bad input: one line, exit 2 (usage) or 1 (the trace) ----------------------------------
for b in 0 -5M abc 2000G 99999999999999999999M; do
	"$DPT" simgrid seq.dpt --bandwidth "$b" >out 2>err
	one_line "bad-bandwidth-$b" $? 2 'bandwidth'
done
"$DPT" simgrid seq.dpt >out 2>err
one_line bad-no-bandwidth $? 2 'bandwidth is needed'
"$DPT" simgrid seq.dpt --bandwidth 4M --cpu-share 0 >out 2>err
one_line bad-cpu-share $? 2 'cpu-share'
"$DPT" simgrid seq.dpt --bandwidth 4M --latency soon >out 2>err
one_line bad-latency $? 2 'latency'
"$DPT" simgrid seq.dpt --bandwidth 4M --params=xml >out 2>err
one_line bad-params $? 2 'params'
"$DPT" simgrid --bandwidth 4M >out 2>err
one_line bad-no-trace $? 2 'which trace'
"$DPT" simgrid missing.dpt --bandwidth 4M --params >out 2>err
one_line bad-missing-file $? 1 'missing.dpt'
"$DPT" simgrid --vms seq.dpt,missing.dpt --bandwidth 4M --params >out 2>err
one_line bad-missing-vm $? 1 'missing.dpt'
"$DPT" simgrid seq.dpt --bandwidth 4M --start 100 --params >out 2>err
one_line bad-start-after-end $? 1 'no interval'
