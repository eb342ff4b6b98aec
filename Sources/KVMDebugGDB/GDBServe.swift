import KVMDebugCore

/// How `serve(session:options:driver:)` serves a session: the engine's options and where the
/// driver's lines go.
public struct GDBServeOptions: Sendable {
    /// What the engine advertises and how `monitor` answers.
    public var engine: GDBEngineOptions
    /// Status lines (`client connected`, `client detached; guest running`, ...).
    public var say: @Sendable (String) -> Void
    /// Every packet line (with `engine.logPackets`) and failures that are nobody's reply; nil: dropped.
    public var log: (@Sendable (String) -> Void)?

    public init(engine: GDBEngineOptions = GDBEngineOptions(), say: @escaping @Sendable (String) -> Void,
                log: (@Sendable (String) -> Void)? = nil) {
        self.engine = engine
        self.say = say
        self.log = log
    }
}

/// Why serving ended.
public enum GDBServeEnd: Sendable, Equatable {
    /// The client sent `k` / `vKill`.
    case killed
    /// The listener was closed (a signal, the embedding program).
    case listenerClosed
    /// The listener could not take the next client (a serial device that would not reopen).
    case listenerFailed(DebugError)
    /// The one line reached end of file or failed (the errno; 0 for end of file).
    case hangUp(errno: Int32)
}

/// Serves `session` to GDB clients: the one assembly `kvmdbg gdbserver`, a host VMM
/// (examples/host-vmm) and the arm64 GDB lane use. Sets what every GDB server of kvmdbg needs
/// (a guest's own int3/brk is reported once, then handed to the guest on continue, rather than
/// re-run for ever), builds the engine and the serve loop, gives the loop to `driver` (the
/// threaded or the poll driver over its transport), and closes the session when it returns.
public func serve<Backend: DebugBackend>(
    session: DebugSession<Backend>, options: GDBServeOptions,
    driver: (GDBServeLoop<DebugSession<Backend>>) throws(DebugError) -> GDBServeEnd
) throws(DebugError) -> GDBServeEnd {
    defer { session.close() }
    session.debugger.foreignBreakpointPolicy = .handBackToGuest
    let loop = GDBServeLoop(engine: GDBEngine(target: session, options: options.engine), target: session,
                            say: options.say, log: options.log)
    return try driver(loop)
}
