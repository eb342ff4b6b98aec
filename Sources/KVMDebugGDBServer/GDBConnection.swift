#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KVMDebugCore

/// One client's byte stream: what the driver reads packets from and writes replies to.
public protocol GDBConnection: AnyObject, Sendable {
    /// Blocks until bytes arrive; nil at end of stream (the client went away) or after `close`.
    func read() -> [UInt8]?
    /// `read()`, polling first when `polling` and the connection polls (`ReadPoll`); false:
    /// blocks at once (a ^C watcher while the guest runs: see `GDBThreadedDriver.readLoop`).
    func read(polling: Bool) -> [UInt8]?
    /// Writes every byte; false when the client is gone.
    @discardableResult func write(_ bytes: [UInt8]) -> Bool
    /// Closes the stream; a blocked `read` returns nil.
    func close()
    /// The client has gone (hung up, or the stream was closed), even if no reader has seen the end
    /// of the stream yet. Never blocks.
    var hasHungUp: Bool { get }
}

extension GDBConnection {
    /// A stream that never polls just reads.
    public func read(polling: Bool) -> [UInt8]? { read() }

    /// A stream with no way to tell says no: its client counts as there until a read ends.
    public var hasHungUp: Bool { false }
}

/// Where clients come from: a TCP or unix socket, a serial line, or an in-memory pipe.
public protocol GDBListener: AnyObject, Sendable {
    /// What GDB's `target remote` takes: `127.0.0.1:1234`, a socket path, a device path.
    var address: String { get }
    /// Blocks until the next client; nil once the listener is closed or has failed.
    func accept() -> GDBConnection?
    func close()
    /// Why `accept` returned nil, when it was not `close()` (a serial device that would not
    /// reopen); nil otherwise.
    var failure: DebugError? { get }
}

extension GDBListener {
    /// A listener that never fails after it was made says so.
    public var failure: DebugError? { nil }
}

/// A connection over a file descriptor (socket or tty).
///
/// `close()` never releases the fd while a reader may still use it: the fd is closed in
/// deinit, once no thread can. A socket is shut down (a reader blocked in read(2) wakes with
/// EOF). A tty cannot be shut down, and a reader blocked in read(2) on a tty stays blocked
/// after close(2) of its fd: it would take the first bytes of the next client that opens the
/// same line (the serial listener reopens the device after a detach). So a tty's reader
/// waits in poll(2) on the fd and a pipe that `close()` writes to, and leaves without
/// reading. Closing at once would also let a reader that loops back into read(2), or a late
/// write, reach whatever the kernel gives that fd number next: the next client's.
public final class FileDescriptorConnection: GDBConnection, @unchecked Sendable {
    private let fd: Int32
    /// A pipe `close()` writes to for a non-socket fd (read end, write end); -1 for sockets
    /// (shutdown wakes their readers).
    private let wake: Int32
    private let wakeWriter: Int32
    private let lock = NSLock()
    private var closed = false
    /// A socket's reads poll first (`ReadPoll`); nil: read(2) blocks at once.
    private let readPoll: ReadPoll?

    /// `poll`: how a socket's reads poll before they block (ignored for a tty).
    public init(fd: Int32, poll: ReadPoll? = nil) {
        self.fd = fd
        var st = stat()
        let isSocket = fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK
        readPoll = isSocket && (poll?.capNanoseconds ?? 0) > 0 ? poll : nil
        var p: [Int32] = [-1, -1]
        if !isSocket {
            if pipe(&p) == 0 {
                for f in p { _ = fcntl(f, F_SETFD, FD_CLOEXEC) }
            } else {
                p = [-1, -1]  // no pipe (fd limit): a blocked reader then wakes only with data
            }
        }
        wake = p[0]
        wakeWriter = p[1]
    }

    deinit {
        _ = Glibc.close(fd)
        if wake >= 0 { _ = Glibc.close(wake); _ = Glibc.close(wakeWriter) }
    }

    private var isClosed: Bool { lock.withLock { closed } }

    public func read() -> [UInt8]? { read(polling: true) }

    public func read(polling: Bool) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        guard polling, let poll = readPoll else { return blockingRead(&buffer) }
        let start = monotonicNanoseconds()
        let window = poll.windowNanoseconds
        if window > 0 {
            // recv(MSG_DONTWAIT) until bytes, the end of the stream, or the window's end; close()
            // shuts the socket down, so a closed connection ends it with 0 too. Each try yields
            // the CPU: without that, polling lost a quarter of hbreak + continue under two
            // burners (measured; the client woken by the reply just written may be queued on
            // this CPU, behind a reader that spins).
            repeat {
                let n = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if n > 0 {
                    poll.record(waited: monotonicNanoseconds() &- start)
                    return Array(buffer[0..<n])
                }
                if n == 0 { return nil }
                let e = errno
                if e != EAGAIN && e != EWOULDBLOCK && e != EINTR { break }  // read(2) reports it
                sched_yield()
            } while monotonicNanoseconds() &- start < window && !isClosed
        }
        let got = blockingRead(&buffer)
        poll.record(waited: monotonicNanoseconds() &- start)
        return got
    }

    /// read(2) until bytes arrive (a tty's in poll(2) beside the wake pipe).
    private func blockingRead(_ buffer: inout [UInt8]) -> [UInt8]? {
        while !isClosed {
            if wake >= 0 {
                var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
                let r = poll(&fds, 2, -1)
                if r < 0 && errno == EINTR { continue }
                if r < 0 || fds[1].revents != 0 || isClosed { return nil }
                if fds[0].revents == 0 { continue }
            }
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 { return Array(buffer[0..<n]) }
            if n < 0 && errno == EINTR { continue }
            return nil
        }
        return nil
    }

    /// poll(2) with no wait: POLLRDHUP (the peer shut its side: a socket client that closed, even
    /// with unread bytes queued), POLLHUP or POLLERR.
    public var hasHungUp: Bool {
        if isClosed { return true }
        // POLLRDHUP is <poll.h>'s 0x2000 on Linux; Glibc does not export it without _GNU_SOURCE.
        let rdhup: Int16 = 0x2000
        var p = pollfd(fd: fd, events: rdhup, revents: 0)
        guard poll(&p, 1, 0) == 1 else { return false }
        return p.revents & (rdhup | Int16(POLLHUP) | Int16(POLLERR)) != 0
    }

    @discardableResult public func write(_ bytes: [UInt8]) -> Bool {
        var at = 0
        while at < bytes.count {
            if isClosed { return false }
            // send(MSG_NOSIGNAL): a client that hung up is an error return, not a SIGPIPE that
            // kills the server (or the host VMM embedding it); a tty takes plain write(2).
            var n = bytes[at...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == ENOTSOCK { n = bytes[at...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            at += n
        }
        return true
    }

    public func close() {
        lock.lock()
        defer { lock.unlock() }
        if closed { return }
        closed = true
        if wake >= 0 {
            var one: UInt8 = 1
            _ = Glibc.write(wakeWriter, &one, 1)
        } else {
            _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
        }
    }
}
