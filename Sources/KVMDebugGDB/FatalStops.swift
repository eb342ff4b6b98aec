/// Fatal stops in the engine: which events are fatal, and the refusal every resume packet (`c`, `C`, `s`, `S`, `vCont`) gets after one: `E.text`, or for LLDB `O` text then the stop reply again.
import KVMDebugCore

extension GDBEngine {
    /// A fatal exit (`VCPUExit.isFatalStop`): reported with its signal, never resumed.
    func isFatal(_ e: VCPUEvent) -> Bool {
        if case .exit(let x) = e.event { return x.isFatalStop }
        return false
    }

    /// The error a resume gets after a fatal stop (the last one reported, or one a vCPU holds from
    /// an earlier client), nil when the guest may run. gdb prints an `E.text` reply to `vCont`/`c`.
    func fatalRefusal() -> DebugError? {
        if let e = lastEvent, case .exit(let x) = e.event, x.isFatalStop { return .fatalExit(vcpu: e.vcpu, exit: x) }
        for v in 0..<target.vcpuCount {
            if let x = target.fatalExit(of: v) { return .fatalExit(vcpu: v, exit: x) }
        }
        return nil
    }

    /// Refuses a resume after a fatal stop. gdb prints an `E.text` reply to `c`/`vCont` and stays
    /// stopped. LLDB takes any `E` reply to a continue for a lost connection and ends the process,
    /// so it (known by `QEnableErrorStrings` or `QListThreadsInStopReply`, which gdb never sends)
    /// gets the message as console output (`O`) and the same stop reply again: still stopped, same signal.
    func refuseResume(_ refusal: DebugError) {
        if errorStrings || threadsInStopReply {
            sendPacket([UInt8(ascii: "O")] + GDBHex.encode(Array(("kvmdbg: " + refusal.message + "\n").utf8)))
            sendPacket(lastStopReply)
        } else {
            sendError(refusal)
        }
    }
}
