/// What serves one watchpoint: a hardware comparator or memory protection.
public enum WatchMechanism: Sendable, Hashable {
    /// A debug register (x86 DR0-DR3; arm64 DBGWCR/DBGWVR): the guest runs at full speed.
    case hardware
    /// The watched pages' memory slots (`PageProtection`): any count and length, but every
    /// access of the kind watched to the rest of those pages exits too and is filtered.
    case protection

    /// `hardware` or `protection`, as `monitor points` and `kvmdbg run` print it.
    public var name: String {
        switch self {
        case .hardware: return "hardware"
        case .protection: return "protection"
        }
    }
}

/// Which mechanism new watchpoints may use (`Debugger.watchMechanism`).
public enum WatchMechanismChoice: UInt8, Sendable, Hashable, CaseIterable {
    /// Hardware while slots last and data watchpoints really trap (`hardwareWatchpointsTrap`),
    /// protection otherwise (and for a watch no slot set can express).
    case automatic
    /// Hardware only: a watch that does not fit is refused (the behaviour before protection).
    case hardware
    /// Protection only (tests it alone where hardware would serve).
    case protection

    /// `auto`, `hardware` or `protection`.
    public var name: String {
        switch self {
        case .automatic: return "auto"
        case .hardware: return "hardware"
        case .protection: return "protection"
        }
    }

    /// Parses `auto`, `hardware` or `protection`.
    public init?(name: String) {
        guard let c = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = c
    }
}
