import KVMDebugCore

/// What a driver does with its transport on the serve loop's behalf: the I/O and thread work
/// that differs between the threaded driver (sockets, reader threads) and the poll driver (one
/// fd, one thread). Everything else about serving GDB is `GDBServeLoop`'s.
public protocol GDBDriverIO: AnyObject {
    /// Writes bytes to the client (a client gone already loses them).
    func send(_ bytes: [UInt8])
    /// Starts a round: `target.start(modes)` plus what the driver does around it. `freeRun`: the
    /// guest runs on after a detach, nobody's round. True when the round ended inside `start`
    /// and the driver's round-finished handler left it to the caller (the loop takes it at once).
    func startRound(_ modes: [ResumeMode?], freeRun: Bool) throws(DebugError) -> Bool
    /// The open round's result is being taken (the driver's own "a round runs" view ends).
    func roundTaken()
    /// A detach is in the actions about to be carried out, before its `OK` leaves.
    func clientWillDetach()
    /// The client is gone (detach, kill or hang-up): the driver stops serving it.
    func dropClient()
}

extension GDBDriverIO {
    public func roundTaken() {}
    public func clientWillDetach() {}
}
