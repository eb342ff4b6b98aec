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
    /// `survive`: SurvivalGuest's guest for the arch (own debug registers, FP/SIMD patterns,
    /// a work loop, a self-check).
    case survive
    /// `survive-x87`: the same with x87 and MXCSR too (fxrstor/fxsave: needs native CPL0 on x86).
    case surviveX87
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
        case .survive: return "survive"
        case .surviveX87: return "survive-x87"
        case .pair: return "pair"
        }
    }

    /// Builds the guest for `arch` (and `mode` on x86); the conformance guests are arm64 only.
    public func make(arch: Arch, mode: CPUMode?) throws(DebugError) -> Guest {
        switch self {
        case .counter, .smpCounter: return try BuiltinGuests.guest(named: name, arch: arch, mode: mode)
        case .survive, .surviveX87:
            switch arch {
            case .x86_64:
                guard mode == nil || mode == .long else { throw .unsupported(reason: "the x86 \(name) guest runs in long mode") }
                return SurvivalGuest.x86(x87: self == .surviveX87)
            case .arm64:
                guard self == .survive else { throw .unsupported(reason: "survive-x87 is an x86 guest") }
                return SurvivalGuest.arm64()
            }
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
