#!/bin/bash
# make validate's two quick cases, for real: an idle 256 MiB Linux guest and a sequential
# writer (2000 pages/s over 32 MiB) migrated by QEMU 7.2 between two QEMUs on 127.0.0.1 at
# 32 MiB/s (scripts/validate/run.sh --quick), the source recorded by dpt at 100 ms beforehand;
# then dpt predict on each trace from the migrate command's time against QEMU's own figures:
# convergence right, dirty-sync count within one, total time and bytes (ram.transferred)
# within 12 % (the validation's worst-case goal; a replay that ignored zero pages is 4x off
# on the idle guest). docs/validation.md has the full set.
set -u
. "$(dirname "$0")/lib.sh"
trap 'rm -rf "$TMP"' EXIT

for t in qemu-system-x86_64 jq python3; do
	if ! command -v $t >/dev/null; then
		skip validate-quick "no $t (scripts/deps.sh installs it)"
		exit 0
	fi
done
if ! "$DPT" check | grep -q '^tracker pid, uffd method *works'; then
	skip validate-quick "the pid tracker's uffd method does not work on this host"
	exit 0
fi
DPT=$DPT "$ROOT/scripts/validate/run.sh" --quick "$TMP/out" >"$TMP/run.log" 2>&1
rc=$?
check validate-quick-migrations test $rc = 0
for c in idle seq-quick; do
	check "validate-quick-$c-recorded" test -s "$TMP/out/$c.dpt" -a -s "$TMP/out/$c.real.json"
done
python3 "$ROOT/scripts/validate/compare.py" --dpt "$DPT" --link 600M --check \
	--max-median 0.12 --max-worst 0.12 "$TMP/out" >"$TMP/compare.md" 2>&1
rc=$?
sed 's/^/# /' "$TMP/compare.md"
check validate-quick-predict test $rc = 0
if [ $rc != 0 ]; then tail -n 20 "$TMP/run.log" | sed 's/^/# /'; fi
