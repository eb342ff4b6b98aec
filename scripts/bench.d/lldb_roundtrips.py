# The lldb half of scripts/bench: stepi, hbreak + continue, 1 KiB reads and attach/detach
# against any gdb-remote stub, through lldb's SB API. Load with
#   lldb -b -o 'command script import lldb_roundtrips.py'   and the BENCH_* variables of
# gdb_roundtrips.py. lldb has no register-cache flush, so `info registers` is left out; its
# memory cache is disabled so every read is a round trip. Writes {"op": ops_per_second}.
import json
import os
import time

import lldb


def rate(count, op):
    t = time.perf_counter()
    for _ in range(count):
        op()
    return count / (time.perf_counter() - t)


def __lldb_init_module(debugger, _internal):
    addr = os.environ["BENCH_TARGET"]
    n = int(os.environ.get("BENCH_N", "200"))
    attaches = int(os.environ.get("BENCH_ATTACH_N", "20"))
    loop = int(os.environ.get("BENCH_LOOP", "0x1002"), 0)
    mem = int(os.environ.get("BENCH_MEM", "0x1000"), 0)
    debugger.SetAsync(False)
    ci = debugger.GetCommandInterpreter()

    def run(cmd):
        res = lldb.SBCommandReturnObject()
        ci.HandleCommand(cmd, res)
        if not res.Succeeded():
            raise RuntimeError("%s: %s" % (cmd, res.GetError()))
        return res.GetOutput()

    run("settings set target.process.disable-memory-cache true")
    target = debugger.CreateTarget("")
    err = lldb.SBError()

    def connect():
        p = target.ConnectRemote(debugger.GetListener(), "connect://" + addr, "gdb-remote", err)
        if not err.Success():
            raise RuntimeError("connect: " + err.GetCString())
        return p

    process = connect()
    run("breakpoint set --hardware --address %#x" % loop)
    process.Continue()
    run("breakpoint delete --force")
    thread = process.GetSelectedThread()
    result = {"stepi": rate(n, lambda: thread.StepInstruction(False))}
    run("breakpoint set --hardware --address %#x" % loop)
    result["hbreak_continue"] = rate(n, process.Continue)
    run("breakpoint delete --force")
    result["read_1k"] = rate(n, lambda: process.ReadMemory(mem, 1024, err))

    def attach_detach():
        p = connect()
        p.Detach()

    process.Detach()
    result["attach_detach"] = rate(attaches, attach_detach)
    with open(os.environ["BENCH_OUT"], "w") as f:
        json.dump(result, f)
