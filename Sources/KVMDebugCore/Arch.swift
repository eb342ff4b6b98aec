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
