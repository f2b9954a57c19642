#!/bin/bash
# dpt check: every probe reported, text and JSON agree, a bad device is "unsupported", what
# --destination says of the host's transparent huge pages and their cost, and what it says of
# soft-dirty matches an independent probe (tests/helpers/softdirty.c) on the host
# and inside a TCG guest running Debian's 6.1 kernel (soft-dirty, no PAGEMAP_SCAN).
set -u
. "$(dirname "$0")/lib.sh"

"$DPT" check >"$TMP/check.txt"
check check-exit-0 test $? = 0
for probe in "kvm device" "kvm manual dirty-log protect" "kvm dirty ring" \
	"tracker kvm, bitmap mode" "userfaultfd write-protect async" "PAGEMAP_SCAN" \
	"tracker pid, uffd method" "tracker pid, soft-dirty method"; do
	check "check-lists-${probe// /-}" grep -qE "^$probe +(works|unsupported|error) " "$TMP/check.txt"
done
"$DPT" check --json >"$TMP/check.json"
check check-json-exit-0 test $? = 0
n_text=$(wc -l <"$TMP/check.txt")
n_json=$(grep -c '"status":' "$TMP/check.json")
check check-json-same-probes test "$n_text" = "$n_json"
check check-json-shape grep -q '"probes": \[' "$TMP/check.json"

"$DPT" check --kvm-device /dev/null >"$TMP/null.txt"
check check-not-kvm grep -qE '^kvm device +unsupported .*/dev/null: not a KVM device' "$TMP/null.txt"
"$DPT" check --frobnicate 2>/dev/null
check check-bad-option test $? = 2

# --destination: the THP mode read from /sys, a positive cost per 2 MiB first written when THP
# is on (0 when off), the option for dpt predict; JSON the same; --size only with it
"$DPT" check --destination --size 32M >"$TMP/dest.txt"
check check-dest-exit-0 test $? = 0
check check-dest-only-its-probes test "$(wc -l <"$TMP/dest.txt")" = 3
mode=$(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)
cost=$(sed -n 's/^dpt predict option  *works  *--dest-hugepage-cost \([0-9.]*\)ms$/\1/p' "$TMP/dest.txt")
if [ -n "$mode" ]; then
	check check-dest-thp-mode grep -qE "^destination THP settings +works +enabled $mode, defrag [a-z+]+ " \
		"$TMP/dest.txt"
	if [ "$mode" = never ]; then want='c == 0'; else want='c > 0'; fi
	check check-dest-cost python3 -c "import sys; c = float('${cost:-nan}'); sys.exit(not ($want))"
else
	check check-dest-no-thp grep -qE '^destination THP settings +unsupported' "$TMP/dest.txt"
fi
check check-dest-first-write grep -qE '^destination first write +works +[0-9.]+ ms per 2 MiB' "$TMP/dest.txt"
"$DPT" check --destination --size 32M --json >"$TMP/dest.json"
check check-dest-json python3 -c "import json, sys
d = json.load(open('$TMP/dest.json'))['destination']
sys.exit(not (d['thp_enabled'] == '$mode' and d['regions'] == 16 and
              d['option'] == '--dest-hugepage-cost %.3fms' % (1000 * d['dest_hugepage_cost'])))"
"$DPT" check --size 32M 2>/dev/null
check check-size-needs-destination test $? = 2
"$DPT" check --destination --size 1K 2>/dev/null
check check-dest-bad-size test $? = 2

if have_kvm; then
	check check-kvm-bitmap-works grep -qE '^tracker kvm, bitmap mode +works +exact' "$TMP/check.txt"
fi

# soft-dirty: dpt's verdict against an independent probe, here and in a 6.1 guest
sd=$("$HELPERS/softdirty" >/dev/null 2>&1; echo $?)
if [ "$sd" = 0 ]; then want=works; else want=unsupported; fi
check check-softdirty-host grep -qE "^tracker pid, soft-dirty method +$want" "$TMP/check.txt"

# a static dpt for the guest, from the plain build (sanitizers cannot link statically)
if ! make -s -C "$ROOT" BUILD=build vmkit-dpt vmkit-helpers >/dev/null 2>&1; then
	fail check-guest "cannot build the static dpt for the guest"
	exit 0
fi
"$ROOT/tests/vmkit/run.sh" --file "$ROOT/build/vmkit/dpt" --helpers -- \
	sh -c 'dpt check; softdirty' >"$TMP/guest.txt" 2>&1
check check-guest-ran test $? = 0
check check-guest-softdirty-works grep -qE '^tracker pid, soft-dirty method +works' "$TMP/guest.txt"
check check-guest-independent-agrees grep -q 'softdirty supported' "$TMP/guest.txt"
check check-guest-no-pagemap-scan grep -qE '^PAGEMAP_SCAN +unsupported' "$TMP/guest.txt"
