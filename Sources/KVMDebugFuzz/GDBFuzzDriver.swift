import KVMDebugCore
import KVMDebugFake
import KVMDebugGDB

/// What the GDB server's driver does, for one fuzz input: feeds the client's bytes to a fresh
/// engine over a fresh session on a reused fake VM (`FuzzVMs`), runs every round the engine
/// asks for, and afterwards checks what was sent and what the session left behind.
///
/// Every round runs on the calling thread (`DebugSession.runsRoundsOnCallingThread`): the
/// launched vCPUs take turns, so an input makes no thread switch and runs the same way every
/// time, SMP included (with vCPU threads, how far each vCPU got depended on scheduling, and
/// the thread hand-offs were most of an input's time). Turns end by themselves
/// (`RoundBudget`): once a vCPU has retired `FuzzVMs.runBudget` instructions or made
/// `RoundBudget.runs` KVM_RUNs in the round (stops the debugger swallows and steps over, such
/// as an emulated read watchpoint's, cost runs, not instructions), it is interrupted; the
/// vCPUs after it still get their turn, each to its own stop or budget. A `c` on a guest that
/// never stops costs a few dozen instructions per vCPU, never a wall-clock wait; a breakpoint
/// in the guest's loop is still hit, by every vCPU that runs into it.
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
        session.runsRoundsOnCallingThread = true
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

    /// One round: run to its end by `start` (on this thread; the budgets end it), then collected
    /// by `wait`, whose deadline never comes into play (libFuzzer's -timeout is the net).
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

/// What each vCPU spent in the current round, to end its turn after a bounded amount of guest work.
final class RoundBudget: @unchecked Sendable {
    /// KVM_RUNs one vCPU may make in a round.
    static let runs = 8
    private let spent: DebugLocked<(instructions: [Int], runs: [Int])>

    init(vcpus: Int) {
        spent = DebugLocked(([Int](repeating: 0, count: vcpus), [Int](repeating: 0, count: vcpus)))
    }

    func begin() {
        spent.withLock { s in
            for i in s.instructions.indices { s.instructions[i] = 0; s.runs[i] = 0 }
        }
    }

    /// Adds one run of vCPU `v`; true once v has spent its budget in this round (and after
    /// every later run of it), when the round should be interrupted.
    func spend(_ v: Int, instructions: Int) -> Bool {
        spent.withLock { s in
            s.instructions[v] += instructions
            s.runs[v] += 1
            return s.instructions[v] >= FuzzVMs.runBudget || s.runs[v] >= Self.runs
        }
    }
}
