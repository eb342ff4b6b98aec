#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// One client's byte stream: what the driver reads packets from and writes replies to.
public protocol GDBConnection: AnyObject, Sendable {
    /// Blocks until bytes arrive; nil at end of stream (the client went away) or after `close`.
    func read() -> [UInt8]?
    /// Writes every byte; false when the client is gone.
    @discardableResult func write(_ bytes: [UInt8]) -> Bool
    /// Closes the stream; a blocked `read` returns nil.
    func close()
}

/// Where clients come from: a TCP or unix socket, a serial line, or an in-memory pipe.
public protocol GDBListener: AnyObject, Sendable {
    /// What GDB's `target remote` takes: `127.0.0.1:1234`, a socket path, a device path.
    var address: String { get }
    /// Blocks until the next client; nil once the listener is closed.
    func accept() -> GDBConnection?
    func close()
}

/// A connection over a file descriptor (socket or tty).
///
/// `close()` of a socket only shuts it down (a reader blocked in read(2) wakes with EOF); the
/// fd itself is released in deinit, once no thread can use it any more. Closing it at once
/// would let a reader that loops back into read(2), or a late write, reach whatever the
/// kernel gives that fd number next: the next client's socket.
public final class FileDescriptorConnection: GDBConnection, @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    private var closed = false
    /// The fd was already released (not a socket: nothing to shut down).
    private var released = false

    public init(fd: Int32) { self.fd = fd }

    deinit {
        if !released { _ = Glibc.close(fd) }
    }

    private var isClosed: Bool { lock.withLock { closed } }

    public func read() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !isClosed {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 { return Array(buffer[0..<n]) }
            if n < 0 && errno == EINTR { continue }
            return nil
        }
        return nil
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
        // A socket: shutdown wakes a blocked reader; the fd stays ours until deinit. Anything
        // else (a tty) cannot be shut down, so it is released now, as before.
        if Glibc.shutdown(fd, Int32(SHUT_RDWR)) != 0 {
            _ = Glibc.close(fd)
            released = true
        }
    }
}
