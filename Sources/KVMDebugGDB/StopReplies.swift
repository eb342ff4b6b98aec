/// Stop replies: `?`, `T05thread:N;hwbreak:;`/`swbreak:;`/`watch:`/`rwatch:`/`awatch:` + expedited registers (+ LLDB's `threads:`), `T02`, `T0b`/`T06`/`T03` for fatal exits.
import KVMDebugCore

extension GDBEngine {
    /// The reply for a finished round: the event GDB is told about (the stepped vCPU's, else the
    /// first debug stop, else the first exit); other vCPUs' debug stops wait in `pendingStops`.
    /// The packets are `T`, `W` replies.
    func stopReply(for round: StopRound) -> [UInt8] {
        let events = round.events
        func isStop(_ e: VCPUEvent) -> Bool { if case .stop = e.event { return true } else { return false } }
        // A fatal exit first: the round's other stops can wait, it must not be lost.
        let chosen = events.first(where: isFatal) ?? events.first(where: { $0.vcpu == steppedVCPU && isStop($0) })
            ?? events.first(where: isStop) ?? events.first
        steppedVCPU = nil
        guard let event = chosen else {
            lastEvent = nil
            // Interrupted (^C) before any event: SIGINT on the thread GDB had selected.
            let reply = Array("T02thread:\(threadID(generalThread));reason:signal;".utf8) + expedited(generalThread) + threadList()
            lastStopReply = reply
            lastStopVCPU = generalThread
            return reply
        }
        pendingStops = []
        for e in events where e.vcpu != event.vcpu {
            if case .stop(let s) = e.event, s.reason != .singleStep { pendingStops.append(s) }
        }
        return stopReply(for: event)
    }

    /// The `T05thread:N;REASON;EXPEDITED` reply for one vCPU's event; the vCPU becomes current.
    func stopReply(for e: VCPUEvent) -> [UInt8] {
        generalThread = e.vcpu
        lastEvent = e
        var s = "T05thread:\(threadID(e.vcpu));"
        switch e.event {
        case .stop(let stop):
            s += reason(stop.primary)
        case .exit(let x):
            // A fatal exit (triple fault, internal error, failed entry, system event, an access
            // nothing handles) is a stop with a signal (`GuestSignal`: SIGSEGV, SIGABRT, SIGQUIT),
            // never W: the vCPU's registers and memory stay there to inspect; resuming is refused
            // (`resume`) and `monitor why` gives KVM's fields. hlt stays a plain T05.
            if x.isFatalStop, let sig = x.signal {
                s = "T" + String(decoding: GDBHex.encode([sig.rawValue]), as: UTF8.self) + "thread:\(threadID(e.vcpu));"
            }
            s += "reason:signal;"
        case .kicked:
            s += "reason:signal;"  // never in a round (`StopRound.events`)
        }
        let reply = Array(s.utf8) + expedited(e.vcpu) + threadList()
        lastStopReply = reply
        lastStopVCPU = e.vcpu
        return reply
    }

    /// GDB's key (`hwbreak:;`, `swbreak:;`, `watch:ADDR;` / `rwatch:ADDR;` / `awatch:ADDR;`, nothing
    /// for a step), then lldb-server's `reason:` (`trace`, `breakpoint`, `watchpoint` with its
    /// `description`, `signal`). gdb skips keys it does not know. lldb takes the last of `watch:`
    /// and `reason:`; without `reason:trace` it called a step that landed on a breakpoint's
    /// address a hit of that breakpoint.
    private func reason(_ hit: StopHit) -> String {
        switch hit.reason {
        case .hardwareBreakpoint:
            // A Z0 served by a hardware slot is still a software breakpoint to GDB.
            if let p = hit.point, points.contains(where: { $0.point == p && $0.z?.type == 0 }) { return "swbreak:;reason:breakpoint;" }
            // A `monitor break` point is not GDB's: with hwbreak GDB takes the stop for a stale hit
            // of a breakpoint it removed and silently resumes; a plain T05 is reported as SIGTRAP.
            if let p = hit.point, !points.contains(where: { $0.point == p && $0.z != nil }) { return "reason:signal;" }
            return "hwbreak:;reason:breakpoint;"
        case .softwareBreakpoint:
            // The guest's own int3/brk (no point of ours) is a SIGTRAP to lldb, not a breakpoint.
            return "swbreak:;" + (hit.point == nil ? "reason:signal;" : "reason:breakpoint;")
        case .watchpoint:
            let kind: WatchKind
            if case .watch(_, _, let k)? = hit.point { kind = k } else { kind = .write }
            let address = hit.address ?? hit.point?.address ?? 0
            let name = kind == .write ? "watch" : kind == .read ? "rwatch" : "awatch"
            // lldb's description: the watched address it asked for (it finds its watchpoint by
            // it), decimal, then no index (UINT32_MAX), then the address the access hit.
            let asked = hit.point?.address ?? address
            let description = "\(asked) \(UInt32.max) \(address)"
            return "\(name):\(GDBHex.string(address));reason:watchpoint;description:"
                + String(decoding: GDBHex.encode(Array(description.utf8)), as: UTF8.self) + ";"
        case .singleStep:
            return "reason:trace;"
        case .unknown:
            return "reason:signal;"
        }
    }

    /// pc, sp, frame pointer and flags as `NN:value;` so GDB need not read them after a stop.
    func expedited(_ vcpu: Int) -> [UInt8] {
        guard let file = try? target.registers(vcpu: vcpu) else { return [] }
        let table = RegisterLayout.table(for: target.arch)
        var out: [UInt8] = []
        out.reserveCapacity(96)
        for n in RegisterLayout.expedited(for: target.arch) {
            GDBHex.appendNumber(UInt64(n), to: &out)
            out.append(UInt8(ascii: ":"))
            RegisterLayout.appendHex(table[n], in: file, to: &out)
            out.append(UInt8(ascii: ";"))
        }
        return out
    }
}
