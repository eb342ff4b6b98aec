import KVMDebugCore

/// What a scenario run through `GuestRunner` produced.
public struct ScenarioResult: Sendable, Hashable {
    public var stops: [StopSignature]
    /// The distinct `stopped` lists the stops were reported with (all-stop rounds).
    public var stoppedSets: [[Int]]
    public var end: String
    public var setGuestDebugCalls: Int
    /// `name=0x..` for each register the scenario reports, read on vCPU 0 after the run.
    public var registers: [String] = []
    /// A `.capabilities` scenario: what KVM_CHECK_EXTENSION reported (`set-guest-debug=1 hw-bps=6 ...`).
    public var capabilities: String? = nil
    /// A `.survive` scenario: how it came out (its line adds `result=`, `probe=`, `differs=`).
    public var survival: SurvivalReport? = nil
}

/// How one scenario of a list came out: its line's three forms.
public enum ScenarioOutcome: Sendable {
    case ran(ScenarioResult)
    /// A feature the scenario needs is broken on this backend (the reason names it).
    case skipped(String)
    case failed(DebugError)
}

/// How many scenarios of a list ran, were skipped and ended in an error.
public struct ScenarioTally: Sendable, Hashable {
    public var ran = 0
    public var skipped = 0
    public var errors = 0

    /// `scenarios-done ran=N skipped=N errors=N`: the last line of a list's output.
    public var line: String { "scenarios-done ran=\(ran) skipped=\(skipped) errors=\(errors)" }
}

extension PointSpec {
    /// The scenario point resolved in `g`, with the text the command line would take
    /// for it (`loop`, `counter+2:2:w`, `store@1`).
    public init(_ p: ScenarioPoint, in g: Guest) throws(DebugError) {
        var text = p.symbol + (p.offset == 0 ? "" : "+\(p.offset)")
        if case .watch(let length, let kind) = p.kind { text += ":\(length):\(kind.shortName)" }
        if case .vcpu(let v) = p.target { text += "@\(v)" }
        self.init(point: try p.resolved(in: g), target: p.target, text: text)
    }
}

/// A scenario run by `GuestRunner` (through `DebugSession`) on any backend, and the one
/// line format every lane compares:
///
///     scenario NAME end=REASON stops=(vcpu, reason, pc[, address]);...[ stopped=0,1][ x0=0x3 ...]
///     scenario NAME caps set-guest-debug=1 hw-bps=6 hw-wps=4 debug2=0x30003
///     scenario NAME skip=REASON
///     scenario NAME error=MESSAGE_WITH_UNDERSCORES
///
/// The fake backend's lines are the prediction real KVM is compared against (scripts/lane-compare).
extension DebugScenario {
    /// The run plan for `g` (the scenario's guest) on a backend with `capabilities`:
    /// filler points first when the scenario fills slots, then its own points.
    public func plan(for g: Guest, capabilities: Capabilities) throws(DebugError) -> RunPlan {
        var p = RunPlan()
        p.points = try fillers(capabilities.slots, in: g)
        for point in points { p.points.append(try PointSpec(point, in: g)) }
        p.steps = steps
        p.maxStops = maxStops
        p.timeout = timeout
        p.vcpuOrder = order
        return p
    }

    /// Runs the scenario on `backend` (built for `g` with `vcpus` vCPUs); watchpoints served
    /// as `watches` says, else as the scenario says (`.protection`: memory protection alone).
    public func record<B: DebugBackend>(on backend: B, guest g: Guest,
                                        watches: WatchMechanismChoice? = nil) throws(DebugError) -> ScenarioResult {
        if kind == .capabilities {
            return ScenarioResult(stops: [], stoppedSets: [], end: "capabilities", setGuestDebugCalls: 0,
                                  capabilities: Self.capabilityWords(backend.capabilities))
        }
        let d = Debugger(backend: backend)
        d.foreignBreakpointPolicy = foreignBreakpoints
        d.watchMechanism = watches ?? self.watches
        let runner = GuestRunner(debugger: d)
        defer { runner.session.close() }
        if kind == .survive { return try recordSurvival(runner, guest: g) }
        var stops: [StopSignature] = []
        var stopped: Set<[Int]> = []
        let end = try runner.run(plan(for: g, capabilities: backend.capabilities)) { rec in
            if case .stop(let s) = rec {
                stops.append(StopSignature(s.stop))
                stopped.insert(s.stopped)
            }
        }
        var r = ScenarioResult(stops: stops, stoppedSets: stopped.sorted { $0.lexicographicallyPrecedes($1) },
                               end: end.reason, setGuestDebugCalls: end.setGuestDebugCalls)
        if !report.isEmpty {
            let file = try backend.arm64Registers(vcpu: 0)
            r.registers = report.map { "\($0.name)=\(hex(file[$0]))" }
        }
        return r
    }

