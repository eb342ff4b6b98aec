import Testing
import KVMDebugCLI
import KVMDebugCore

/// Whether real-KVM tests can run here, and which features really trap, probed
/// once per test process. Tests that cannot run say why (a named skip, never a pass).
enum KVMHost {
    static let availability = KVMAvailability.probe()

    /// Usable for x86_64 guests (this project's real-KVM tests are x86_64; arm64 runs in its lane).
    static let usable: Bool = availability.usable && Arch.host == .x86_64

    static var skipReason: String {
        if Arch.host != .x86_64 { return "real-KVM tests need an x86_64 host (this is \(Arch.host?.name ?? "unknown"))" }
        return "no usable /dev/kvm: \(availability.detail)"
    }

    /// The trait for real-KVM tests.
    static var required: ConditionTrait { .enabled(if: usable, Comment(rawValue: skipReason)) }

    /// `caps --probe` results on this host's KVM (empty when KVM is not usable).
    static let probe: [ProbedFeature: ProbeResult] = {
        guard usable else { return [:] }
        var out: [ProbedFeature: ProbeResult] = [:]
        for r in FeatureProbe.run(backend: .kvm, arch: .x86_64) { out[r.feature] = r }
        return out
    }()

    /// True when every feature traps on this host's KVM (and KVM is usable).
    static func works(_ features: [ProbedFeature]) -> Bool {
        usable && features.allSatisfy { probe[$0]?.works == true }
    }

    /// Why `features` cannot be tested on this host's KVM.
    static func brokenReason(_ features: [ProbedFeature]) -> String {
        if !usable { return skipReason }
        let broken = features.compactMap { f -> String? in
            guard let r = probe[f], !r.works else { return nil }
            return "\(f.rawValue): \(r.detail)"
        }
        return "does not trap on this host's KVM\(availability.isPVM ? " (kvm_pvm)" : "") per `caps --probe`: " + broken.joined(separator: "; ")
    }

    /// The trait for tests that need `features` to really trap: a named skip otherwise.
    static func requiring(_ features: ProbedFeature...) -> ConditionTrait {
        .enabled(if: works(features), Comment(rawValue: brokenReason(features)))
    }
}
