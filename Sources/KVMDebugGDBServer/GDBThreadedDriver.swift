#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import KVMDebugCore
import KVMDebugGDB

/// Serves GDB clients one at a time over a listener (TCP, unix socket, serial line, in-memory
/// pipe) with threads: the I/O half of serving, beside the shared `GDBServeLoop`.
///
/// Threads, and no hop between them for a packet: the calling thread accepts (a second client
/// while one is attached is refused there); two reader threads per client take turns at
/// read(2) (`ReadTurn`): the one whose turn it is feeds what it reads to the loop and writes
/// the replies itself (a 0x03 while a round runs calls `target.interrupt()` before anything
/// else). A lone step, and a continue of a single vCPU, run on that reader (no thread woken
/// on the way to the stop); before such a continue it hands the turn to the other reader, which
/// is then in read(2) for a ^C while the guest runs. Any other round's end is reported by the
/// thread that ended it (the session's round-finished handler, on a vCPU thread), which writes
/// the stop reply. The loop and the driver's state sit behind one lock, held only for short work,
/// never while a round runs free. A vCPU thread never waits for that lock (the holder may be
/// waiting for that vCPU): it only tries it, and when it is taken leaves the report to the
/// holder, which looks for one each time it lets go.
public final class GDBThreadedDriver<Target: GDBTarget>: GDBDriverIO, @unchecked Sendable {
    private let loop: GDBServeLoop<Target>
    private var target: Target { loop.target }
    private let listener: GDBListener

    /// The loop, the target's rounds and every field below.
    private let lock = NSLock()
    private var conn: GDBConnection? = nil
    /// Bumped per client and when one is dropped: a reader of an older one is ignored.
    private var connID = 0
    /// run() returned (or is returning): readers and late round ends do nothing.
    private var finished = false
    private var end: GDBServeEnd? = nil
    /// Set by the round-finished handler when it ran inside `target.start` on the thread
    /// that holds `lock` (a round that ended at once): that caller takes the round itself.
    private var endedInStart = false
    /// pthread_self() of the thread inside `target.start`, 0 when none.
    private let starter = Atomic<UInt>(0)

    /// The readers' view, outside `lock`: a client's round runs (so a 0x03 is an interrupt).
    private let running = Atomic<Bool>(false)
    /// A client is attached: the accept loop refuses others (outside `lock`: never waits for a round).
    private let attached = Atomic<Bool>(false)
    /// `connID`, readable without `lock` (held through a lone continue).
    private let currentConnID = Atomic<Int>(0)
    /// Signalled when a client is dropped: a newcomer waiting for a hung-up client's reader wakes.
    /// Also guards `current`, which the accept loop reads without `lock` (held through a lone
    /// continue).
    private let departed = NSCondition()
    private var current: GDBConnection? = nil
    /// The reader running loop work under `lock` now (nil: another thread of ours): a lone
    /// continue on it hands its turn to the other reader first.
    private var activeReader: (turn: ReadTurn, me: Int)? = nil
    /// Lone continues run on a reader (`continuesOnCallingThread`); false keeps every continue on
    /// the vCPU threads.
    public var continuesOnReader = true
    /// While a lone continue runs on a reader (holding `lock`), bytes other than ^C that the other
    /// reader reads wait here rather than for `lock`, so it keeps reading (a ^C after them is
    /// still seen); the round's thread feeds them to the engine when the round ends. Bounded:
    /// a client that floods a running guest with packets loses what exceeds it.
    private let stashLock = NSLock()
    private var stashOpen = false
    private var stashed: [UInt8] = []
    private static var stashLimit: Int { 1 << 20 }
    /// A round ended and nobody took `lock` to report it yet.
    private let roundEndPending = Atomic<Bool>(false)

    /// Reader threads whose client left wait here for the next one (guards the three below):
    /// waking a parked thread is a wake-up, while a new thread starts behind every runnable
    /// one (the scheduler's start debit), which cost an attach milliseconds on a loaded host.
    private let parking = NSCondition()
    private var parkedReaders = 0
    private var handedOver: [ReaderJob] = []
    private var readersDone = false

