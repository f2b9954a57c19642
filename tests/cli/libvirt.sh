#!/bin/bash
# dpt track --domain against a real libvirt daemon (Debian's libvirtd, started here when none
# runs): a transient TCG domain booting dpt's multiboot guest, which writes 1024 pages/s
# (4 MiB/s) over 16 MiB;
# - exact (the pid tracker on the domain's QEMU, its RAM blocks asked through libvirt): the
#   guest's programmed rate, totals = QEMU's RAM-offset space, the pid libvirt's;
# - --estimate: libvirt's own dirty rate (virDomainStartDirtyRateCalc + domstats dirtyrate),
#   each interval rate x 256 pages, flagged estimate, the measurements dpt's own;
# - the guest unharmed: running, nothing of dpt left in its QEMU, also after kill -9 of dpt,
#   still writing at its rate;
# - errors: unknown domain, stopped domain, bad URI, daemon not reachable, not a QEMU domain,
#   usage; and a build without libvirt (LIBVIRT=no): one line, exit 2;
# - dpt exporter --domain (14 s more): the domain's series at the guest's rate, its RAM, the
#   unknown and stopped domains named as target errors, tracked through a restart of libvirtd
#   (the test's own), kill -9 (the guest unharmed), and the domain destroyed while tracked.
# Everything this test creates (domains, daemons, users, directories) goes at its exit.
set -u
. "$(dirname "$0")/lib.sh"

# --- built without libvirt: dpt builds, --domain says so in one line, exit 2 ----------------
built_without libvirt-missing-at-build LIBVIRT libvirt 'built without libvirt: install libvirt-dev' \
	track --domain x --count 1
built_without exporter-libvirt-missing-at-build LIBVIRT libvirt 'built without libvirt: install libvirt-dev' \
	exporter --domain x

# --- usage errors need no daemon -------------------------------------------------------------
usage_case() { # NAME ARGS...: exit 2, one "dpt track:" line
	local name=$1
	shift
	"$DPT" track "$@" >"$TMP/u.out" 2>"$TMP/u.err"
	local rc=$?
	if [ $rc = 2 ] && [ "$(wc -l <"$TMP/u.err")" = 1 ]; then ok "usage-$name"; else
		fail "usage-$name" "exit $rc: $(head -c 200 "$TMP/u.err")"
	fi
}
usage_case estimate-alone --estimate --count 1
usage_case connect-alone --connect qemu:///system --pid 1 --count 1
usage_case domain-and-pid --domain x --pid 1 --count 1
usage_case domain-and-qmp --domain x --qmp /x.sock --count 1
usage_case estimate-region --domain x --estimate --region pc.ram --count 1
"$DPT" exporter --connect qemu:///system >/dev/null 2>"$TMP/u.err"
check usage-exporter-connect-alone test $? = 2 -a "$(wc -l <"$TMP/u.err")" = 1

if ! "$DPT" track --domain x --connect test:///default --count 1 2>&1 | grep -q 'no libvirt domain'; then
	skip libvirt-all "dpt was built without libvirt (libvirt-dev)"
	exit 0
fi
# libvirt's test driver runs in dpt's process: no daemon needed
cd "$TMP" || exit 1
bad_case track unknown-domain-test-driver --domain nope --connect test:///default
grep -q "no libvirt domain 'nope' at test:///default" err || fail unknown-domain-message "$(cat err)"
bad_case track not-qemu --domain test --connect test:///default
grep -q 'is not a QEMU domain' err || fail not-qemu-message "$(cat err)"
bad_case track bad-uri --domain x --connect bogus:///x
grep -q 'cannot connect to libvirt at bogus:///x' err || fail bad-uri-message "$(cat err)"
bad_case track no-daemon --domain x --connect "qemu:///system?socket=$TMP/no-such.sock"
grep -q "cannot connect to libvirt at .*Failed to connect socket" err || fail no-daemon-message "$(cat err)"

if [ "$(id -u)" != 0 ] || ! command -v libvirtd >/dev/null || ! command -v virsh >/dev/null ||
	! command -v qemu-system-x86_64 >/dev/null; then
	skip libvirt-daemon "needs root, libvirtd (libvirt-daemon, libvirt-daemon-driver-qemu), virsh (libvirt-clients) and QEMU"
	exit 0
