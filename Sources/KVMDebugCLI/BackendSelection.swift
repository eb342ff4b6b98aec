import Foundation
import KVMDebugCore

/// Which backend a command runs on (`--backend kvm|fake|auto`).
public enum BackendKind: String, Sendable, CaseIterable {
    case kvm, fake, auto
}

/// Whether `/dev/kvm` can be used here, and why not.
public struct KVMAvailability: Sendable {
    public var usable: Bool
    /// One line: what was found, or the error that says what to do.
    public var detail: String
    /// The kvm_pvm module is loaded: software, page-table based KVM (no VMX/SVM).
    public var isPVM: Bool
    public var error: DebugError?
    /// The `/dev/kvm` fd the probe opened, kept so a command opens it once.
    public var system: KVMSystem?

    /// For `--backend fake`: /dev/kvm is not opened at all.
    public static let notProbed = KVMAvailability(usable: false, detail: "not probed (fake backend requested)", isPVM: false,
                                                  error: nil, system: nil)

    /// Probes `/dev/kvm` by opening it (and nothing more); the open fd is kept in `system`.
    public static func probe(path: String = "/dev/kvm") -> KVMAvailability {
        let pvm = FileManager.default.fileExists(atPath: "/sys/module/kvm_pvm")
        guard let host = Arch.host else {
            return KVMAvailability(usable: false, detail: "host architecture is neither x86_64 nor arm64", isPVM: false,
                                   error: .unsupported(reason: "KVM guest debug needs an x86_64 or arm64 host"), system: nil)
        }
        do {
            let system = try KVMSystem(path: path)
            var flavour = ""
            if pvm { flavour = " (kvm_pvm: software virtualization)" }
            else if FileManager.default.fileExists(atPath: "/sys/module/kvm_intel") { flavour = " (kvm_intel)" }
            else if FileManager.default.fileExists(atPath: "/sys/module/kvm_amd") { flavour = " (kvm_amd)" }
            return KVMAvailability(usable: true, detail: "\(path) usable on \(host.name)\(flavour)", isPVM: pvm, error: nil, system: system)
        } catch {
            return KVMAvailability(usable: false, detail: error.message, isPVM: pvm, error: error, system: nil)
        }
    }
}

/// The backend a command will use, and the sentence saying why.
public struct BackendDecision: Sendable {
    public var kind: BackendKind  // .kvm or .fake
    public var why: String
}

/// Resolves `--backend` for a guest arch: `auto` picks KVM when usable and the
/// guest's arch matches the host, else the fake backend. `kvm` that cannot work throws.
public func decideBackend(_ requested: BackendKind, guestArch: Arch, kvm: KVMAvailability = .probe()) throws(DebugError) -> BackendDecision {
    switch requested {
    case .fake:
        return BackendDecision(kind: .fake, why: "fake backend requested")
    case .kvm:
        if let e = kvm.error { throw e }
        if Arch.host != guestArch {
            throw .unsupported(reason: "an \(guestArch.name) guest cannot run on KVM on this \(Arch.host?.name ?? "unknown") host; use --backend fake")
        }
        return BackendDecision(kind: .kvm, why: kvm.detail)
    case .auto:
        if !kvm.usable { return BackendDecision(kind: .fake, why: "auto: KVM not usable (\(kvm.detail)); using the fake backend") }
        if Arch.host != guestArch {
            return BackendDecision(kind: .fake, why: "auto: guest is \(guestArch.name) but the host is \(Arch.host?.name ?? "unknown"); using the fake backend")
        }
        return BackendDecision(kind: .kvm, why: "auto: \(kvm.detail)")
    }
}
