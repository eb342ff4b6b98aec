/// What a watchpoint traps on.
///
/// x86 DR7 has no read-only condition (R/W = 10 is I/O): kvmdbg emulates `read`
/// there with an access watchpoint whose hits are filtered by value, the way
/// GDB implements `rwatch` on x86 (see `Debugger`). arm64 has it natively (LSC = 01).
public enum WatchKind: Sendable, Hashable {
    case read
    case write
    case access

    /// `r`, `w` or `rw`, as on the command line.
    public var shortName: String {
        switch self {
        case .read: return "r"
        case .write: return "w"
        case .access: return "rw"
        }
    }

    /// Parses `r`, `w`, `rw` (also `a`, `access`, `read`, `write`).
    public init?(shortName: String) {
        switch shortName {
        case "r", "read": self = .read
        case "w", "write": self = .write
        case "rw", "wr", "a", "access": self = .access
        default: return nil
        }
    }
}

/// One thing a debugger can arm in a guest.
///
/// Equality is exact: removing `.watch(a, 4, .write)` never removes
/// `.watch(a, 8, .write)` or `.watch(a, 4, .access)`.
public enum DebugPoint: Sendable, Hashable {
    /// An execute breakpoint in a hardware comparator (x86 DRn R/W=00; arm64 DBGBCR/DBGBVR).
    case hardware(address: UInt64)
    /// A software breakpoint: `int3` (0xCC) or `brk #0` (0xD4200000) patched into guest memory.
    case software(address: UInt64)
    /// A data watchpoint over `length` bytes from `address` (x86 DRn R/W=01/11; arm64 DBGWCR/DBGWVR).
    case watch(address: UInt64, length: UInt64, kind: WatchKind)

    /// The guest address the point is set at.
    public var address: UInt64 {
        switch self {
        case .hardware(let a), .software(let a): return a
        case .watch(let a, _, _): return a
        }
    }

    /// True for points that take a hardware comparator.
    public var usesHardwareSlot: Bool {
        if case .software = self { return false }
        return true
    }

    /// True when the point is a data watchpoint.
    public var isWatch: Bool {
        if case .watch = self { return true }
        return false
    }
}

/// Which vCPUs a debug point applies to.
public enum VCPUTarget: Sendable, Hashable {
    /// Every vCPU: the global layer, fanned out to each vCPU's table.
    case all
    /// One vCPU, by index.
    case vcpu(Int)
}

/// Which kind of hardware comparator a slot is.
public enum SlotKind: Sendable, Hashable {
    /// x86 DR0-DR3, shared by execute breakpoints and watchpoints.
    case debugRegister
    /// arm64 DBGBCR/DBGBVR pairs.
    case breakpoint
    /// arm64 DBGWCR/DBGWVR pairs.
    case watchpoint

    public var name: String {
        switch self {
        case .debugRegister: return "debug register (DR0-DR3)"
        case .breakpoint: return "hardware breakpoint"
        case .watchpoint: return "hardware watchpoint"
        }
    }
}

/// How many hardware comparators one vCPU has.
public struct SlotCapacity: Sendable, Hashable {
    /// arm64 breakpoint pairs (KVM_CAP_GUEST_DEBUG_HW_BPS); on x86 the shared DR0-DR3 count.
    public var breakpoints: Int
    /// arm64 watchpoint pairs (KVM_CAP_GUEST_DEBUG_HW_WPS); on x86 the same shared DR0-DR3 count.
    public var watchpoints: Int

    public init(breakpoints: Int, watchpoints: Int) {
        self.breakpoints = breakpoints
        self.watchpoints = watchpoints
    }

    /// x86: four debug registers shared by breakpoints and watchpoints.
    public static let x86 = SlotCapacity(breakpoints: 4, watchpoints: 4)
    /// The arm64 maximum the UAPI can carry (KVM_ARM_MAX_DBG_REGS = 16).
    public static let arm64Max = SlotCapacity(breakpoints: 16, watchpoints: 16)
}
