import KVMDebugCore

/// Turns stops and run ends into JSON lines and human text, with symbol names.
public struct StopFormatter: Sendable {
    public var symbols: [GuestSymbol]
    public var backend: String

    public init(symbols: [GuestSymbol], backend: String) {
        self.symbols = symbols
        self.backend = backend
    }

    /// `loop`, `store+2`, or nil when no code symbol is near.
    public func symbolize(_ a: UInt64) -> String? {
        var best: GuestSymbol? = nil
        for s in symbols where s.address <= a {
            let within = s.size == 0 ? a == s.address : a < s.address &+ s.size
            if within, best == nil || s.address > best!.address { best = s }
        }
        guard let b = best else { return nil }
        return a == b.address ? b.name : "\(b.name)+\(a - b.address)"
    }

    /// The JSON stop event: `event`, `vcpu`, `reason`, `pc`, `address` (watchpoints), `slot`,
    /// then the raw arch fields and every hit when the exit carried several.
    public func json(_ s: Stop) -> JSONObject {
        var o = JSONObject()
        o["event"] = .string("stop")
        o["vcpu"] = .int(s.vcpu)
        o["reason"] = .string(s.reason.name)
        o["pc"] = .hex(s.pc)
        if let sym = symbolize(s.pc) { o["symbol"] = .string(sym) }
        let h = s.primary
        if let a = h.address { o["address"] = .hex(a) }
        if let slot = h.slot { o["slot"] = .int(slot) }
        if let p = h.point { o["point"] = .string(pointName(p)) }
        if let w = s.accessWasWrite { o["access"] = .string(w ? "write" : "read") }
        switch s.trap {
        case .x86(let exception, let dr6, let dr7):
            o["exception"] = .int(Int(exception))
            o["dr6"] = .hex(dr6)
            o["dr7"] = .hex(dr7)
        case .arm64(let esr, let ec, let far):
            o["esr"] = .hex(esr)
            o["ec"] = .hex(UInt64(ec))
            // KVM writes `debug.arch.far` only for watchpoint exits; on any other stop it is the
            // last watchpoint's address, so it is left out rather than shown stale.
            if ec == Arm64DebugEncoding.ecWatchpointLowerEL || ec == Arm64DebugEncoding.ecWatchpointCurrentEL {
                o["far"] = .hex(far)
            }
        case .protection(let a, _, let l):
            o["mechanism"] = .string(WatchMechanism.protection.name)
            o["physical"] = .hex(a)
            o["length"] = .int(l)
        }
        if let old = h.oldValue { o["old"] = .hex(littleEndianValue(old)) }
        if let new = h.newValue { o["new"] = .hex(littleEndianValue(new)) }
        if s.hits.count > 1 {
            o["hits"] = .array(s.hits.map { hit in
                var x = JSONObject()
                x["reason"] = .string(hit.reason.name)
                if let slot = hit.slot { x["slot"] = .int(slot) }
                if let a = hit.address { x["address"] = .hex(a) }
                if let p = hit.point { x["point"] = .string(pointName(p)) }
                return .object(x)
            })
        }
        return o
    }

    /// The JSON stop event of an all-stop round: the stop plus `stopped` (every vCPU held)
    /// and `allStopUs` (first exit to all stopped) when there are several vCPUs.
    public func json(_ r: ReportedStop) -> JSONObject {
        var o = json(r.stop)
        if r.stopped.count > 1 {
            o["stopped"] = .array(r.stopped.map { .int($0) })
            if let us = r.allStopMicroseconds { o["allStopUs"] = .int(Int(us.rounded())) }
        }
        if let c = r.caught {
            o["caught"] = .object(Self.object(c.fields))
        }
        return o
    }

