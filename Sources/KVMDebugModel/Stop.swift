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
    /// Protection watchpoints: the bytes the trapped access touched, before and after it
    /// (a load: the value read, both the same); nil where the mechanism cannot know.
    public var oldValue: [UInt8]?
    public var newValue: [UInt8]?

    public init(reason: StopReason, point: DebugPoint? = nil, slot: Int? = nil,
                address: UInt64? = nil, accessWasWrite: Bool? = nil,
                oldValue: [UInt8]? = nil, newValue: [UInt8]? = nil) {
        self.reason = reason
        self.point = point
        self.slot = slot
        self.address = address
        self.accessWasWrite = accessWasWrite
        self.oldValue = oldValue
        self.newValue = newValue
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
        // Decoders mostly give one hit, already in order: sort (stable) only when needed.
        var inOrder = true
        for i in hits.indices.dropFirst() where hits[i - 1].reason.priority > hits[i].reason.priority { inOrder = false }
        self.hits = inOrder ? hits : hits.sorted { $0.reason.priority < $1.reason.priority }
        self.exit = exit
    }

    /// The main event.
    public var primary: StopHit { hits.first ?? StopHit(reason: .unknown) }
    public var reason: StopReason { primary.reason }
}

/// The architecture's own record of a stop, as the exit gave it.
public enum StopTrap: Sendable, Hashable {
    /// x86: exception vector (1 #DB, 3 #BP); DR6/DR7 are meaningful on #DB only.
    case x86(exception: UInt32, dr6: UInt64, dr7: UInt64)
    /// arm64: ESR_EL2, its exception class, FAR (meaningful for watchpoints).
    case arm64(esr: UInt64, ec: UInt8, far: UInt64)
    /// A protection watchpoint: the guest-physical access KVM reported as `KVM_EXIT_MMIO`.
    case protection(address: UInt64, isWrite: Bool, length: Int)
}

/// The fields every stop renderer draws on (text, JSON lines, the lanes' canonical
/// line, GDB stop replies): one derivation, several formats.
extension Stop {
    /// The data address of a watchpoint stop (arm64 FAR; x86 the watched slot's start); nil for other stops.
    public var dataAddress: UInt64? { reason == .watchpoint ? primary.address : nil }

    /// Whether the watched access was a write (arm64 ESR ISS.WnR); nil when the exit does not say.
    public var accessWasWrite: Bool? { primary.accessWasWrite }

    /// The architecture's record of the exit.
    public var trap: StopTrap {
        switch exit {
        case .x86(let exception, _, let dr6, let dr7): return .x86(exception: exception, dr6: dr6, dr7: dr7)
        case .arm64(let esr, let far, _): return .arm64(esr: esr, ec: Arm64DebugEncoding.esrClass(esr), far: far)
        case .protection(let a, let w, let l, _): return .protection(address: a, isWrite: w, length: l)
        }
    }

    /// The exception class: the x86 vector, or the arm64 ESR.EC.
    public var exceptionClass: UInt64 {
        switch trap {
        case .x86(let exception, _, _): return UInt64(exception)
        case .arm64(_, let ec, _): return UInt64(ec)
        case .protection: return 0  // no exception: a memory-slot exit
        }
    }

    /// `vcpu=<n> reason=<name> pc=0x.. addr=0x..|- ec=0x..`: the line the lanes compare
    /// between real KVM and the fake backend (`vcpuLabel` replaces the index where the
    /// scheduler decides which vCPU stops first).
    public func canonicalLine(vcpuLabel: String? = nil) -> String {
        "vcpu=\(vcpuLabel ?? String(vcpu)) reason=\(reason.name) pc=\(hex(pc)) addr=\(dataAddress.map { hex($0) } ?? "-") ec=\(hex(exceptionClass))"
    }
}
