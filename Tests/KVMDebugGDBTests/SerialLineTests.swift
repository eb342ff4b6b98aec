import Foundation
import Glibc
import Testing
import KVMDebugCore
import KVMDebugGDBServer
import KVMDebugGDBPoll
import KVMTestSupport

/// The serial transport over a pseudo-terminal (the x86 GDB lane's /dev/ttyS1 is one such
/// line): after a client's connection is closed (gdb's detach) and the listener reopens the
/// device, the next client's bytes reach the new connection, not the old reader.
@Suite struct SerialLineTests {
    /// A pty master and its slave's path (the "device" the listener opens): /dev/ptmx, unlocked
    /// with TIOCSPTLCK, numbered by TIOCGPTN (posix_openpt and ptsname do not import here).
    static func pty() throws -> (master: Int32, slave: String) {
        // <asm-generic/ioctls.h>: _IOW('T', 0x31, int) and _IOR('T', 0x30, unsigned int) (macros: not imported).
        let TIOCSPTLCK: UInt = 0x4004_5431, TIOCGPTN: UInt = 0x8004_5430
        let m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        try #require(m >= 0, "open /dev/ptmx: errno \(errno)")
        var unlock: Int32 = 0, number: UInt32 = 0
        let unlocked = withUnsafeMutablePointer(to: &unlock) { ioctl(m, TIOCSPTLCK, UnsafeMutableRawPointer($0)) }
        let numbered = withUnsafeMutablePointer(to: &number) { ioctl(m, TIOCGPTN, UnsafeMutableRawPointer($0)) }
        try #require(unlocked == 0 && numbered == 0, "TIOCSPTLCK/TIOCGPTN: errno \(errno)")
        return (m, "/dev/pts/\(number)")
    }

    @Test func theNextClientsBytesReachTheReopenedLineNotTheOldReader() throws {
        let (master, slave) = try Self.pty()
        defer { close(master) }
        let listener = try SerialListener(device: slave)
        defer { listener.close() }
        let first = try #require(listener.accept())
        // The old reader is blocked in read when its connection is closed (as on detach).
        let oldRead = DispatchSemaphore(value: 0)
        let oldGot = Box()
        Thread {
            nameCurrentThread("old-reader")
            oldGot.set(first.read())
            oldRead.signal()
        }.start()
        #expect(waitUntil { threadIsBlocked(named: "old-reader") }, "the old reader reached its blocking read")
        first.close()
        #expect(oldRead.wait(timeout: .now() + 60) == .success, "close() wakes a reader blocked on the tty")
        #expect(oldGot.get() == nil, "the old reader leaves without reading")
        let second = try #require(listener.accept())
        let message = Array("+$qSupported#37".utf8)
        _ = message.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
        // Read on a thread: without the fix the bytes never come, and the test must fail, not hang.
        let got = Box(), done = DispatchSemaphore(value: 0)
        Thread {
            var all: [UInt8] = []
            while all.count < message.count, let b = second.read() { all += b; got.set(all) }
            done.signal()
        }.start()
        let arrived = done.wait(timeout: .now() + 60) == .success
        second.close()
        _ = master  // the old reader, if still blocked, may still wake here; it is not asserted on
        #expect(arrived && got.get() == message, "every byte reaches the new connection: \(got.get() ?? [])")
    }
}

/// What the old reader returned, across threads.
private final class Box: @unchecked Sendable {
    private let lock = NSLock()
    private var value: [UInt8]?? = .none
    func set(_ v: [UInt8]?) { lock.withLock { value = .some(v) } }
    /// nil when the read returned nil (or never returned).
    func get() -> [UInt8]? { lock.withLock { value ?? nil } }
}

/// The one serial opener (`SerialLine.open`, used by both drivers): what it sets on a line and
/// how it refuses what is not one, without leaving an fd open.
@Suite struct SerialOpenerTests {
    @Test func aLineIsRawWithCLOCALAt115200() throws {
        let (master, slave) = try SerialLineTests.pty()
        defer { close(master) }
        let fd = try SerialLine.open(slave)
        defer { close(fd) }
        var t = termios()
        #expect(tcgetattr(fd, &t) == 0)
        #expect(t.c_cflag & tcflag_t(CLOCAL) != 0, "CLOCAL: modem lines do not hold the bytes")
        #expect(t.c_lflag & tcflag_t(ICANON | ECHO) == 0, "raw: no line editing, no echo")
        #expect(t.c_cflag & tcflag_t(CSIZE) == tcflag_t(CS8), "8-bit bytes")
        #expect(cfgetispeed(&t) == speed_t(B115200) && cfgetospeed(&t) == speed_t(B115200))
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
    }

