/// Monitor commands through `qRcmd,HEX`: help, break, watch, points, delete, caps, probe, stats, phys, translate (output as `O` packets, then `OK`; an error's text as `O` packets, then `E01`).
import KVMDebugCore

extension GDBEngine {
    /// Runs one `monitor` command; its output goes out as `O` packets, then `OK`. A failure's text
    /// goes out as `O` packets too, then `E01`, as gdbserver does: gdb decodes any other qRcmd reply
    /// as hex output (an `E.text` reply printed `Invalid hex digit 46`), and lldb prints `O` text as
    /// it is. The packet is `qRcmd`.
    func monitor(_ hexCommand: ArraySlice<UInt8>) {
        guard let raw = GDBHex.decode(hexCommand) else { sendErrno(1); return }
        let words = String(decoding: raw, as: UTF8.self).split(separator: " ").map { String($0) }
        var lines: [String] = []
        let result: MonitorResult
        switch words.first ?? "help" {
        case "help": lines = Self.helpLines; result = .ok
        case "break": result = monitorBreak(words, &lines)
        case "watch": result = monitorWatch(words, &lines)
        case "points": monitorPoints(&lines); result = .ok
        case "delete": result = monitorDelete(words, &lines)
        case "caps": monitorCaps(&lines); result = .ok
        case "probe": lines = options.probe?() ?? ["not probed (software breakpoints trap: \(options.softwareBreakpointsTrap ? "assumed yes" : "no"))"]; result = .ok
        case "stats": monitorStats(&lines); result = .ok
        case "phys": result = monitorPhys(words, &lines)
        case "translate": result = monitorTranslate(words, &lines)
        case "info": result = monitorInfo(words, &lines)
        case "gva2gpa": result = monitorGva2gpa(words, &lines)
        case "xp": result = monitorXp(words, &lines)
        case "guest-debug-regs": result = monitorGuestDebugRegs(words, &lines)
        case "break-mode": result = monitorBreakMode(words, &lines)
        case "why": result = monitorWhy(words, &lines)
        case "dump-guest-memory": result = monitorDumpGuestMemory(words, &lines)
        case "catch": result = monitorCatch(words, &lines)
        default: result = .error("unknown monitor command '\(words[0])'; try 'monitor help'")
        }
        if case .error(let m) = result { lines.append("kvmdbg: " + m) }
        for line in lines { sendConsole(line) }
        switch result {
        case .ok: sendOK()
        case .error: sendErrno(1)
        }
    }

    static var helpLines: [String] {
        [
            "kvmdbg monitor commands:",
            "  monitor help                              this list",
            "  monitor break ADDR vcpu N                 hardware breakpoint on vCPU N only",
            "  monitor watch ADDR LEN r|w|rw vcpu N      watchpoint on vCPU N only",
            "  monitor points                            every vCPU's points and hardware slots, with IDs",
            "  monitor break-mode [hardware|auto|hole]   what serves execute breakpoints beyond the slots",
            "  monitor delete ID                         remove the point with that ID",
            "  monitor caps                              what the backend supports",
            "  monitor probe                             which debug features really trap on this host",
            "  monitor stats                             KVM_SET_GUEST_DEBUG calls, stops, rounds, all-stop latency",
            "  monitor phys on|off                       memory addresses are guest-physical / virtual (default)",
            "  monitor translate VADDR [vcpu N]          the page walk of VADDR: each level's entry",
            "  monitor guest-debug-regs [vcpu N]         the guest's own debug registers (DR0-7 / DBGB*, DBGW*, MDSCR_EL1)",
            "  monitor why                               the exit behind the last stop, with every field KVM gave",
            "  monitor dump-guest-memory [-p] FILE       write an ELF core: registers of every vCPU, guest RAM (gdb -c FILE)",
            "  monitor catch exception VECTOR|all|off    stop at the guest's exception handlers (x86 IDT, arm64 VBAR_EL1)",
            "QEMU-compatible (for GEF, pwndbg and scripts written for QEMU's gdbstub):",
            "  monitor info mem                          mapped virtual ranges: START-END SIZE PERMS (u/-, r, w/-)",
            "  monitor info registers                    the vCPU's registers, laid out as QEMU's dump",
            "  monitor info tlb                          every mapped page: VIRTUAL: PHYSICAL FLAGS",
            "  monitor gva2gpa ADDR                      gpa: the guest-physical address of ADDR",
            "  monitor xp /Nfu ADDR                      examine guest-physical memory (f: x d u o c; u: b h w g)",
        ]
    }