fi
if ! "$DPT" check | grep -q '^tracker pid, uffd method *works'; then
	skip libvirt-daemon "the pid tracker's uffd method does not work on this host"
	exit 0
fi
KERNEL=$ROOT/$BUILD/guest/dpt-guest.elf
[ -f "$KERNEL" ] || { fail libvirt-guest "no $KERNEL (make)"; exit 0; }

# --- the daemon: the one running, or one of our own -----------------------------------------
URI=qemu:///system
V() { virsh -q -c "$URI" "$@"; }
created=() # what to undo: "user NAME", "group NAME", "dir PATH", "pid FILE"
DOM=dpt-test-$$ OFF=dpt-test-off-$$
cleanup() {
	V destroy "$DOM" >/dev/null 2>&1
	V undefine "$OFF" >/dev/null 2>&1
	local i what arg
	for ((i = ${#created[@]} - 1; i >= 0; i--)); do
		what=${created[$i]%% *} arg=${created[$i]#* }
		case $what in
		pid)
			local p
			p=$(cat "$arg" 2>/dev/null) || continue
			kill "$p" 2>/dev/null
			for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
			;;
		user) userdel "$arg" 2>/dev/null ;;
		group) groupdel "$arg" 2>/dev/null ;;
		dir) rm -rf "$arg" ;;
		esac
	done
	kill $(jobs -p) 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
# Debian's libvirtd runs QEMU as libvirt-qemu:libvirt-qemu and wants kvm for /dev/kvm; the
# package that creates them (libvirt-daemon-system) pulls polkit, dnsmasq and firewall rules
for g in kvm libvirt-qemu; do
	getent group "$g" >/dev/null || { groupadd -r "$g" && created+=("group $g"); }
done
if ! getent passwd libvirt-qemu >/dev/null; then
	useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu &&
		created+=("user libvirt-qemu")
fi
for d in /var/log/libvirt /var/lib/libvirt /var/cache/libvirt /run/libvirt /etc/libvirt/qemu \
	/etc/libvirt/nwfilter /etc/libvirt/secrets; do
	[ -e "$d" ] || created+=("dir $d")
done
mkdir -p /var/log/libvirt
if ! V version >/dev/null 2>&1; then
	if ! [ -S /run/libvirt/virtlogd-sock ]; then
		virtlogd -d -p "$TMP/virtlogd.pid" && created+=("pid $TMP/virtlogd.pid")
	fi
	libvirtd -d -p "$TMP/libvirtd.pid" && created+=("pid $TMP/libvirtd.pid")
	for _ in $(seq 100); do V version >/dev/null 2>&1 && break; sleep 0.2; done
fi
if ! V version >/dev/null 2>&1; then
	fail libvirt-daemon "libvirtd does not answer at $URI: $(tail -n 3 /var/log/libvirt/libvirtd.log 2>/dev/null)"
	exit 0
fi

# --- the domain: TCG, the multiboot guest writing 1024 pages/s over 16 MiB -------------------
RATE=1024
domxml() { # NAME
	cat <<EOF
<domain type='qemu'>
  <name>$1</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$KERNEL</kernel><cmdline>wss=16M rate=${RATE}p progress=0</cmdline></os>
  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>$(command -v qemu-system-x86_64)</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
    <serial type='file'><source path='$TMP/$1.log'/></serial>
  </devices>
  <seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel>
</domain>
EOF
}
domxml "$DOM" >"$TMP/dom.xml"
start=$(date +%s)
if ! V create "$TMP/dom.xml" >"$TMP/create.out" 2>&1; then
	fail libvirt-domain-start "$(cat "$TMP/create.out")"
	exit 0
fi
for _ in $(seq 300); do grep -q '^dpt-guest ready' "$TMP/$DOM.log" 2>/dev/null && break; sleep 0.1; done
check libvirt-guest-ready grep -q "^dpt-guest ready .*rate=${RATE}p" "$TMP/$DOM.log"
echo "# domain $DOM started and ready in $(($(date +%s) - start)) s"
qemu=$(cat "/run/libvirt/qemu/$DOM.pid" 2>/dev/null)

# --- exact: the guest's rate, QEMU's RAM-offset space, libvirt's QEMU -------------------------
# near_rate CSV: over its intervals, the pages are the guest's schedule (RATE x their length)
# to within 80 pages (the guest writes up to 64 pages between two clock reads) or 2 %
near_rate() {
	awk -F, -v r=$RATE 'NR > 1 { d += $4; t += $3 } END { e = d - r * t; if (e < 0) e = -e
		printf "# %d pages in %.3f s: %.1f pages/s\n", d, t, d / t > "/dev/stderr"
		exit !(t > 0 && (e <= 80 || e <= 0.02 * r * t)) }' "$1"
}
"$DPT" track --domain "$DOM" --interval 1s --count 4 -v -o csv:exact.csv 2>exact.err
check exact-exit test $? = 0
check exact-rate near_rate exact.csv
check exact-pid grep -q "pid tracker (uffd) on pid $qemu (qemu-system-x86, 3 RAM blocks from libvirt domain $DOM)" exact.err
ram=0
while read -r off _ max; do
	end=$(((off + max) / 4096))
	[ $end -gt $ram ] && ram=$end
