import KVMDebugModel

/// The guest a scenario starts from: a built-in guest (BuiltinGuests, by name) or one of
/// the conformance guests (ConformanceGuests). A fresh VM is made from it per run.
public enum ScenarioGuest: Sendable, Hashable {
    /// `counter`: one loop; with several vCPUs they share its words.
    case counter
    /// `smp-counter`: each vCPU stores to its own word `counters + 8 × vCPU`.
    case smpCounter
    /// ConformanceGuests.bytes(): stores then loads of every size at every offset of `word`.
    case bytes
    /// ConformanceGuests.stride(): 8-byte stores spread over two pages.
    case stride
    /// ConformanceGuests.branch(): branches taken and not taken.
    case branch
    /// ConformanceGuests.ownBRKGuest(): a guest with its own BRK and EL1 vector.
    case ownBRK
    /// ConformanceGuests.pair(): stp/ldp (no valid syndrome) and a str to one page.
    case pair

    /// The guest's name (`Guest.name`).
    public var name: String {
        switch self {
        case .counter: return "counter"
        case .smpCounter: return "smp-counter"
        case .bytes: return "bytes"
        case .stride: return "stride"
        case .branch: return "branch"
        case .ownBRK: return "own-brk"
        case .pair: return "pair"
        }
    }

    /// Builds the guest for `arch` (and `mode` on x86); the conformance guests are arm64 only.
    public func make(arch: Arch, mode: CPUMode?) throws(DebugError) -> Guest {
        switch self {
        case .counter, .smpCounter: return try BuiltinGuests.guest(named: name, arch: arch, mode: mode)
        case .bytes, .stride, .branch, .ownBRK, .pair:
            guard arch == .arm64 else { throw .unsupported(reason: "the \(name) conformance guest is arm64 only") }
            switch self {
            case .bytes: return ConformanceGuests.bytes()
            case .stride: return ConformanceGuests.stride()
            case .branch: return ConformanceGuests.branch()
            case .pair: return ConformanceGuests.pair()
            default: return ConformanceGuests.ownBRKGuest()
            }
        }
    }
}
