# lanes/gdb/lane-check.py: the GDB lane checks, one gdb session per phase, shared by the
# x86 lane (gdb against kvmdbg gdbserver on kvm_amd) and the arm64 lane (gdb-multiarch on
# arm64 KVM), and run the same way on the host against `kvmdbg gdbserver --backend fake`,
# whose output is the prediction each lane is compared with (scripts/lane-compare).
#
#   gdb -nx -batch -x lanes/gdb/lane-check.py        (gdb-multiarch for arm64)
#
# Environment:
#   LANE_GDB_TARGET  what `target remote` takes (127.0.0.1:PORT)
#   LANE_GDB_ARCH    x86_64 | arm64 (or aarch64): loads lanes/x86/gdb_params.py | lanes/arm64/gdb_params.py
#   LANE_GDB_PHASE   prog    source level on LANE_GDB_ELF (break FILE:LINE, step, next, bt,
#                            print, finish, watch GLOBAL)
#                    counter the built-in `counter` guest, 1 vCPU: attach, registers, hbreak,
#                            stepi, break, watch/rwatch/awatch of 1/2/4/8 bytes, memory r/w,
#                            detach + re-attach, Ctrl-C (SIGINT to gdb) during continue
#                    smp     `smp-counter`, 2 vCPUs: info threads, thread 2 + stepi, hbreak,
#                            a watch only vCPU 1 trips, monitor break ADDR vcpu 1
#                    paged   `paged-counter` (own page tables): hbreak + bt, break, memory
#                            by virtual address, monitor translate / phys, unmapped, watch
#                    off     arm64 `system-off` (PSCI SYSTEM_OFF): continue stops with a signal,
#                            registers, monitor why, a refused continue
#                    abort   arm64 `data-abort`: monitor catch exception all, continue to the
#                            guest's own vector entry, the caught cause (ESR, ELR, FAR)
#   LANE_GDB_ELF     prog: the `gcc -g` build of Tests/Fixtures/gdb-prog/prog.c
#   LANE_GDB_SOURCE  prog: that prog.c (lines are found by its `@marker`s; default: the fixture)
#   LANE_GDB_GUEST   counter/smp/paged/off/abort: the built-in guest the phase debugs (counter,
#                    smp-counter, ...; scripts/lane-lib's lane_gdb_phase_table)
#   LANE_GDB_GUESTS  counter/smp/paged: a file with `kvmdbg guests --json`'s output (the
#                    built-in guests' symbols, so no address is written down here)
#
# Output: one line per check, `check PHASE/NAME RESULT`, RESULT canonical: addresses as
# `symbol+offset` (built-in guests: their symbols; prog: function@marker), values as deltas
# where they depend on how long the guest ran. A check that raises prints
# `check PHASE/NAME ERROR message` (always a failure); a setup error (a variable missing)
# prints `check PHASE/setup ERROR message` and quits with status 2. Each phase ends with `kill`, which
# ends the server (the lane's /init then starts the next phase).
#
# The per-arch module (lanes/<arch>/gdb_params.py) defines what differs between arches:
#   SETUP      gdb commands before `target remote` (e.g. ["set architecture aarch64"])
#   MODE       the built-in guests' mode in `kvmdbg guests --json` ("long", "el1")
#   PC, SP     gdb's names of the program counter and stack pointer ("rip", "rsp")
#   REGISTERS  further registers whose values at the entry are compared, after PC and SP
#   WRITTEN    (register, value) pairs (FP/SIMD, the guest's own debug registers) written, then
#              read back after a stepi (the write reached the vCPU and survived a KVM_RUN)
#   SVE        True where the lane's vCPUs may have SVE (arm64): adds counter/sve
#   PAGED      for the paged phase: {"unmapped": an address that does not translate},
#              or None when the arch has no paged guest
#   TIMEOUT    seconds gdb waits for one reply (`set remotetimeout`; the lanes are slow)
#   PROTECTION True: counter adds the protection-* checks (watches served by memory protection),
#              with UNUSED_DATA (words nothing accesses, for fillers) and WATCH_SLOTS (the
#              watchpoint registers the fillers take)
import hashlib
import importlib.util
import json
import os
import re
import signal
import sys
import threading
import time

