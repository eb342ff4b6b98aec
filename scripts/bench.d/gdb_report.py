# scripts/bench's gdb (or lldb) table: ops/s per server (median [min-max] over the repetitions), the
# ratios, and packets per op from the marked kvmdbg packet log. Writes OUT/gdb.json.
import json
import statistics
import sys

out, reps, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = sys.argv[4] if len(sys.argv) > 4 else "gdb"
servers = ["kvmdbg", "qemu", "null"]
ops = ["stepi", "hbreak_continue", "read_1k", "info_registers", "attach_detach"]
data = {s: {o: [] for o in ops} for s in servers}
for s in servers:
    for r in range(1, reps + 1):
        try:
            res = json.load(open("%s/%s-%s-%d.json" % (out, client, s, r)))
        except (OSError, ValueError):
            continue
        for o in ops:
            if o in res:
                data[s][o].append(res[o])


def summary(v):
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "samples": v} if v else None


# Packets each op costs (requests gdb sent, counted between the phase marks of the logged run).
packets = {}
phase = None
with open(out + "/packets.log", errors="replace") as f:
    for line in f:
        if line.startswith("<- qkvmdbg.mark:"):
            phase = line.strip().split(":", 1)[1]
            packets[phase] = {}
        elif line.startswith("<- ") and phase:
            name = line[3:].strip()
            key = name.split(";")[0].split(":")[0].split(",")[0]
            if key[:1] in "mMgGpPZz" and len(key) > 1 and key[0] in "mMpPZz":
                key = key[0] + ("" if key[0] in "mM" else key[1])
            packets[phase][key] = packets[phase].get(key, 0) + 1
counts = {"attach_detach": 20}
result = {"n": n, "repetitions": reps, "servers": {}, "ratios": {}, "packetsPerOp": {}}
for s in servers:
    result["servers"][s] = {o: summary(data[s][o]) for o in ops}
print("\n%s round trips (ops/s" % client + ", median [min-max] of %d repetitions, %d ops each; attach_detach: 20)" % (reps, n))
print("%-16s %-26s %-26s %-26s %-10s %-10s" % ("op", "kvmdbg", "qemu+kvm", "null stub", "kvmdbg/qemu", "kvmdbg/null"))
for o in ops:
    cells = []
    for s in servers:
        v = data[s][o]
        cells.append("%8.0f [%.0f-%.0f]" % (statistics.median(v), min(v), max(v)) if v else "-")
    k, q, z = (statistics.median(data[s][o]) if data[s][o] else None for s in servers)
    if not (k or q or z):
        continue
    rq = k / q if k and q else None
    rn = k / z if k and z else None
    result["ratios"][o] = {"kvmdbgOverQemu": rq, "kvmdbgOverNull": rn}
    print("%-16s %-26s %-26s %-26s %-10s %-10s" % (o, cells[0], cells[1], cells[2],
          "%.2f" % rq if rq else "-", "%.2f" % rn if rn else "-"))
if client == "lldb":
    json.dump(result, open(out + "/lldb.json", "w"), indent=2)
    print("\nwrote %s/lldb.json" % out)
    sys.exit(0)
print("\npackets gdb sends per op (kvmdbg, from the marked --log-packets run):")
for o in ops:
    per = packets.get(o, {})
    total = sum(per.values())
    k = counts.get(o, n)
    result["packetsPerOp"][o] = {p: c / k for p, c in per.items()}
    print("  %-16s %5.1f   %s" % (o, total / k, ", ".join("%s %.1f" % (p, c / k) for p, c in sorted(per.items(), key=lambda x: -x[1]))))
json.dump(result, open(out + "/gdb.json", "w"), indent=2)
print("\nwrote %s/gdb.json" % out)