    private func monitorBreak(_ w: [String], _ lines: inout [String]) -> MonitorResult {
        guard w.count == 4, w[2] == "vcpu", let a = parseAddress(w[1]), let v = Int(w[3]) else {
            return .error("usage: monitor break ADDR vcpu N")
        }
        return insertMonitorPoint(.hardware(address: a), vcpu: v, &lines)
    }

    private func monitorWatch(_ w: [String], _ lines: inout [String]) -> MonitorResult {
        guard w.count == 6, w[4] == "vcpu", let a = parseAddress(w[1]), let l = parseAddress(w[2]),
              let k = WatchKind(shortName: w[3]), let v = Int(w[5]) else {
            return .error("usage: monitor watch ADDR LEN r|w|rw vcpu N")
        }
        return insertMonitorPoint(.watch(address: a, length: l, kind: k), vcpu: v, &lines)
    }

    private func insertMonitorPoint(_ p: DebugPoint, vcpu: Int, _ lines: inout [String]) -> MonitorResult {
        guard vcpu >= 0 && vcpu < target.vcpuCount else {
            return .error(DebugError.noSuchVCPU(index: vcpu, count: target.vcpuCount).message)
        }
        do throws(DebugError) {
            try target.insert(p, on: .vcpu(vcpu))
        } catch {
            return .error(error.message)
        }
        points.append(PointRecord(id: nextPointID, point: p, target: .vcpu(vcpu), z: nil, count: 1))
        lines.append("point \(nextPointID): \(describe(p)) on vCPU \(vcpu)")
        nextPointID += 1
        return .ok
    }

    private func monitorDelete(_ w: [String], _ lines: inout [String]) -> MonitorResult {
        guard w.count == 2, let id = Int(w[1]) else { return .error("usage: monitor delete ID") }
        guard let i = points.firstIndex(where: { $0.id == id }) else {
            return .error("no point with ID \(id); 'monitor points' lists them")
        }
        do throws(DebugError) {
            try target.remove(points[i].point, from: points[i].target)
        } catch {
            return .error(error.message)
        }
        lines.append("deleted point \(id): \(describe(points[i].point)) on \(describe(points[i].target))")
        points.remove(at: i)
        return .ok
    }

    private func monitorPoints(_ lines: inout [String]) {
        let tables = target.tables
        let overwritten = target.overwrittenSoftwareBreakpoints
        if !options.softwareBreakpointsTrap {
            lines.append("software breakpoints do not trap on this host: GDB's breakpoints (Z0) use hardware slots")
        }
        for v in 0..<tables.vcpuCount {
            let here = tables.points(on: v)
            let cap = tables.capacity[v]
            let used = tables.encoded[v].slots
            let slotText = target.arch == .x86_64
                ? "\(used.count)/\(cap.breakpoints) debug registers in use"
                : "\(used.filter { $0.kind == .breakpoint }.count)/\(cap.breakpoints) breakpoint and \(used.filter { $0.kind == .watchpoint }.count)/\(cap.watchpoints) watchpoint slots in use"
            lines.append("vCPU \(v): \(here.count) point\(here.count == 1 ? "" : "s"), \(slotText)")
            for p in here {
                let global = tables.global.contains(p)
                let record = points.first { $0.point == p && $0.target == (global ? .all : .vcpu(v)) }
                var line = "  " + (record.map { "[\($0.id)] " } ?? "[-] ") + describe(p)
                line += global ? " (all vCPUs" : " (vCPU \(v) only"
                if let z = record?.z { line += ", gdb Z\(z.type)" + (z.type == 0 && p.usesHardwareSlot ? " served by a hardware slot" : "") }
                line += ")"
                let slots = used.filter { $0.point == p }.map { "\($0.slot)" }
                if !slots.isEmpty { line += " slot " + slots.joined(separator: ",") }
                if tables.mechanism(of: p) == .protection { line += " served by memory protection (no slot)" }
                if case .software(let a) = p, overwritten.contains(a) {
                    line += "; the guest stored over its breakpoint instruction: it will not trap until inserted again"
                }
                lines.append(line)
            }
        }
    }

