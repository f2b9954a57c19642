#!/bin/bash
# Run every test: unit and integration binaries, then the shell tests under tests/cli/.
# Each prints "ok NAME", "FAIL NAME: why" or "skip NAME: why" per check; a program that exits
# non-zero without printing a FAIL line counts as one failure. Closes with
# "N passed, N failed, N skipped"; exits non-zero if anything failed.
#
# TESTS="pattern" runs only the programs whose path contains pattern.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD DPT="$PWD/$BUILD/dpt"
pass=0 fail=0 skip=0
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

progs=()
for p in "$BUILD"/tests/unit/* "$BUILD"/tests/integration/*; do
	[ -x "$p" ] && [ -f "$p" ] && [[ "$p" != *.o ]] && [[ "$p" != *.d ]] && progs+=("$p")
done
for p in tests/cli/*.sh; do
	[ "$(basename "$p")" = lib.sh ] && continue
	[ -f "$p" ] && progs+=("$p")
done

for p in "${progs[@]}"; do
	[ -n "${TESTS:-}" ] && [[ "$p" != *"$TESTS"* ]] && continue
	name=$(basename "$p")
	out="$log/$name.out"
	start=$(date +%s%N)
	if [[ "$p" == *.sh ]]; then
		timeout 1200 bash "$p" >"$out" 2>&1
	else
		timeout 1200 "$p" >"$out" 2>&1
	fi
	rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	p_ok=$(grep -c '^ok ' "$out")
	p_fail=$(grep -c '^FAIL ' "$out")
	p_skip=$(grep -c '^skip ' "$out")
	if [ "$rc" != 0 ] && [ "$p_fail" = 0 ]; then
		echo "FAIL $name: exited with status $rc" >>"$out"
		p_fail=1
	fi
	pass=$((pass + p_ok)) fail=$((fail + p_fail)) skip=$((skip + p_skip))
	printf '%-28s %3d ok %3d failed %3d skipped  (%d.%03ds)\n' "$name" "$p_ok" "$p_fail" "$p_skip" $((ms / 1000)) $((ms % 1000))
	# FAIL and skip lines, each FAIL with the "# " lines right after it (the table it judged)
	awk '/^(FAIL|skip) / { print "    " $0; after = /^FAIL/; next }
	     after && /^# / { print "    " $0; next } { after = 0 }' "$out"
	if [ "$p_fail" != 0 ]; then
		echo "    --- last output of $name:"
		tail -n 30 "$out" | sed 's/^/    | /'
	fi
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
