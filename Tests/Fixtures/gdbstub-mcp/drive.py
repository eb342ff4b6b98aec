"""Drives `kvmdbg gdbserver` with gdbstub-mcp's own GDB remote client (PyPI package gdbstub-mcp:
gdbstub_mcp.rsp.RSPClient under gdbstub_mcp.session.Session, called through the package's tool
functions in gdbstub_mcp.server), and prints what each call returned under a `== NAME` header.
GDBStubMCPClientTests asserts on the text. The guest is kvmdbg's built-in x86_64 counter
(`loop: inc rax; store: mov [counter], rax; load: mov rbx, [data]; jmp loop`).

Usage: python drive.py PORT LOOP STORE LOAD COUNTER [--watch]   (addresses in hex)
"""

import sys
import time

from gdbstub_mcp import server as tools

port = int(sys.argv[1])
loop, store, load, counter = (int(a, 16) for a in sys.argv[2:6])
watch = "--watch" in sys.argv[6:]


def show(name, call, *args, **kwargs):
    try:
        out = call(*args, **kwargs)
    except Exception as e:  # the text is the result: the test asserts on it
        out = f"EXCEPTION {type(e).__name__}: {e}"
    print(f"== {name}\n{out}", flush=True)


def raw(name, packet):
    """One packet through the package's RSPClient, its reply printed as is."""
    show(name, lambda: tools._get("k").rsp.request(packet).decode(errors="replace"))


show("connect", tools.debug_connect, "k", port=port, timeout_s=30.0)
show("registers", tools.debug_registers, "k", "rip,rax,rbx,rsp,eflags,cs,ss,cr0,cr3,efer")
show("set rbx", tools.debug_set_register, "k", "rbx", "0x1234abcd")
show("registers after set", tools.debug_registers, "k", "rbx")
show("g packet", tools.debug_registers, "k")
show("memory", tools.debug_memory, "k", hex(counter), 16)
show("write memory", tools.debug_write_memory, "k", hex(counter), "2a 00 00 00 00 00 00 00")
show("memory after write", tools.debug_memory, "k", hex(counter), 16, "words")
show("hw break", tools.debug_break, "k", hex(loop), "hw")
show("continue 1", tools.debug_continue, "k", 30.0)
show("continue 2", tools.debug_continue, "k", 30.0)
show("counter after 2 hits", tools.debug_memory, "k", hex(counter), 8, "words")
show("step", tools.debug_step, "k")
show("step 2", tools.debug_step, "k", 2)
show("breakpoints", tools.debug_breakpoints, "k")
show("delete hw", tools.debug_delete, "k", 1)
show("sw break", tools.debug_break, "k", hex(load), "sw")
show("continue to sw", tools.debug_continue, "k", 30.0)
show("delete sw", tools.debug_delete, "k", 2)
if watch:
    show("write watch", tools.debug_break, "k", hex(counter), "write", 8)
    show("continue to watch", tools.debug_continue, "k", 30.0)
    show("delete watch", tools.debug_delete, "k", 3)
# No breakpoint left: the guest runs until interrupted (0x03).
show("continue free", tools.debug_continue, "k", 0.5)
time.sleep(0.2)
show("interrupt", tools.debug_interrupt, "k")
show("counter after run", tools.debug_memory, "k", hex(counter), 8, "words")
show("disassemble", tools.debug_disassemble, "k", hex(loop), 4)
raw("bad packet", "m0,zz")
show("disconnect", tools.debug_disconnect, "k")