    /// gdb may write before the server has made the line raw (the lanes' start-up race): those
    /// bytes went through the default line discipline (echoed, held as a line), and must not
    /// reach the server after it; what comes once the line is open does.
    @Test func bytesFromBeforeTheLineWasRawAreDropped() throws {
        let (master, slave) = try SerialLineTests.pty()
        defer { close(master) }
        // The device already open in its default (cooked, echoing) mode, as before kvmdbg's open.
        let early = open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC)
        try #require(early >= 0, "open \(slave): errno \(errno)")
        defer { close(early) }
        #expect(write(master, "stale\n", 6) == 6)
        // Its echo on the master: the line discipline has taken the bytes in.
        let echo = Self.read(master, until: { String(decoding: $0, as: UTF8.self).contains("stale") })
        #expect(String(decoding: echo, as: UTF8.self).contains("stale"), "echo: \(echo)")
        let fd = try SerialLine.open(slave)
        defer { close(fd) }
        #expect(write(master, "fresh", 5) == 5)
        let got = Self.read(fd, until: { $0.count >= 5 })
        #expect(String(decoding: got, as: UTF8.self) == "fresh", "the server read \(String(decoding: got, as: UTF8.self).debugDescription)")
    }

    /// Bytes from `fd` until `done` holds of them, each wait bounded (30 s) by poll.
    static func read(_ fd: Int32, until done: ([UInt8]) -> Bool) -> [UInt8] {
        var got: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 256)
        while !done(got) {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 30_000) == 1 else { break }
            let n = Glibc.read(fd, &buf, buf.count)
            if n <= 0 { break }
            got += buf[0..<n]
        }
        return got
    }

    @Test func aMissingDeviceIsAnOpenError() {
        let e = thrownError { () throws(DebugError) in try SerialLine.open("/nonexistent/ttyS9") }
        #expect(e == .system(call: "open(/nonexistent/ttyS9)", errno: ENOENT), "\(String(describing: e))")
        #expect(e?.message.contains("ENOENT") == true, "\(e?.message ?? "")")
    }

    /// /dev/null opens but is no terminal: refused, and its fd closed (500 refusals leave no fds).
    @Test func aNonTerminalIsRefusedAndItsFDClosed() {
        let before = ProcessCounts.take()
        for _ in 0..<500 {
            let e = thrownError { () throws(DebugError) in try SerialLine.open("/dev/null") }
            guard case .unsupported(let why) = e else { Issue.record("expected a refusal, got \(String(describing: e))"); return }
            #expect(why.contains("/dev/null is not a serial line"), "\(why)")
        }
        #expect(ProcessCounts.take().fds - before.fds < 50, "fds leaked: \(before) -> \(ProcessCounts.take())")
        // The listener refuses it up front (so `kvmdbg gdbserver --listen /dev/null` fails before the guest runs).
        let e = thrownError { () throws(DebugError) in _ = try SerialListener(device: "/dev/null") }
        #expect(e?.message.contains("is not a serial line") == true, "\(String(describing: e))")
    }

    /// A device that will not reopen for the next client: the listener says why (the driver ends
    /// with `.listenerFailed`, which `kvmdbg gdbserver` prints), rather than ending in silence.
    @Test func aLineThatWillNotReopenIsTheListenersFailure() throws {
        let (master, slave) = try SerialLineTests.pty()
        let listener = try SerialListener(device: slave)
        defer { listener.close() }
        let first = try #require(listener.accept())
        #expect(listener.failure == nil)
        close(master)  // the pty goes: its slave no longer opens
        first.close()
        #expect(listener.accept() == nil)
        let failure = try #require(listener.failure)
        guard case .system(let call, _) = failure else { Issue.record("\(failure)"); return }
        #expect(call == "open(\(slave))", "\(failure.message)")
    }
}
