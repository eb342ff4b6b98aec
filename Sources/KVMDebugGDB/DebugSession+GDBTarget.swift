import KVMDebugCore

/// The session is what the engine drives: every requirement of `GDBTarget` is DebugSession API.
extension DebugSession: GDBTarget {
    /// The round's end with no deadline (GDB rounds last until a stop or a ^C).
    public func wait() throws(DebugError) -> StopRound { try wait(deadline: nil) }

    /// The debugger's `overwrittenSoftwareBreakpoints`.
    public var overwrittenSoftwareBreakpoints: [UInt64] { debugger.overwrittenSoftwareBreakpoints }

    /// The debugger's `breakMechanism`.
    public var breakMechanism: WatchMechanismChoice {
        get { debugger.breakMechanism }
        set { debugger.breakMechanism = newValue }
    }
}
