# Shared by scripts/bench's gdb scripts (gdb_roundtrips.py, gdb_watch.py).
import gdb


def meet_in_loop(target, loop):
    """Connects gdb to TARGET (HOST:PORT) and runs the guest to LOOP under a hardware
    breakpoint, deleted again: every server starts somewhere else (kvmdbg at the entry, QEMU at
    the reset vector)."""
    for cmd in ("set pagination off", "set confirm off", "target remote " + target,
                "hbreak *%#x" % loop, "continue", "delete"):
        gdb.execute(cmd, to_string=True)