import gdb

sys.dont_write_bytecode = True  # no __pycache__ next to the params modules

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
# kvmdbg's arch names (`kvmdbg guests --json`); aarch64 is taken for arm64.
ARCH = {"aarch64": "arm64"}.get(os.environ.get("LANE_GDB_ARCH", ""), os.environ.get("LANE_GDB_ARCH", ""))
PHASE = os.environ.get("LANE_GDB_PHASE", "")
PARAMS_DIR = {"x86_64": "x86", "arm64": "arm64"}


def die(message):
    """A setup error: one ERROR check line (so the comparison fails and shows why), then quit."""
    print("check %s/setup ERROR %s" % (PHASE or "none", message), flush=True)
    print("lane-check: %s" % message, file=sys.stderr, flush=True)
    gdb.execute("quit 2")


def load_params():
    d = PARAMS_DIR.get(ARCH)
    if d is None:
        die("LANE_GDB_ARCH=%r: set it to x86_64 or arm64" % ARCH)
    path = os.path.join(REPO, "lanes", d, "gdb_params.py")
    spec = importlib.util.spec_from_file_location("gdb_params", path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


P = load_params()
# The built-in guest a phase debugs: scripts/lane-lib's lane_gdb_phase_table, the one phase list.
GUEST = os.environ.get("LANE_GDB_GUEST", "")
# Seconds to let the guest run before looking whether it did (detach, Ctrl-C): the first is
# enough on an idle host; the next ones are for a loaded one (2 minutes in all).
RETRY_WAITS = (0.5, 2, 5, 15, 30, 60)
# C types of each watch width (LP64 on both arches).
CTYPE = {1: "char", 2: "short", 4: "int", 8: "long"}


def out(name, result):
    # One line per check; results never span lines.
    print("check %s/%s %s" % (PHASE, name, " ".join(str(result).split())), flush=True)


def ex(cmd):
    return gdb.execute(cmd, to_string=True)


def value(expr):
    return int(gdb.parse_and_eval(expr)) & 0xFFFFFFFFFFFFFFFF


def pc():
    return value("$" + P.PC)


# ---- stops: what the last resume ended in, from gdb's own stop events ----------------------
last_stop = {}


def on_stop(ev):
    last_stop.clear()
    last_stop["thread"] = gdb.selected_thread().num if gdb.selected_thread() else 0
    if isinstance(ev, gdb.BreakpointEvent):
        kinds = {gdb.BP_BREAKPOINT: "breakpoint", gdb.BP_HARDWARE_BREAKPOINT: "hbreakpoint",
                 gdb.BP_WATCHPOINT: "watch", gdb.BP_HARDWARE_WATCHPOINT: "watch",
                 gdb.BP_READ_WATCHPOINT: "rwatch", gdb.BP_ACCESS_WATCHPOINT: "awatch"}
        last_stop["why"] = ",".join(kinds.get(b.type, "bp%d" % b.type) for b in ev.breakpoints)
        last_stop["numbers"] = [b.number for b in ev.breakpoints]
    elif isinstance(ev, gdb.SignalEvent):
        last_stop["why"] = ev.stop_signal
    else:
        last_stop["why"] = "stop"


gdb.events.stop.connect(on_stop)


def resume(cmd="continue"):
    """Runs cmd (continue, stepi, ...) and returns `why@where` of the stop it ended in."""
    last_stop.clear()
    ex(cmd)
    if not last_stop:
        raise RuntimeError("`%s` returned without a stop event" % cmd)
    return "%s@%s" % (last_stop["why"], where(pc()))


def resume_interrupted(seconds):
    """`continue`, with a SIGINT to gdb (Ctrl-C) after `seconds`; `why@where` of the stop."""
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        return resume()
    finally:
        timer.cancel()


# ---- symbols ---------------------------------------------------------------------------------
symbols = {}  # name -> address (built-in guests)


def load_guest_symbols(guest):
    path = os.environ.get("LANE_GDB_GUESTS")
    if not path:
        die("set LANE_GDB_GUESTS to a file holding the output of `kvmdbg guests --json`")
    with open(path) as f:
        for line in f:
            g = json.loads(line)
            if g.get("name") == guest and g.get("arch") == ARCH and g.get("mode") == P.MODE:
                return {k: int(v, 16) for k, v in g["symbols"].items()}
    die("no guest %s (%s, mode %s) in %s: is it `kvmdbg guests --json` of this kvmdbg?" % (guest, ARCH, P.MODE, path))


def where(addr):
    """addr as `symbol+offset` (nearest symbol at or below it), else hex."""
    if PHASE == "prog":
        return source_where(addr)
    best = None
    for n, a in symbols.items():
        if a <= addr and (best is None or a > best[1] or (a == best[1] and n < best[0])):
            best = (n, a)
    if best is None or addr - best[1] > 0x1000:
        return hex(addr)
    return best[0] if addr == best[1] else "%s+%#x" % (best[0], addr - best[1])


# ---- prog.c markers --------------------------------------------------------------------------
markers = {}  # line number -> marker


def load_markers():
    src = os.environ.get("LANE_GDB_SOURCE") or os.path.join(REPO, "Tests/Fixtures/gdb-prog/prog.c")
    with open(src) as f:
        for i, l in enumerate(f, 1):
            m = re.search(r"@([A-Za-z0-9_-]+)", l)
            if m:
                markers[i] = m.group(1)
    return src


def line_name(n):
    """A source line as its marker, or as the nearest marker +/- lines (markers survive edits)."""
    if n in markers:
        return "@" + markers[n]
    if not markers or not n:
        return "line?"
    m = min(markers, key=lambda k: (abs(k - n), k))
    return "@%s%+d" % (markers[m], n - m)


def source_where(addr):
    sal = gdb.find_pc_line(addr)
    block = gdb.block_for_pc(addr)
    fn = block.function.name if block is not None and block.function is not None else None
    if fn is None:
        s = gdb.execute("info symbol %#x" % addr, to_string=True).split()
        fn = s[0] if s and not s[0].startswith("No") else hex(addr)
    return "%s%s" % (fn, "@" + line_name(sal.line)[1:] if sal.symtab and sal.line else "")


def frame_where():
    f = gdb.selected_frame()
    return source_where(f.pc()) if PHASE == "prog" else where(f.pc())


def backtrace():
    frames, f = [], gdb.newest_frame()
    while f is not None and f.pc() != 0 and len(frames) < 8:
        if PHASE == "prog":
            sal = f.find_sal()  # for a caller: the line of the call (gdb looks up pc - 1)
            frames.append("%s%s" % (f.name() or hex(f.pc()), "@" + line_name(sal.line)[1:] if sal.line else ""))
        else:
            frames.append(where(f.pc()))
        try:
            f = f.older()
        except gdb.error:
            break
    return "<-".join(frames)


# ---- the checks ------------------------------------------------------------------------------
checks = []


def check(name):
    def reg(fn):
        checks.append((name, fn))
        return fn
    return reg


def run_checks():
    for name, fn in checks:
        t0 = time.monotonic()
        try:
            out(name, fn())
        except Exception as e:  # gdb.error, RuntimeError, ...: the check failed
            out(name, "ERROR " + (str(e) or type(e).__name__))
        # Timing goes to stderr (the lane's gdb log), never into a compared line.
        print("lane-check: %s/%s took %.2fs" % (PHASE, name, time.monotonic() - t0), file=sys.stderr, flush=True)


def attach():
    target = os.environ.get("LANE_GDB_TARGET")
    if not target:
        die("set LANE_GDB_TARGET to what `target remote` takes (127.0.0.1:PORT)")
    ex("target remote %s" % target)
    return "stopped@%s threads=%d" % (where(pc()), len(gdb.selected_inferior().threads()))


def delete_all():
    ex("delete")


def watch_delta(addr, size, before):
    mask = (1 << (8 * size)) - 1
    after = value("*(%s*)%#x" % (CTYPE[size], addr)) & mask
    d = (after - before) & mask
    return "same" if d == 0 else "+%d" % d


# counter: one vCPU, so every stop is where the guest's code puts it.
def counter_checks():
    counter_register_checks()
    counter_point_checks()
    counter_memory_checks()
    counter_detach_checks()


def counter_register_checks():
    @check("registers")
    def _():
        vals = []
        for r in [P.PC, P.SP] + [r for r in P.REGISTERS if r not in (P.PC, P.SP)]:
            v = value("$" + r)
            vals.append("%s=%s" % (r, where(v) if r == P.PC else hex(v)))
        return " ".join(vals)

    @check("written")
    def _():
        for r, v in P.WRITTEN:
            ex("set $%s = %#x" % (r, v))
        resume("stepi")
        return " ".join("%s=%s" % (r, hex(value("$" + r))) for r, _ in P.WRITTEN)

    if getattr(P, "SVE", False):
        check("sve")(sve_check)


def sve_check():
    # The SVE registers (org.gnu.gdb.aarch64.sve): served where the vCPU was created with
    # SVE (kvmdbg's own arm64 vCPUs get it where KVM_CAP_ARM_SVE says so; the fake's have
    # none: "absent"). The result names no vector length, so any host's reads the same:
    # vg matches z0's size, what gdb writes into z/p/ffr survives a KVM_RUN, v2 is z2's
    # low half, and vg (fixed at KVM_ARM_VCPU_FINALIZE) refuses another length.
    try:
        vg = value("$vg")
    except gdb.error:
        return "absent"
    size = gdb.parse_and_eval("$z0").type.sizeof
    print("lane-check: SVE vg=%d z0=%d bytes" % (vg, size), file=sys.stderr, flush=True)
    last = size // 8 - 1
    ex("set $z2.d.u[0] = 0x1122334455667788")
    ex("set $z2.d.u[%d] = 0x8877665544332211" % last)
    ex("set $p3[0] = 0x5a")
    ex("set $ffr[0] = 0x81")
    resume("stepi")
    z = value("$z2.d.u[0]") == 0x1122334455667788 and value("$z2.d.u[%d]" % last) == 0x8877665544332211
    v = value("$v2.d.u[0]") == 0x1122334455667788
    try:
        ex("set $vg = %d" % (2 * vg))
        refused = value("$vg") == vg and "kept" or "changed"
    except gdb.error:
        refused = "refused"
    return "vg-matches-z0=%s z2=%s p3=%#x ffr=%#x v2-is-z2-low=%s vg-write=%s" % (
        size == 8 * vg, "written" if z else "lost", value("$p3[0]"), value("$ffr[0]"), v, refused)


def counter_point_checks():
    s = symbols

    @check("hbreak")
    def _():
        ex("hbreak *%#x" % s["loop"])
        r = [resume(), resume()]
        delete_all()
        return " ".join(r)

    @check("stepi")
    def _():
        r = [where(pc())] + [resume("stepi") for _ in range(3)]
        return " ".join(r)

    @check("break")
    def _():
        ex("break *%#x" % s["loop"])
        r = [resume(), resume()]
        # Memory shows the guest's own bytes, never the int3/brk behind the breakpoint.
        image = ex("x/4xb %#x" % s["loop"]).split(":", 1)[1].split()
        # Which mechanism serves Z0 here: kvmdbg says so when int3/brk does not trap.
        note = ex("monitor points")
        served = "hardware-slot" if "use hardware slots" in note else "software"
        delete_all()
        return "%s bytes=%s served=%s" % (" ".join(r), ",".join(image), served)

    for kind, sym in (("watch", "counter"), ("rwatch", "data"), ("awatch", "counter"), ("awatch", "data")):
        for size in (1, 2, 4, 8):
            def one(kind=kind, sym=sym, size=size):
                addr = s[sym]
                expr = "*(%s*)%#x" % (CTYPE[size], addr)
                ex("%s %s" % (kind, expr))
                before = value(expr) & ((1 << (8 * size)) - 1)
                r = resume()
                delete_all()
                return "%s value=%s" % (r, watch_delta(addr, size, before))
            check("%s-%s-%d" % (kind, sym, size))(one)

    if getattr(P, "PROTECTION", False):
        protection_checks(s)

def counter_memory_checks():
    s = symbols

    @check("memory")
    def _():
        words = ex("x/4xw %#x" % s["data"]).split(":", 1)[1].split()
        ex("set *(int*)%#x = 0x12345678" % (s["data"] + 8))
        back = ex("x/1xw %#x" % (s["data"] + 8)).split(":", 1)[1].split()
        ex("set *(long*)%#x = 41" % s["counter"])
        n = value("*(long*)%#x" % s["counter"])
        code = ex("x/8xb %#x" % s["entry"]).split(":", 1)[1].split()
        return "data=%s written=%s counter=%d code=%s" % (",".join(words), ",".join(back), n, ",".join(code))

    @check("memory-bulk")
    def _():
        # 4 KiB of code page in one read: several full-size `m` packets through the lane's
        # serial line (throughput to stderr); the checksum and the first bytes are compared.
        t0 = time.monotonic()
        data = bytes(gdb.selected_inferior().read_memory(s["entry"], 4096))
        dt = time.monotonic() - t0
        print("lane-check: read 4096 bytes in %.3fs (%.0f KiB/s)" % (dt, 4 / max(dt, 1e-6)), file=sys.stderr, flush=True)
        return "bytes=%d sha256=%s" % (len(data), hashlib.sha256(data).hexdigest()[:16])


def counter_detach_checks():
    s = symbols

    @check("detach-reattach")
    def _():
        # The loop stores its own register's count, so any pass changes the word (the memory
        # check wrote 41 there). A loaded host may not run the guest at once (a nested guest
        # under TCG with CPU burners took over 7 s): wait longer each time, up to 2 minutes in all.
        attached = ""
        for wait in RETRY_WAITS:
            before = value("*(long*)%#x" % s["counter"])
            ex("detach")
            time.sleep(wait)
            attached = attach()  # the guest ran meanwhile: it stops wherever it was
            now = value("*(long*)%#x" % s["counter"])
            ran = now != before
            print("lane-check: detached %.1fs: counter %d -> %d, stopped at %s" % (wait, before, now, attached),
                  file=sys.stderr, flush=True)
            if ran:
                break
        at = attached.split("@", 1)[1].split()[0].split("+")[0]
        ex("hbreak *%#x" % s["loop"])
        r = resume()
        delete_all()
        return "stopped-in=%s ran-while-detached=%s then %s" % (
            "code" if at in ("entry", "loop", "store", "load", "jump") else at, ran, r)

    @check("interrupt")
    def _():
        # Ctrl-C: gdb turns a SIGINT into the remote's 0x03 while `continue` runs with no
        # point set; the guest must stop (SIGINT) in its loop and have run meanwhile.
        # A loaded host may not run the guest within the first delay: again, with longer ones.
        delete_all()
        for wait in RETRY_WAITS:
            before = value("*(long*)%#x" % s["counter"])
            r = resume_interrupted(max(wait, 1.0))
            at = r.split("@", 1)[1].split("+")[0]
            ran = value("*(long*)%#x" % s["counter"]) != before
            if ran:
                break
        return "%s in=%s ran=%s" % (r.split("@", 1)[0], "code" if at in ("entry", "loop", "store", "load", "jump") else at, ran)


# counter, where P.PROTECTION: watches served by memory protection. Fillers take the
# P.WATCH_SLOTS watchpoint registers first (words nothing accesses: they never fire), so the
# watch under test is served by protection (`monitor points` says so: protected=N); the watched
# word's change over the stop (gdb's Old to New value) is compared as a delta.
def protection_checks(s):
    def arm(cmds):
        # gdb inserts points only when resuming; inserted at once here, `monitor points` can
        # say which are served by protection. Returns how many.
        ex("set breakpoint always-inserted on")
        try:
            for c in cmds:
                ex(c)
            return sum(1 for l in monitor_lines("points") if "memory protection" in l)
        finally:
            ex("set breakpoint always-inserted off")

    def fillers():
        return ["watch *(long*)%#x" % (P.UNUSED_DATA + 8 * i) for i in range(P.WATCH_SLOTS)]

    for kind, sym in (("watch", "counter"), ("rwatch", "data"), ("awatch", "counter"), ("awatch", "data")):
        def one(kind=kind, sym=sym):
            n = arm(fillers() + ["%s *(long*)%#x" % (kind, s[sym])])
            before = value("*(long*)%#x" % s[sym])
            r = resume()
            delete_all()
            return "%s value=%s protected=%d" % (r, watch_delta(s[sym], 8, before), n)
        check("protection-%s-%s" % (kind, sym))(one)

    @check("protection-eight")
    def _():
        # Eight at once: access watches on counter's and data's first four bytes, the registers
        # taking the first four. Each stop names one; it is deleted and the guest continued
        # until every one has fired (a store or load hits several: gdb is told one address).
        n = arm(["awatch *(char*)%#x" % (s[sym] + i) for sym in ("counter", "data") for i in range(4)])
        numbers = [b.number for b in gdb.breakpoints()]
        fired = set()
        for _ in range(16):
            if fired == set(numbers):
                break
            resume()
            for b in last_stop.get("numbers", []):
                fired.add(b)
                gdb.execute("delete %d" % b)
        delete_all()
        return "fired=%d/8 protected=%d" % (len(fired & set(numbers)), n)

    @check("protection-range-64")
    def _():
        # 64 bytes from counter - 32: the loop's store lands in its middle.
        n = arm(fillers() + ["watch *(char(*)[64])%#x" % (s["counter"] - 32)])
        before = value("*(long*)%#x" % s["counter"])
        r = resume()
        delete_all()
        return "%s value=%s protected=%d" % (r, watch_delta(s["counter"], 8, before), n)


# smp: two vCPUs; vCPU 1 stores to counters+8. Which vCPU reaches a shared point first is timing.
def smp_checks():
    s = symbols

    @check("info-threads")
    def _():
        rows = re.findall(r"^[* ] +(\d+) +Thread \S+ \((vCPU \d+)\) +(0x[0-9a-f]+)", ex("info threads"), re.M)
        return " ".join("%s:%s@%s" % (n, v.replace(" ", ""), where(int(a, 16))) for n, v, a in rows)

    @check("thread2-stepi")
    def _():
        ex("set scheduler-locking step")
        ex("thread 2")
        r = [resume("stepi"), resume("stepi")]
        ex("thread 1")
        one = where(pc())
        ex("thread 2")
        return "thread2=%s thread1-stays=%s" % (",".join(r), one)

    @check("hbreak")
    def _():
        ex("set scheduler-locking off")
        ex("hbreak *%#x" % s["loop"])
        r = resume()
        delete_all()
        return r

    @check("watch-vcpu1-word")
    def _():
        addr = s["counters"] + 8
        expr = "*(long*)%#x" % addr
        ex("watch %s" % expr)
        before = value(expr)
        r = resume()
        t = last_stop["thread"]
        delete_all()
        return "%s thread=%d value=%s" % (r, t, watch_delta(addr, 8, before))

    @check("monitor-break-vcpu1")
    def _():
        ex("monitor break %#x vcpu 1" % s["store"])
        stops = []
        for _ in range(3):
            r = resume()
            stops.append("%d:%s" % (last_stop["thread"], r))
        return " ".join(stops)


# paged: its own page tables, code and data linked high; gdb's addresses are virtual.
def paged_checks():
    s = symbols

    @check("break-bt")
    def _():
        ex("hbreak *%#x" % s["inner"])
        r = resume()
        bt = backtrace()
        delete_all()
        return "%s bt=%s" % (r, bt)

    @check("break-va")
    def _():
        # gdb's Z0 at a virtual address: kvmdbg plants it at the physical address the vCPU's
        # tables map it to (or serves it with a hardware slot where int3/brk do not trap).
        ex("break *%#x" % s["load"])
        r = resume()
        image = ex("x/3xb %#x" % s["load"]).split(":", 1)[1].split()
        delete_all()
        return "%s bytes=%s" % (r, ",".join(image))

    @check("read-va")
    def _():
        return "counter=%d data=%#x" % (value("*(long*)%#x" % s["counter"]), value("*(long*)%#x" % s["data"]))

    @check("write-va")
    def _():
        ex("set *(long*)%#x = 41" % s["counter"])
        return "counter=%d" % value("*(long*)%#x" % s["counter"])

    @check("translate-phys")
    def _():
        walk = ex("monitor translate %#x" % s["counter"])
        m = re.search(r"-> physical (0x[0-9a-f]+)", walk)
        if not m:
            raise RuntimeError("monitor translate printed no physical address: %r" % walk)
        phys = int(m.group(1), 16)
        levels = len(re.findall(r"^\s+\S+\[\d+\] at ", walk, re.M))
        ex("monitor phys on")
        try:
            v = value("*(long*)%#x" % phys)
        finally:
            ex("monitor phys off")
        return "levels=%d physical-holds=%d" % (levels, v)

    @check("unmapped")
    def _():
        try:
            ex("x/1gx %#x" % P.PAGED["unmapped"])
            return "readable"
        except gdb.error as e:
            # (not `error=`: that word marks a failed check in scripts/lane-compare)
            return "refused=" + ("cannot-access" if "Cannot access memory" in str(e) else str(e))

    @check("watch-va")
    def _():
        expr = "*(long*)%#x" % s["counter"]
        ex("watch %s" % expr)
        before = value(expr)
        r = resume()
        delete_all()
        return "%s value=%s" % (r, watch_delta(s["counter"], 8, before))


# prog: the user's C program at source level (Tests/KVMDebugTests/GDBClientTests.swift does the
# same against this host's KVM).
def prog_checks():
    line = {v: k for k, v in markers.items()}

    @check("break-line")
    def _():
        ex("break %s:%d" % (os.path.basename(SOURCE), line["call"]))
        r = resume()
        return "%s i=%d" % (r, value("i"))

    @check("step-into")
    def _():
        r = resume("step")
        return "%s x=%d" % (r, value("x"))

    @check("bt")
    def _():
        return backtrace()

    @check("next")
    def _():
        r = resume("next")
        return "%s r=%d" % (r, value("r"))

    @check("finish")
    def _():
        r = resume("finish")
        return "%s returned=%d" % (r, value("$"))

    @check("next-after-finish")
    def _():
        r = resume("next")
        return "%s total=%d" % (r, value("total"))

    @check("continue-again")
    def _():
        r = resume()
        n = resume("next")
        return "%s i=%d then %s total=%d iterations=%d" % (r, value("i"), n, value("total"), value("iterations"))

    @check("watch-global")
    def _():
        delete_all()
        ex("watch iterations")
        before = value("iterations")
        r = resume()
        after = value("iterations")
        delete_all()
        return "%s iterations=%d->%d" % (r, before, after)


def monitor_lines(cmd):
    """A monitor command's output lines, each with its whitespace collapsed."""
    return [" ".join(l.split()) for l in ex("monitor " + cmd).splitlines() if l.strip()]


# system-off: a fatal exit is a stop (signal, registers), explained, and not resumable.
def off_checks():
    @check("continue")
    def _():
        return resume()

    @check("registers")
    def _():
        return "pc=%s x0=%s x1=%s" % (where(pc()), hex(value("$x0")), hex(value("$x1")))

    @check("why")
    def _():
        return " | ".join(monitor_lines("why")[:2])

    @check("continue-refused")
    def _():
        # gdb prints the E reply as a warning and stays stopped where it was.
        try:
            ex("continue")
        except gdb.error as e:
            return "error@%s %s" % (where(pc()), "cannot be resumed" in str(e))
        return "stopped@%s" % where(pc())


# data-abort: the guest's own synchronous vector entry, caught with the cause.
def abort_checks():
    @check("catch")
    def _():
        for _ in range(3):  # movz, movk, msr vbar_el1: the table exists from here on
            ex("stepi")
        return " | ".join(monitor_lines("catch exception all")[:1])

    @check("continue")
    def _():
        return resume()

    @check("caught")
    def _():
        return " | ".join(l for l in monitor_lines("why") if "caught" in l)

    @check("catch-off")
    def _():
        return " | ".join(monitor_lines("catch exception off"))


# vbar-hole: VBAR_EL1 in no memslot. The data abort's vector fetch is a stage-2 abort that KVM
# injects back into the guest as a prefetch abort at the same vector, forever: no exit, no stop
# until Ctrl-C, which finds the vCPU at the vector; a catch there could never fire and is refused.
def hole_checks():
    @check("catch-refused")
    def _():
        for _ in range(3):  # movz, msr vbar_el1, isb: the table is set from here on
            ex("stepi")
        try:
            return "armed " + " | ".join(monitor_lines("catch exception all")[:1])
        except gdb.error:
            # gdb drops the reason (console output before the E reply) from a failed command's
            # captured text; Arm64PostMortemTests checks it. Nothing may be armed.
            return "refused, %s" % monitor_lines("points")[-1].split(",")[0]

    @check("interrupt")
    def _():
        r = resume_interrupted(2.0)
        return "%s pc=%s" % (r.split("@", 1)[0], hex(pc()))


def main():
    global symbols, SOURCE
    ex("set confirm off")
    ex("set pagination off")
    ex("set remotetimeout %d" % getattr(P, "TIMEOUT", 30))
    for c in P.SETUP:
        ex(c)
    # Every phase starts by attaching: the first check, whatever the guest.
    check("attach")(attach)
    if PHASE == "prog":
        SOURCE = load_markers()
        elf = os.environ.get("LANE_GDB_ELF")
        if not elf:
            die("the prog phase needs LANE_GDB_ELF: prog.elf built from Tests/Fixtures/gdb-prog with gcc -g")
        ex("file %s" % elf)
        prog_checks()
    else:
        checks = {"counter": counter_checks, "smp": smp_checks, "paged": paged_checks,
                  "off": off_checks, "abort": abort_checks, "hole": hole_checks}.get(PHASE)
        if checks is None:
            die("unknown LANE_GDB_PHASE=%r: use prog, counter, smp, paged, off, abort or hole" % PHASE)
        if not GUEST:
            die("the %s phase needs LANE_GDB_GUEST, the built-in guest it debugs (scripts/lane-lib's lane_gdb_phase_table)" % PHASE)
        if PHASE == "paged" and not getattr(P, "PAGED", None):
            die("no paged phase for %s (its gdb_params.PAGED is None)" % ARCH)
        symbols = load_guest_symbols(GUEST)
        checks()
    run_checks()
    # kill ends the server; the lane's /init then serves the next phase.
    try:
        ex("kill")
    except gdb.error as e:
        print("lane-check: kill failed: %s" % e, file=sys.stderr)


SOURCE = None
main()
