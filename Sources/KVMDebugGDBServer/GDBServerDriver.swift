import Foundation
import KVMDebugCore
import KVMDebugGDB

/// Why the server loop ended.
public enum GDBServerEnd: Sendable, Equatable {
    /// The client sent `k` / `vKill`.
    case killed
    /// The listener was closed.
    case listenerClosed
}

/// Runs the GDB server: accepts clients, feeds the engine, runs the rounds it asks for.
///
/// Threads: an accept thread (a second client while one is attached is refused there), a
/// reader thread per client (a 0x03 while a round runs calls `target.interrupt()` at once),
/// and the calling thread, which alone touches the engine. Readers and the session's
/// round-finished handler post to one queue, so a stop reply leaves as soon as a round ends.
public final class GDBServerDriver<Target: GDBTarget>: @unchecked Sendable {
    private let engine: GDBEngine<Target>
    private let target: Target
    private let listener: GDBListener
    private let say: @Sendable (String) -> Void
    private let log: (@Sendable (String) -> Void)?
    private let queue = EventQueue()
    private let flags = NSLock()
    private var attached = false
    private var running = false

    /// `say` gets the stdout lines (`client connected`, ...); `log` every packet line for --log-packets.
    public init(engine: GDBEngine<Target>, target: Target, listener: GDBListener,
                say: @escaping @Sendable (String) -> Void, log: (@Sendable (String) -> Void)? = nil) {
        self.engine = engine
        self.target = target
        self.listener = listener
        self.say = say
        self.log = log
    }

    /// Serves clients until `k` or until the listener closes. The guest starts (and stays) stopped
    /// until the first client resumes it.
    public func run() -> GDBServerEnd {
        let q = queue
        target.setRoundFinishedHandler { q.post(.roundFinished) }
        defer { target.setRoundFinishedHandler(nil) }
        let acceptor = Thread { [self] in acceptLoop() }
        acceptor.start()

        var conn: GDBConnection? = nil
        var connID = 0
        var roundActive = false
        var freeRunning = false

        func endRound() -> StopRound {
            roundActive = false
            setRunning(false)
            return (try? target.wait()) ?? StopRound(events: [], interrupted: true)
        }

        // Every round posts exactly one .roundFinished, possibly only after wait() returned (the
        // session calls the handler outside its lock). Rounds this loop ends itself leave that event
        // behind; it must not be taken for the end of a later round (wait() would block on a guest
        // running free after a detach, and the next client would never be served).
        var staleRoundEvents = 0
        func interruptRound() {
            target.interrupt()
            _ = endRound()
            staleRoundEvents += 1
        }

        func dropClient() {
            conn?.close()
            conn = nil
            connID += 1  // bytes still queued from that client are ignored
            flags.withLock { attached = false }
        }

        /// Carries out the engine's actions; returns false on kill.
        func perform(_ actions: [GDBAction]) -> Bool {
            // Free the slot before D's OK leaves: a client that reconnects at once (gdb's
            // detach + target remote) must not be refused as a second client. Its .client
            // event queues behind this detach, so it still finds the old one dropped.
            if actions.contains(.detach) { flags.withLock { attached = false } }
            for a in actions {
                switch a {
                case .send(let b):
                    conn?.write(b)
                case .log(let line):
                    log?(line)
                case .resume(let modes):
                    do throws(DebugError) {
                        try target.start(modes)
                        roundActive = true
                        setRunning(true)
                    } catch {
                        log?("-- resume failed: \(error.message)")
                        if !perform(engine.finish(StopRound(events: [], interrupted: true))) { return false }
                    }
                case .detach:
                    dropClient()
                    freeRunning = true
                    do throws(DebugError) {
                        try target.start([ResumeMode?](repeating: .continue, count: target.vcpuCount))
                        roundActive = true
                    } catch {
                        log?("-- could not let the guest run: \(error.message)")
                    }
                    say("client detached; guest running")
                case .kill:
                    if roundActive { interruptRound() }
                    dropClient()
                    return false
                }
            }
            return true
        }

        while true {
            switch queue.take() {
            case .client(let c):
                connID += 1
                conn = c
                say("client connected")
                if roundActive {
                    // After a detach the guest ran free: the new client finds it stopped.
                    interruptRound()
                }
                freeRunning = false
                engine.reset()
                let id = connID
                let t = Thread { [self] in readLoop(c, id: id) }
                t.start()
            case .bytes(let b, let id):
                guard id == connID else { continue }
                if !perform(engine.receive(b)) { listener.close(); return .killed }
            case .roundFinished:
                if staleRoundEvents > 0 { staleRoundEvents -= 1; continue }  // a round this loop already waited for
                guard roundActive else { continue }
                let round = endRound()
                if freeRunning || conn == nil { continue }
                if !perform(engine.finish(round)) { listener.close(); return .killed }
            case .disconnected(let id):
                guard id == connID else { continue }
                if roundActive { interruptRound() }
                // No detach was asked for: leave the guest stopped and clean.
                target.removeAllPoints()
                dropClient()
                say("client disconnected")
            case .listenerClosed:
                if roundActive && !freeRunning { interruptRound() }
                conn?.close()
                return .listenerClosed
            }
        }
    }

    private func setRunning(_ v: Bool) { flags.withLock { running = v } }

    private func acceptLoop() {
        while let c = listener.accept() {
            let refuse = flags.withLock { () -> Bool in
                if attached { return true }
                attached = true
                return false
            }
            if refuse {
                Thread { Self.refuse(c) }.start()
            } else {
                queue.post(.client(c))
            }
        }
        queue.post(.listenerClosed)
    }

    /// A second client: its first packet gets an E reply, then it is closed.
    private static func refuse(_ c: GDBConnection) {
        var seen: [UInt8] = []
        while let b = c.read() {
            seen += b
            if let hash = seen.firstIndex(of: UInt8(ascii: "#")), seen.count >= hash + 3 { break }
        }
        c.write([UInt8(ascii: "+")] + frame("E.kvmdbg: another GDB client is attached"))
        c.close()
    }

    private func readLoop(_ c: GDBConnection, id: Int) {
        while var b = c.read() {
            // In all-stop GDB sends nothing but ^C while the guest runs: every 0x03 then is one.
            if b.contains(0x03), flags.withLock({ running }) {
                target.interrupt()
                b.removeAll { $0 == 0x03 }
            }
            if !b.isEmpty { queue.post(.bytes(b, id)) }
        }
        queue.post(.disconnected(id))
    }

    /// `$payload#cc` for the refusal (the engine frames everything else).
    static func frame(_ text: String) -> [UInt8] {
        let p = Array(text.utf8)
        let sum = p.reduce(UInt8(0)) { $0 &+ $1 }
        let digits = Array("0123456789abcdef".utf8)
        return [UInt8(ascii: "$")] + p + [UInt8(ascii: "#"), digits[Int(sum >> 4)], digits[Int(sum & 0xF)]]
    }
}

/// What the driver's loop reacts to.
enum DriverEvent {
    case client(GDBConnection)
    case bytes([UInt8], Int)
    case disconnected(Int)
    case roundFinished
    case listenerClosed
}

/// The driver's blocking event queue.
final class EventQueue: @unchecked Sendable {
    private let cond = NSCondition()
    private var events: [DriverEvent] = []

    func post(_ e: DriverEvent) {
        cond.lock()
        events.append(e)
        cond.signal()
        cond.unlock()
    }

    func take() -> DriverEvent {
        cond.lock()
        defer { cond.unlock() }
        while events.isEmpty { cond.wait() }
        return events.removeFirst()
    }
}
