/// Why a vCPU stopped, as reported to users (`reason` in the JSON stop event).
public enum StopReason: Sendable, Hashable {
    case hardwareBreakpoint
    case watchpoint
    case singleStep
    case softwareBreakpoint
    /// A debug exit whose bits match nothing kvmdbg armed.
    case unknown

    /// `hw-breakpoint`, `watchpoint`, `single-step`, `sw-breakpoint` or `unknown`.
    public var name: String {
        switch self {
        case .hardwareBreakpoint: return "hw-breakpoint"
        case .watchpoint: return "watchpoint"
        case .singleStep: return "single-step"
        case .softwareBreakpoint: return "sw-breakpoint"
        case .unknown: return "unknown"
        }
    }

    /// Reporting order when one exit carries several events: data first, then execution.
    var priority: Int {
        switch self {
        case .watchpoint: return 0
        case .hardwareBreakpoint: return 1
        case .softwareBreakpoint: return 2
        case .singleStep: return 3
        case .unknown: return 4
        }
    }
}

/// One event inside a debug exit (x86 can report several DR6 bits at once).
public struct StopHit: Sendable, Hashable {
    public var reason: StopReason
    /// The armed point that fired; nil for single-step, or a guest's own int3/brk.
    public var point: DebugPoint?
    /// The comparator index that fired (DRn, DBGBCRn, DBGWCRn).
    public var slot: Int?
    /// Watchpoints: the data address (arm64 FAR; x86, where DR6 gives none, the slot's start).
    public var address: UInt64?
    /// arm64 watchpoints: ESR ISS.WnR says whether the access was a write.
    public var accessWasWrite: Bool?

    public init(reason: StopReason, point: DebugPoint? = nil, slot: Int? = nil,
                address: UInt64? = nil, accessWasWrite: Bool? = nil) {
        self.reason = reason
        self.point = point
        self.slot = slot
        self.address = address
        self.accessWasWrite = accessWasWrite
    }
}

/// A decoded debug stop of one vCPU.
public struct Stop: Sendable, Hashable {
    public var vcpu: Int
    /// Where the vCPU is now (the pc KVM reported).
    public var pc: UInt64
    /// Every event in the exit, most important first; never empty.
    public var hits: [StopHit]
    /// The raw exit, for the arch fields (dr6, dr7, exception; esr, far).
    public var exit: DebugExit

    public init(vcpu: Int, pc: UInt64, hits: [StopHit], exit: DebugExit) {
        self.vcpu = vcpu
        self.pc = pc
        self.hits = hits.sorted { $0.reason.priority < $1.reason.priority }
        self.exit = exit
    }

    /// The main event.
    public var primary: StopHit { hits.first ?? StopHit(reason: .unknown) }
    public var reason: StopReason { primary.reason }
}
