/// Stop replies: `?`, `T05thread:N;hwbreak:;`/`swbreak:;`/`watch:`/`rwatch:`/`awatch:` + expedited registers, `T02`, `W00`.
import KVMDebugCore

extension GDBEngine {
    /// The reply for a finished round: the event GDB is told about (the stepped vCPU's, else the
    /// first debug stop, else the first exit); other vCPUs' debug stops wait in `pendingStops`.
    /// The packets are `T`, `W` replies.
    func stopReply(for round: StopRound) -> [UInt8] {
        let events = round.events.filter {
            if case .exit(.interrupted) = $0.event { return false }
            return true
        }
        func isStop(_ e: VCPUEvent) -> Bool { if case .stop = e.event { return true } else { return false } }
        let chosen = events.first(where: { $0.vcpu == steppedVCPU && isStop($0) })
            ?? events.first(where: isStop) ?? events.first
        steppedVCPU = nil
        guard let event = chosen else {
            // Interrupted (^C) before any event: SIGINT on the thread GDB had selected.
            let reply = Array("T02thread:\(threadID(generalThread));".utf8) + expedited(generalThread)
            lastStopReply = reply
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
        var s = "T05thread:\(threadID(e.vcpu));"
        switch e.event {
        case .stop(let stop):
            s += reason(stop.primary)
        case .exit(.shutdown), .exit(.systemEvent):
            // The guest is gone (triple fault, PSCI off): nothing left to inspect.
            let reply = Array("W00".utf8)
            lastStopReply = reply
            return reply
        case .exit:
            // hlt, I/O, MMIO, internal errors: the vCPU is still there, so report a stop
            // (not W) and let the user look at its registers and memory.
            break
        }
        let reply = Array(s.utf8) + expedited(e.vcpu)
        lastStopReply = reply
        return reply
    }

    /// `hwbreak:;`, `swbreak:;` or `watch:ADDR;` / `rwatch:ADDR;` / `awatch:ADDR;`; nothing for a step.
    private func reason(_ hit: StopHit) -> String {
        switch hit.reason {
        case .hardwareBreakpoint:
            // A Z0 served by a hardware slot is still a software breakpoint to GDB.
            if let p = hit.point, points.contains(where: { $0.point == p && $0.z?.type == 0 }) { return "swbreak:;" }
            return "hwbreak:;"
        case .softwareBreakpoint:
            return "swbreak:;"
        case .watchpoint:
            let kind: WatchKind
            if case .watch(_, _, let k)? = hit.point { kind = k } else { kind = .write }
            let address = hit.address ?? hit.point?.address ?? 0
            let name = kind == .write ? "watch" : kind == .read ? "rwatch" : "awatch"
            return "\(name):\(GDBHex.string(address));"
        case .singleStep, .unknown:
            return ""
        }
    }

    /// pc, sp, frame pointer and flags as `NN:value;` so GDB need not read them after a stop.
    private func expedited(_ vcpu: Int) -> [UInt8] {
        guard let file = try? target.registers(vcpu: vcpu) else { return [] }
        let table = RegisterLayout.table(for: target.arch)
        var out: [UInt8] = []
        for n in RegisterLayout.expedited(for: target.arch) {
            out += Array(GDBHex.string(UInt64(n)).utf8)
            out.append(UInt8(ascii: ":"))
            out += GDBHex.encode(RegisterLayout.encode(table[n], in: file))
            out.append(UInt8(ascii: ";"))
        }
        return out
    }
}
