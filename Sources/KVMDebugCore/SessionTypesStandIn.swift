// Stand-in for the round and stats types of DebugSession (the lead's
// Sources/KVMDebugCore/DebugSession.swift, exactly as /tmp/gdb-contract.md gives them),
// so the GDB engine builds before the session lands. Deleted when main is merged.

/// The events of one all-stop round.
public struct StopRound: Sendable {
    /// The events of the round by vCPU index ascending: debug stops and other exits.
    public var events: [VCPUEvent]
    /// interrupt() ended the round.
    public var interrupted: Bool
    /// First vCPU's exit to the last vCPU out of KVM_RUN, nanoseconds (nil when one vCPU ran).
    public var allStopNanoseconds: UInt64?

    public init(events: [VCPUEvent], interrupted: Bool, allStopNanoseconds: UInt64? = nil) {
        self.events = events
        self.interrupted = interrupted
        self.allStopNanoseconds = allStopNanoseconds
    }
}

/// What one vCPU's part of a round ended with.
public struct VCPUEvent: Sendable {
    public var vcpu: Int
    public var event: RunEvent

    public init(vcpu: Int, event: RunEvent) {
        self.vcpu = vcpu
        self.event = event
    }
}

/// Counters of a debug session.
public struct SessionStats: Sendable {
    public var rounds: Int = 0
    public var stops: Int = 0
    /// KVM_SET_GUEST_DEBUG calls, all vCPUs.
    public var setGuestDebugCalls: Int = 0
    public var allStopRounds: Int = 0
    public var allStopMeanNanoseconds: UInt64 = 0
    public var allStopMaxNanoseconds: UInt64 = 0

    public init() {}
}