    /// The JSON end event.
    public func json(_ e: RunEnd) -> JSONObject {
        var o = JSONObject()
        o["event"] = .string("end")
        o["stops"] = .int(e.stops)
        o["reason"] = .string(e.reason)
        o["backend"] = .string(backend)
        o["setGuestDebugCalls"] = .int(e.setGuestDebugCalls)
        if let d = e.detail { o["detail"] = .string(d) }
        let l = e.allStopLatenciesMicroseconds
        if !l.isEmpty {
            var x = JSONObject()
            x["rounds"] = .int(l.count)
            x["meanUs"] = .int(Int((l.reduce(0, +) / Double(l.count)).rounded()))
            x["maxUs"] = .int(Int((l.max() ?? 0).rounded()))
            o["allStopLatency"] = .object(x)
        }
        if let r = e.exit {
            // The ending exit with every field KVM gave (`VCPUExit.fields`), as `monitor why` prints it.
            o["vcpu"] = .int(r.vcpu)
            var x = JSONObject()
            x["kvmExit"] = .string(r.exit.kvmName)
            x["meaning"] = .string(r.exit.meaning)
            if let s = r.exit.signal, r.exit.isFatalStop { x["signal"] = .string(s.name) }
            if let pc = r.pc {
                x["registersPC"] = .hex(pc)
                if let sym = symbolize(pc) { x["symbol"] = .string(sym) }
            }
            let members = Self.object(r.exit.fields)
            for k in members.keys { x[k] = members[k] }
            o["exit"] = .object(x)
        }
        return o
    }

    /// One human line per stop.
    public func text(_ s: Stop) -> String {
        var line = "vCPU \(s.vcpu) \(s.reason.name) at \(hex(s.pc))"
        if let sym = symbolize(s.pc) { line += " <\(sym)>" }
        if let a = s.dataAddress {
            line += ": data \(hex(a))"
            if let sym = symbolize(a) { line += " <\(sym)>" }
            if let w = s.accessWasWrite { line += " (\(w ? "write" : "read"))" }
        }
        if let slot = s.primary.slot { line += " slot \(slot)" }
        if s.hits.count > 1 { line += " [also: " + s.hits.dropFirst().map(\.reason.name).joined(separator: ", ") + "]" }
        switch s.trap {
        case .x86(let exc, let dr6, let dr7):
            line += exc == 3 ? "  (#BP)" : "  (#DB dr6=\(hex(dr6)) dr7=\(hex(dr7)))"
        case .arm64(let esr, _, let far):
            line += "  (esr=\(hex(esr)) far=\(hex(far)))"
        case .protection(let a, let w, let l):
            line += "  (protection: \(w ? "store" : "load") of " + (l == 0 ? "unknown size (no valid syndrome: ldp/stp, writeback, SIMD)" : "\(l) bytes") + " at physical \(hex(a))"
            if let old = s.primary.oldValue, let new = s.primary.newValue {
                line += w ? ", old \(hex(littleEndianValue(old))) new \(hex(littleEndianValue(new)))" : ", value \(hex(littleEndianValue(new)))"
            } else if let old = s.primary.oldValue {
                line += ", old \(hex(littleEndianValue(old))), new not known before the store"
            }
            line += ")"
        }
        return line
    }

    public func text(_ r: ReportedStop) -> String {
        var line = text(r.stop)
        if r.stopped.count > 1, let us = r.allStopMicroseconds {
            line += "  [all \(r.stopped.count) vCPUs stopped in \(Int(us.rounded())) us]"
        }
        if let c = r.caught { line += "\n  " + c.line }
        return line
    }

    /// The end line, then for an exit `monitor why`'s lines (its fields, the pc) under it.
    public func text(_ e: RunEnd) -> String {
        let line = "end: \(e.reason) after \(e.stops) stop\(e.stops == 1 ? "" : "s") on \(backend) backend, \(e.setGuestDebugCalls) KVM_SET_GUEST_DEBUG call\(e.setGuestDebugCalls == 1 ? "" : "s")" + (e.detail.map { " (\($0))" } ?? "")
        guard let r = e.exit, r.exit.isFatalStop else { return line }
        return ([line] + r.lines).joined(separator: "\n")
    }

    /// Exit or exception fields as JSON members, in order.
    static func object(_ fields: [ExitField]) -> JSONObject {
        var x = JSONObject()
        for f in fields {
            switch f.value {
            case .int(let v): x[f.name] = .int(v)
            case .hex(let v): x[f.name] = .hex(v)
            case .text(let t): x[f.name] = .string(t)
            case .hexList(let l): x[f.name] = .array(l.map { .hex($0) })
            }
        }
        return x
    }

    public func pointName(_ p: DebugPoint) -> String {
        func at(_ a: UInt64) -> String { symbolize(a).map { "\(hex(a)) <\($0)>" } ?? hex(a) }
        switch p {
        case .hardware(let a): return "break \(at(a))"
        case .software(let a): return "sw-break \(at(a))"
        case .watch(let a, let l, let k): return "watch \(at(a)):\(l):\(k.shortName)"
        }
    }
}
