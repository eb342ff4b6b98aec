import KVMDebugCore
import KVMDebugFake
import KVMDebugGDB

/// The GDB engine in process, with no socket and no thread hop: packets per second for
/// the requests gdb's round trips are made of, so section 4's gap to the null stub can be
/// split into engine work and transport (reader thread -> engine thread -> write).
struct EngineRate: Codable {
    var packet: String
    var backend: String
    var packetsPerSecond: Summary
}

/// One frame `$payload#cc`.
func gdbFrame(_ p: String) -> [UInt8] {
    let b = Array(p.utf8)
    let sum = b.reduce(UInt8(0)) { $0 &+ $1 }
    let digits = Array("0123456789abcdef".utf8)
    return [0x24] + b + [0x23, digits[Int(sum >> 4)], digits[Int(sum & 0xF)]]
}

/// Feeds `packet` to the engine `n` times; a `.resume` is run as the driver runs it
/// (start, wait, finish), so `vCont;s` includes the session round and the stop reply.
func engineRates<B: DebugBackend>(_ name: String, backend: B, reps: Int, seconds: Double) -> [EngineRate] {
    let session = DebugSession(backend: backend)
    defer { session.close() }
    var options = GDBEngineOptions()
    options.logPackets = false  // as `kvmdbg gdbserver` without --log-packets
    let engine = GDBEngine(target: session, options: options)
    func feed(_ bytes: [UInt8]) {
        var pending = engine.receive(bytes)
        while let a = pending.first {
            pending.removeFirst()
            if case .resume(let modes) = a {
                do throws(DebugError) {
                    try session.start(modes)
                    pending += engine.finish(try session.wait())
                } catch { fatalError("engine rate: \(error.message)") }
            }
        }
    }
    feed(Array("+".utf8) + gdbFrame("QStartNoAckMode"))
    var out: [EngineRate] = []
    for p in ["m1000,400", "g", "m1002,1", "qfThreadInfo", "vCont;s:1;c"] {
        let frame = gdbFrame(p)
        var samples: [Double] = []
        for _ in 0..<reps { samples.append(rate(seconds: seconds, batch: 64) { n in for _ in 0..<n { feed(frame) } }) }
        out.append(EngineRate(packet: p, backend: name, packetsPerSecond: Summary(samples)))
    }
    return out
}
