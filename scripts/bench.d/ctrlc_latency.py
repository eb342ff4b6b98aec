# scripts/bench's Ctrl-C latency: a raw RSP client (no gdb in the way) lets the guest run with
# `c`, then sends ^C (0x03) and times the stop reply, N times. Works against any stub: kvmdbg
# and QEMU stop a running guest; the null stub answers `c` at once (drained first) and ^C with
# its canned stop, which is the floor (read one byte, write one reply).
#   python3 ctrlc_latency.py HOST:PORT N OUT.json
import json
import select
import socket
import sys
import time

host, port = sys.argv[1].rsplit(":", 1)
n, out = int(sys.argv[2]), sys.argv[3]


def frame(p):
    return ("$%s#%02x" % (p, sum(p.encode()) & 0xFF)).encode()


s = socket.create_connection((host, int(port)), timeout=30)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buf = b""


def packet():
    """The next packet's payload (acks dropped; O console packets skipped)."""
    global buf
    while True:
        i = buf.find(b"$")
        if i >= 0:
            j = buf.find(b"#", i)
            if j >= 0 and len(buf) >= j + 3:
                p, buf = buf[i + 1:j], buf[j + 3:]
                if p[:1] == b"O" and p != b"OK":
                    continue
                return p.decode(errors="replace")
        d = s.recv(65536)
        if not d:
            raise EOFError("the stub hung up")
        buf += d


def drain():
    """Whatever the stub sent already (the null stub's canned reply to `c`)."""
    global buf
    while select.select([s], [], [], 0)[0]:
        d = s.recv(65536)
        if not d:
            raise EOFError("the stub hung up")
        buf += d
    buf = b""


s.sendall(b"+" + frame("QStartNoAckMode"))
packet()
s.sendall(b"+")
s.sendall(frame("?"))
packet()
lat = []
for _ in range(n):
    s.sendall(frame("c"))
    time.sleep(0.002)  # the guest runs; the ^C below is what is timed
    drain()
    t = time.perf_counter()
    s.sendall(b"\x03")
    r = packet()
    lat.append((time.perf_counter() - t) * 1e6)
    if r[:1] not in ("T", "S"):
        raise RuntimeError("not a stop reply after ^C: %r" % r)
s.close()
lat.sort()
json.dump({"ctrlc_us": {"median": lat[len(lat) // 2], "p90": lat[int(len(lat) * 0.9)], "max": lat[-1], "n": n}},
          open(out, "w"))