done < <(V qemu-monitor-command "$DOM" --hmp "info ramblock" | grep -o '0x[0-9a-f]* *0x[0-9a-f]* *0x[0-9a-f]*')
check exact-total-ram-offset-space awk -F, -v t="$ram" 'NR > 1 && $5 != t { bad = 1 } END { exit bad || NR < 5 || t < 32768 }' exact.csv
check exact-not-estimate bash -c "! grep -q estimate exact.csv exact.err"
# the QMP passthrough is libvirt's "custom-monitor" taint, said in the domain's log (docs/libvirt.md)
check exact-taint-said grep -q 'tainted: custom-monitor' "/var/log/libvirt/qemu/$DOM.log"
# --connect given explicitly, and the trace says what was tracked
"$DPT" track --domain "$DOM" --connect "$URI" --interval 1s --count 2 -q -o trace:exact.dpt 2>connect.err
check exact-connect test $? = 0
"$DPT" report exact.dpt >report.txt 2>&1
check exact-report grep -q 'tracker *pid' report.txt

# --- the guest unharmed: running, nothing of dpt in its QEMU, also after kill -9 --------------
running() { [ "$(V domstate "$DOM" 2>/dev/null)" = running ]; }
no_uffd() { ! ls -l "/proc/$qemu/fd" 2>/dev/null | grep -q userfaultfd &&
	! grep -q 'VmFlags:.* u[wm]' "/proc/$qemu/smaps"; }
check unharmed-running running
check unharmed-no-uffd no_uffd
kill9_after 1.5 "$DPT" track -q --domain "$DOM" --interval 100ms
check unharmed-running-after-kill9 running
check unharmed-no-uffd-after-kill9 no_uffd
"$DPT" track -q --pid "$qemu" --interval 1s --count 2 -o csv:after.csv
check unharmed-rate-after near_rate after.csv

# --- --estimate: libvirt's own dirty rate, labelled an estimate --------------------------------
"$DPT" track --domain "$DOM" --estimate --interval 1s --count 3 -v -o csv:est.csv \
	-o trace:est.dpt 2>est.err
check estimate-exit test $? = 0
"$DPT" report est.dpt >est-report.txt 2>&1
check estimate-report grep -q "counts *estimate: the libvirt tracker's page-sampling mode" est-report.txt
check estimate-flags awk -F, 'NR > 1 && $7 !~ /estimate/ { bad = 1 } END { exit bad || NR != 4 }' est.csv
check estimate-text [ "$(grep -cE '^interval [0-9]+ \([0-9.]+ s, estimate\), dirty [0-9]+ / 32768 ' est.err)" = 3 ]
# each interval is libvirt's dirtyrate.megabytes_per_second x 256 pages over its 1 s
sed -n 's/.*dirtyrate.megabytes_per_second=\([0-9]*\) calc_start_time=\([0-9]*\).*/\1 \2/p' est.err >est.rates
check estimate-is-libvirts-figure awk -F, 'NR == FNR { r[FNR] = $1 * 256; n = FNR; next }
	FNR > 1 && $4 != r[FNR - 1] { bad = 1 } END { exit bad || n != 3 }' est.rates est.csv
