import ArgumentParser
import Foundation
import KVMDebugCLI
import KVMDebugCore
import KVMDebugFake

/// `kvmdbg run`: runs a guest under debug and reports each stop.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a built-in guest or your own image under debug and report each stop.",
        discussion: """
        Points: --break ADDR|SYMBOL[@VCPU], --sw-break ADDR|SYMBOL[@VCPU], \
        --watch ADDR|SYMBOL:LEN:r|w|rw[@VCPU]. Without @VCPU a point is armed on every vCPU.
        x86 has no read-only watchpoint: 'r' is an access watchpoint whose hits are \
        reported only when the watched bytes did not change (GDB's rwatch method).
        """)

    @OptionGroup var guestOptions: GuestOptions

    @Option(name: .customLong("break"), help: "Hardware execute breakpoint (repeatable).")
    var breaks: [String] = []

    @Option(name: .customLong("watch"), help: "Watchpoint ADDR|SYMBOL:LEN:r|w|rw (repeatable).")
    var watches: [String] = []

    @Option(name: .customLong("sw-break"), help: "Software breakpoint (int3 / brk #0 patched in; repeatable).")
    var swBreaks: [String] = []

    @Option(name: .customLong("watch-mechanism"), help: "What serves --watch: auto (hardware while slots last and data watchpoints trap here, memory protection otherwise), hardware, or protection.")
    var watchMechanism: String = "auto"

    @Option(help: "Single-step N instructions (one stop each), from the entry or from the first stop.")
    var step: Int = 0

    @Option(name: .customLong("max-stops"), help: "End after N stops.")
    var maxStops: Int = 100

    @Option(help: "End after this many seconds.")
    var timeout: Double = 10

    @Option(name: .customLong("catch"), help: ArgumentHelp("Stop at the guest's exception handlers: exception (x86 vectors 0-31; arm64 VBAR_EL1's synchronous and SError entries) or exception:VECTOR[,VECTOR...]. Each stop says which exception, its error code or ESR, the faulting pc and CR2 or FAR.", valueName: "exception[:VECTOR]"))
    var catchSpec: String?

    @Option(name: .customLong("dump-on-stop"), help: ArgumentHelp("When the run ends (a fatal exit, the stop limit, the timeout, Ctrl-C), write the stopped guest's ELF core to FILE (gdb -c FILE).", valueName: "FILE"))
    var dumpOnStop: String?

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if step < 0 { throw ValidationError("--step must be 0 or more") }
        if maxStops < 1 { throw ValidationError("--max-stops must be at least 1") }
        if let d = dumpOnStop, d.isEmpty { throw ValidationError("--dump-on-stop needs a file name") }
        if catchSpec != nil, catchVectors == nil {
            throw ValidationError("--catch takes exception or exception:VECTOR[,VECTOR...] with x86 vectors 0-31")
        }
        if !(timeout > 0) { throw ValidationError("--timeout must be a positive number of seconds") }
        if WatchMechanismChoice(name: watchMechanism) == nil {
            throw ValidationError("--watch-mechanism must be auto, hardware or protection, not '\(watchMechanism)'")
        }
    }

    /// `--catch`'s vectors ([] = all), nil when absent or malformed.
    var catchVectors: [UInt8]? {
        guard let spec = catchSpec else { return nil }
        if spec == "exception" { return [] }
        guard spec.hasPrefix("exception:") else { return nil }
        var out: [UInt8] = []
        for part in spec.dropFirst("exception:".count).split(separator: ",", omittingEmptySubsequences: false) {
            guard let v = UInt8(part), v <= 31 else { return nil }
            out.append(v)
        }
        return out
    }

    func run() throws {
        // First thing: Ctrl-C (or SIGTERM) is watched before any other thread starts, and one
        // arriving before the run exists is kept for it.
        let interrupts = InterruptLatch()
        _ = SignalWatcher([SIGINT, SIGTERM]) { _ in interrupts.fire() }
        let g: Guest
        do { g = try guestOptions.buildGuest() } catch { throw CLIError(error.message) }
        let kvm = guestOptions.kvmAvailability()
        let decision: BackendDecision
        do { decision = try decideBackend(guestOptions.backend, guestArch: g.arch, kvm: kvm) } catch { throw CLIError(error.message) }

        var plan = RunPlan()
        plan.steps = step
        plan.maxStops = maxStops
        plan.timeout = timeout
        plan.catchVectors = catchVectors
        do {
            plan.points = try breaks.map { (t) throws(DebugError) in try PointSpec.parse(t, kind: .hardware, symbols: g.symbols) }
                + swBreaks.map { (t) throws(DebugError) in try PointSpec.parse(t, kind: .software, symbols: g.symbols) }
                + watches.map { (t) throws(DebugError) in try PointSpec.parse(t, kind: .watch, symbols: g.symbols) }
        } catch { throw CLIError(error.message) }

        let backendName = decision.kind == .kvm ? "kvm" : "fake"
        let formatter = StopFormatter(symbols: g.symbols, backend: backendName)
        do {
            if decision.kind == .kvm {
                try execute(KVMBackend(guest: g, vcpus: guestOptions.vcpus, system: kvm.system), guest: g, plan: plan, decision: decision,
                            kvm: kvm, formatter: formatter, interrupts: interrupts)
            } else {
                try execute(FakeBackend(guest: g, vcpus: guestOptions.vcpus), guest: g, plan: plan, decision: decision,
                            kvm: kvm, formatter: formatter, interrupts: interrupts)
            }
        } catch { throw CLIError(error.message) }
    }

    /// Arms the plan's points once, on the real tables (alignment, lengths, vCPU indices
    /// and slot counts fail here, all-or-nothing, with nothing printed but the error),
    /// then prints the start lines and runs.
    private func execute<B: DebugBackend>(_ backend: B, guest g: Guest, plan: RunPlan, decision: BackendDecision,
                                          kvm: KVMAvailability, formatter: StopFormatter,
                                          interrupts: InterruptLatch) throws(DebugError) {
        let runner = GuestRunner(session: DebugSession(backend: backend))
        // Ctrl-C (or SIGTERM) stops every vCPU and ends the run cleanly.
        interrupts.attach { runner.interrupt() }
        runner.debugger.watchMechanism = WatchMechanismChoice(name: watchMechanism) ?? .automatic
        var probed: [ProbeResult] = []
        if decision.kind == .kvm {
            // What really traps here decides, before arming, what serves each watch.
            probed = probeFeatures(plan, arch: g.arch, system: kvm.system)
            runner.debugger.hardwareWatchpointsTrap = FeatureProbe.hardwareWatchpointsTrap(probed)
        }
        try runner.arm(plan.points)
        let served = plan.points.compactMap { p -> (PointSpec, WatchMechanism)? in
            p.point.isWatch ? runner.debugger.mechanism(of: p.point).map { (p, $0) } : nil
        }
        if output.json {
            var o = JSONObject()
            o["event"] = .string("start")
            o["backend"] = .string(formatter.backend)
            o["why"] = .string(decision.why)
            o["guest"] = .string(g.name)
            o["arch"] = .string(g.arch.name)
            o["mode"] = .string(g.mode.name)
            o["vcpus"] = .int(guestOptions.vcpus)
            if !served.isEmpty {
                o["watches"] = .array(served.map { (p, m) in
                    var x = JSONObject()
                    x["point"] = .string(p.text)
                    x["mechanism"] = .string(m.name)
                    return .object(x)
                })
            }
            emitLine(o.serialized)
        } else {
            for line in guestOptions.banner(g, decision) { emitLine(line) }
            for (p, m) in served {
                emitLine("watch:   \(p.text) served by \(m == .protection ? "memory protection (its pages' memory slots)" : "a hardware slot")")
            }
        }
        warnAboutBrokenFeatures(probed, protectionServes: served.contains { $0.1 == .protection })
        let json = output.json
        var lastStop: Stop? = nil
        let end = try runner.run(plan, armPoints: false) { rec in
            switch rec {
            case .stop(let s): lastStop = s.stop; emitLine(json ? formatter.json(s).serialized : formatter.text(s))
            case .end(let e): emitLine(json ? formatter.json(e).serialized : formatter.text(e))
            }
        }
        if let path = dumpOnStop { try dumpCore(runner.session, to: path, end: end, lastStop: lastStop, json: json) }
    }

    /// `--dump-on-stop`: the core of the guest as the run left it, its ending vCPU first with the
    /// signal of the ending exit (SIGTRAP after a debug stop, SIGINT after a limit or Ctrl-C).
    private func dumpCore<B: DebugBackend>(_ session: DebugSession<B>, to path: String, end: RunEnd,
                                           lastStop: Stop?, json: Bool) throws(DebugError) {
        let vcpu = end.exit?.vcpu ?? lastStop?.vcpu ?? 0
        let signal = end.exit?.exit.signal?.rawValue ?? (end.exit != nil || lastStop != nil ? 5 : 2)
        let summary = try session.writeCore(to: path, current: vcpu, signal: signal)
        if json {
            var o = JSONObject()
            o["event"] = .string("core")
            o["path"] = .string(summary.path)
            o["vcpus"] = .int(summary.vcpus)
            o["bytes"] = .int(Int(summary.bytes))
            o["physicalSegments"] = .int(summary.physicalSegments)
            o["virtualSegments"] = .int(summary.virtualSegments)
            if !summary.notes.isEmpty { o["notes"] = .array(summary.notes.map { .string($0) }) }
            emitLine(o.serialized)
        } else {
            for l in summary.lines { emitLine(l) }
        }
    }

    /// On KVM, probes just the features this run asks for (e.g. data watchpoints, which never
    /// trap under PVM).
    private func probeFeatures(_ plan: RunPlan, arch: Arch, system: KVMSystem?) -> [ProbeResult] {
        var wanted: [ProbedFeature] = []
        for p in plan.points {
            switch p.point {
            case .software: wanted.append(.softwareBreakpoint)
            case .watch(_, _, let k):
                wanted.append(k == .write ? .writeWatchpoint : k == .access ? .accessWatchpoint : .readWatchpoint)
            case .hardware: wanted.append(.executeBreakpoint)
            }
        }
        if plan.steps > 0 { wanted.append(.singleStep) }
        var seen = Set<ProbedFeature>()
        wanted = wanted.filter { seen.insert($0).inserted }
        // The write watch answers whether data watchpoints trap at all.
        if wanted.contains(where: { $0 == .accessWatchpoint || $0 == .readWatchpoint }) && !seen.contains(.writeWatchpoint) {
            wanted.append(.writeWatchpoint)
        }
        return FeatureProbe.run(backend: .kvm, arch: arch, features: wanted, timeout: 0.3, system: system)
    }

    /// Warns about each probed feature that does not trap here, except data watchpoints
    /// memory protection serves instead.
    private func warnAboutBrokenFeatures(_ results: [ProbeResult], protectionServes: Bool) {
        let watches: [ProbedFeature] = [.writeWatchpoint, .accessWatchpoint, .readWatchpoint]
        for r in results where !r.works {
            if protectionServes && watches.contains(r.feature) { continue }
            if r.couldNotRun {
                warn("could not probe whether \(r.feature.rawValue) works on this host's KVM (\(r.detail.dropFirst("error: ".count)))")
                continue
            }
            warn("\(r.feature.rawValue) does not work on this host's KVM (\(r.detail)); expect no such stops. Use --backend fake to exercise them.")
        }
    }
}