    /// One reader's share of a client: the connection, its id and which of the two turns it has.
    private struct ReaderJob {
        var conn: GDBConnection
        var id: Int
        var turn: ReadTurn
        var me: Int
    }

    /// Serves `loop` (see `serve(session:options:driver:)`) to the clients of `listener`.
    public init(loop: GDBServeLoop<Target>, listener: GDBListener) {
        self.loop = loop
        self.listener = listener
    }

    /// Serves clients until `k` or until the listener closes. The guest starts (and stays) stopped
    /// until the first client resumes it.
    public func run() -> GDBServeEnd {
        target.setRoundFinishedHandler { [self] in roundFinished() }
        defer { target.setRoundFinishedHandler(nil) }
        while let c = listener.accept() {
            if !claimClientSlot() {
                Thread { [self] in refuse(c) }.start()
                continue
            }
            let id: Int? = locked {
                if finished { return nil }
                connID += 1
                currentConnID.store(connID, ordering: .releasing)
                conn = c
                departed.withLock { current = c }
                loop.say("client connected")
                // After a detach the guest ran free: the new client finds it stopped.
                loop.clientArrived()
                return connID
            }
            guard let id else { c.close(); break }
            let turn = ReadTurn()
            handOver(ReaderJob(conn: c, id: id, turn: turn, me: 0))
            handOver(ReaderJob(conn: c, id: id, turn: turn, me: 1))
        }
        // A lone continue holds `lock` on a reader until the guest stops: stop it first.
        if running.load(ordering: .acquiring) { target.interrupt() }
        let e: GDBServeEnd = locked {
            if end == nil && loop.roundActive && !loop.freeRunning { loop.interruptRound(self) }
            finished = true
            conn?.close()
            if let e = end { return e }
            return listener.failure.map { .listenerFailed($0) } ?? .listenerClosed
        }
        parking.lock()
        readersDone = true
        parking.broadcast()
        parking.unlock()
        return e
    }

