/// Thread packets: `H` (g/c), `T` (alive?); threads are vCPUs, vCPU n is thread n + 1.
import KVMDebugCore

extension GDBEngine {
    /// Selects the thread later packets apply to, or says whether one exists. The packets are `H`, `T`.
    func handleThreads(_ p: ArraySlice<UInt8>) {
        if p.first == UInt8(ascii: "T") {
            guard let t = parseThread(p.dropFirst()), case .vcpu = t else { sendErrno(1); return }
            sendOK()
            return
        }
        let op = p.dropFirst().first
        guard let t = parseThread(p.dropFirst(2)) else { sendErrno(1); return }
        switch op {
        case UInt8(ascii: "g"):
            // -1 and 0 for registers and memory: keep the current thread.
            if case .vcpu(let v) = t { generalThread = v }
        case UInt8(ascii: "c"):
            if case .vcpu(let v) = t { continueThread = v } else { continueThread = nil }
        default:
            sendErrno(1)
            return
        }
        sendOK()
    }
}
