#!/bin/bash
# Run the real-migration cases of make validate, one after the other, and summarise them.
#
#   scripts/validate/run.sh [--quick] [--cases REGEX] [--cases-file FILE] [--summary] OUTDIR
#
#   --quick          only the cases tagged quick (two short ones, for make check)
#   --cases REGEX    only the cases whose name matches REGEX (grep -E, whole name)
#   --cases-file F   the table of cases (default scripts/validate/cases)
#   --summary        run nothing: print the summary of the results already in OUTDIR
#
# Each case is scripts/validate/migrate.sh CASE OUTDIR (see there for the files it writes).
# Cases run one at a time: TCG guests want the machine's cores, and a migration's timing is
# what is measured. The summary (OUTDIR/summary.txt, and OUTDIR/summary.json: one object per
# case) has QEMU's own figures: status, total-time, downtime (ms), ram.transferred,
# ram.normal and ram.duplicate (pages), dirty-sync-count; and T, the migration's start in
# trace time (dpt predict --start T). A cancelled case has the figures of its last
# query-migrate before the cancel (total-time: the time elapsed then). Exit 0 when every case
# ended as expected.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)

die() { echo "run.sh: $*" >&2; exit 2; }
usage() { die "usage: run.sh [--quick] [--cases REGEX] [--cases-file FILE] [--summary] OUTDIR"; }

quick=0 regex=".*" cases=$HERE/cases summary_only=0
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1; shift ;;
	--cases) [ $# -ge 2 ] || usage; regex=$2; shift 2 ;;
	--cases-file) [ $# -ge 2 ] || usage; cases=$2; shift 2 ;;
	--summary) summary_only=1; shift ;;
	-h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# = 1 ] || usage
out=$1
command -v jq >/dev/null || die "needs jq (apt-get install jq)"

mapfile -t names < <(awk -v q=$quick '!/^#/ && NF >= 8 && (!q || ("," $2 ",") ~ /,quick,/) { print $1 }' "$cases" |
	grep -E -x -- "$regex")
[ ${#names[@]} -gt 0 ] || die "no case matches"

summary() {
	local files=()
	for n in "${names[@]}"; do [ -f "$out/$n.real.json" ] && files+=("$out/$n.real.json"); done
	[ ${#files[@]} -gt 0 ] || { echo "run.sh: no results in $out" >&2; return 1; }
	jq -s '[.[] | {case: .case.name, bandwidth_mib_s: .case.bandwidth_mib_s,
		downtime_limit_ms: .case.downtime_limit_ms, status: .real.status,
		total_time_ms: .real["total-time"], downtime_ms: .real.downtime,
		setup_time_ms: .real["setup-time"], transferred: .real.ram.transferred,
		total: .real.ram.total, normal: .real.ram.normal, duplicate: .real.ram.duplicate,
		dirty_sync_count: .real.ram["dirty-sync-count"], mbps: .real.ram.mbps,
		migrate_start_s: .migrate_start_s, workload: .case.workload}]' "${files[@]}" \
		>"$out/summary.json"
	{
		printf '%-14s %5s %5s %-10s %8s %8s %11s %7s %7s %5s %8s  %s\n' case 'bw' 'dl' status \
			'total' 'down' 'transferred' normal dup syncs 'T' workload
		printf '%-14s %5s %5s %-10s %8s %8s %11s %7s %7s %5s %8s\n' '' 'MiB/s' 'ms' '' \
			'ms' 'ms' 'bytes' pages pages '' 's'
		jq -r '.[] | [.case, .bandwidth_mib_s, .downtime_limit_ms, .status, .total_time_ms,
			.downtime_ms, .transferred, .normal, .duplicate, .dirty_sync_count,
			(.migrate_start_s * 1000 | round / 1000), .workload] | map(. // "-") | @tsv' \
			"$out/summary.json" |
			while IFS=$'\t' read -r c b d s tt dt tr no du sy t w; do
				printf '%-14s %5s %5s %-10s %8s %8s %11s %7s %7s %5s %8s  %s\n' \
					"$c" "$b" "$d" "$s" "$tt" "$dt" "$tr" "$no" "$du" "$sy" "$t" "$w"
			done
	} | tee "$out/summary.txt"
}

if [ $summary_only = 1 ]; then
	summary
	exit
fi
mkdir -p "$out" || die "cannot create $out"
failed=() t0=$SECONDS
for n in "${names[@]}"; do
	echo "run.sh: case $n ($((SECONDS - t0)) s)" >&2
	"$HERE/migrate.sh" --cases "$cases" "$n" "$out" || failed+=("$n")
done
echo "run.sh: ${#names[@]} cases in $((SECONDS - t0)) s" >&2
summary
[ ${#failed[@]} = 0 ] || { echo "run.sh: not as expected: ${failed[*]}" >&2; exit 1; }
