import Testing
import Foundation
import KVMDebugCore
import KVMDebugFake
import KVMDebugGDB
import KVMDebugGDBPoll
import KVMTestSupport

/// The poll(2) driver (the arm64 lane's) over a socketpair: packets, ^C, a breakpoint stop,
/// detach then a new client on the same line, kill, and hang-up.
@Suite(.serialized) struct PollDriverTests {
    /// The client end of the line: reads until a predicate holds or 5 s pass.
    struct Line {
        let fd: Int32
        func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBufferPointer { Glibc.write(fd, $0.baseAddress, $0.count) } }
        func read(until text: String) -> String {
            var got: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            let end = Date().addingTimeInterval(5)
            while Date() < end && !String(decoding: got, as: UTF8.self).contains(text) {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, 100) > 0 else { continue }
                let n = Glibc.read(fd, &buf, buf.count)
                if n <= 0 { break }
                got += buf[0..<n]
            }
            return String(decoding: got, as: UTF8.self)
        }
    }

    final class Said: @unchecked Sendable {
        private let lock = NSLock()
        private var all: [String] = []
        func add(_ s: String) { lock.withLock { all.append(s) } }
        var lines: [String] { lock.withLock { all } }
    }

    /// A served counter guest (2 vCPUs, fake backend) on one end of a socketpair.
    func start() throws -> (Line, Said, Thread, Box, FakeSession) {
        var sv: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &sv) == 0)
        let session = DebugSession(backend: try FakeBackend(guest: BuiltinGuests.smpCounterArm64(), vcpus: 2))
        let said = Said()
        let box = Box()
        let serverFD = sv[1]
        let t = Thread {
            let loop = GDBServeLoop(engine: GDBEngine(target: session), target: session, say: { said.add($0) })
            let driver = try! GDBPollDriver(loop: loop, fd: serverFD)
            box.set(driver.run())
            session.close()
            Glibc.close(serverFD)
        }
        t.start()
        return (Line(fd: sv[0]), said, t, box, session)
    }

    final class Box: @unchecked Sendable {
        private let lock = NSLock()
        private var end: GDBServeEnd?
        func set(_ e: GDBServeEnd) { lock.withLock { end = e } }
        func wait() -> GDBServeEnd? {
            var got: GDBServeEnd?
            waitUntil(seconds: 60) { got = lock.withLock { end }; return got != nil }
            return got
        }
    }

    @Test func breakpointInterruptDetachReattachKill() throws {
        let (line, said, _, box, session) = try start()
        defer { Glibc.close(line.fd) }
        line.send(wire("qAttached"))
        #expect(line.read(until: "#31") == "+$1#31")
        line.send([UInt8(ascii: "+")] + wire("QStartNoAckMode"))
        #expect(line.read(until: "OK#").contains("$OK#"))
        // A hardware breakpoint on `store`: the continue ends with its stop reply.
        line.send(wire("Z1,10010,4"))
        #expect(line.read(until: "#").contains("$OK#"))
        line.send(wire("vCont;c"))
        let hit = line.read(until: "#")
        #expect(hit.hasPrefix("$T05thread:"), "\(hit)")
        #expect(hit.contains("hwbreak:"), "\(hit)")
        line.send(wire("z1,10010,4"))
        #expect(line.read(until: "#").contains("$OK#"))
        // ^C while running: a T02 stop.
        line.send(wire("vCont;c"))
        #expect(waitUntil { session.isRunning }, "the continue started")
        line.send([0x03])
        #expect(line.read(until: "#").hasPrefix("$T02thread:"))
        // Detach: the guest runs free; the next packet on the line is a new client, served stopped.
        line.send(wire("D"))
        #expect(line.read(until: "OK#").contains("$OK#"))
        #expect(waitUntil { said.lines.contains("client detached; guest running") })
        line.send([UInt8(ascii: "+")])  // an ack of the OK: noise, not a client
        line.send(wire("?"))
        #expect(line.read(until: "#").contains("$T05thread:"))
        #expect(said.lines.contains("client attached"))
        line.send(wire("k"))
        #expect(box.wait() == .killed)
    }

    @Test func hangUpLeavesTheGuestStopped() throws {
        let (line, said, _, box, session) = try start()
        line.send(wire("vCont;c"))
        #expect(line.read(until: "+") == "+")  // read, so the close is an end of file, not a reset
        #expect(waitUntil { session.isRunning }, "the continue started")
        Glibc.close(line.fd)
        #expect(box.wait() == .hangUp(errno: 0))
        #expect(said.lines.contains("client hung up"))
    }
}
