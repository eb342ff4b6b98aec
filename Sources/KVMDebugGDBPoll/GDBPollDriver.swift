import CPosix
import KVMDebugCore
// The arm64 lane compiles this file into one module with the engine (no KVMDebugGDB to import).
#if canImport(KVMDebugGDB)
import KVMDebugGDB
#endif

/// Serves GDB over one file descriptor (a serial line, a socket) on one thread: the I/O half of
/// serving, beside the shared `GDBServeLoop`. One poll(2) loop, no Foundation, no threads of its
/// own, so it builds with Embedded Swift (the arm64 GDB lane serves from inside its guest with it).
///
/// The loop waits on the line and on a pipe that the session's round-finished handler (a vCPU
/// thread) writes one byte to: a stop reply leaves as soon as a round ends, and a 0x03 read
/// while a round runs calls `target.interrupt()` at once. A serial line has no connect event:
/// after a detach the guest runs free, and the first `$` or 0x03 that arrives is a new client
/// (the round is interrupted and the engine reset), so `detach` + `target remote` works.
public final class GDBPollDriver<Target: GDBTarget>: GDBDriverIO {
    private let loop: GDBServeLoop<Target>
    private let fd: Int32
    /// [read end, write end] of the round-finished pipe; kept for the driver's lifetime, so a
    /// late handler call never writes into an fd number that was reused.
    private var wake: [Int32] = [-1, -1]
    /// The client detached: the next `$` or 0x03 on the line is a new one.
    private var clientGone = false

    /// Serves `loop` (see `serve(session:options:driver:)`) on `fd`, the open line (not closed here).
    public init(loop: GDBServeLoop<Target>, fd: Int32) throws(DebugError) {
        self.loop = loop
        self.fd = fd
        if pipe(&wake) != 0 { throw .system(call: "pipe", errno: cposix_errno()) }
    }

    deinit {
        loop.target.setRoundFinishedHandler(nil)
        _ = close(wake[0])
        _ = close(wake[1])
    }

    /// Serves the line until `k` or until it hangs up. The guest stays stopped until the client resumes it.
    public func run() -> GDBServeEnd {
        let signalFD = wake[1]
        loop.target.setRoundFinishedHandler {
            var one: UInt8 = 1
            _ = write(signalFD, &one, 1)
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wake[0], events: Int16(POLLIN), revents: 0)]
        while true {
            fds[0].revents = 0
            fds[1].revents = 0
            if poll(&fds, 2, -1) < 0 {
                let e = cposix_errno()
                if e == EINTR { continue }
                return hangUp(e)
            }
            if fds[1].revents != 0 {
                // Any number of wake-ups: the loop reports the open round only once it is over.
                _ = read(wake[0], &buffer, buffer.count)
                if !loop.finishRoundIfOver(self) { return .killed }
            }
            if fds[0].revents != 0 {
                let n = read(fd, &buffer, buffer.count)
                if n < 0 && (cposix_errno() == EINTR || cposix_errno() == EAGAIN) { continue }
                if n <= 0 { return hangUp(n == 0 ? 0 : cposix_errno()) }
                if !received(Array(buffer[0..<n])) { return .killed }
            }
        }
    }

    /// Bytes from the line; false on kill.
    private func received(_ read: [UInt8]) -> Bool {
        var bytes = read
        if clientGone {
            // Acks or noise from the client that detached; a packet or ^C is a new client.
            guard let start = bytes.firstIndex(where: { $0 == UInt8(ascii: "$") || $0 == 0x03 }) else { return true }
            bytes = Array(bytes[start...])
            clientGone = false
            loop.clientArrived()
            loop.say("client attached")
        }
        loop.takeInterrupts(&bytes, running: loop.roundActive && !loop.freeRunning)
        return bytes.isEmpty || loop.receive(bytes, self)
    }

    /// End of the line: the guest is left stopped with no points (nobody asked for a detach).
    private func hangUp(_ e: Int32) -> GDBServeEnd {
        loop.hangUp(self, e == 0 ? "client hung up" : "line failed (errno \(e))")
        return .hangUp(errno: e)
    }

    // MARK: GDBDriverIO

    /// write(2) until every byte left (a serial line takes them a FIFO at a time).
    public func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if cposix_errno() == EINTR || cposix_errno() == EAGAIN { continue }
                loop.log?("-- write failed: errno \(cposix_errno())")
                return
            }
            offset += n
        }
    }

    public func startRound(_ modes: [ResumeMode?], freeRun: Bool) throws(DebugError) -> Bool {
        try loop.target.start(modes)
        return false  // its end comes through the pipe
    }

    /// The line stays open: a detached client's successor speaks on it.
    public func dropClient() { clientGone = true }
}
