#if canImport(Glibc)
import Glibc
#endif
import Foundation
import KVMDebugCore
import KVMDebugGDBPoll

/// A TCP (IPv4) or unix-domain socket clients connect to.
public final class SocketListener: GDBListener, @unchecked Sendable {
    public let address: String
    private let fd: Int32
    private let unixPath: String?
    private let state = NSLock()
    private var closed = false
    private var failed: DebugError?
    /// Each client's reads poll for up to this many µs before they block (`ReadPoll`); 0: never.
    public let pollMicroseconds: Int

    /// Listens on `HOST:PORT` (port 0 picks a free one). A non-loopback host is refused unless
    /// `allowNonLoopback` (the user asked for it explicitly: anyone who reaches it owns the guest).
    /// `pollMicroseconds`: see `ReadPoll` (`kvmdbg gdbserver --poll-us`).
    public init(tcp hostPort: String, allowNonLoopback: Bool, pollMicroseconds: Int = 0) throws(DebugError) {
        self.pollMicroseconds = pollMicroseconds
        guard let colon = hostPort.lastIndex(of: ":"), let port = UInt16(hostPort[hostPort.index(after: colon)...]) else {
            throw .unsupported(reason: "bad listen address '\(hostPort)': use HOST:PORT, unix:PATH or a serial device path")
        }
        var host = String(hostPort[..<colon])
        if host == "localhost" || host.isEmpty { host = "127.0.0.1" }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else {
            throw .unsupported(reason: "bad listen host '\(host)': use an IPv4 address such as 127.0.0.1")
        }
        let loopback = UInt32(bigEndian: addr.sin_addr.s_addr) >> 24 == 127
        if !loopback && !allowNonLoopback {
            throw .unsupported(reason: "refusing to listen on non-loopback \(host) unless given explicitly with --listen")
        }
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if s < 0 { throw .system(call: "socket", errno: errno) }
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if bound < 0 { let e = errno; Glibc.close(s); throw .system(call: "bind \(hostPort)", errno: e) }
        if listen(s, 4) < 0 { let e = errno; Glibc.close(s); throw .system(call: "listen", errno: e) }
        var got = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &got) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) }
        }
        fd = s
        unixPath = nil
        address = "\(host):\(UInt16(bigEndian: got.sin_port))"
    }

    /// Listens on a unix-domain socket at `path` (an old socket file there is replaced).
    public init(unix path: String, pollMicroseconds: Int = 0) throws(DebugError) {
        self.pollMicroseconds = pollMicroseconds
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if s < 0 { throw .system(call: "socket", errno: errno) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            Glibc.close(s)
            throw .unsupported(reason: "unix socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        unlink(path)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if bound < 0 { let e = errno; Glibc.close(s); throw .system(call: "bind \(path)", errno: e) }
        if listen(s, 4) < 0 { let e = errno; Glibc.close(s); throw .system(call: "listen", errno: e) }
        fd = s
        unixPath = path
        address = path
    }

    public func accept() -> GDBConnection? {
        while true {
            let c = Glibc.accept(fd, nil, nil)
            if c < 0 {
                let e = errno
                if e == EINTR || e == ECONNABORTED { continue }
                // After close() accept fails too: only a failure of an open listener is one.
                state.withLock { if !closed { failed = .system(call: "accept on \(address)", errno: e) } }
                return nil
            }
            _ = fcntl(c, F_SETFD, FD_CLOEXEC)
            if unixPath == nil {
                // Each stepi is a small packet each way: never wait for Nagle.
                var one: Int32 = 1
                setsockopt(c, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            }
            return FileDescriptorConnection(fd: c, poll: pollMicroseconds > 0 ? ReadPoll(microseconds: pollMicroseconds) : nil)
        }
    }

    public var failure: DebugError? { state.withLock { failed } }

    public func close() {
        // Once: a second close(2) could hit whatever the fd number names by then.
        let first = state.withLock { () -> Bool in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
        _ = Glibc.close(fd)
        if let p = unixPath { unlink(p) }
    }
}

/// A serial line (opened by `SerialLine.open`: raw, CLOCAL, 115200): one client at a time; the
/// next `accept` waits until that client's connection is closed, then reopens the device.
public final class SerialListener: GDBListener, @unchecked Sendable {
    public let address: String
    private let cond = NSCondition()
    private var first: Int32?
    private var inUse = false
    private var closed = false
    private var current: SerialConnection?
    private var failed: DebugError?

    public init(device: String) throws(DebugError) {
        address = device
        // Opened once up front so a bad path fails before the guest is built.
        first = try SerialLine.open(device)
    }

    public func accept() -> GDBConnection? {
        cond.lock()
        defer { cond.unlock() }
        // A serial line has no second caller: wait for the current one to hang up.
        while inUse && !closed { cond.wait() }
        if closed { return nil }
        let fd: Int32
        if let f = first { fd = f; first = nil } else {
            do throws(DebugError) { fd = try SerialLine.open(address) } catch {
                failed = error
                return nil
            }
        }
        inUse = true
        let line = SerialConnection(FileDescriptorConnection(fd: fd)) { [weak self] in self?.released() }
        current = line
        return line
    }

    public var failure: DebugError? { cond.withLock { failed } }

    private func released() {
        cond.lock()
        inUse = false
        current = nil
        cond.broadcast()
        cond.unlock()
    }

    public func close() {
        cond.lock()
        closed = true
        let c = current
        // The device opened up front and never handed to a client is this listener's to close.
        if let f = first { _ = Glibc.close(f); first = nil }
        cond.broadcast()
        cond.unlock()
        c?.close()
    }
}

/// A serial connection that tells its listener when it is closed.
final class SerialConnection: GDBConnection, @unchecked Sendable {
    private let inner: FileDescriptorConnection
    private let onClose: @Sendable () -> Void

    init(_ inner: FileDescriptorConnection, onClose: @escaping @Sendable () -> Void) {
        self.inner = inner
        self.onClose = onClose
    }

    func read() -> [UInt8]? { inner.read() }
    @discardableResult func write(_ bytes: [UInt8]) -> Bool { inner.write(bytes) }
    func close() {
        inner.close()
        onClose()
    }
}
