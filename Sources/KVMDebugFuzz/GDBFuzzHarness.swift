import KVMDebugCore
import KVMDebugFake
import KVMDebugGDB

/// Feeds one fuzz input to a fresh GDB engine over a fake-backend session and checks its replies.
///
/// The first byte picks the guest (x86_64 long mode or arm64, one or two vCPUs); the rest is
/// what a client sent, in chunks of a length the input also chooses, so packets split at any
/// byte. Every round is bounded (`BoundedGDBTarget`), so no input can hang. Used by the
/// libFuzzer entry point (`kvmdbg-fuzz`) and by the corpus replay test.
public enum GDBFuzzHarness {
    /// What one input did: the bytes sent back and a protocol violation found in them, if any.
    public struct Outcome: Sendable {
        public var sent: [UInt8] = []
        public var violation: String? = nil
        public var killed = false
    }

    /// Runs `input` to its end (or to a `k`); the session is closed afterwards.
    public static func run(_ input: [UInt8]) -> Outcome {
        var outcome = Outcome()
        guard let first = input.first else { return outcome }
        let guest = first & 1 == 0 ? BuiltinGuests.counterX86(.long) : BuiltinGuests.counterArm64()
        let vcpus = first & 2 == 0 ? 1 : 2
        guard let backend = try? FakeBackend(guest: guest, vcpus: vcpus) else {
            outcome.violation = "fake backend could not be built"
            return outcome
        }
        // A second net under the round deadline: one KVM_RUN never interprets for long.
        backend.maxInstructionsPerRun = 10_000
        let session = DebugSession(backend: backend)
        defer { session.close() }
        let target = BoundedGDBTarget(session: session)
        let engine = GDBEngine(target: target, options: GDBEngineOptions(softwareBreakpointsTrap: first & 4 == 0))
        // Chunk sizes 1...16 from the high nibble: the decoder must not care where reads split.
        let chunk = Int(first >> 4) + 1
        var at = 1
        loop: while at < input.count {
            let end = min(at + chunk, input.count)
            var pending = engine.receive(Array(input[at..<end]))
            at = end
            while !pending.isEmpty {
                let actions = pending
                pending = []
                for a in actions {
                    switch a {
                    case .send(let b): outcome.sent += b
                    case .log: break
                    case .resume(let modes):
                        let round: StopRound
                        do throws(DebugError) {
                            try target.start(modes)
                            round = try target.wait()
                        } catch {
                            round = StopRound(events: [], interrupted: true)
                        }
                        pending += engine.finish(round)
                    case .detach:
                        // The driver would let the guest run and wait for the next client.
                        engine.reset()
                    case .kill:
                        outcome.killed = true
                        break loop
                    }
                }
            }
        }
        outcome.violation = framingViolation(outcome.sent)
        return outcome
    }

    /// The first malformed thing in what the engine sent: a packet with a bad checksum, an
    /// unescaped `$`/`#` inside one, a packet over PacketSize, or a byte outside any packet
    /// that is not an ack. nil when the stream is well formed.
    public static func framingViolation(_ bytes: [UInt8]) -> String? {
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "+") || b == UInt8(ascii: "-") { i += 1; continue }
            guard b == UInt8(ascii: "$") else { return "stray byte \(b) at \(i)" }
            var j = i + 1
            var sum: UInt8 = 0
            while j < bytes.count && bytes[j] != UInt8(ascii: "#") {
                if bytes[j] == UInt8(ascii: "$") { return "unescaped $ inside the packet at \(i)" }
                sum &+= bytes[j]
                j += 1
            }
            guard j + 2 < bytes.count else { return "truncated packet at \(i)" }
            // Replies may be longer than what we accept (qXfer documents, g); only check the frame.
            guard let hi = GDBHexDigit.value(bytes[j + 1]), let lo = GDBHexDigit.value(bytes[j + 2]),
                  hi << 4 | lo == sum else { return "bad checksum on the packet at \(i)" }
            i = j + 3
        }
        return nil
    }
}

/// A hex digit's value (the harness checks replies without the engine's own decoder).
enum GDBHexDigit {
    static func value(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