    /// Runs it on a fresh backend from `make(guest, vcpus)`.
    public func record<B: DebugBackend>(make: (Guest, Int) throws(DebugError) -> B,
                                        watches: WatchMechanismChoice? = nil) throws(DebugError) -> ScenarioResult {
        let g = try makeGuest()
        return try record(on: make(g, vcpus), guest: g, watches: watches)
    }

    /// The scenario's line for `r` (see the format above).
    public func canonicalLine(_ r: ScenarioResult) -> String {
        if let c = r.capabilities { return "scenario \(name) caps \(c)" }
        let sigs = r.stops.map { s -> String in
            guard comparison == .anyVCPU else { return s.description }
            let d = s.description
            return "(*" + d.drop { $0 != "," }
        }
        var line = "scenario \(name) end=\(r.end) stops=\(sigs.joined(separator: ";"))"
        if vcpus > 1 {
            line += " stopped=" + r.stoppedSets.map { $0.map(String.init).joined(separator: ",") }.joined(separator: "|")
        }
        for reg in r.registers { line += " " + reg }
        if let s = r.survival { line += " " + survivalWords(s) }
        return line
    }

    /// The scenario's line for any outcome.
    public func line(_ o: ScenarioOutcome) -> String {
        switch o {
        case .ran(let r): return canonicalLine(r)
        case .skipped(let reason): return skipLine(reason)
        case .failed(let e): return "scenario \(name) error=" + String(e.message.map { $0 == " " ? "_" : $0 })
        }
    }

    /// `scenario NAME skip=REASON`: a needed feature the backend's probe found broken.
    public func skipLine(_ reason: String) -> String { "scenario \(name) skip=\(reason)" }

    /// `set-guest-debug=1 hw-bps=6 hw-wps=4 debug2=0x30003`: what KVM_CHECK_EXTENSION reported.
    static func capabilityWords(_ c: Capabilities) -> String {
        var debug2 = "-"
        if let m = c.supportedControl { debug2 = hex(UInt64(m.rawValue)) }
        return "set-guest-debug=\(c.setGuestDebug ? 1 : 0) hw-bps=\(c.reportedHardwareBreakpoints) hw-wps=\(c.reportedHardwareWatchpoints) debug2=\(debug2)"
    }

    /// Filler points so the scenario's own points land in the highest slots.
    func fillers(_ slots: SlotCapacity, in g: Guest) throws(DebugError) -> [PointSpec] {
        var out: [PointSpec] = []
        let resolved = try resolvedPoints(in: g)
        if fillBreakpointSlots {
            let n = slots.breakpoints - maxPerVCPU(resolved) { p in
                if case .hardware = p { return 1 }
                return 0
            }
            var i = 0
            while i < n {
                out.append(PointSpec(point: .hardware(address: ConformanceGuests.unusedCode + UInt64(i) * 4), target: .all, text: "filler"))
                i += 1
            }
        }
        if fillWatchpointSlots {
            let n = slots.watchpoints - maxPerVCPU(resolved) { p in
                guard p.isWatch, let pieces = try? Arm64DebugEncoding.pieces(of: p) else { return 0 }
                return pieces.count
            }
            var i = 0
            while i < n {
                let w = DebugPoint.watch(address: ConformanceGuests.unusedData + UInt64(i) * 8, length: 8, kind: .write)
                out.append(PointSpec(point: w, target: .all, text: "filler"))
                i += 1
            }
        }
        return out
    }

    /// The most slots `slots(point)` the points need on any one vCPU.
    func maxPerVCPU(_ points: [(DebugPoint, VCPUTarget)], _ slots: (DebugPoint) -> Int) -> Int {
        var best = 0
        for v in 0..<vcpus {
            var n = 0
            for (p, t) in points {
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

extension DebugScenarios {
    /// Runs every scenario of `list` on a fresh backend from `make(guest, vcpus)`, or skips it
    /// when `skip` names a reason; `emit` gets each outcome as it comes (print `s.line(o)`).
    public static func run<B: DebugBackend>(_ list: [DebugScenario], make: (Guest, Int) throws(DebugError) -> B,
                                            skip: (DebugScenario) -> String? = { _ in nil },
                                            emit: (DebugScenario, ScenarioOutcome) -> Void) -> ScenarioTally {
        var t = ScenarioTally()
        for s in list {
            if let reason = skip(s) {
                t.skipped += 1
                emit(s, .skipped(reason))
                continue
            }
            do throws(DebugError) {
                let r = try s.record(make: make)
                t.ran += 1
                emit(s, .ran(r))
            } catch {
                t.errors += 1
                emit(s, .failed(error))
            }
        }
        return t
    }
}
