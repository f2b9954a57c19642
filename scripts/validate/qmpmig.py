#!/usr/bin/env python3
"""The QMP side of one real migration, for scripts/validate/migrate.sh.

  qmpmig.py migrate SOCK PORT BANDWIDTH DOWNTIME_MS LIMIT_S OUT.json
      One QMP session on the source's spare socket: `info ramblock`, the `events`
      capability, migrate-set-parameters (max-bandwidth BANDWIDTH bytes/s, downtime-limit),
      then `migrate` to tcp:127.0.0.1:PORT, timed on CLOCK_MONOTONIC (and CLOCK_REALTIME, to
      place QEMU's own trace log), then query-migrate every 100 ms until completed or failed,
      or migrate_cancel after LIMIT_S seconds and on until cancelled. Writes what it saw.
  qmpmig.py assemble CASE.json QMP.json TRACE_REPORT.json QEMU_TRACE.log OUT.real.json
      Puts the case, the migration's start in trace time, QEMU's final results, its RAM
      blocks and its dirty-log syncs (from its trace events) into one file. TRACE_REPORT.json
      is `dpt report --json` of the trace, or - for none (times are then from `migrate`).

Python rather than socat + jq because the migrate command must be timed to the millisecond
on one open connection, and QMP events arrive mixed with replies.
"""
import json
import re
import socket
import sys
import time


def mono_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def wall_ns():
    return time.clock_gettime_ns(time.CLOCK_REALTIME)


