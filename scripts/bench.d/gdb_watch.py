# scripts/bench's watch row: gdb `watch` + `continue` round trips on the counter guest's loop,
# served by the stub (Z2: a hardware slot, or kvmdbg's protection watchpoint where debug
# registers do not fire) against gdb's own software watchpoint (`set can-use-hw-watchpoints 0`:
# gdb single-steps and re-reads the word after every instruction). One gdb, one server, the
# two interleaved in chunks, each first in turn. Every hit must show the word one higher than
# the last (a watch that misses a store or fires without one is counted, not timed away).
# Run as: gdb -batch -nx -x gdb_watch.py  with BENCH_TARGET=HOST:PORT, BENCH_OUT=FILE,
# BENCH_N (continues per chunk, default 50), BENCH_REPS (chunks per mode, default 5),
# BENCH_LOOP (address in the loop), BENCH_WORD (the word the loop stores to).
# A third mode keeps gdb's points inserted across stops (`set breakpoint always-inserted on`),
# which spares the stub a remove and an insert (for kvmdbg: two memslot changes) per hit.
# Writes {"stub": {...}, "stub-inserted": {...}, "software": {...}} (hits/s per chunk, misses,
# watchpoint type; for the stub what served it).
# `python3 gdb_watch.py FILE` prints that file as the bench's table, with the ratio.
import json
import re
import os
import statistics
import sys
import time


def report(path):
    r = json.load(open(path))
    print("\ngdb watch + continue on the counter loop (hits/s, median [min-max] of %d chunks of %d continues, interleaved)"
          % (len(r["stub"]["rates"]), r.get("n", 0)))
    med = {}
    for m, label in (("stub", "watch served by kvmdbg (Z2)"), ("stub-inserted", "the same, breakpoint always-inserted"),
                     ("software", "gdb software watchpoint")):
        if m not in r:
            continue
        v = r[m]["rates"]
        med[m] = statistics.median(v) if v else None
        kind = (r[m]["type"] or "?") + (", kvmdbg: " + r[m]["served"] if r[m].get("served") else "")
        print("  %-34s %-36s %8.1f [%.1f-%.1f]  misses %d" % (label, "(" + kind + ")", med[m] or 0,
                                                             min(v or [0]), max(v or [0]), r[m]["misses"]))
    if med.get("stub") and med.get("software"):
        print("  kvmdbg/gdb-software: %.2f" % (med["stub"] / med["software"]))
    if med.get("stub-inserted") and med.get("software"):
        print("  kvmdbg always-inserted/gdb-software: %.2f" % (med["stub-inserted"] / med["software"]))


if __name__ == "__main__" and len(sys.argv) > 1:
    report(sys.argv[1])
    sys.exit(0)

import gdb

sys.path.insert(0, os.path.dirname(__file__))
from gdb_meet import meet_in_loop  # noqa: E402

target = os.environ["BENCH_TARGET"]
n = int(os.environ.get("BENCH_N", "50"))
reps = int(os.environ.get("BENCH_REPS", "5"))
loop = int(os.environ["BENCH_LOOP"], 0)
word = int(os.environ["BENCH_WORD"], 0)


def run(cmd):
    return gdb.execute(cmd, to_string=True)


def value():
    return int(gdb.parse_and_eval("*(unsigned int *)%#x" % word))


def chunk(mode):
    run("set can-use-hw-watchpoints %d" % (0 if mode == "software" else 1))
    # gdb removes and re-inserts every point around each stop; `always-inserted` keeps them.
    run("set breakpoint always-inserted %s" % ("on" if mode == "stub-inserted" else "off"))
    run("watch *(unsigned int *)%#x" % word)
    kind = run("info watchpoints").splitlines()[1].split()[1:3]
    misses = 0
    last = value()
    t = time.perf_counter()
    for _ in range(n):
        run("continue")
        now = value()
        if now != (last + 1) & 0xFFFFFFFF:
            misses += 1
        last = now
    rate = n / (time.perf_counter() - t)
    run("delete")
    run("set breakpoint always-inserted off")
    return rate, misses, " ".join(kind)


def served_by():
    """What serves gdb's Z2 on the stub's side, from kvmdbg's `monitor points` while the
    watchpoint is inserted (gdb removes it at every stop unless always-inserted)."""
    run("set breakpoint always-inserted on")
    run("watch *(unsigned int *)%#x" % word)
    try:
        points = run("monitor points")
    except gdb.error:
        points = ""
    run("delete")
    run("set breakpoint always-inserted off")
    if "memory protection" in points:
        return "memory protection"
    return "debug register" if re.search(r"watchpoint .* slot \d", points) else "?"


meet_in_loop(target, loop)
MODES = ("stub", "stub-inserted", "software")
result = {m: {"rates": [], "misses": 0, "type": None} for m in MODES}
result["n"] = n
result["stub"]["served"] = served_by()
order = list(MODES)
for _ in range(reps):
    for m in order:
        rate, misses, kind = chunk(m)
        result[m]["rates"].append(rate)
        result[m]["misses"] += misses
        result[m]["type"] = kind
    order = order[1:] + order[:1]  # each mode first in turn
run("kill")
with open(os.environ["BENCH_OUT"], "w") as f:
    json.dump(result, f)
