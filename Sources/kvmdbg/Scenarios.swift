import ArgumentParser
import Foundation
import KVMDebug
import KVMDebugCLI
import KVMDebugConformance
import KVMDebugCore

/// `kvmdbg scenarios`: runs the x86 lane's scenario list on one backend and prints one
/// canonical line per scenario, for comparing real KVM with the fake backend's prediction.
struct Scenarios: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the conformance scenarios on one backend; one canonical line each.",
        discussion: """
            Prints `scenario NAME end=REASON stops=(vcpu, reason, pc[, address]);...` per scenario. \
            On KVM a scenario needing a feature the probe finds broken prints `scenario NAME skip=REASON`. \
            scripts/x86-lane diffs `--backend kvm` (under QEMU, kvm_amd) against `--backend fake`.
            """)

    @Option(help: "kvm or fake.")
    var backend: BackendKind = .fake

    @Option(help: "Guest architecture (only x86_64 has a lane list here; arm64 runs kvmdbg-conformance).")
    var arch: Arch = .x86_64

    @Option(help: "Run only scenarios whose name contains this.")
    var filter: String?

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard arch == .x86_64 else {
            throw ValidationError("--arch \(arch.name): only x86_64 has a scenario list here (the arm64 lane uses kvmdbg-conformance)")
        }
        if backend == .auto { throw ValidationError("--backend must be kvm or fake: the lines are compared across them") }
    }

    func run() throws {
        let list = DebugScenarios.x86Lane.filter { filter == nil || $0.name.contains(filter!) }
        if list.isEmpty { throw CLIError("no scenario name contains '\(filter ?? "")'") }
        // On KVM, features are probed once; a scenario needing a broken one is skipped by name.
        var broken: [ProbedFeature: String] = [:]
        if backend == .kvm {
            let needed = ProbedFeature.allCases.filter { f in list.contains { $0.needs.contains(f) } }
            for r in FeatureProbe.run(backend: .kvm, arch: .x86_64, features: needed) where !r.works {
                broken[r.feature] = r.detail
            }
        }
        let t0 = Date()
        var ran = 0, skipped = 0, errors = 0
        for s in list {
            if let f = s.needs.first(where: { broken[$0] != nil }) {
                skipped += 1
                let reason = "\(f.rawValue)-broken"
                if output.json {
                    var o = JSONObject()
                    o["event"] = .string("scenario")
                    o["name"] = .string(s.name)
                    o["skip"] = .string(reason)
                    o["detail"] = .string(broken[f]!)
                    emitLine(o.serialized)
                } else {
                    emitLine(s.skipLine(reason))
                }
                continue
            }
            do throws(DebugError) {
                let r = backend == .kvm ? try s.recordOnKVM() : try s.recordOnFake()
                ran += 1
                if output.json {
                    var o = JSONObject()
                    o["event"] = .string("scenario")
                    o["name"] = .string(s.name)
                    o["end"] = .string(r.end)
                    o["stops"] = .array(r.stops.map { .string($0.description) })
                    o["line"] = .string(s.canonicalLine(r))
                    emitLine(o.serialized)
                } else {
                    emitLine(s.canonicalLine(r))
                }
            } catch {
                errors += 1
                emitLine("scenario \(s.name) error=\(error.message.replacingOccurrences(of: " ", with: "_"))")
            }
        }
        let secs = String(format: "%.2f", Date().timeIntervalSince(t0))
        if output.json {
            var o = JSONObject()
            o["event"] = .string("scenarios-done")
            o["ran"] = .int(ran)
            o["skipped"] = .int(skipped)
            o["errors"] = .int(errors)
            o["seconds"] = .string(secs)
            emitLine(o.serialized)
        } else {
            emitLine("scenarios-done ran=\(ran) skipped=\(skipped) errors=\(errors) seconds=\(secs)")
        }
        if errors > 0 { throw ExitCode(1) }
    }
}
