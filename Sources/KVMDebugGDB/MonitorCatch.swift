/// `monitor catch exception VECTOR|all|off`: stop at the guest's own exception handlers, and say which exception, why and where.
import KVMDebugCore

extension GDBEngine {
    /// Arms (or with `off` disarms) an `ExceptionCatch` on the general thread's tables. `VECTOR` is
    /// one x86 vector or several separated by commas; on arm64 any vector (or `all`) arms the
    /// VBAR_EL1 synchronous and SError entries. The packet is `qRcmd`.
    func monitorCatch(_ w: [String], _ lines: inout [String]) -> MonitorResult {
        let usage = "usage: monitor catch exception VECTOR[,VECTOR...]|all|off"
        guard w.count == 3, w[1] == "exception" else { return .error(usage) }
        if w[2] == "off" {
            if let c = exceptionCatch { c.disarm(target) }
            exceptionCatch = nil
            lines.append("exception catching off")
            return .ok
        }
        var vectors: [UInt8] = []
        if w[2] != "all" {
            for part in w[2].split(separator: ",") {
                guard let v = UInt8(part) else { return .error(usage) }
                vectors.append(v)
            }
        }
        do throws(DebugError) {
            let c = try ExceptionCatch(vectors: vectors)
            exceptionCatch?.disarm(target)
            exceptionCatch = nil
            let armed = try c.refresh(target, vcpu: generalThread)
            exceptionCatch = c
            for (a, vs) in armed.sorted(by: { $0.key < $1.key }) {
                let what = target.arch == .x86_64 ? vs.map { ExceptionCatch.x86Name($0) }.joined(separator: ", ") : "vector-table entry"
                lines.append("catching \(what): hardware breakpoint on the handler at \(hex(a))")
            }
            lines.append("tables are read again at every stop; an exception without a valid handler still ends as a fatal stop")
        } catch {
            return .error(error.message)
        }
        return .ok
    }

    /// At the end of a round: the caught exceptions as console lines (before the stop reply, so
    /// gdb prints them with the stop), remembered for `monitor why`; then the tables are read again.
    func reportCaughtExceptions(_ round: StopRound) {
        guard let c = exceptionCatch else { return }
        lastCaught = nil
        for s in round.stops {
            guard let e = c.caught(s, on: target) else { continue }
            lastCaught = e
            sendPacket([UInt8(ascii: "O")] + GDBHex.encode(Array(("kvmdbg: " + e.line + "\n").utf8)))
        }
        if let stopped = round.events.first?.vcpu {
            // A failed re-read (the guest is mid-switch) keeps the old breakpoints.
            _ = try? c.refresh(target, vcpu: stopped)
        }
    }
}
