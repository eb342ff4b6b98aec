import KVMDebugCore

/// The part of serving GDB both drivers share: carries out the engine's actions (reply, resume,
/// detach, kill, log), keeps the round bookkeeping (a round open, a free run after a detach,
/// taking a round's result, interrupting it), reports a round's end, takes ^C bytes while a
/// round runs, and cleans up after a hang-up. A driver adds only its I/O (`GDBDriverIO`) and
/// the loop that waits for bytes and round ends. No Foundation, no threads: builds with
/// Embedded Swift. Not thread-safe: a driver calls it from one thread at a time (the threaded
/// driver under its lock), except `takeInterrupts`.
public final class GDBServeLoop<Target: GDBTarget>: @unchecked Sendable {
    public let engine: GDBEngine<Target>
    public let target: Target
    /// Status lines (`client connected`, ...).
    public let say: (String) -> Void
    /// Packet lines for --log-packets, and failures that are nobody's reply.
    public let log: ((String) -> Void)?
    /// A round this loop started is open (its result not taken yet).
    public private(set) var roundActive = false
    /// The open round is the guest running on after a detach: its end is nobody's stop.
    public private(set) var freeRunning = false
    /// After a `Z`/`z` reply, install the vCPUs' next debug state before the next packet
    /// (`GDBTarget.preinstallDebugState`): its KVM_SET_GUEST_DEBUG then overlaps the client's
    /// time instead of delaying the resume's stop reply. false: installed by the resume, as before.
    public var preinstallsDebugState = true
    /// Whether the resume after the last insert (index 1) or removal (index 0) stepped: the
    /// guess for the next one. gdb's continue from a breakpoint removes it, steps, inserts it
    /// again and continues, so an insert is followed by a continue and a removal by a step.
    private var steppedAfterChange = [true, false]
    /// The change whose next resume is not seen yet.
    private var changeAwaitingResume: Bool? = nil

    public init(engine: GDBEngine<Target>, target: Target, say: @escaping (String) -> Void, log: ((String) -> Void)? = nil) {
        self.engine = engine
        self.target = target
        self.say = say
        self.log = log
    }

    /// A client's bytes to the engine, and what it asks carried out; false on kill. The free run
    /// that this client's arrival interrupted (`clientArrived`) is over by now, or soon: taken first.
    public func receive<IO: GDBDriverIO>(_ bytes: [UInt8], _ io: IO) -> Bool {
        if roundActive && freeRunning { _ = endRound(io) }
        guard perform(engine.receive(bytes), io) else { return false }
        // The reply left already: the client is busy with it while the vCPUs' state goes in.
        if let inserted = engine.takePointChange(), preinstallsDebugState, !roundActive {
            changeAwaitingResume = inserted
            target.preinstallDebugState(stepping: steppedAfterChange[inserted ? 1 : 0])
        }
        return true
    }

    /// A new client: the free-running guest is kicked (its round is taken when the client's first
    /// bytes arrive, so the vCPUs leave KVM_RUN meanwhile) and the engine starts afresh.
    public func clientArrived() {
        if roundActive { target.interrupt() }
        engine.reset()
    }

    /// In all-stop GDB sends nothing but ^C while the guest runs: every 0x03 then is one. While
    /// `running`, interrupts the target and removes them from `bytes`. Touches only the target:
    /// a reader may call it while another thread holds the loop.
    public func takeInterrupts(_ bytes: inout [UInt8], running: Bool) {
        guard running, bytes.contains(0x03) else { return }
        target.interrupt()
        bytes.removeAll { $0 == 0x03 }
    }

    /// Reports the open round if it is over (a stop reply, or nothing for a free run); never
    /// waits for a running round, so a stale wake-up is harmless. False on kill.
    public func finishRoundIfOver<IO: GDBDriverIO>(_ io: IO) -> Bool {
        guard roundActive, target.isRoundOver else { return true }
        let wasFree = freeRunning
        let round = endRound(io)
        return wasFree || perform(engine.finish(round), io)
    }

    /// The client hung up without a detach: the guest is left stopped and clean (round
    /// interrupted, every point removed), the client dropped, `message` said.
    public func hangUp<IO: GDBDriverIO>(_ io: IO, _ message: String) {
        if roundActive { interruptRound(io) }
        target.removeAllPoints()
        io.dropClient()
        say(message)
    }

    /// Takes the open round's result (interrupted if the session has none).
    public func endRound<IO: GDBDriverIO>(_ io: IO) -> StopRound {
        roundActive = false
        freeRunning = false
        io.roundTaken()
        return (try? target.wait()) ?? StopRound(events: [], interrupted: true)
    }

    /// Ends the open round at once; the round-finished handler's call, when it comes, finds
    /// nothing to take.
    public func interruptRound<IO: GDBDriverIO>(_ io: IO) {
        target.interrupt()
        _ = endRound(io)
    }

    /// Carries out the engine's actions; false on kill.
    public func perform<IO: GDBDriverIO>(_ actions: [GDBAction], _ io: IO) -> Bool {
        if actions.contains(.detach) { io.clientWillDetach() }
        for a in actions {
            switch a {
            case .send(let b):
                io.send(b)
            case .log(let line):
                log?(line)
            case .resume(let modes):
                if let c = changeAwaitingResume {
                    steppedAfterChange[c ? 1 : 0] = modes.contains(.step)
                    changeAwaitingResume = nil
                }
                var round: StopRound? = nil
                do throws(DebugError) {
                    round = try startRound(modes, freeRun: false, io)
                } catch {
                    log?("-- resume failed: \(error.message)")
                    round = StopRound(events: [], interrupted: true)
                }
                if let round, !perform(engine.finish(round), io) { return false }
            case .detach:
                io.dropClient()
                do throws(DebugError) {
                    // Ended at once (an interrupt already pending): endRound left it stopped.
                    _ = try startRound([ResumeMode?](repeating: .continue, count: target.vcpuCount), freeRun: true, io)
                } catch {
                    log?("-- could not let the guest run: \(error.message)")
                }
                say("client detached; guest running")
            case .kill:
                if roundActive { interruptRound(io) }
                io.dropClient()
                return false
            }
        }
        return true
    }

    /// Starts a round through the driver; returns its result when it ended inside `start` (an
    /// interrupt already pending, an event while stepping over a point, a lone round run there).
    private func startRound<IO: GDBDriverIO>(_ modes: [ResumeMode?], freeRun: Bool, _ io: IO) throws(DebugError) -> StopRound? {
        freeRunning = freeRun
        let endedInStart: Bool
        do throws(DebugError) {
            endedInStart = try io.startRound(modes, freeRun: freeRun)
        } catch {
            freeRunning = false
            throw error
        }
        roundActive = true
        return endedInStart ? endRound(io) : nil
    }
}