echo "# libvirt's estimates, MiB/s: $(cut -d' ' -f1 est.rates | tr '\n' ' ')(the guest writes 4)"
check estimate-total awk -F, 'NR > 1 && $5 != 32768 { bad = 1 } END { exit bad }' est.csv
# the measurements were dpt's: the one its last collect started ends after it, in libvirt
last=$(tail -n 1 est.rates | cut -d' ' -f2)
for _ in $(seq 40); do
	V domstats --dirtyrate "$DOM" >domstats.txt 2>&1
	grep -q 'calc_status=2' domstats.txt && [ "$(sed -n 's/.*calc_start_time=//p' domstats.txt)" -gt "$last" ] && break
	sleep 0.1
done
check estimate-drove-libvirt awk -F= -v l="$last" '/calc_start_time/ { s = $2 } /calc_mode/ { m = $2 }
	END { exit !(s > l && m == "page-sampling") }' domstats.txt
bad_case track estimate-interval --domain "$DOM" --estimate
grep -q 'libvirt measures whole seconds' err || fail estimate-interval-message "$(cat err)"
check estimate-guest-running running

# --- errors against the daemon: unknown domain, stopped domain ---------------------------------
bad_case track unknown-domain --domain "no-such-$$"
grep -q "no libvirt domain 'no-such-$$' at qemu:///system" err || fail unknown-domain-message "$(cat err)"
domxml "$OFF" >"$TMP/off.xml"
V define "$TMP/off.xml" >/dev/null
bad_case track stopped-domain --domain "$OFF"
grep -q "libvirt domain '$OFF' is not running (shut off)" err || fail stopped-domain-message "$(cat err)"
bad_case track stopped-domain-estimate --domain "$OFF" --estimate --interval 1s
check guest-running-at-end running

