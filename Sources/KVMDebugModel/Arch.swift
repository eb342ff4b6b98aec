/// The two guest architectures kvmdbg debugs.
public enum Arch: Sendable, Hashable {
    case x86_64
    case arm64

    /// The name used on the command line and in JSON (`x86_64`, `arm64`).
    public var name: String {
        switch self {
        case .x86_64: return "x86_64"
        case .arm64: return "arm64"
        }
    }

    /// Parses `x86_64` / `x86-64` / `amd64` or `arm64` / `aarch64`.
    public init?(name: String) {
        switch name {
        case "x86_64", "x86-64", "amd64", "x86": self = .x86_64
        case "arm64", "aarch64": self = .arm64
        default: return nil
        }
    }

    /// The CPU mode a guest of this arch starts in when none is asked for: x86_64 long, arm64 el1.
    public var defaultMode: CPUMode {
        switch self {
        case .x86_64: return .long
        case .arm64: return .el1
        }
    }

    /// Checks that guests of this arch can start in `mode`: x86_64 in real or long mode,
    /// arm64 at EL1 with the MMU off. Throws `.unsupported` saying which modes work.
    public func validate(mode: CPUMode) throws(DebugError) {
        switch (self, mode) {
        case (.x86_64, .real), (.x86_64, .long), (.arm64, .el1): return
        case (.x86_64, _):
            throw .unsupported(reason: "x86_64 guests run in --mode real or long, not \(mode.name)")
        case (.arm64, _):
            throw .unsupported(reason: "arm64 guests run at EL1 with the MMU off (--mode el1), not \(mode.name)")
        }
    }

    /// The architecture this binary was compiled for, if it is one KVM debugs.
    public static var host: Arch? {
        #if arch(x86_64)
        return .x86_64
        #elseif arch(arm64)
        return .arm64
        #else
        return nil
        #endif
    }
}
