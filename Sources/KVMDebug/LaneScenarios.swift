import KVMDebugCore
import KVMDebugFake

/// One scenario of the x86 hardware-KVM lane: a `Scenario` plus the guest and vCPU
/// count it runs on, and which parts of its result are deterministic enough to compare.
public struct LaneScenario: Sendable {
    /// How the stops of a run are compared.
    public enum Comparison: Sendable {
        /// Every (vCPU, reason, pc, address) in order.
        case exact
        /// SMP with a global point: which vCPU reaches it first is up to the host's
        /// scheduler, so vCPUs print as `*`; reasons, pcs, addresses and the stopped
        /// list (every vCPU, every round) are still compared.
        case anyVCPU
    }

    public var scenario: Scenario
    /// `counter` or `smp-counter` (BuiltinGuests).
    public var guestName: String
    public var vcpus: Int
    public var comparison: Comparison

    public var name: String { scenario.name }

    public init(_ scenario: Scenario, guest: String = "counter", vcpus: Int = 1, comparison: Comparison = .exact) {
        self.scenario = scenario
        self.guestName = guest
        self.vcpus = vcpus
        self.comparison = comparison
    }

    public func guest() throws(DebugError) -> Guest {
        try BuiltinGuests.guest(named: guestName, arch: scenario.arch, mode: scenario.mode)
    }

    /// Runs it on `backend` (built for `g` with `vcpus` vCPUs).
    public func record<B: DebugBackend>(on backend: B, guest g: Guest) throws(DebugError) -> LaneResult {
        let runner = GuestRunner(debugger: Debugger(backend: backend))
        var stops: [StopSignature] = []
        var stopped: Set<[Int]> = []
        let end = try runner.run(scenario.plan(for: g)) { rec in
            if case .stop(let s) = rec {
                stops.append(StopSignature(s.stop))
                stopped.insert(s.stopped)
            }
        }
        return LaneResult(stops: stops, stoppedSets: stopped.sorted { $0.lexicographicallyPrecedes($1) }, end: end.reason)
    }

    /// The prediction: the fake backend.
    public func recordOnFake() throws(DebugError) -> LaneResult {
        let g = try guest()
        return try record(on: FakeBackend(guest: g, vcpus: vcpus), guest: g)
    }

    /// This machine's /dev/kvm.
    public func recordOnKVM() throws(DebugError) -> LaneResult {
        let g = try guest()
        return try record(on: KVMBackend(guest: g, vcpus: vcpus), guest: g)
    }

    /// `scenario NAME end=REASON stops=SIG;SIG[ stopped=0,1]`: the line the lane compares.
    public func canonicalLine(_ r: LaneResult) -> String {
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

/// What a lane scenario produced.
public struct LaneResult: Sendable, Hashable {
    public var stops: [StopSignature]
    /// The distinct `stopped` lists the stops were reported with (all-stop rounds).
    public var stoppedSets: [[Int]]
    public var end: String
}

extension LaneScenario {
    /// The x86 lane: `Scenario.x86(mode: .long)` without software breakpoints (QEMU's
    /// SVM emulation does not intercept int3), a few bounded real-mode ones (real mode
    /// is slow under TCG, so nothing there runs freely for long), and what issue 5 adds:
    /// watch widths, access watches on loads and stores, read watches emulated through
    /// access plus a value filter, a data trap and an execute breakpoint together, and
    /// per-vCPU and all-stop runs on the `smp-counter` guest.
    public static var x86: [LaneScenario] {
        let long = CPUMode.long
        func s(_ name: String, mode: CPUMode = long, breaks: [String] = [], watches: [String] = [], steps: Int = 0,
               maxStops: Int = 4, needs: [ProbedFeature]) -> Scenario {
            Scenario(name: "\(mode.name)/\(name)", arch: .x86_64, mode: mode, breaks: breaks, watches: watches,
                     steps: steps, maxStops: maxStops, needs: needs)
        }
        let base = Scenario.x86(mode: long).filter { !$0.needs.contains(.softwareBreakpoint) }.map { LaneScenario($0) }
        let realKept: Set<String> = ["real/break-all-four-slots", "real/step-from-entry", "real/break-then-step", "real/write-watch"]
        let real = Scenario.x86(mode: .real).filter { realKept.contains($0.name) }.map { LaneScenario($0) }
        let added: [Scenario] = [
            // Write watchpoints of every DR7 LEN, on the 8-byte store to `counter`.
            s("write-watch-1", watches: ["counter:1:w"], needs: [.writeWatchpoint]),
            s("write-watch-2", watches: ["counter+2:2:w"], needs: [.writeWatchpoint]),
            s("write-watch-4", watches: ["counter+4:4:w"], needs: [.writeWatchpoint]),
            s("write-watch-8", watches: ["counter:8:w"], needs: [.writeWatchpoint]),
            // A write watch on a word only ever loaded: never fires.
            s("write-watch-on-load-only", watches: ["data:8:w"], needs: [.writeWatchpoint]),
            // Access watches: RW=11 fires on loads and on stores.
            s("access-watch-store", watches: ["counter:8:rw"], needs: [.accessWatchpoint]),
            s("access-watch-load-4", watches: ["data+4:4:rw"], needs: [.accessWatchpoint]),
            s("access-watch-both", watches: ["counter:4:rw", "data:4:rw"], maxStops: 6, needs: [.accessWatchpoint]),
            // Read watches (x86 has none): access watch plus a value filter.
            s("read-watch-load", watches: ["data:8:r"], needs: [.accessWatchpoint]),
            s("read-watch-store-only", watches: ["counter:8:r"], needs: [.accessWatchpoint]),
            // Single-step with a write watch: the store's step carries BS|B<n> in one exit.
            s("step-with-watch-8", watches: ["counter:8:w"], steps: 10, maxStops: 20, needs: [.singleStep, .writeWatchpoint]),
            // All four DR slots: two execute breakpoints, a write and an access watch.
            s("four-slots-mixed", breaks: ["loop", "store"], watches: ["counter:8:w", "data:8:rw"], maxStops: 8,
              needs: [.executeBreakpoint, .writeWatchpoint, .accessWatchpoint]),
            // A data trap whose next instruction has an execute breakpoint (see lane allow-list).
            s("watch-then-break-next", breaks: ["load"], watches: ["counter:8:w"], maxStops: 6,
              needs: [.executeBreakpoint, .writeWatchpoint]),
        ]
        let smp: [LaneScenario] = [
            // Per-vCPU: a breakpoint on vCPU 1 only; every stop is vCPU 1 at `store`.
            LaneScenario(s("smp2-break-vcpu1", breaks: ["store@1"], maxStops: 4, needs: [.executeBreakpoint]),
                         guest: "smp-counter", vcpus: 2),
            // Per-vCPU watch on vCPU 1's own word.
            LaneScenario(s("smp2-watch-vcpu1", watches: ["counters+8:8:w@1"], maxStops: 4, needs: [.writeWatchpoint]),
                         guest: "smp-counter", vcpus: 2),
            // All-stop: a global breakpoint, 4 vCPUs; whoever hits first, all are held.
            LaneScenario(s("smp4-all-stop", breaks: ["loop"], maxStops: 6, needs: [.executeBreakpoint]),
                         guest: "smp-counter", vcpus: 4, comparison: .anyVCPU),
        ]
        return base + added.map { LaneScenario($0) } + real + smp
    }
}
