import KVMDebugCore
import KVMDebugFake

/// What a differential comparison looks at in a stop: (vCPU, reason, pc, address).
public struct StopSignature: Sendable, Hashable, CustomStringConvertible {
    public var vcpu: Int
    public var reason: String
    public var pc: UInt64
    public var address: UInt64?

    public init(vcpu: Int, reason: String, pc: UInt64, address: UInt64?) {
        self.vcpu = vcpu
        self.reason = reason
        self.pc = pc
        self.address = address
    }

    public init(_ s: Stop) {
        self.init(vcpu: s.vcpu, reason: s.reason.name, pc: s.pc, address: s.dataAddress)
    }

    public var description: String {
        "(\(vcpu), \(reason), \(hex(pc))\(address.map { ", " + hex($0) } ?? ""))"
    }
}

/// One named run of a built-in guest, used by the differential tests and the lanes.
public struct Scenario: Sendable {
    public var name: String
    public var arch: Arch
    public var mode: CPUMode?
    /// Point specs as on the command line (`loop`, `counter:8:w`, `store@1`).
    public var breaks: [String] = []
    public var swBreaks: [String] = []
    public var watches: [String] = []
    public var steps = 0
    public var maxStops = 6
    /// Features the scenario needs; a backend whose probe says one is broken skips it.
    public var needs: [ProbedFeature] = []

    public init(name: String, arch: Arch, mode: CPUMode? = nil, breaks: [String] = [], swBreaks: [String] = [],
                watches: [String] = [], steps: Int = 0, maxStops: Int = 6, needs: [ProbedFeature] = []) {
        self.name = name
        self.arch = arch
        self.mode = mode
        self.breaks = breaks
        self.swBreaks = swBreaks
        self.watches = watches
        self.steps = steps
        self.maxStops = maxStops
        self.needs = needs
    }

    public func guest() throws(DebugError) -> Guest {
        try BuiltinGuests.guest(named: "counter", arch: arch, mode: mode)
    }

    public func plan(for g: Guest, timeout: Double = 2) throws(DebugError) -> RunPlan {
        var p = RunPlan()
        p.points = try breaks.map { (t) throws(DebugError) in try PointSpec.parse(t, kind: .hardware, symbols: g.symbols) }
            + swBreaks.map { (t) throws(DebugError) in try PointSpec.parse(t, kind: .software, symbols: g.symbols) }
            + watches.map { (t) throws(DebugError) in try PointSpec.parse(t, kind: .watch, symbols: g.symbols) }
        p.steps = steps
        p.maxStops = maxStops
        p.timeout = timeout
        return p
    }

    /// Runs the scenario on `backend` and returns its stops and how it ended.
    public func record<B: DebugBackend>(on backend: B, guest g: Guest) throws(DebugError) -> ScenarioResult {
        let runner = GuestRunner(debugger: Debugger(backend: backend))
        var stops: [StopSignature] = []
        let end = try runner.run(plan(for: g)) { rec in if case .stop(let s) = rec { stops.append(StopSignature(s.stop)) } }
        return ScenarioResult(stops: stops, end: end.reason, setGuestDebugCalls: end.setGuestDebugCalls)
    }

    /// Runs it on the fake backend: the prediction real KVM is compared against.
    public func recordOnFake() throws(DebugError) -> ScenarioResult {
        let g = try guest()
        return try record(on: FakeBackend(guest: g), guest: g)
    }

    /// Runs it on this host's KVM.
    public func recordOnKVM() throws(DebugError) -> ScenarioResult {
        let g = try guest()
        return try record(on: KVMBackend(guest: g), guest: g)
    }
}

/// What a scenario produced.
public struct ScenarioResult: Sendable, Hashable {
    public var stops: [StopSignature]
    public var end: String
    public var setGuestDebugCalls: Int
}