class Qmp:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(path)
        self.buf = b""
        self.events = []
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("QMP socket closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, args=None, sent=None):
        msg = {"execute": name}
        if args is not None:
            msg["arguments"] = args
        if sent is not None:
            sent.append(mono_ns())
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "event" in r:
                r["host_mono_ns"] = mono_ns()
                self.events.append(r)
                continue
            if "error" in r:
                raise RuntimeError(f"{name}: {r['error'].get('desc', r['error'])}")
            return r.get("return")


def migrate(sock, port, bandwidth, downtime_ms, limit_s, out):
    q = Qmp(sock)
    res = {"ramblock": q.cmd("human-monitor-command", {"command-line": "info ramblock"})}
    q.cmd("migrate-set-capabilities",
          {"capabilities": [{"capability": "events", "state": True}]})
    q.cmd("migrate-set-parameters",
          {"max-bandwidth": bandwidth, "downtime-limit": downtime_ms})
    res["parameters"] = q.cmd("query-migrate-parameters")
    sent = []
    w0 = wall_ns()
    q.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"}, sent)
    m1 = mono_ns()
    w1 = wall_ns()
    m0 = sent[0]
    # The command's send time is the migration's start; the reply comes once QEMU's main loop
    # has set it up (the connection itself is asynchronous).
    res["migrate_mono_ns"] = m0
    res["migrate_reply_mono_ns"] = m1
    # CLOCK_REALTIME - CLOCK_MONOTONIC, to place QEMU's trace log (gettimeofday) on the
    # monotonic clock: the mean of the two readings around the command.
    res["wall_minus_mono_ns"] = ((w0 - m0) + (w1 - m1)) // 2
    polls, cancelled_at, last_ram = [], None, None
    while True:
        t = mono_ns()
        r = q.cmd("query-migrate")
        polls.append({"mono_ns": t, "status": r.get("status"),
                      "transferred": r.get("ram", {}).get("transferred"),
                      "remaining": r.get("ram", {}).get("remaining"),
                      "dirty_sync_count": r.get("ram", {}).get("dirty-sync-count")})
        st = r.get("status")
        if "ram" in r:
            last_ram = r
        if st in ("completed", "failed", "cancelled"):
            break
        if cancelled_at is None and (t - m0) / 1e9 >= limit_s:
            cancelled_at = mono_ns()
            q.cmd("migrate_cancel")
        time.sleep(max(0.0, 0.1 - (mono_ns() - t) / 1e9))
    if r.get("status") == "completed":
        # QEMU 7.2 sets the state to completed a few ms before it computes total-time and
        # downtime: a query in between reads 0 for both (seen: total-time 0 after 0.8 s).
        time.sleep(0.3)
        r = q.cmd("query-migrate")
    res["final"] = r
    # A cancelled migration's last reply has no figures: keep the last one that had them.
    res["last_with_ram"] = last_ram
    res["end_seen_mono_ns"] = t
    res["cancel_mono_ns"] = cancelled_at
    res["polls"] = polls
    time.sleep(0.2)
    q.cmd("query-status")  # collects the events that came meanwhile
    res["events"] = q.events
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    print(f"qmpmig: migration {r.get('status')} after {(t - m0) / 1e9:.1f} s")
    return 0 if r.get("status") in ("completed", "cancelled") else 1


SIZE = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_ramblock(text):
    """QEMU 7.2's `info ramblock`: Block Name, PSize (`4 KiB`), Offset, Used, Total (hex)."""
    blocks = []
    pat = re.compile(r"^\s*(\S+)\s+(\d+)\s*([KMGT]?)i?B\s+0x([0-9a-fA-F]+)\s+0x([0-9a-fA-F]+)"
                     r"\s+0x([0-9a-fA-F]+)\s*$")
    for line in text.splitlines():
        m = pat.match(line)
        if m:
            blocks.append({"name": m.group(1), "page_size": int(m.group(2)) * SIZE[m.group(3)],
                           "offset": int(m.group(4), 16), "used": int(m.group(5), 16),
                           "total": int(m.group(6), 16)})
    return blocks


def parse_trace_log(path, wall_minus_mono_ns, mono0_ns):
    """QEMU's log trace backend with -msg timestamp=on: `PID@SEC.USEC:name args`. Times are
    put on the trace's clock (s since mono0_ns)."""
    events = []
    pat = re.compile(r"^(\d+)@(\d+)\.(\d{6}):(\w+)\s*(.*)$")
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        return None
    for line in lines:
        m = pat.match(line)
        if not m:
            continue
        wall = int(m.group(2)) * 10**9 + int(m.group(3)) * 1000
        ev = {"t": round((wall - wall_minus_mono_ns - mono0_ns) / 1e9, 6), "tid": int(m.group(1)),
              "name": m.group(4)}
        args = m.group(5).strip()
        nums = dict((k, int(v)) for k, v in re.findall(r"(\w+)[ =:]+(-?\d+)", args))
        if nums:
            ev["args"] = nums
        elif args:
            ev["text"] = args
        events.append(ev)
    return events


RESULT_KEYS = ["status", "total-time", "downtime", "setup-time", "expected-downtime"]
RAM_KEYS = ["transferred", "total", "duplicate", "normal", "normal-bytes", "dirty-sync-count",
            "mbps", "remaining", "dirty-pages-rate", "pages-per-second", "precopy-bytes",
            "downtime-bytes", "skipped", "postcopy-requests", "page-size"]


def assemble(case_json, qmp_json, report_json, trace_log, out):
    case = json.load(open(case_json))
    q = json.load(open(qmp_json))
    # No trace (migrate.sh --no-track): times from the migrate command instead.
    rep = json.load(open(report_json)) if report_json != "-" else None
    mono0 = rep["header"]["mono_start_ns"] if rep else q["migrate_mono_ns"]
    t = lambda ns: None if ns is None else round((ns - mono0) / 1e9, 6)
    fin = q["final"]
    if "ram" not in fin and q.get("last_with_ram"):
        # cancelled: the figures of the last poll before it (total-time is then the time
        # elapsed at that poll)
        fin = dict(q["last_with_ram"], status=fin.get("status"))
        fin.pop("downtime", None)
    real = {k: fin.get(k) for k in RESULT_KEYS if k in fin}
    if "ram" in fin:
        real["ram"] = {k: fin["ram"].get(k) for k in RAM_KEYS if k in fin["ram"]}
    if fin is not q["final"]:
        real["figures_from_s"] = t(next(p["mono_ns"] for p in reversed(q["polls"])
                                        if p["transferred"] is not None))
    qtrace = parse_trace_log(trace_log, q["wall_minus_mono_ns"], mono0)
    syncs = []
    if qtrace:
        start = None
        for ev in qtrace:
            if ev["name"] == "migration_bitmap_sync_start":
                start = ev["t"]
            elif ev["name"] == "migration_bitmap_sync_end" and start is not None:
                syncs.append({"start": start, "end": ev["t"],
                              "dirty_pages": ev.get("args", {}).get("dirty_pages")})
                start = None
    vm_stop = [e["t"] for e in (qtrace or []) if e["name"] == "migration_completion_vm_stop"]
    states = {e.get("text", "").split()[-1]: e["t"] for e in (qtrace or [])
              if e["name"] == "migrate_set_state" and e.get("text")}
    res = {
        "case": case,
        "trace": rep and {"file": case["name"] + ".dpt", "mono_start_ns": mono0,
                          "first_interval_s": rep["intervals"]["first_start_s"],
                          "last_interval_s": rep["intervals"]["last_end_s"]},
        "migrate_start_s": t(q["migrate_mono_ns"]),
        "migrate_reply_s": t(q["migrate_reply_mono_ns"]),
        "cancel_s": t(q.get("cancel_mono_ns")),
        "end_seen_s": t(q["end_seen_mono_ns"]),
        "parameters": q["parameters"],
        "real": real,
        "syncs": syncs,
        # From QEMU's trace events: the VM stopped (after vm_stop returned) and the state
        # set to completed; QEMU's own downtime also counts the stopping itself.
        "vm_stop_s": vm_stop[0] if vm_stop else None,
        "completed_s": states.get("completed"),
        "ramblocks": parse_ramblock(q["ramblock"]),
        "ramblock_text": q["ramblock"],
        # QEMU's own timestamp (CLOCK_REALTIME when it emitted the event; the host read it
        # later, at the next poll) put on the trace's clock
        "qmp_events": [{"t": t(e["timestamp"]["seconds"] * 10**9
                             + e["timestamp"]["microseconds"] * 1000
                             - q["wall_minus_mono_ns"]),
                        "event": e["event"], "data": e.get("data")} for e in q["events"]],
        "polls": [{"t": t(p["mono_ns"]), **{k: v for k, v in p.items() if k != "mono_ns"}}
                  for p in q["polls"]],
        "qemu_trace": qtrace,
    }
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    return 0


def main(argv):
    if len(argv) == 7 and argv[0] == "migrate":
        return migrate(argv[1], int(argv[2]), int(argv[3]), int(argv[4]), float(argv[5]),
                       argv[6])
    if len(argv) == 6 and argv[0] == "assemble":
        return assemble(*argv[1:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