# --- dpt exporter --domain: the running domain served as vm="$DOM", exactly; the other names
# target errors; libvirtd restarted (the test's own); the exporter killed with -9, the guest
# unharmed; then the domain destroyed while tracked (last: the domain is gone) ---------------
# exp_interval: $DOM's last interval in one scrape, as near_rate's CSV line (intervals, vm,
# seconds, pages)
exp_interval() {
	curl -s --max-time 3 "http://$URL/metrics" | awk -v l="vm=\"$DOM\"" -v vm="$DOM" '
		!index($0, l) { next }
		/^dpt_target_intervals_total\{/ { n = $2 }
		/^dpt_target_interval_seconds\{/ { s = $2 }
		/^dpt_dirty_rate_bytes_per_second\{/ { r = $2 }
		END { if (n != "" && s != "") printf "%d,%s,%.9f,%.0f\n", n, vm, s, r * s / 4096 }'
}
if "$DPT" exporter --listen nowhere 2>&1 | grep -q 'without libmicrohttpd'; then
	skip exporter-domain "dpt was built without libmicrohttpd"
	exit 0
fi
URL=127.0.0.1:$(free_port) NOSUCH=no-such-$$ t0=$SECONDS
start_exporter exporter.err --domain "$DOM" --domain "$NOSUCH" --domain "$OFF" --listen "$URL" \
	--interval 1s
check exporter-domain-serves test -n "$(metric "$URL" dpt_targets 'state="up"')"
check exporter-domain-tracked wait_for 10 'test "$(metric "$URL" dpt_target_up "vm=\"$DOM\",pid=\"$qemu\"")" = 1'
echo intervals,vm,seconds,dirty >exp.csv
for _ in $(seq 60); do
	l=$(exp_interval)
	[ -n "$l" ] && ! grep -q "^${l%%,*}," exp.csv && echo "$l" >>exp.csv
	[ "$(wc -l <exp.csv)" -gt 3 ] && break
	sleep 0.25
done
check exporter-domain-rate near_rate exp.csv
check exporter-domain-tracked-bytes test "$(metric "$URL" dpt_tracked_bytes "vm=\"$DOM\"")" = $((ram * 4096))
curl -s "http://$URL/metrics" >scrape.txt
check exporter-unknown-domain-error grep -qF "dpt_target_error_info{vm=\"$NOSUCH\",pid=\"\",error=\"no libvirt domain '$NOSUCH' at qemu:///system\"} 1" scrape.txt
check exporter-unknown-domain-down grep -qF "dpt_target_up{vm=\"$NOSUCH\",pid=\"\"} 0" scrape.txt
check exporter-stopped-domain-error grep -qF "dpt_target_error_info{vm=\"$OFF\",pid=\"\",error=\"libvirt domain '$OFF' is not running (shut off)\"} 1" scrape.txt
check exporter-domain-errors-said-once test "$(grep -c "vm $NOSUCH: cannot track it" exporter.err)" = 1 \
	-a "$(grep -c "vm $OFF: cannot track it" exporter.err)" = 1
# libvirtd restarted (the test's own daemon only): the connection made again, the domain
# tracked throughout, the same QEMU
if [ -f "$TMP/libvirtd.pid" ]; then
	lp=$(cat "$TMP/libvirtd.pid")
	kill "$lp"
	for _ in $(seq 50); do kill -0 "$lp" 2>/dev/null || break; sleep 0.1; done
	check exporter-libvirt-lost-said wait_for 5 'grep -q "libvirt at qemu:///system: connection lost" exporter.err'
	n=$(metric "$URL" dpt_target_intervals_total "vm=\"$DOM\"") m=$(wc -l <exporter.err)
	libvirtd -d -p "$TMP/libvirtd.pid"
	check exporter-libvirt-connected-again wait_for 10 'grep -q "libvirt at qemu:///system: connected again" exporter.err'
	check exporter-tracked-through-libvirtd-restart test "$(metric "$URL" dpt_target_up "vm=\"$DOM\",pid=\"$qemu\"")" = 1 \
		-a "$(metric "$URL" dpt_target_intervals_total "vm=\"$DOM\"")" -gt "$n"
	check exporter-libvirtd-restart-domain-unaffected bash -c "! tail -n +$((m + 1)) exporter.err | grep -q 'vm $DOM'"
fi
kill -9 "$EXPORTER"
wait "$EXPORTER" 2>/dev/null
sleep 0.2
check exporter-unharmed-running-after-kill9 running
check exporter-unharmed-no-uffd-after-kill9 no_uffd
"$DPT" track -q --pid "$qemu" --interval 1s --count 2 -o csv:exp-after.csv
check exporter-unharmed-rate-after near_rate exp-after.csv
# destroyed while tracked: its series go, counted lost, a target error; the rest served
start_exporter exporter2.err --domain "$DOM" --domain "$NOSUCH" --listen "$URL" --interval 1s
check exporter-domain-tracked-again wait_for 10 'test "$(metric "$URL" dpt_target_intervals_total "vm=\"$DOM\",pid=\"$qemu\"")" -ge 1'
V destroy "$DOM" >/dev/null
check exporter-destroyed-series-removed wait_for 5 '! curl -s "http://$URL/metrics" | grep -q "^dpt_tracked_bytes{vm=\"$DOM\""'
check exporter-destroyed-lost-counted test "$(metric "$URL" dpt_targets_lost_total 'reason="exited"')" = 1
# (a transient domain: destroyed, libvirt knows it no more)
check exporter-destroyed-is-error wait_for 3 'curl -s "http://$URL/metrics" | grep -q "^dpt_target_error_info{vm=\"$DOM\",pid=\"\",error=\"no libvirt domain .$DOM. at "'
check exporter-destroyed-said grep -q "vm $DOM (pid $qemu): gone" exporter2.err
check exporter-still-serving-others test "$(metric "$URL" dpt_target_up "vm=\"$NOSUCH\"")" = 0
kill -TERM "$EXPORTER"
wait "$EXPORTER"
check exporter-sigterm-exit-0 test $? = 0
echo "# the exporter's checks took $((SECONDS - t0)) s"
