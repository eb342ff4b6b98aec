import KVMDebugModel

/// One round's outcome.
public struct StopRound: Sendable {
    /// The events of the round by vCPU index ascending: debug stops and other exits.
    /// vCPUs that were only kicked to a halt are absent (never `.kicked`); empty when the
    /// round was interrupted before any event.
    public var events: [VCPUEvent]
    /// `interrupt()` ended the round.
    public var interrupted: Bool
    /// `wait(deadline:)` ended the round (then `interrupted` is true as well).
    public var timedOut = false
    /// First vCPU's exit to the last vCPU out of KVM_RUN, nanoseconds (nil when one vCPU ran).
    public var allStopNanoseconds: UInt64?

    public init(events: [VCPUEvent], interrupted: Bool, allStopNanoseconds: UInt64? = nil) {
        self.events = events
        self.interrupted = interrupted
        self.allStopNanoseconds = allStopNanoseconds
    }

    /// The debug stops of the round.
    public var stops: [Stop] {
        events.compactMap { e in
            if case .stop(let s) = e.event { return s }
            return nil
        }
    }
}

/// One vCPU's event in a round.
public struct VCPUEvent: Sendable {
    public var vcpu: Int
    public var event: RunEvent

    public init(vcpu: Int, event: RunEvent) {
        self.vcpu = vcpu
        self.event = event
    }
}
