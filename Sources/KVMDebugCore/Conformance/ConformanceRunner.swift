/// Runs conformance scenarios on any backend through `Debugger`, one vCPU at a time
/// (no threads, so the order of stops is deterministic on every backend), and renders
/// every stop as one canonical line:
///
///     vcpu=<n> reason=<name> pc=0x.. addr=0x..|- ec=0x..
///
/// (`addr` is the watchpoint data address (FAR) and `-` for other stops; `ec` is the
/// ESR exception class on arm64, the exception vector on x86), then one result line
/// per scenario: `end=<reason> stops=<n>` plus any registers the scenario reports, or
/// `error=<message>`. `runAll` prefixes each line with `@<scenario name> `, between
/// `@@begin <count>` and `@@end <count>`; the arm64 lane diffs those lines from real
/// KVM against the fake backend's.
public enum ConformanceRunner {
    /// The canonical line of one stop (`Stop.canonicalLine`).
    public static func line(_ s: Stop) -> String { s.canonicalLine() }

    /// The capability line: what KVM_CHECK_EXTENSION reported.
    public static func line(_ c: Capabilities) -> String {
        var debug2 = "-"
        if let m = c.supportedControl { debug2 = hex(UInt64(m.rawValue)) }
        return "caps set-guest-debug=\(c.setGuestDebug ? 1 : 0) hw-bps=\(c.reportedHardwareBreakpoints) hw-wps=\(c.reportedHardwareWatchpoints) debug2=\(debug2)"
    }

    /// Runs every scenario on a fresh backend from `make(guest, vcpus)`; emits prefixed
    /// lines as it goes. Returns how many scenarios ended in an error.
    @discardableResult
    public static func runAll<B: DebugBackend>(_ scenarios: [ConformanceScenario], emit: (String) -> Void,
                                               make: (Guest, Int) throws(DebugError) -> B) -> Int {
        emit("@@begin \(scenarios.count)")
        var errors = 0
        for s in scenarios {
            let ok = run(s, emit: { emit("@\(s.name) " + $0) }, make: make)
            if !ok { errors += 1 }
        }
        emit("@@end \(scenarios.count)")
        return errors
    }

    /// Runs one scenario; emits its stop lines and its result line. False on an error.
    @discardableResult
    public static func run<B: DebugBackend>(_ s: ConformanceScenario, emit: (String) -> Void,
                                            make: (Guest, Int) throws(DebugError) -> B) -> Bool {
        do throws(DebugError) {
            let backend = try make(s.guest, s.vcpus)
            switch s.kind {
            case .capabilities:
                emit(line(backend.capabilities))
            case .run:
                try runStops(s, backend: backend, emit: emit)
            }
            return true
        } catch {
            emit("error=\(error.message)")
            return false
        }
    }

    static func runStops<B: DebugBackend>(_ s: ConformanceScenario, backend: B, emit: (String) -> Void) throws(DebugError) {
        let d = Debugger(backend: backend)
        d.foreignBreakpointPolicy = s.foreignBreakpoints
        try fill(s, d)
        for (p, t) in s.points { try d.insert(p, on: t) }
        var order: [Int] = []
        if let o = s.order { order = o } else {
            var v = s.vcpus - 1
            while v >= 0 {
                order.append(v)
                v -= 1
            }
        }
        var stops = 0
        var stepVCPU: Int? = nil
        if s.steps > 0 && s.points.isEmpty { stepVCPU = 0 }
        var stepsDone = 0
        var end = ""
        rounds: while true {
            if stops >= s.maxStops {
                end = "max-stops"
                break
            }
            if stepVCPU != nil && stepsDone >= s.steps {
                end = "steps-done"
                break
            }
            var round = order
            if let v = stepVCPU { round = [v] }
            for v in round {
                if stops >= s.maxStops { continue rounds }
                let stepping = stepVCPU == v
                switch try d.resume(vcpu: v, mode: stepping ? .step : .continue) {
                case .stop(let st):
                    stops += 1
                    emit(line(st))
                    if stepping {
                        stepsDone += 1
                    } else if s.steps > 0 {
                        stepVCPU = v
                        continue rounds
                    }
                case .exit(let e):
                    end = e.name
                    break rounds
                }
            }
        }
        var result = "end=\(end) stops=\(stops)"
        if !s.report.isEmpty {
            let file = try backend.arm64Registers(vcpu: 0)
            for r in s.report { result += " \(r.name)=\(hex(file[r]))" }
        }
        emit(result)
    }

    /// Filler points so the scenario's own points land in the highest slots.
    static func fill<B: DebugBackend>(_ s: ConformanceScenario, _ d: Debugger<B>) throws(DebugError) {
        let caps = d.backend.capabilities.slots
        if s.fillBreakpointSlots {
            let n = caps.breakpoints - maxPerVCPU(s) { p in
                if case .hardware = p { return 1 }
                return 0
            }
            var i = 0
            while i < n {
                try d.insert(.hardware(address: ConformanceGuests.unusedCode + UInt64(i) * 4), on: .all)
                i += 1
            }
        }
        if s.fillWatchpointSlots {
            let n = caps.watchpoints - maxPerVCPU(s) { p in
                guard p.isWatch, let pieces = try? Arm64DebugEncoding.pieces(of: p) else { return 0 }
                return pieces.count
            }
            var i = 0
            while i < n {
                try d.insert(.watch(address: ConformanceGuests.unusedData + UInt64(i) * 8, length: 8, kind: .write), on: .all)
                i += 1
            }
        }
    }

    /// The most slots `slots(point)` the scenario's points need on any one vCPU.
    static func maxPerVCPU(_ s: ConformanceScenario, _ slots: (DebugPoint) -> Int) -> Int {
        var best = 0
        for v in 0..<s.vcpus {
            var n = 0
            for (p, t) in s.points {
                switch t {
                case .all: n += slots(p)
                case .vcpu(let i): if i == v { n += slots(p) }
                }
            }
            best = max(best, n)
        }
        return best
    }
}
