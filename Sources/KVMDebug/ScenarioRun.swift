import KVMDebugConformance
import KVMDebugCore
import KVMDebugFake

/// What a scenario run through `GuestRunner` produced.
public struct ScenarioResult: Sendable, Hashable {
    public var stops: [StopSignature]
    /// The distinct `stopped` lists the stops were reported with (all-stop rounds).
    public var stoppedSets: [[Int]]
    public var end: String
    public var setGuestDebugCalls: Int
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

/// The host-side view of a scenario: a `RunPlan` for `GuestRunner` (every vCPU on its
/// own thread, all-stop), run on the fake backend or this machine's KVM, and the line
/// the x86 lane compares. Honours points, steps, maxStops, vCPUs and the foreign-BRK
/// policy; the slot fillers and the vCPU order are ConformanceRunner's.
extension DebugScenario {
    /// The run plan for `g` (the scenario's guest).
    public func plan(for g: Guest, timeout: Double = 2) throws(DebugError) -> RunPlan {
        var p = RunPlan()
        for point in points { p.points.append(try PointSpec(point, in: g)) }
        p.steps = steps
        p.maxStops = maxStops
        p.timeout = timeout
        return p
    }

    /// Runs the scenario on `backend` (built for `g` with `vcpus` vCPUs); watchpoints served
    /// as `watches` says, else as the scenario says (`.protection`: memory protection alone).
    public func record<B: DebugBackend>(on backend: B, guest g: Guest,
                                        watches: WatchMechanismChoice? = nil) throws(DebugError) -> ScenarioResult {
        let d = Debugger(backend: backend)
        d.foreignBreakpointPolicy = foreignBreakpoints
        d.watchMechanism = watches ?? self.watches
        let runner = GuestRunner(debugger: d)
        var stops: [StopSignature] = []
        var stopped: Set<[Int]> = []
        let end = try runner.run(plan(for: g)) { rec in
            if case .stop(let s) = rec {
                stops.append(StopSignature(s.stop))
                stopped.insert(s.stopped)
            }
        }
        return ScenarioResult(stops: stops, stoppedSets: stopped.sorted { $0.lexicographicallyPrecedes($1) },
                              end: end.reason, setGuestDebugCalls: end.setGuestDebugCalls)
    }

    /// Runs it on the fake backend: the prediction real KVM is compared against.
    public func recordOnFake(watches: WatchMechanismChoice? = nil) throws(DebugError) -> ScenarioResult {
        let g = try makeGuest()
        return try record(on: FakeBackend(guest: g, vcpus: vcpus), guest: g, watches: watches)
    }

    /// Runs it on this machine's /dev/kvm.
    public func recordOnKVM(watches: WatchMechanismChoice? = nil) throws(DebugError) -> ScenarioResult {
        let g = try makeGuest()
        return try record(on: KVMBackend(guest: g, vcpus: vcpus), guest: g, watches: watches)
    }

    /// `scenario NAME end=REASON stops=SIG;SIG[ stopped=0,1]`: the line the x86 lane compares.
    public func canonicalLine(_ r: ScenarioResult) -> String {
        let sigs = r.stops.map { s -> String in
            guard comparison == .anyVCPU else { return s.description }
            let d = s.description
            return "(*" + d.drop { $0 != "," }
        }
        var line = "scenario \(name) end=\(r.end) stops=\(sigs.joined(separator: ";"))"
        if vcpus > 1 {
            line += " stopped=" + r.stoppedSets.map { $0.map(String.init).joined(separator: ",") }.joined(separator: "|")
        }
        return line
    }

    /// `scenario NAME skip=REASON`: a needed feature the backend's probe found broken.
    public func skipLine(_ reason: String) -> String { "scenario \(name) skip=\(reason)" }
}
