import ArgumentParser
import Foundation
import KVMDebugCLI
import KVMDebugConformance
import KVMDebugCore

/// `kvmdbg scenarios`: runs a lane's scenario list on one backend and prints one
/// `scenario` line per scenario, for comparing real KVM with the fake backend's prediction.
struct Scenarios: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the conformance scenarios on one backend; one canonical line each.",
        discussion: """
            Prints `scenario NAME end=REASON stops=(vcpu, reason, pc[, address]);...` per scenario. \
            On KVM a scenario needing a feature the probe finds broken prints `scenario NAME skip=REASON`. \
            scripts/x86-lane diffs `--backend kvm` (under QEMU, kvm_amd) against `--backend fake`; \
            scripts/arm64-lane diffs the arm64 lane's run on real arm64 KVM against `--arch arm64 --backend fake`.
            """)

    @Option(help: "kvm or fake.")
    var backend: BackendKind = .fake

    @Option(help: "Guest architecture: x86_64 runs the x86 lane's list, arm64 the arm64 lane's.")
    var arch: Arch = .x86_64

    @Option(help: "Run only scenarios whose name contains this.")
    var filter: String?

    @Flag(help: "Print the scenario names only.")
    var list = false

    @OptionGroup var output: OutputOptions

    func validate() throws {
        if backend == .auto { throw ValidationError("--backend must be kvm or fake: the lines are compared across them") }
    }

    func run() throws {
        let all = arch == .arm64 ? DebugScenarios.arm64 : DebugScenarios.x86Lane
        let scenarios = all.filter { filter == nil || $0.name.contains(filter!) }
        if scenarios.isEmpty { throw CLIError("no scenario name contains '\(filter ?? "")'") }
        if list {
            for s in scenarios { emitLine(s.name) }
            return
        }
        // On KVM, features are probed once; a scenario needing a broken one is skipped by name.
        var broken: [ProbedFeature: String] = [:]
        if backend == .kvm {
            let needed = ProbedFeature.allCases.filter { f in scenarios.contains { $0.needs.contains(f) } }
            for r in FeatureProbe.run(backend: .kvm, arch: arch, features: needed) where !r.works {
                broken[r.feature] = r.detail
            }
        }
        let emulatedCPL0 = backend == .kvm && KVMAvailability.probe().isPVM
        let skip = { (s: DebugScenario) -> String? in
            if emulatedCPL0 && s.needsNativeCPL0 { return "cpl0-emulated" }
            return s.needs.first { broken[$0] != nil }.map { "\($0.rawValue)-broken" }
        }
        let t0 = Date()
        let emit = { (s: DebugScenario, o: ScenarioOutcome) in
            guard output.json else { return emitLine(s.line(o)) }
            var j = JSONObject()
            j["event"] = .string("scenario")
            j["name"] = .string(s.name)
            switch o {
            case .ran(let r):
                j["end"] = .string(r.end)
                j["stops"] = .array(r.stops.map { .string($0.description) })
            case .skipped(let reason):
                j["skip"] = .string(reason)
                if let f = s.needs.first(where: { broken[$0] != nil }) { j["detail"] = .string(broken[f]!) }
            case .failed(let e):
                j["error"] = .string(e.message)
            }
            j["line"] = .string(s.line(o))
            emitLine(j.serialized)
        }
        let tally = DebugScenarios.run(scenarios, on: backend, skip: skip, emit: emit)
        let secs = String(format: "%.2f", Date().timeIntervalSince(t0))
        if output.json {
            var o = JSONObject()
            o["event"] = .string("scenarios-done")
            o["ran"] = .int(tally.ran)
            o["skipped"] = .int(tally.skipped)
            o["errors"] = .int(tally.errors)
            o["seconds"] = .string(secs)
            emitLine(o.serialized)
        } else {
            emitLine(tally.line + " seconds=\(secs)")
        }
        if tally.errors > 0 { throw ExitCode(1) }
    }
}
