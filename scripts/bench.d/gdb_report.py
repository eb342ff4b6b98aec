# scripts/bench's gdb (or lldb) table: ops/s per server (median [min-max] over the repetitions), the
# ratios, and packets per op from the marked kvmdbg packet log. Writes OUT/gdb-STATE.json (lldb: OUT/lldb.json); also Ctrl-C latency per server.
import json
import statistics
import sys

out, reps, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = sys.argv[4] if len(sys.argv) > 4 else "gdb"
state = sys.argv[5] if len(sys.argv) > 5 else "idle"
# kvmdbg-vcpu: kvmdbg as before issue 23's work, measured in the same run as its baseline: every
# continue on the vCPU threads (before lone continues ran on a reader), a stop's registers
# read with KVM_GET_REGS/KVM_GET_SREGS (before KVM_CAP_SYNC_REGS), no socket polling (--poll-us 0)
# and the debug state installed by each resume (KVMDBG_PREINSTALL_DEBUG_STATE=0).
servers = ["kvmdbg", "kvmdbg-vcpu", "qemu", "null"] if client == "gdb" else ["kvmdbg", "qemu"]
ops = ["stepi", "hbreak_continue", "read_1k", "info_registers", "attach_detach"]
data = {s: {o: [] for o in ops + ["ctrlc_us"]} for s in servers}
for s in servers:
    for r in range(1, reps + 1):
        try:
            res = json.load(open("%s/%s-%s-%s-%d.json" % (out, client, state, s, r)))
        except (OSError, ValueError):
            res = {}
        for o in ops:
            if o in res:
                data[s][o].append(res[o])
        try:
            data[s]["ctrlc_us"].append(json.load(open("%s/ctrlc-%s-%s-%d.json" % (out, state, s, r)))["ctrlc_us"]["median"])
        except (OSError, ValueError, KeyError):
            pass


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
result = {"n": n, "repetitions": reps, "state": state, "servers": {}, "ratios": {}, "packetsPerOp": {}}
for s in servers:
    result["servers"][s] = {o: summary(data[s][o]) for o in ops + ["ctrlc_us"]}
names = {"kvmdbg": "kvmdbg", "kvmdbg-vcpu": "kvmdbg (before)", "qemu": "qemu+kvm", "null": "null stub"}
print("\n%s round trips, host %s (ops/s" % (client, state) + ", median [min-max] of %d repetitions, %d ops each; attach_detach: 20;"
      " ctrlc_us: microseconds from ^C to the stop reply, lower is better)" % (reps, n))
print("%-16s " % "op" + " ".join("%-24s" % names[s] for s in servers) + " kvmdbg/qemu kvmdbg/null")
for o in ops + ["ctrlc_us"]:
    cells = []
    for s in servers:
        v = data[s][o]
        cells.append("%8.0f [%.0f-%.0f]" % (statistics.median(v), min(v), max(v)) if v else "-")
    med = {s: statistics.median(data[s][o]) if data[s][o] else None for s in servers}
    if not any(med.values()):
        continue
    k, q, z = med.get("kvmdbg"), med.get("qemu"), med.get("null")
    # Rates: kvmdbg over the other; a latency: the other over kvmdbg (above 1 = kvmdbg better).
    better = (lambda a, b: b / a) if o == "ctrlc_us" else (lambda a, b: a / b)
    rq = better(k, q) if k and q else None
    rn = better(k, z) if k and z else None
    result["ratios"][o] = {"kvmdbgOverQemu": rq, "kvmdbgOverNull": rn}
    print("%-16s " % o + " ".join("%-24s" % c for c in cells) + " %-11s %-10s" % (
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
json.dump(result, open("%s/gdb-%s.json" % (out, state), "w"), indent=2)
print("\nwrote %s/gdb-%s.json" % (out, state))