    private func monitorCaps(_ lines: inout [String]) {
        let c = target.capabilities
        lines.append("backend: \(c.backend), arch \(c.arch.name), \(target.vcpuCount) vCPU\(target.vcpuCount == 1 ? "" : "s")")
        if !options.backendDescription.isEmpty { lines.append(options.backendDescription) }
        lines.append("KVM_CAP_SET_GUEST_DEBUG: \(c.setGuestDebug ? "yes" : "no")")
        if let m = c.supportedControl { lines.append("KVM_CAP_SET_GUEST_DEBUG2 mask: \(hex(UInt64(m.rawValue)))") }
        lines.append("hardware slots per vCPU: \(c.slots.breakpoints) breakpoints, \(c.slots.watchpoints) watchpoints" + (c.arch == .x86_64 ? " (shared DR0-DR3)" : ""))
        lines.append("max vCPUs: \(c.maxVCPUs)")
        lines.append("software breakpoints trap: \(options.softwareBreakpointsTrap ? "yes" : "no (Z0 served by hardware slots)")")
        for n in c.notes { lines.append("note: \(n)") }
    }

    private func monitorStats(_ lines: inout [String]) {
        let s = target.stats
        lines.append("KVM_SET_GUEST_DEBUG calls: \(s.setGuestDebugCalls)")
        lines.append("stops: \(s.stops)")
        lines.append("rounds: \(s.rounds)")
        lines.append("all-stop rounds: \(s.allStopRounds), mean \(s.allStopMeanNanoseconds / 1000) us, max \(s.allStopMaxNanoseconds / 1000) us")
    }

    private func monitorPhys(_ w: [String], _ lines: inout [String]) -> MonitorResult {
        if w.count == 1 {
            lines.append("physical mode is \(target.physicalMode ? "on" : "off")")
            return .ok
        }
        guard w.count == 2, w[1] == "on" || w[1] == "off" else { return .error("usage: monitor phys on|off") }
        target.physicalMode = w[1] == "on"
        lines.append(target.physicalMode
            ? "physical mode on: memory addresses are guest-physical"
            : "physical mode off: memory addresses are virtual, through the vCPU's page tables")
        return .ok
    }

    /// Prints the walk through the general thread's (or vCPU N's) page tables, always
    /// virtual (phys mode or not: translating is the point).
    private func monitorTranslate(_ w: [String], _ lines: inout [String]) -> MonitorResult {
        guard w.count == 2 || (w.count == 4 && w[2] == "vcpu"), let a = parseAddress(w[1]) else {
            return .error("usage: monitor translate VADDR [vcpu N]")
        }
        let v = w.count == 4 ? Int(w[3]) ?? -1 : generalThread
        let wasPhysical = target.physicalMode
        target.physicalMode = false
        defer { target.physicalMode = wasPhysical }
        do throws(DebugError) {
            let walk = try target.walk(a, vcpu: v)
            lines.append("vCPU \(v): " + walk.lines[0])
            lines += walk.lines.dropFirst()
        } catch {
            return .error(error.message)
        }
        return .ok
    }

    /// `0x...` hex or decimal, as the rest of kvmdbg takes addresses.
    func parseAddress(_ s: String) -> UInt64? {
        if s.hasPrefix("0x") || s.hasPrefix("0X") { return UInt64(s.dropFirst(2), radix: 16) }
        return UInt64(s)
    }
}

enum MonitorResult {
    case ok
    case error(String)
}
