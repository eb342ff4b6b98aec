import ArgumentParser
import Dispatch
import Foundation
import KVMDebug
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

    @Option(help: "A built-in guest (see `kvmdbg guests`).")
    var guest: String?

    @Option(help: "Your own code: a raw flat binary or an ELF file.")
    var image: String?

    @Option(name: .customLong("load-addr"), help: "Where a raw --image is loaded (default x86_64 0x1000, arm64 0x10000).")
    var loadAddress: String?

    @Option(help: "Entry point of --image: an address or an ELF symbol.")
    var entry: String?

    @Option(name: .customLong("arch"), help: ArgumentHelp("Guest architecture: x86_64 or arm64 (default: the host's).", valueName: "arch"))
    var archOption: Arch?

    @Option(name: .customLong("mode"), help: ArgumentHelp("x86_64 CPU mode: real or long (default long).", valueName: "mode"))
    var modeOption: CPUMode?

    /// `--arch` by name, as `run()` reads it (it parses the name again).
    var arch: String? { archOption?.name }
    /// `--mode` by name, as `run()` reads it (it parses the name again).
    var mode: String? { modeOption?.name }

    @Option(help: "Number of vCPUs, each on its own thread (all-stop: one stop halts them all). Up to KVM_CAP_MAX_VCPUS.")
    var vcpus: Int = 1

    @Option(help: "kvm, fake or auto (KVM when usable and the guest's arch matches the host).")
    var backend: BackendKind = .auto

    @Option(name: .customLong("break"), help: "Hardware execute breakpoint (repeatable).")
    var breaks: [String] = []

    @Option(name: .customLong("watch"), help: "Watchpoint ADDR|SYMBOL:LEN:r|w|rw (repeatable).")
    var watches: [String] = []

    @Option(name: .customLong("sw-break"), help: "Software breakpoint (int3 / brk #0 patched in; repeatable).")
    var swBreaks: [String] = []

    @Option(help: "Single-step N instructions (one stop each), from the entry or from the first stop.")
    var step: Int = 0

    @Option(name: .customLong("max-stops"), help: "End after N stops.")
    var maxStops: Int = 100

    @Option(help: "End after this many seconds.")
    var timeout: Double = 10

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if (guest == nil) == (image == nil) { throw ValidationError("give exactly one of --guest NAME or --image FILE") }
        if vcpus < 1 { throw ValidationError("--vcpus must be at least 1") }
        if step < 0 { throw ValidationError("--step must be 0 or more") }
        if maxStops < 1 { throw ValidationError("--max-stops must be at least 1") }
        if !(timeout > 0) { throw ValidationError("--timeout must be a positive number of seconds") }
        if let l = loadAddress, parseNumber(l) == nil { throw ValidationError("bad --load-addr '\(l)': use 0x... or decimal") }
    }

    func run() throws {
        let guestArch = arch.flatMap { Arch(name: $0) } ?? Arch.host ?? .x86_64
        let cpuMode = mode.flatMap { CPUMode(name: $0) }
        let g: Guest
        do {
            if let name = guest {
                g = try BuiltinGuests.guest(named: name, arch: guestArch, mode: cpuMode)
            } else {
                let img = try ImageLoader.load(path: image!, arch: arch.flatMap { Arch(name: $0) }, loadAddress: loadAddress.flatMap(parseNumber))
                let e = try entry.map { (t) throws(DebugError) in try resolveAddress(t, symbols: img.symbols) }
                let name = URL(fileURLWithPath: image!).lastPathComponent
                g = try ImageLoader.guest(from: img, name: name, mode: cpuMode, entry: e)
            }
        } catch { fail(error.message) }

        let kvm = backend == .fake ? KVMAvailability.notProbed : KVMAvailability.probe()
        let decision: BackendDecision
        do { decision = try decideBackend(backend, guestArch: g.arch, kvm: kvm) } catch { fail(error.message) }

        var plan = RunPlan()
        plan.steps = step
        plan.maxStops = maxStops
        plan.timeout = timeout
        do {
            plan.points = try breaks.map { (t) throws(DebugError) in try PointSpec.parse(t, kind: .hardware, symbols: g.symbols) }
                + swBreaks.map { (t) throws(DebugError) in try PointSpec.parse(t, kind: .software, symbols: g.symbols) }
                + watches.map { (t) throws(DebugError) in try PointSpec.parse(t, kind: .watch, symbols: g.symbols) }
        } catch { fail(error.message) }

        let backendName = decision.kind == .kvm ? "kvm" : "fake"
        let formatter = StopFormatter(symbols: g.symbols, backend: backendName)
        do {
            if decision.kind == .kvm {
                try execute(KVMBackend(guest: g, vcpus: vcpus, system: kvm.system), guest: g, plan: plan, decision: decision,
                            kvm: kvm, formatter: formatter)
            } else {
                try execute(FakeBackend(guest: g, vcpus: vcpus), guest: g, plan: plan, decision: decision,
                            kvm: kvm, formatter: formatter)
            }
        } catch { fail(error.message) }
    }

    /// Arms the plan's points once, on the real tables (alignment, lengths, vCPU indices
    /// and slot counts fail here, all-or-nothing, with nothing printed but the error),
    /// then prints the start lines and runs.
    private func execute<B: DebugBackend>(_ backend: B, guest g: Guest, plan: RunPlan, decision: BackendDecision,
                                          kvm: KVMAvailability, formatter: StopFormatter) throws(DebugError) {
        let runner = GuestRunner(session: DebugSession(backend: backend))
        try runner.arm(plan.points)
        if output.json {
            var o = JSONObject()
            o["event"] = .string("start")
            o["backend"] = .string(formatter.backend)
            o["why"] = .string(decision.why)
            o["guest"] = .string(g.name)
            o["arch"] = .string(g.arch.name)
            o["mode"] = .string(g.mode.name)
            o["vcpus"] = .int(vcpus)
            emitLine(o.serialized)
        } else {
            emitLine("backend: \(formatter.backend) (\(decision.why))")
            emitLine("guest:   \(g.name) \(g.arch.name) mode \(g.mode.name), entry \(hex(g.entry)), \(vcpus) vCPU\(vcpus == 1 ? "" : "s")")
        }
        if decision.kind == .kvm { warnAboutBrokenFeatures(plan, arch: g.arch, system: kvm.system) }
        // Ctrl-C stops every vCPU and ends the run cleanly.
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { runner.interrupt() }
        source.resume()
        defer { source.cancel() }
        let json = output.json
        _ = try runner.run(plan, armPoints: false) { rec in
            switch rec {
            case .stop(let s): emitLine(json ? formatter.json(s).serialized : formatter.text(s))
            case .end(let e): emitLine(json ? formatter.json(e).serialized : formatter.text(e))
            }
        }
    }

    /// On KVM, probes just the features this run asks for and warns about any that
    /// do not really trap here (e.g. data watchpoints under PVM).
    private func warnAboutBrokenFeatures(_ plan: RunPlan, arch: Arch, system: KVMSystem?) {
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
        for r in FeatureProbe.run(backend: .kvm, arch: arch, features: wanted, timeout: 0.3, system: system) where !r.works {
            warn("\(r.feature.rawValue) does not work on this host's KVM (\(r.detail)); expect no such stops. Use --backend fake to exercise them.")
        }
    }
}
