import KVMDebugCore
import KVMDebugFake
import KVMDebugGDB

/// What the GDB server's driver does, for one fuzz input: feeds the client's bytes to a fresh
/// engine over a fresh session on a reused fake VM (`FuzzVMs`), runs every round the engine
/// asks for, and afterwards checks what was sent and what the session left behind.
///
/// Rounds end by themselves (`RoundBudget`): once one vCPU has retired `FuzzVMs.runBudget`
/// instructions or made `RoundBudget.runs` KVM_RUNs in the round (stops the debugger swallows
/// and steps over, such as an emulated read watchpoint's, cost runs, not instructions), the
/// round is interrupted; the other vCPUs finish the run they are in. A `c` on a guest that
/// never stops costs a few dozen instructions per vCPU, never a wall-clock wait (with one
/// vCPU, the same on every run of the input; with several, how far the others get depends
/// on scheduling); a breakpoint in the guest's loop is still hit. A deadline stays as a last
/// net against a hang.
public enum GDBFuzzDriver {
    /// What one input did: the bytes sent back and the first property it broke, if any.
    public struct Outcome: Sendable {
        public var sent: [UInt8] = []
        public var violation: String? = nil
        public var killed = false
        /// Rounds run.
        public var rounds = 0
    }

    /// Runs `chunks` (each one read from the client) against `guest`; the session is closed
    /// and the VM handed back afterwards.
    public static func run(_ guest: FuzzGuest, chunks: [[UInt8]]) -> Outcome {
        var outcome = Outcome()
        let backend: FakeBackend
        do throws(DebugError) {
            backend = try FuzzVMs.take(guest)
        } catch {
            outcome.violation = "fake backend could not be built: \(error.message)"
            return outcome
        }
        defer { FuzzVMs.give(backend, guest) }
        let session = DebugSession(backend: backend)
        defer { session.close() }
        let budget = RoundBudget(vcpus: guest.vcpus)
        backend.runFinished = { [weak session] v, n in
            if budget.spend(v, instructions: n) { session?.interrupt() }
        }
        defer { backend.runFinished = nil }
        var options = GDBEngineOptions(softwareBreakpointsTrap: guest.softwareBreakpointsTrap)
        options.logPackets = guest.serverMode
        options.corePath = { _ in FuzzScratch.corePath }
        session.continuesOnCallingThread = guest.serverMode
        let engine = GDBEngine(target: session, options: options)
        loop: for chunk in chunks {
            var pending = engine.receive(chunk)
            while !pending.isEmpty {
                let actions = pending
                pending = []
                for a in actions {
                    switch a {
                    case .send(let b): outcome.sent += b
                    case .log: break
                    case .resume(let modes):
                        outcome.rounds += 1
                        budget.begin()
                        pending += engine.finish(runRound(session, modes))
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
        outcome.violation = ReplyProperties.violation(outcome.sent)
            ?? SessionProperties.violation(session, backend: backend)
        return outcome
    }

    /// One round: started and waited for (its budgets end it).
    static func runRound(_ session: DebugSession<FakeBackend>, _ modes: [ResumeMode?]) -> StopRound {
        do throws(DebugError) {
            try session.start(modes)
            return try session.wait(deadline: monotonicNanoseconds() + 2_000_000_000)
        } catch {
            // The engine answers a failed round as an interrupted one (as the server's driver does).
            return StopRound(events: [], interrupted: true)
        }
    }
}

/// What each vCPU spent in the current round, to end it after a bounded amount of guest work.
final class RoundBudget: @unchecked Sendable {
    /// KVM_RUNs one vCPU may make in a round.
    static let runs = 8
    private let spent: DebugLocked<(instructions: [Int], runs: [Int], ended: Bool)>

    init(vcpus: Int) {
        spent = DebugLocked(([Int](repeating: 0, count: vcpus), [Int](repeating: 0, count: vcpus), false))
    }

    func begin() {
        spent.withLock { s in
            for i in s.instructions.indices { s.instructions[i] = 0; s.runs[i] = 0 }
            s.ended = false
        }
    }

    /// Adds one run of vCPU `v`; true (once per round) when the round should end.
    func spend(_ v: Int, instructions: Int) -> Bool {
        spent.withLock { s in
            s.instructions[v] += instructions
            s.runs[v] += 1
            guard !s.ended, s.instructions[v] >= FuzzVMs.runBudget || s.runs[v] >= Self.runs else { return false }
            s.ended = true
            return true
        }
    }
}
