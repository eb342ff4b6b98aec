# The gdb half of scripts/bench: the same round trips against any remote stub.
# Run as: gdb -batch -nx -x gdb_roundtrips.py   with BENCH_TARGET=HOST:PORT, BENCH_OUT=FILE,
# BENCH_N (default 200), BENCH_LOOP (address in the guest's loop), BENCH_MEM (1 KiB read from).
# Writes {"op": ops_per_second, ...} to BENCH_OUT. Nothing is asserted. BENCH_OPS=short (scripts/bench-ab)
# measures only stepi and hbreak + continue, BENCH_OPS=continue only hbreak + continue.
import json
import os
import sys
import time

import gdb

sys.path.insert(0, os.path.dirname(__file__))
from gdb_meet import meet_in_loop  # noqa: E402

target = os.environ["BENCH_TARGET"]
n = int(os.environ.get("BENCH_N", "200"))
attaches = int(os.environ.get("BENCH_ATTACH_N", "20"))
loop = int(os.environ.get("BENCH_LOOP", "0x1002"), 0)
mem = int(os.environ.get("BENCH_MEM", "0x1000"), 0)


def run(cmd):
    return gdb.execute(cmd, to_string=True)


def mark(phase):
    # With BENCH_MARK set, a qkvmdbg.mark packet splits the server's --log-packets file by phase
    # (an unknown query: every stub answers it with an empty reply).
    if os.environ.get("BENCH_MARK"):
        run("maint packet qkvmdbg.mark:" + phase)


def rate(count, op):
    t = time.perf_counter()
    for _ in range(count):
        op()
    return count / (time.perf_counter() - t)


def registers():
    run("maint flush register-cache")
    run("info registers")


def attach_detach():
    run("target remote " + target)
    run("detach")


meet_in_loop(target, loop)
result = {}
if os.environ.get("BENCH_OPS") != "continue":
    mark("stepi")
    result["stepi"] = rate(n, lambda: run("stepi"))
run("hbreak *%#x" % loop)
mark("hbreak_continue")
result["hbreak_continue"] = rate(n, lambda: run("continue"))
run("delete")
if os.environ.get("BENCH_OPS") not in ("short", "continue"):
    inferior = gdb.selected_inferior()
    mark("read_1k")
    result["read_1k"] = rate(n, lambda: inferior.read_memory(mem, 1024))
    mark("info_registers")
    result["info_registers"] = rate(n, registers)
    mark("attach_detach")
    run("detach")
    result["attach_detach"] = rate(attaches, attach_detach)
with open(os.environ["BENCH_OUT"], "w") as f:
    json.dump(result, f)
if os.environ.get("BENCH_OPS") == "continue":
    # Ends the server too (`k`): a profiler attached to it stops with the cycles, not after a free run.
    gdb.execute("kill", to_string=True)