    /// Marks a client attached; false when another one really is. A client that hung up a moment
    /// ago (a script's connect-and-close probe, a gdb that quit without detaching) may not have
    /// been noticed by its reader yet: the newcomer then waits for that reader to drop it (an event,
    /// with a generous ceiling) instead of being refused.
    private func claimClientSlot() -> Bool {
        let deadline = Date().addingTimeInterval(10)
        while !attached.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            // Not under `lock`: a lone continue holds it while the guest runs.
            departed.lock()
            defer { departed.unlock() }
            guard current?.hasHungUp ?? true, Date() < deadline else { return false }
            if attached.load(ordering: .acquiring) { _ = departed.wait(until: min(deadline, Date().addingTimeInterval(0.05))) }
        }
        return true
    }

    /// Gives one reader's share of a client to a parked reader thread, or to a new one when none is parked.
    private func handOver(_ job: ReaderJob) {
        parking.lock()
        if parkedReaders > handedOver.count {
            handedOver.append(job)  // claimed: whichever parked reader wakes first takes it
            parking.signal()
            parking.unlock()
            return
        }
        parking.unlock()
        Thread { [self] in readerThread(job) }.start()
    }

    /// Serves clients one after another: after each, parks until `handOver` gives it the next.
    private func readerThread(_ job: ReaderJob) {
        var next: ReaderJob? = job
        while let job = next {
            readLoop(job)
            parking.lock()
            parkedReaders += 1
            while handedOver.isEmpty && !readersDone { parking.wait() }
            next = handedOver.isEmpty ? nil : handedOver.removeFirst()
            parkedReaders -= 1
            parking.unlock()
        }
    }

    // MARK: GDBDriverIO (called by the loop, `lock` held)

    public func send(_ bytes: [UInt8]) { conn?.write(bytes) }

    public func roundTaken() { running.store(false, ordering: .releasing) }

    /// Frees the slot before D's OK leaves: a client that reconnects at once (gdb's detach +
    /// target remote) must not be refused as a second client. Its connection waits for `lock`
    /// in the accept loop, so it still finds the old one dropped.
    public func clientWillDetach() { attached.store(false, ordering: .releasing) }

    public func dropClient() {
        conn?.close()
        conn = nil
        connID += 1  // bytes still read from that client are ignored
        currentConnID.store(connID, ordering: .releasing)
        attached.store(false, ordering: .releasing)
        departed.lock()
        current = nil
        departed.broadcast()
        departed.unlock()
    }

    /// A lone continue of a client's runs on this thread (the free run after a detach never: it
    /// would keep a reader in KVM_RUN); a reader hands its turn to the other one first.
    public func startRound(_ modes: [ResumeMode?], freeRun: Bool) throws(DebugError) -> Bool {
        endedInStart = false
        starter.store(UInt(pthread_self()), ordering: .releasing)
        defer { starter.store(0, ordering: .releasing) }
        let lone = modes.compactMap { $0 } == [.continue]
        let here = continuesOnReader && lone && !freeRun
        target.continuesOnCallingThread = here
        // Before the turn passes and before `start`: a reader must take a 0x03 for an interrupt
        // from now on (one taken to the engine would wait for `lock`, held here while the guest
        // runs). A free run after a detach is no client's: a 0x03 then goes to the engine.
        running.store(!freeRun, ordering: .releasing)
        if here { stashLock.withLock { stashOpen = true } }
        if here, let r = activeReader { r.turn.pass(from: r.me) }
        do throws(DebugError) {
            try target.start(modes)
        } catch {
            running.store(false, ordering: .releasing)
            if here { feedStash() }
            throw error
        }
        if here { feedStash() }
        defer { endedInStart = false }
        return endedInStart
    }

    // MARK: With `lock` held

    /// Runs `body` holding `lock`; after letting go, reports a round that ended meanwhile.
    private func locked<R>(_ body: () -> R) -> R {
        lock.lock()
        let r = body()
        lock.unlock()
        reportPendingRoundEnd(onRoundThread: false)
        return r
    }

    /// Whoever gets `lock` reports the ended round; a failed try leaves it to the holder, which
    /// calls this after its unlock (the flag is set before the try, read after the unlock).
    private func reportPendingRoundEnd(onRoundThread: Bool) {
        while roundEndPending.load(ordering: .sequentiallyConsistent) && lock.try() {
            if roundEndPending.exchange(false, ordering: .sequentiallyConsistent) {
                finishOpenRound(onRoundThread: onRoundThread)
            }
            lock.unlock()
        }
    }

    /// Ends the server after `k`: the accept loop sees the listener closed.
    private func killed() {
        end = .killed
        finished = true
        listener.close()
    }

    /// Ends the stash of a lone continue that ran here; what it holds goes to the engine, which
    /// still counts the round as running and so handles those packets after its stop reply.
    private func feedStash() {
        let held: [UInt8] = stashLock.withLock {
            stashOpen = false
            defer { stashed = [] }
            return stashed
        }
        if !held.isEmpty { _ = loop.perform(loop.engine.receive(held), self) }
    }

    /// Keeps `b` for the round's thread when a lone continue runs on a reader; false otherwise.
    private func stashWhileARoundRunsHere(_ b: [UInt8]) -> Bool {
        stashLock.withLock {
            guard stashOpen else { return false }
            if stashed.count + b.count <= Self.stashLimit { stashed += b }
            return true
        }
    }

    /// What a reader does with bytes from its client; false: stop reading.
    private func received(_ b: [UInt8], _ job: ReaderJob) -> Bool {
        locked {
            guard job.id == connID, !finished else { return false }
            activeReader = (job.turn, job.me)
            defer { activeReader = nil }
            if !loop.receive(b, self) { killed(); return false }
            return true
        }
    }

    // MARK: Threads

    /// The session's round-finished handler: on the vCPU thread that ended the round (or on
    /// the thread inside `target.start` when it ended there). The stop reply leaves from here,
    /// or from whoever holds `lock` now, when it lets go.
    private func roundFinished() {
        if starter.load(ordering: .acquiring) == UInt(pthread_self()) {
            // Inside startRound on this very thread, `lock` held: it takes the round itself.
            endedInStart = true
            return
        }
        roundEndPending.store(true, ordering: .sequentiallyConsistent)
        reportPendingRoundEnd(onRoundThread: true)
    }

    /// Reports the open round if it is over (lock held); never waits for a running round. A
    /// round this driver ended itself (interrupt, hang-up, new client) was taken already.
    private func finishOpenRound(onRoundThread: Bool) {
        guard loop.roundActive, !finished, target.isRoundOver else { return }
        if onRoundThread && loop.engine.hasDeferredPackets {
            // Packets that came while it ran may start the next round, and a vCPU thread must
            // not wait for a round it belongs to: a thread of ours handles them.
            Thread { [self] in locked { finishOpenRound(onRoundThread: false) } }.start()
            return
        }
        if conn == nil { _ = loop.endRound(self); return }  // nobody to report it to
        if !loop.finishRoundIfOver(self) { killed() }
    }

    /// A second client while one is really attached: its first packet gets an E reply that gdb and
    /// scripts print, then it is closed; the server's own output says so too (lldb shows only that
    /// its connection failed).
    private func refuse(_ c: GDBConnection) {
        var seen: [UInt8] = []
        while let b = c.read() {
            seen += b
            if let hash = seen.firstIndex(of: UInt8(ascii: "#")), seen.count >= hash + 3 { break }
        }
        if !seen.isEmpty { loop.say("client refused: another GDB client is attached") }
        c.write([UInt8(ascii: "+")] + framePacket(Array("E.kvmdbg: another GDB client is attached; detach it (or quit it) first".utf8)))
        c.close()
    }

    private func readLoop(_ job: ReaderJob) {
        let c = job.conn
        // While a round runs, the reader whose turn it is watches for ^C: it blocks at once, as
        // without polling (a watcher that polled first took 1.8 ms per ^C, median, on an idle
        // host against 0.14 ms: measured; likely its wake-up no longer preempted the vCPU's
        // thread on a shared CPU, having just spent its share spinning).
        while job.turn.wait(for: job.me), var b = c.read(polling: !running.load(ordering: .acquiring)) {
            loop.takeInterrupts(&b, running: running.load(ordering: .acquiring))
            if b.isEmpty || stashWhileARoundRunsHere(b) { continue }
            if !received(b, job) { break }
        }
        // The other reader leaves too (it may be waiting for its turn).
        job.turn.end()
        // A hang-up during a lone continue: the reader running it holds `lock` until it stops.
        // Only this client's round: a reader of a client dropped already must not stop the next one's.
        if running.load(ordering: .acquiring) && currentConnID.load(ordering: .acquiring) == job.id { target.interrupt() }
        locked {
            guard job.id == connID, !finished else { return }
            loop.hangUp(self, "client disconnected")
        }
    }
}

/// Whose turn it is to read one client's connection: one of its two reader threads reads at a
/// time (so bytes are handled in order); the other waits, and takes over when the first starts
/// a lone continue on itself.
final class ReadTurn: @unchecked Sendable {
    private let cond = NSCondition()
    private var holder = 0
    private var over = false

    /// Waits until it is reader `me`'s turn; false once the client is gone.
    func wait(for me: Int) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        while holder != me && !over { cond.wait() }
        return !over
    }

    /// Reader `me` hands the turn to the other one.
    func pass(from me: Int) {
        cond.lock()
        if holder == me { holder = 1 - me }
        cond.broadcast()
        cond.unlock()
    }

    /// The client is gone: both readers stop.
    func end() {
        cond.lock()
        over = true
        cond.broadcast()
        cond.unlock()
    }
}
