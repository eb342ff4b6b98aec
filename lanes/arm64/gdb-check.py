# The arm64 GDB lane's checks, run inside gdb-multiarch (gdb -x): the same script against the
# fake backend on the host and against real arm64 KVM in QEMU (scripts/arm64-gdb-lane).
# Environment: LANE_GDB_TARGET (host:port), LANE_GDB_PHASE (prog | smp | paged),
# LANE_GDB_ELF (prog.elf, phase prog). Prints one line per check:
#   check PHASE/NAME RESULT
# RESULT holds only what both backends must agree on (addresses, values, stop kinds,
# thread ids where the guest makes them deterministic), never timing-dependent values.
import os
import re
import sys

import gdb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gdb_params as P  # noqa: E402

PHASE = os.environ["LANE_GDB_PHASE"]
TARGET = os.environ["LANE_GDB_TARGET"]


def run(cmd):
    return gdb.execute(cmd, to_string=True)


def emit(name, result):
    print("check %s/%s %s" % (PHASE, name, result), flush=True)


def check(name):
    """A check: its function returns the RESULT text; an exception becomes `error: ...`."""
    def wrap(f):
        try:
            emit(name, f())
        except Exception as e:  # a failing gdb command must show up as a difference
            emit(name, "error: " + " ".join(str(e).split()))
    return wrap


def pc():
    return int(gdb.parse_and_eval("$" + P.PC)) & 0xFFFFFFFFFFFFFFFF


def reg(name):
    return int(gdb.parse_and_eval(name)) & 0xFFFFFFFFFFFFFFFF


def thread():
    return gdb.selected_thread().num


_last_stop = []
_BP_KINDS = {
    gdb.BP_BREAKPOINT: "breakpoint",
    gdb.BP_HARDWARE_BREAKPOINT: "hw-breakpoint",
    gdb.BP_HARDWARE_WATCHPOINT: "watchpoint",
    gdb.BP_READ_WATCHPOINT: "read-watchpoint",
    gdb.BP_ACCESS_WATCHPOINT: "access-watchpoint",
}


def _on_stop(event):
    if isinstance(event, gdb.BreakpointEvent):
        b = event.breakpoints[0]
        kind = _BP_KINDS.get(b.type, "bp-type-%d" % b.type)
        _last_stop[:] = [kind]
    elif isinstance(event, gdb.SignalEvent):
        _last_stop[:] = [event.stop_signal]
    else:
        _last_stop[:] = ["stopped"]


gdb.events.stop.connect(_on_stop)


def hbreak(spec):
    run("hbreak " + spec)


def stop_kind():
    return _last_stop[0] if _last_stop else "none"


def cont():
    _last_stop[:] = []
    run("continue")
    return stop_kind()


def attach():
    run("target remote " + TARGET)


gdb.execute("set confirm off")
gdb.execute("set pagination off")
gdb.execute("set width 0")
gdb.execute("set architecture " + P.ARCH)

if PHASE == "prog":
    gdb.execute("file " + os.environ["LANE_GDB_ELF"])
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures", "gdb-prog", "prog.c")
    lines = open(src).read().split("\n")

    def line_of(marker):
        return next(i + 1 for i, l in enumerate(lines) if "@" + marker + " " in l + " ")

    attach()
    check("attach")(lambda: "pc=%#x func=%s" % (pc(), gdb.selected_frame().name()))

    @check("break-call")
    def _():
        run("break prog.c:%d" % line_of("call"))
        k = cont()
        return "%s line=%d i=%s" % (k, gdb.selected_frame().find_sal().line, gdb.parse_and_eval("i"))

    @check("next")
    def _():
        run("next")
        return "line=%d total=%s" % (gdb.selected_frame().find_sal().line, gdb.parse_and_eval("total"))

    @check("step-into-square")
    def _():
        k = cont()
        run("step")
        f = gdb.selected_frame()
        return "%s func=%s line=%d x=%s" % (k, f.name(), f.find_sal().line, gdb.parse_and_eval("x"))

    @check("bt")
    def _():
        out = run("bt")
        return "frames=" + ",".join(re.findall(r"(?:in )?(\w+) \(", out))

    @check("finish")
    def _():
        run("finish")
        # finish records the returned value as the newest value history entry.
        return "value=%s func=%s" % (gdb.history(0), gdb.selected_frame().name())

    @check("print-globals")
    def _():
        return "total=%s iterations=%s" % (gdb.parse_and_eval("total"), gdb.parse_and_eval("iterations"))

    @check("watch-total")
    def _():
        run("delete")
        run("watch total")
        old = int(gdb.parse_and_eval("total"))
        k = cont()
        return "%s old=%s new=%s line=%d" % (k, old, gdb.parse_and_eval("total"), gdb.selected_frame().find_sal().line)

    @check("watch-iterations-spin")
    def _():
        run("delete")
        run("watch iterations")
        seen = []
        for _ in range(6):
            k = cont()
            seen.append("%s:%s@%d" % (k, gdb.parse_and_eval("iterations"), gdb.selected_frame().find_sal().line))
        return " ".join(seen)

    run("delete")
    run("kill")

