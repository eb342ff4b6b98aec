/// Resume packets: `c`, `C`, `s`, `S` (signals ignored), `vCont?`, `vCont;ACTION[:TID]...`; also routes `vKill`.
import KVMDebugCore

extension GDBEngine {
    /// Continues every vCPU or steps the selected one. The packets are `c`, `C`, `s`, `S`.
    func handleResume(_ p: ArraySlice<UInt8>) {
        let letter = p.first!
        var body = p.dropFirst()
        // C sig[;addr] / S sig[;addr]: the signal means nothing to a guest; the address does.
        if letter == UInt8(ascii: "C") || letter == UInt8(ascii: "S") {
            if let (_, rest) = splitOnce(body, UInt8(ascii: ";")) { body = rest } else { body = [] }
        }
        let stepping = letter == UInt8(ascii: "s") || letter == UInt8(ascii: "S")
        let vcpu = continueThread ?? generalThread
        if !body.isEmpty {
            guard let address = GDBHex.number(body) else { sendErrno(1); return }
            do throws(DebugError) {
                var file = try target.registers(vcpu: vcpu)
                file.pc = address
                try target.setRegisters(file, vcpu: vcpu)
            } catch {
                sendError(error)
                return
            }
        }
        var actions = [ResumeMode?](repeating: nil, count: target.vcpuCount)
        if stepping {
            // All-stop `s`: only that vCPU steps, the others stay held (as QEMU's stub does).
            actions[vcpu] = .step
        } else {
            for i in actions.indices { actions[i] = .continue }
        }
        resume(actions)
    }

    /// `vCont?`, `vCont;...`, `vKill`, and the `v` packets we do not know (empty reply).
    func handleVPacket(_ p: ArraySlice<UInt8>) {
        if p.elementsEqual(Array("vCont?".utf8)) {
            send("vCont;c;C;s;S")
        } else if hasPrefix(p, "vCont;") {
            guard let actions = parseVCont(p.dropFirst(6)) else { sendError("bad vCont packet"); return }
            if actions.allSatisfy({ $0 == nil }) { sendError("vCont resumes no vCPU"); return }
            resume(actions)
        } else if hasPrefix(p, "vKill") {
            kill()
        } else {
            sendEmpty()
        }
    }

    /// Per-vCPU actions from `ACTION[:TID];ACTION[:TID]...`: each vCPU takes the leftmost action
    /// whose thread matches it (no thread = all), as GDB defines; `t` and unmatched vCPUs stay stopped.
    func parseVCont(_ s: ArraySlice<UInt8>) -> [ResumeMode?]? {
        var actions = [ResumeMode?](repeating: nil, count: target.vcpuCount)
        var decided = [Bool](repeating: false, count: target.vcpuCount)
        for item in s.split(separator: UInt8(ascii: ";")) {
            var action = item
            var thread = ThreadSelector.all
            if let (a, t) = splitOnce(item, UInt8(ascii: ":")) {
                guard let sel = parseThread(t) else { return nil }
                action = a
                thread = sel
            }
            let mode: ResumeMode?
            switch action.first {
            case UInt8(ascii: "c"), UInt8(ascii: "C"): mode = .continue
            case UInt8(ascii: "s"), UInt8(ascii: "S"): mode = .step
            case UInt8(ascii: "t"): mode = nil
            default: return nil
            }
            if action.first == UInt8(ascii: "c") || action.first == UInt8(ascii: "s") || action.first == UInt8(ascii: "t") {
                guard action.count == 1 else { return nil }
            }
            for v in 0..<target.vcpuCount where !decided[v] && thread.matches(v) {
                actions[v] = mode
                decided[v] = true
            }
        }
        return actions
    }

    /// Starts a round, or reports at once a stop an earlier round left pending on a vCPU now continued.
    func resume(_ actions: [ResumeMode?]) {
        for line in takeNotices() { sendConsole(line) }
        let pending = pendingStops
        pendingStops = []
        for s in pending where actions[s.vcpu] == .continue && stillArmed(s) {
            // Any other pending stops stay for the next continue.
            pendingStops = pending.filter { $0 != s && actions[$0.vcpu] == .continue && stillArmed($0) }
            sendPacket(stopReply(for: VCPUEvent(vcpu: s.vcpu, event: .stop(s))))
            return
        }
        steppedVCPU = actions.firstIndex(where: { $0 == .step })
        running = true
        out.append(.resume(actions))
    }

    /// What the client should hear before this resume: queued notices, and once per client on a
    /// host where int3 does not trap, that gdb's breakpoints share the hardware slots (with four
    /// in use, gdb cannot insert the temporary breakpoint of `next` and steps into the call).
    /// Only for gdb and lldb (`readsConsoleAtResume`); the E reply and `monitor points` say it to all.
    private func takeNotices() -> [String] {
        var lines = notices
        notices = []
        guard readsConsoleAtResume else { return [] }
        if !slotHintGiven && !options.softwareBreakpointsTrap {
            slotHintGiven = true
            let c = target.capabilities.slots
            let inUse = target.tables.encoded[generalThread].slots  // x86's DR0-DR3 serve both kinds
            let used = target.arch == .x86_64 ? inUse.count : inUse.filter { $0.kind == .breakpoint }.count
            let slots = target.arch == .x86_64 ? "\(c.breakpoints) debug registers" : "\(c.breakpoints) breakpoint slots"
            lines.insert("kvmdbg: int3/brk does not trap on this host, so each gdb breakpoint (break, and the temporary "
                + "ones of next, finish and until) takes one of the \(slots) per vCPU; \(used) in use now. Keep one free, "
                + "or next over a call becomes a step. 'monitor points' lists them.", at: 0)
        }
        return lines
    }

    /// A pending stop is only worth reporting while the point it hit is still inserted.
    private func stillArmed(_ s: Stop) -> Bool {
        guard let p = s.primary.point else { return false }
        return target.tables.isArmed(p, on: s.vcpu)
    }
}
