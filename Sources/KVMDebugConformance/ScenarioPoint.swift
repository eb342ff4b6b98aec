import KVMDebugCore

/// One debug point of a scenario, named by a guest symbol plus an offset and resolved
/// against the guest's symbols when the scenario runs (so no list repeats an address).
public struct ScenarioPoint: Sendable, Hashable {
    /// What the point arms.
    public enum Kind: Sendable, Hashable {
        /// An execute breakpoint (DebugPoint.hardware).
        case hardware
        /// A software breakpoint (DebugPoint.software).
        case software
        /// A data watchpoint over `length` bytes (DebugPoint.watch).
        case watch(length: UInt64, kind: WatchKind)
    }

    public var kind: Kind
    /// The guest symbol the address is relative to.
    public var symbol: String
    /// Bytes past `symbol`.
    public var offset: UInt64
    /// Every vCPU, or one.
    public var target: VCPUTarget

    public init(_ kind: Kind, at symbol: String, offset: UInt64 = 0, on target: VCPUTarget = .all) {
        self.kind = kind
        self.symbol = symbol
        self.offset = offset
        self.target = target
    }

    /// An execute breakpoint at `symbol + offset`.
    public static func hw(_ symbol: String, _ offset: UInt64 = 0, on target: VCPUTarget = .all) -> ScenarioPoint {
        ScenarioPoint(.hardware, at: symbol, offset: offset, on: target)
    }

    /// A software breakpoint at `symbol + offset`.
    public static func sw(_ symbol: String, _ offset: UInt64 = 0, on target: VCPUTarget = .all) -> ScenarioPoint {
        ScenarioPoint(.software, at: symbol, offset: offset, on: target)
    }

    /// A `kind` watchpoint over `length` bytes from `symbol + offset`.
    public static func watch(_ symbol: String, _ offset: UInt64 = 0, length: UInt64, _ kind: WatchKind,
                             on target: VCPUTarget = .all) -> ScenarioPoint {
        ScenarioPoint(.watch(length: length, kind: kind), at: symbol, offset: offset, on: target)
    }

    /// The point at its address in `guest`; throws when the guest has no such symbol.
    public func resolved(in guest: Guest) throws(DebugError) -> DebugPoint {
        guard let s = guest.symbol(symbol) else {
            throw .unsupported(reason: "scenario point at unknown symbol '\(symbol)' of guest \(guest.name)")
        }
        let a = s.address &+ offset
        switch kind {
        case .hardware: return .hardware(address: a)
        case .software: return .software(address: a)
        case .watch(let length, let k): return .watch(address: a, length: length, kind: k)
        }
    }
}
