import CKVM
import KVMDebugCore
import KVMDebugGDB

/// Why `GDBPollServer.run` returned.
public enum GDBPollEnd: Sendable, Equatable {
    /// The client sent `k` / `vKill`.
    case killed
    /// The line reached end of file or failed (the errno; 0 for end of file).
    case hangup(errno: Int32)
}

/// A single-threaded GDB server over one file descriptor (a serial line, a socket): one
/// poll(2) loop, no Foundation, no threads of its own, so it builds with Embedded Swift.
///
/// The loop waits on the line and on a pipe that the session's round-finished handler (a vCPU
/// thread) writes one byte to: a stop reply leaves as soon as a round ends, and a 0x03 read
/// while a round runs calls `target.interrupt()` at once. A serial line has no connect event:
/// after a detach the guest runs free, and the first `$` or 0x03 that arrives is a new client
/// (the round is interrupted and the engine reset), so `detach` + `target remote` works.
public final class GDBPollServer<Target: GDBTarget> {
    private let engine: GDBEngine<Target>
    private let target: Target
    private let fd: Int32
    private let say: (String) -> Void
    private let log: ((String) -> Void)?
    /// [read end, write end] of the round-finished pipe; kept for the server's lifetime, so a
    /// late handler call never writes into an fd number that was reused.
    private var wake: [Int32] = [-1, -1]

    /// `fd` is the open line (not closed here); `say` gets the status lines, `log` the packet lines.
    public init(engine: GDBEngine<Target>, target: Target, fd: Int32,
                say: @escaping (String) -> Void, log: ((String) -> Void)? = nil) throws(DebugError) {
        self.engine = engine
        self.target = target
        self.fd = fd
        self.say = say
        self.log = log
        if pipe(&wake) != 0 { throw .system(call: "pipe", errno: ckvm_errno()) }
    }

    deinit {
        target.setRoundFinishedHandler(nil)
        _ = close(wake[0])
        _ = close(wake[1])
    }

    /// Serves the line until `k` or until it hangs up. The guest stays stopped until the client resumes it.
    public func run() -> GDBPollEnd {
        let signalFD = wake[1]
        target.setRoundFinishedHandler {
            var one: UInt8 = 1
            _ = write(signalFD, &one, 1)
        }
        var roundActive = false
        var freeRunning = false
        // Rounds this loop ended itself (interrupt + wait) still post their byte later: those
        // bytes must not be taken for the end of a later round.
        var staleWakes = 0

        func endRound() -> StopRound {
            roundActive = false
            return (try? target.wait()) ?? StopRound(events: [], interrupted: true)
        }
        func interruptRound() {
            target.interrupt()
            _ = endRound()
            staleWakes += 1
        }
        /// Carries out the engine's actions; false on kill.
        func perform(_ actions: [GDBAction]) -> Bool {
            for a in actions {
                switch a {
                case .send(let bytes):
                    writeAll(bytes)
                case .log(let line):
                    log?(line)
                case .resume(let modes):
                    do throws(DebugError) {
                        try target.start(modes)
                        roundActive = true
                    } catch {
                        log?("-- resume failed: \(error.message)")
                        if !perform(engine.finish(StopRound(events: [], interrupted: true))) { return false }
                    }
                case .detach:
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
                    return false
                }
            }
            return true
        }

        var buffer = [UInt8](repeating: 0, count: 4096)
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0)]
        while true {
            fds[0].revents = 0
            fds[1].revents = 0
            if poll(&fds, 2, -1) < 0 {
                let e = ckvm_errno()
                if e == EINTR { continue }
                return hangUp(e, roundActive: roundActive, interrupt: interruptRound)
            }
            if fds[1].revents != 0 {
                let n = read(wake[0], &buffer, buffer.count)
                for _ in 0..<max(n, 0) {
                    if staleWakes > 0 { staleWakes -= 1; continue }
                    guard roundActive else { continue }
                    let round = endRound()
                    if freeRunning { continue }
                    if !perform(engine.finish(round)) { return .killed }
                }
            }
            if fds[0].revents != 0 {
                let n = read(fd, &buffer, buffer.count)
                if n < 0 && (ckvm_errno() == EINTR || ckvm_errno() == EAGAIN) { continue }
                if n <= 0 { return hangUp(n == 0 ? 0 : ckvm_errno(), roundActive: roundActive, interrupt: interruptRound) }
                var bytes = Array(buffer[0..<n])
                if freeRunning {
                    // Acks or noise from the client that detached; a packet or ^C is a new client.
                    guard let start = bytes.firstIndex(where: { $0 == UInt8(ascii: "$") || $0 == 0x03 }) else { continue }
                    bytes = Array(bytes[start...])
                    if roundActive { interruptRound() }
                    freeRunning = false
                    engine.reset()
                    say("client attached")
                }
                // In all-stop GDB sends nothing but ^C while the guest runs: every 0x03 then is one.
                if roundActive && bytes.contains(0x03) {
                    target.interrupt()
                    bytes.removeAll { $0 == 0x03 }
                }
                if !bytes.isEmpty && !perform(engine.receive(bytes)) { return .killed }
            }
        }
    }

    /// End of the line: the guest is left stopped with no points (nobody asked for a detach).
    private func hangUp(_ e: Int32, roundActive: Bool, interrupt: () -> Void) -> GDBPollEnd {
        if roundActive { interrupt() }
        target.removeAllPoints()
        say(e == 0 ? "client hung up" : "line failed (errno \(e))")
        return .hangup(errno: e)
    }

    /// write(2) until every byte left (a serial line takes them a FIFO at a time).
    private func writeAll(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if ckvm_errno() == EINTR || ckvm_errno() == EAGAIN { continue }
                log?("-- write failed: errno \(ckvm_errno())")
                return
            }
            offset += n
        }
    }
}
