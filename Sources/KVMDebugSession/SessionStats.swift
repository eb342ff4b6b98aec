/// Session counters.
public struct SessionStats: Sendable, Hashable {
    public var rounds = 0
    public var stops = 0
    /// KVM_SET_GUEST_DEBUG calls over all vCPUs.
    public var setGuestDebugCalls = 0
    /// Rounds in which several vCPUs ran and were brought to a halt.
    public var allStopRounds = 0
    public var allStopMeanNanoseconds: UInt64 = 0
    public var allStopMaxNanoseconds: UInt64 = 0
    /// Sum behind the mean.
    var allStopTotalNanoseconds: UInt64 = 0

    public init() {}
}
