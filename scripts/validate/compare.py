#!/usr/bin/env python3
"""compare.py - real QEMU migrations against dpt predict and dpt simgrid (make validate).

    scripts/validate/compare.py [--dpt build/dpt] [--link BW] [--no-dest | --dest-cost DUR]
                                [--check] OUTDIR [CASE...]

For every OUTDIR/CASE.real.json written by scripts/validate/migrate.sh (the case, the migrate
command's time in the trace's time, QEMU's query-migrate results), runs

    dpt predict CASE.dpt --bandwidth B --downtime-limit D --start T [--link BW]
                [--dest-hugepage-cost C] --json
    dpt simgrid CASE.dpt --bandwidth B --start T --json      (when dpt was built with SimGrid)

with the case's own max-bandwidth B, downtime-limit D and start T (what an operator knows before
migrating; nothing is taken from the real run's results) and C, the destination host's cost per
2 MiB of guest RAM first written, from `dpt check --destination` run before the case
(OUTDIR/CASE.dest.json, written by migrate.sh; --no-dest leaves it out, --dest-cost DUR
puts one figure in its place for every case), and prints, in
Markdown, per case:
real vs predict vs simgrid for convergence, total time, downtime, bytes (QEMU's
ram.transferred), normal and zero pages, dirty-sync count, with the errors, and the
destination's cost C with the regions predict counted, the destination's time on them and the
sender's wait for it; then the summary
(median and worst error on time and bytes over the converging cases, convergence right in how
many cases, syncs within one in how many). --check exits 1 when the goals are not met: median
<= 3 % and worst <= 12 % on time and bytes (--max-median, --max-worst), convergence right in
every case, syncs within one.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import shutil
import sys
import tempfile


def run_json(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode not in (0, 3) or not p.stdout.strip():
        return None, (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
    try:
        return json.loads(p.stdout), None
    except ValueError as e:
        return None, "bad JSON from %s: %s" % (cmd[1], e)


def err(pred, real):
    if pred is None or real in (None, 0):
        return None
    return (pred - real) / real


def pct(e):
    return "-" if e is None else "%+.1f %%" % (100 * e)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dpt", default=os.environ.get("DPT", "build/dpt"))
    ap.add_argument("--link", help="the link's speed for dpt predict's stop-and-copy (BW)")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--no-dest", action="store_true",
                    help="leave out the destination's cost per 2 MiB first written (CASE.dest.json)")
    ap.add_argument("--dest-cost", help="this cost per 2 MiB first written (e.g. 6ms) for every "
                    "case instead of the one measured with it")
    ap.add_argument("--max-median", type=float, default=0.03,
                    help="--check: the largest median error on time and bytes (0.03)")
    ap.add_argument("--max-worst", type=float, default=0.12,
                    help="--check: the largest error on time and bytes (0.12)")
    ap.add_argument("--coarsen", type=int, default=1,
                    help="forecast from the trace with every N intervals merged into one "
                    "(tests/helpers/trace-coarsen): what a coarser recording costs")
    ap.add_argument("out")
    ap.add_argument("cases", nargs="*")
    a = ap.parse_args()

    files = sorted(glob.glob(os.path.join(a.out, "*.real.json")))
    if a.cases:
        files = [f for f in files if os.path.basename(f)[: -len(".real.json")] in a.cases]
    if not files:
        print("compare.py: no CASE.real.json in %s" % a.out, file=sys.stderr)
        return 2
    rows = []
    tmp = tempfile.mkdtemp(prefix="dpt-compare.")
    for f in files:
        d = json.load(open(f))
        c, r = d["case"], d["real"]
        name = c["name"]
        trace = os.path.join(os.path.dirname(f), d["trace"]["file"])
        if a.coarsen > 1:
            helper = os.path.join(os.path.dirname(os.path.abspath(a.dpt)), "tests", "helpers",
                                  "trace-coarsen")
            coarse = os.path.join(tmp, "%s-x%d.dpt" % (name, a.coarsen))
            subprocess.run([helper, str(a.coarsen), trace, coarse], check=True,
                           stdout=subprocess.DEVNULL)
            trace = coarse
        bw = "%dB/s" % c["bandwidth_bytes_s"]
        start = "%.6f" % d["migrate_start_s"]
        cmd = [a.dpt, "predict", trace, "--bandwidth", bw, "--downtime-limit",
               "%dms" % c["downtime_limit_ms"], "--start", start, "--json"]
        if a.link:
            cmd += ["--link", a.link]
        dest, dest_file = None, os.path.join(os.path.dirname(f), name + ".dest.json")
        if not a.no_dest and os.path.exists(dest_file):
            dest = json.load(open(dest_file)).get("destination")
        if a.dest_cost:
            dest = dict(dest or {"thp_enabled": "given"}, dest_hugepage_cost=None)
            cmd += ["--dest-hugepage-cost", a.dest_cost]
        elif dest:
            cmd += ["--dest-hugepage-cost", "%.6fms" % (1000 * dest["dest_hugepage_cost"])]
        p, perr = run_json(cmd)
        if dest and p and dest["dest_hugepage_cost"] is None:
            dest["dest_hugepage_cost"] = p["dest_hugepage_cost"]
        s, serr = run_json([a.dpt, "simgrid", trace, "--bandwidth", bw, "--start", start,
                            "--json"])
        ram = r.get("ram", {})
        real_conv = r.get("status") == "completed"
        if s and s.get("vms"):
            s = s["vms"][0].get("simgrid")
        row = {"case": name, "bw": c["bandwidth_bytes_s"] / 1048576.0,
               "limit": c["downtime_limit_ms"], "real": r, "pred": p, "perr": perr,
               "sim": s, "serr": serr, "dest": dest,
               # the link's calibration (max-bandwidth 0: as fast as QEMU goes): shown, not
               # judged
               "calibration": "loopback" in c.get("tags", [])}
        if p:
            pred_conv = p["status"] == "converges"
            row["conv_ok"] = pred_conv == real_conv
            if real_conv and pred_conv:
                row["t_err"] = err(p["total_time"], r["total-time"] / 1000.0)
                row["b_err"] = err(p["transferred"], ram.get("transferred"))
                row["s_diff"] = p["dirty_sync_count"] - ram.get("dirty-sync-count", 0)
        if s and real_conv and s.get("converges"):
            row["sg_t_err"] = err(s.get("total_time"), r["total-time"] / 1000.0)
            row["sg_b_err"] = err(s.get("bytes"), ram.get("transferred"))
        rows.append(row)

    judged = [w for w in rows if not w["calibration"]]

    def errors(key):
        return [abs(w[key]) for w in judged if w.get(key) is not None]
    t_err, b_err, sg_t, sg_b = errors("t_err"), errors("b_err"), errors("sg_t_err"), \
        errors("sg_b_err")
    conv = [w["conv_ok"] for w in judged if "conv_ok" in w]
    conv_n, conv_right = len(conv), sum(conv)
    syncs = [w["s_diff"] for w in judged if "s_diff" in w]
    syncs_n, syncs_ok = len(syncs), sum(abs(x) <= 1 for x in syncs)

    print("| case | MiB/s | limit ms | real | predict | simgrid | time real s | predict | err "
          "| simgrid err | downtime real s | predict | bytes real | predict | err | simgrid err "
          "| normal real / predict | zero real / predict | syncs real / predict "
          "| dest ms per 2 MiB / regions / its s / sender's s |")
    print("|" + "---|" * 20)
    for w in rows:
        r, p, s = w["real"], w["pred"], w["sim"]
        ram = r.get("ram", {})
        conv = lambda x: "-" if x is None else ("converges" if x else "does not converge")
        pc = None if not p else p["status"] == "converges"
        sc = None if not s else bool(s.get("converges", s.get("converged")))
        d = w["dest"]
        dest = "-" if not d else "%.3f (%s) / %s / %s / %s" % (
            1000 * d["dest_hugepage_cost"], d["thp_enabled"], p["dest_regions"] if p else "-",
            "%.3f" % p["dest_stall"] if p else "-", "%.3f" % p["dest_wait"] if p else "-")
        print("| %s%s | %g | %d | %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s "
              "| %s / %s | %s / %s | %s / %s | %s |" % (
                  w["case"], " (calibration)" if w.get("calibration") else "", w["bw"],
                  w["limit"],
                  "converges" if r.get("status") == "completed" else r.get("status", "?"),
                  conv(pc), "" if w.get("conv_ok", True) else " **wrong**", conv(sc),
                  "%.3f" % (r["total-time"] / 1000.0) if "total-time" in r else "-",
                  "%.3f" % p["total_time"] if p else (w["perr"] or "-"),
                  pct(w.get("t_err")), pct(w.get("sg_t_err")),
                  "%.3f" % (r["downtime"] / 1000.0) if "downtime" in r else "-",
                  "%.3f" % p["downtime"] if p else "-",
                  ram.get("transferred", "-"), p["transferred"] if p else "-",
                  pct(w.get("b_err")), pct(w.get("sg_b_err")),
                  ram.get("normal", "-"), p["normal"] if p else "-",
                  ram.get("duplicate", "-"), p["duplicate"] if p else "-",
                  ram.get("dirty-sync-count", "-"), p["dirty_sync_count"] if p else "-", dest))

    def summ(v):
        return ("median %.1f %%, worst %.1f %%" % (100 * statistics.median(v), 100 * max(v))
                if v else "-")
    print()
    print("- dpt predict, total time: %s (%d converging cases)" % (summ(t_err), len(t_err)))
    print("- dpt predict, bytes (ram.transferred): %s" % summ(b_err))
    print("- dpt predict, convergence right: %d of %d cases" % (conv_right, conv_n))
    print("- dpt predict, dirty-sync count within one: %d of %d converging cases" %
          (syncs_ok, syncs_n))
    print("- dpt simgrid, total time: %s; bytes: %s" % (summ(sg_t), summ(sg_b)))
    costs = sorted(1000 * w["dest"]["dest_hugepage_cost"] for w in rows if w["dest"])
    print("- destination (%s): %s" % (
        "--dest-cost" if a.dest_cost else "dpt check --destination before each case",
        "%.3f to %.3f ms per 2 MiB first written, median %.3f (%d cases)" % (
            costs[0], costs[-1], statistics.median(costs), len(costs)) if costs else
        "not measured or left out: no cost for a first write"))
    shutil.rmtree(tmp, ignore_errors=True)
    if a.check:
        ok = (t_err and b_err and statistics.median(t_err) <= a.max_median and
              max(t_err) <= a.max_worst and statistics.median(b_err) <= a.max_median and
              max(b_err) <= a.max_worst and
              conv_right == conv_n and syncs_ok == syncs_n)
        print("\n%s" % ("goals met" if ok else "goals NOT met"))
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
