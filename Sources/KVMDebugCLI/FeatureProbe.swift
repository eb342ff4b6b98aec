import KVMDebugCore
import KVMDebugFake

/// The outcome of probing one feature.
public struct ProbeResult: Sendable {
    public var feature: ProbedFeature
    /// True when the expected stop really arrived.
    public var works: Bool
    /// What was seen (the stop, a timeout, an error).
    public var detail: String
    /// The probe could not run at all (an error setting it up): `works` says nothing then.
    public var couldNotRun = false
}

/// A bounded functional self-test: kernels claim capabilities that nested
/// virtualization or PVM do not deliver (this host's PVM never fires data
/// watchpoints), so each feature is run once on the counter guest and judged by
/// the stop that comes back.
public enum FeatureProbe {
    /// Whether hardware data watchpoints trap, from probe results (`write-watchpoint`);
    /// true when it was not probed or could not run (the hardware is then trusted).
    public static func hardwareWatchpointsTrap(_ results: [ProbeResult]) -> Bool {
        guard let r = results.first(where: { $0.feature == .writeWatchpoint }), !r.couldNotRun else { return true }
        return r.works
    }

    /// Runs the probes on a fresh counter guest per feature (no state leaks between them).
    /// KVM guests are VMs of `system` when given (one `/dev/kvm` open per command).
    public static func run(backend kind: BackendKind, arch: Arch, features: [ProbedFeature] = ProbedFeature.allCases,
                           timeout: Double = 0.5, system: KVMSystem? = nil) -> [ProbeResult] {
        features.map { f in
            do throws(DebugError) {
                let guest = try BuiltinGuests.guest(named: "counter", arch: arch)
                switch kind {
                case .kvm: return try probe(f, backend: KVMBackend(guest: guest, system: system), guest: guest, timeout: timeout)
                default: return try probe(f, backend: FakeBackend(guest: guest), guest: guest, timeout: timeout)
                }
            } catch {
                return ProbeResult(feature: f, works: false, detail: "error: \(error.message)", couldNotRun: true)
            }
        }
    }

    static func probe<B: DebugBackend>(_ f: ProbedFeature, backend: B, guest: Guest, timeout: Double) throws(DebugError) -> ProbeResult {
        let d = Debugger(backend: backend)
        // The probe judges the hardware: protection would make every watch trap.
        d.watchMechanism = .hardware
        let runner = GuestRunner(debugger: d)
        func sym(_ n: String) -> UInt64 { guest.symbol(n)?.address ?? 0 }
        var plan = RunPlan()
        plan.timeout = timeout
        plan.maxStops = 2
        let expect: StopReason
        var expectPC: UInt64? = nil
        switch f {
        case .singleStep:
            plan.steps = 2
            expect = .singleStep
        case .executeBreakpoint:
            plan.points = [PointSpec(point: .hardware(address: sym("loop")), target: .all, text: "loop")]
            expect = .hardwareBreakpoint
            expectPC = sym("loop")
        case .softwareBreakpoint:
            plan.points = [PointSpec(point: .software(address: sym("load")), target: .all, text: "load")]
            expect = .softwareBreakpoint
            expectPC = sym("load")
        case .writeWatchpoint:
            plan.points = [PointSpec(point: .watch(address: sym("counter"), length: 8, kind: .write), target: .all, text: "counter:8:w")]
            expect = .watchpoint
        case .accessWatchpoint:
            plan.points = [PointSpec(point: .watch(address: sym("data"), length: 8, kind: .access), target: .all, text: "data:8:rw")]
            expect = .watchpoint
        case .readWatchpoint:
            plan.points = [PointSpec(point: .watch(address: sym("data"), length: 8, kind: .read), target: .all, text: "data:8:r")]
            expect = .watchpoint
        }
        var stops: [Stop] = []
        let end = try runner.run(plan) { rec in if case .stop(let s) = rec { stops.append(s.stop) } }
        let good = stops.filter { $0.reason == expect && (expectPC == nil || $0.pc == expectPC) }
        if good.count == 2 {
            return ProbeResult(feature: f, works: true, detail: "2 of 2 stops: \(expect.name) at \(hex(good[0].pc))")
        }
        if good.count == 1 {
            return ProbeResult(feature: f, works: false, detail: "trapped once, then \(end.reason): continuing past it failed")
        }
        let seen = stops.first.map { "got \($0.reason.name) at \(hex($0.pc))" } ?? "no stop"
        let how = end.reason == "timeout" ? "timeout after \(timeout) s" : "run ended: \(end.reason)\(end.detail.map { ", " + $0 } ?? "")"
        return ProbeResult(feature: f, works: false, detail: "\(seen) (\(how)): never trapped")
    }
}