elif PHASE == "smp":
    S = P.SMP
    attach()

    @check("attach")
    def _():
        return "pc=%#x thread=%d" % (pc(), thread())

    @check("registers")
    def _():
        res = []
        for t in (1, 2):
            run("thread %d" % t)
            res.append("t%d:pc=%#x,index=%d,cpsr=%#x" % (t, pc(), reg(P.INDEX_REGISTER), reg("$cpsr")))
        run("thread 1")
        return " ".join(res)

    @check("registers-reset")
    def _():
        # KVM_ARM_VCPU_INIT's reset state (the fake models it): every general register but X0.
        return " ".join("%s=%#x" % (r, reg("$" + r)) for r in ["x%d" % i for i in range(31)] + ["sp", "pc", "cpsr"])

    @check("info-threads")
    def _():
        out = run("info threads")
        return "threads=" + ",".join(re.findall(r"Thread (\d+)", out)) + " vcpus=" + ",".join(re.findall(r"\(vCPU (\d+)\)", out))

    @check("hbreak-continue")
    def _():
        hbreak("*%#x" % S["loop"])
        k = cont()
        return "%s pc=%#x" % (k, pc())

    @check("stepi")
    def _():
        before = pc()
        run("stepi")
        return "from=%#x to=%#x" % (before, pc())

    @check("sw-break-continue")
    def _():
        run("delete")
        run("break *%#x" % S["load"])
        k = cont()
        return "%s pc=%#x" % (k, pc())

    run("delete")
    watches = []
    for kind in ("watch", "awatch"):
        for size, ctype in ((1, "char"), (2, "short"), (4, "int"), (8, "long")):
            watches.append((kind, size, ctype, S["counters"]))
    for size, ctype, off in ((1, "char", 0), (2, "short", 2), (4, "int", 4), (8, "long", 0)):
        watches.append(("rwatch", size, ctype, S["data"] + off))

    for kind, size, ctype, addr in watches:
        @check("%s-%d" % (kind, size))
        def _():
            run("%s *(%s *)%#x" % (kind, ctype, addr))
            k = cont()
            res = "%s pc=%#x" % (k, pc())
            # vCPU 0 alone stores to counters[0]: who stopped is deterministic for write watches.
            if addr == S["counters"]:
                res += " thread=%d" % thread()
            run("delete")
            return res

    @check("thread2-stepi")
    def _():
        run("thread 2")
        before = pc()
        run("stepi")
        after = pc()
        ok = after == before + S["insn_size"] or (before == S["jump"] and after == S["loop"])
        return "thread=%d one-instruction=%s index=%d" % (thread(), ok, reg(P.INDEX_REGISTER))

    @check("monitor-break-vcpu1")
    def _():
        out = run("monitor break %#x vcpu 1" % S["store"])
        emit("monitor-break-vcpu1-said", " ".join(out.split()))
        k = cont()
        res = "%s thread=%d pc=%#x" % (k, thread(), pc())
        m = re.search(r"point (\d+)", out)
        emit("monitor-delete-said", m and " ".join(run("monitor delete " + m.group(1)).split()))
        return res

    @check("memory-read")
    def _():
        return "data=%#x" % int(gdb.parse_and_eval("*(unsigned long *)%#x" % S["data"]))

    @check("memory-write")
    def _():
        run("set {unsigned long}%#x = 0xfeedface12345678" % S["scratch"])
        b = run("x/8xb %#x" % S["scratch"]).split(":")[1].split()
        return "word=%#x bytes=%s" % (int(gdb.parse_and_eval("*(unsigned long *)%#x" % S["scratch"])), ",".join(b))

    @check("detach-reattach")
    def _():
        before = int(gdb.parse_and_eval("*(unsigned long *)%#x" % S["counters"]))
        run("detach")
        import time
        time.sleep(0.5)
        attach()
        after = int(gdb.parse_and_eval("*(unsigned long *)%#x" % S["counters"]))
        out = run("info threads")
        return "ran-free=%s threads=%d" % (after > before, len(re.findall(r"Thread \d+", out)))

    run("kill")

elif PHASE == "paged":
    G = P.PAGED
    attach()

    @check("mmu-off-translate")
    def _():
        out = run("monitor translate %#x" % G["counter"])
        return " ".join(out.split()[2:])  # drop "vCPU 0:"

    @check("hbreak-after-enable")
    def _():
        hbreak("*%#x" % G["after_enable"])
        k = cont()
        run("delete")
        return "%s pc=%#x" % (k, pc())

    @check("translate-counter")
    def _():
        out = run("monitor translate %#x" % (G["counter"] + 8))
        return " | ".join(l.strip() for l in out.strip().split("\n"))

    @check("break-inner-bt")
    def _():
        hbreak("*%#x" % G["inner"])
        k = [cont() for _ in range(3)]
        # No symbols: gdb's heuristic unwinder, the same on both backends (frames and where it stops).
        bt = " | ".join(l.strip() for l in run("bt").strip().split("\n"))
        return "%s pc=%#x bt=%s" % (",".join(k), pc(), bt)

    @check("virtual-read")
    def _():
        run("delete")
        run("stepi 3")  # past inner's store
        v = int(gdb.parse_and_eval("*(unsigned long *)%#x" % G["counter"]))
        run("monitor phys on")
        p = int(gdb.parse_and_eval("*(unsigned long *)%#x" % G["counter_physical"]))
        run("monitor phys off")
        return "virtual=%d physical=%d" % (v, p)

    @check("virtual-write")
    def _():
        run("set {unsigned long}%#x = 0x1234" % (G["counter"] + 16))
        run("monitor phys on")
        p = int(gdb.parse_and_eval("*(unsigned long *)%#x" % (G["counter_physical"] + 16)))
        run("monitor phys off")
        return "physical=%#x" % p

    @check("watch-virtual")
    def _():
        run("watch *(unsigned long *)%#x" % G["counter"])
        before = int(gdb.parse_and_eval("*(unsigned long *)%#x" % G["counter"]))
        k = cont()
        after = int(gdb.parse_and_eval("*(unsigned long *)%#x" % G["counter"]))
        run("delete")
        return "%s pc=%#x delta=%d" % (k, pc(), after - before)

    @check("unmapped-read")
    def _():
        try:
            run("x/gx %#x" % G["unmapped"])
            return "readable"
        except gdb.error as e:
            return "refused: " + " ".join(str(e).split())

    run("kill")
