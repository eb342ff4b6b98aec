import Testing
import Foundation
import KVMDebugCore
import KVMDebugFake
import KVMDebugGDB
import KVMDebugGDBServer
import KVMTestSupport

/// The driver over the in-memory pipe: clients, ^C, refusal, detach.
@Suite(.serialized) struct DriverTests {
    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var all: [String] = []
        func add(_ s: String) { lock.withLock { all.append(s) } }
        var lines: [String] { lock.withLock { all } }
        func clear() { lock.withLock { all.removeAll() } }
        func wait(for line: String, timeout: Double = 5) -> Bool {
            waitUntil(seconds: timeout) { lines.contains(line) }
        }
    }

    func start(vcpus: Int = 1) throws -> (PipeListener, Lines, Lines, Thread, FakeSession) {
        let backend = try FakeBackend(guest: BuiltinGuests.counterX86(.long), vcpus: vcpus)
        let session = DebugSession(backend: backend)
        let listener = PipeListener()
        let said = Lines(), logged = Lines()
        let loop = GDBServeLoop(engine: GDBEngine(target: session), target: session, say: { said.add($0) }, log: { logged.add($0) })
        let driver = GDBThreadedDriver(loop: loop, listener: listener)
        let t = Thread { _ = driver.run() }
        t.start()
        return (listener, said, logged, t, session)
    }

    func until(_ text: String) -> ([UInt8]) -> Bool {
        { String(decoding: $0, as: UTF8.self).contains(text) }
    }

    @Test func secondClientIsRefused() throws {
        let (listener, said, _, _, session) = try start()
        defer { listener.close(); session.close() }
        let first = listener.connect()
        first.write(wire("qAttached"))
        #expect(String(decoding: first.read(until: until("#")), as: UTF8.self) == "+$1#31")
        #expect(said.wait(for: "client connected"))
        let second = listener.connect()
        second.write(wire("qSupported"))
        let refused = String(decoding: second.read(until: until("#")), as: UTF8.self)
        #expect(refused.contains("$E.kvmdbg: another GDB client is attached; detach it (or quit it) first#"))
        // The first client is still served.
        first.write(wire("qC"))
        #expect(String(decoding: first.read(until: until("#")), as: UTF8.self).contains("$QC1#"))
    }

    @Test func controlCInterruptsARunningRound() throws {
        let (listener, said, logged, _, session) = try start(vcpus: 2)
        defer { listener.close(); session.close() }
        let c = listener.connect()
        c.write(wire("QStartNoAckMode"))
        _ = c.read(until: until("OK#"))
        c.write(wire("vCont;c"))
        #expect(waitUntil { session.isRunning }, "the continue started")
        c.write([0x03])
        let stop = String(decoding: c.read(until: until("#")), as: UTF8.self)
        #expect(stop.hasPrefix("$T02thread:"))
        #expect(logged.lines.contains("<- vCont;c"))
        #expect(logged.lines.contains { $0.hasPrefix("-> T02thread:") })
        // Detach: the guest runs on and the next client finds it stopped.
        c.write(wire("D"))
        _ = c.read(until: until("OK#"))
        #expect(said.wait(for: "client detached; guest running"))
        let next = listener.connect()
        next.write(wire("?"))
        #expect(String(decoding: next.read(until: until("#")), as: UTF8.self).contains("$T05thread:"))
        next.write(wire("g"))
        #expect(next.read(until: until("#")).count > 1000)
        next.close()
        #expect(said.wait(for: "client disconnected"))
    }
}