extension Scenario {
    /// The x86_64 scenarios, for both CPU modes: every stop kind, continuing past each.
    public static func x86(mode: CPUMode) -> [Scenario] {
        let m = mode.name
        return [
            Scenario(name: "\(m)/break-loop-continue", arch: .x86_64, mode: mode, breaks: ["loop"], maxStops: 5, needs: [.executeBreakpoint]),
            Scenario(name: "\(m)/break-all-four-slots", arch: .x86_64, mode: mode, breaks: ["loop", "store", "load", "jump"], maxStops: 8, needs: [.executeBreakpoint]),
            Scenario(name: "\(m)/step-from-entry", arch: .x86_64, mode: mode, steps: 9, maxStops: 20, needs: [.singleStep]),
            Scenario(name: "\(m)/break-then-step", arch: .x86_64, mode: mode, breaks: ["store"], steps: 5, maxStops: 20, needs: [.executeBreakpoint, .singleStep]),
            Scenario(name: "\(m)/step-onto-breakpoint", arch: .x86_64, mode: mode, breaks: ["load"], steps: 6, maxStops: 20, needs: [.executeBreakpoint, .singleStep]),
            Scenario(name: "\(m)/sw-break-continue", arch: .x86_64, mode: mode, swBreaks: ["load"], maxStops: 4, needs: [.softwareBreakpoint]),
            Scenario(name: "\(m)/write-watch", arch: .x86_64, mode: mode, watches: ["counter:8:w"], maxStops: 4, needs: [.writeWatchpoint]),
            Scenario(name: "\(m)/access-watch-load", arch: .x86_64, mode: mode, watches: ["data:8:rw"], maxStops: 4, needs: [.accessWatchpoint]),
            Scenario(name: "\(m)/read-watch-emulated", arch: .x86_64, mode: mode, watches: ["data:2:r", "counter:2:r"], maxStops: 4, needs: [.accessWatchpoint]),
            Scenario(name: "\(m)/watch-and-break", arch: .x86_64, mode: mode, breaks: ["loop"], watches: ["counter:2:w"], maxStops: 6, needs: [.executeBreakpoint, .writeWatchpoint]),
            Scenario(name: "\(m)/step-with-watch", arch: .x86_64, mode: mode, watches: ["counter:2:w"], steps: 8, maxStops: 20, needs: [.singleStep, .writeWatchpoint]),
        ]
    }

    /// The arm64 scenarios (fake backend on this host; real KVM in the arm64 lane).
    public static var arm64: [Scenario] {
        [
            Scenario(name: "arm64/break-loop-continue", arch: .arm64, breaks: ["loop"], maxStops: 5, needs: [.executeBreakpoint]),
            Scenario(name: "arm64/break-four", arch: .arm64, breaks: ["loop", "store", "load", "jump"], maxStops: 8, needs: [.executeBreakpoint]),
            Scenario(name: "arm64/step-from-entry", arch: .arm64, steps: 9, maxStops: 20, needs: [.singleStep]),
            Scenario(name: "arm64/break-then-step", arch: .arm64, breaks: ["store"], steps: 5, maxStops: 20, needs: [.executeBreakpoint, .singleStep]),
            Scenario(name: "arm64/sw-break-continue", arch: .arm64, swBreaks: ["load"], maxStops: 4, needs: [.softwareBreakpoint]),
            Scenario(name: "arm64/write-watch", arch: .arm64, watches: ["counter:8:w"], maxStops: 4, needs: [.writeWatchpoint]),
            Scenario(name: "arm64/read-watch", arch: .arm64, watches: ["data:8:r"], maxStops: 4, needs: [.readWatchpoint]),
            Scenario(name: "arm64/access-watch", arch: .arm64, watches: ["counter:4:rw", "data+4:4:rw"], maxStops: 6, needs: [.accessWatchpoint]),
            Scenario(name: "arm64/watch-and-break", arch: .arm64, breaks: ["loop"], watches: ["counter+2:2:w"], maxStops: 6, needs: [.executeBreakpoint, .writeWatchpoint]),
            Scenario(name: "arm64/step-with-watch", arch: .arm64, watches: ["counter:8:w"], steps: 8, maxStops: 20, needs: [.singleStep, .writeWatchpoint]),
        ]
    }
}
