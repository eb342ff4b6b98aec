import Testing
import Foundation
import KVMDebugCore
import KVMDebugGDB
import KVMDebugGDBServer
import KVMTestSupport

/// `kvmdbg gdbserver --poll-us`: a reader polls its client's socket before it blocks. The window
/// must never cost behaviour: a ^C during it is read as before, bytes after it still arrive (by
/// the blocking read), a close during it ends the read, and 0 is the blocking read of before.
@Suite(.serialized) struct ReadPollTests {
    @Test func theWindowAdaptsAsKVMsHaltPollDoes() {
        let p = ReadPoll(microseconds: 50)
        #expect(p.windowNanoseconds == 50_000, "starts at the cap")
        // (waited ns, window after, why)
        let steps: [(UInt64, UInt64, String)] = [
            (20_000, 50_000, "bytes inside the window leave it as it is"),
            (900_000, 25_000, "a wait past the cap halves it"),
            (900_000, 12_500, "again"),
            (900_000, 0, "below the grow start it stops polling"),
            (30_000, 10_000, "a wait within the cap grows it from the grow start"),
            (30_000, 20_000, "doubled"),
            (30_000, 40_000, "doubled"),
            (45_000, 50_000, "never past the cap"),
        ]
        for (waited, window, why) in steps {
            p.record(waited: waited)
            #expect(p.windowNanoseconds == window, "after \(waited) ns: \(why)")
        }
        let off = ReadPoll(microseconds: 0)
        off.record(waited: 1000)
        #expect(off.windowNanoseconds == 0, "0 never polls")
    }

    /// A socket pair: the server's end as a connection polling with `poll`, and the client's fd.
    private func pair(_ poll: ReadPoll?) -> (FileDescriptorConnection, Int32) {
        var fds: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        return (FileDescriptorConnection(fd: fds[0], poll: poll), fds[1])
    }

    /// One read on a thread of its own; `result` waits for it (bounded).
    private final class PendingRead: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var got: [UInt8]?? = .none
        init(_ c: FileDescriptorConnection) {
            Thread { [self] in got = .some(c.read()); done.signal() }.start()
        }
        /// What the read returned (nil: end of stream), or `.none` when it did not return within 60 s.
        var result: [UInt8]?? { done.wait(timeout: .now() + 60) == .success ? got : .none }
    }

    @Test(arguments: [0, 1, 100_000]) func bytesBeforeDuringAndAfterTheWindowAreRead(pollMicroseconds: Int) {
        let (c, client) = pair(ReadPoll(microseconds: pollMicroseconds))
        // Closed once: a second close(2) of that number hit whatever another suite had opened
        // under it by then (a server's client socket: ReconnectTests' refusals).
        var clientOpen = true
        defer { if clientOpen { close(client) } }
        // Written before the read: the first try (or read(2)) takes them.
        _ = write(client, "a", 1)
        #expect(c.read() == Array("a".utf8))
        // Written while the reader polls (or blocks): a ^C is read at once.
        let during = PendingRead(c)
        _ = write(client, [UInt8(0x03)], 1)
        #expect(during.result == .some([0x03]))
        // Written 20 ms later: past a 1 µs window, so the blocking read takes them.
        let after = PendingRead(c)
        usleep(20_000)  // the spacing under test, not a wait
        _ = write(client, "$?#3f", 5)
        #expect(after.result == .some(Array("$?#3f".utf8)))
        // The client hangs up: the read ends, polling or not.
        let end = PendingRead(c)
        close(client)
        clientOpen = false
        #expect(end.result == .some(nil))
        c.close()
    }

    @Test func closeDuringTheWindowEndsTheRead() {
        let (c, client) = pair(ReadPoll(microseconds: 100_000))
        defer { close(client) }
        let r = PendingRead(c)
        c.close()
        #expect(r.result == .some(nil), "a closed connection's read returns nil, window or not")
    }

    /// Through the threaded driver over TCP: a ^C during a running continue stops the guest, a
    /// packet sent well after the window is answered, and 200 hbreak + continue rounds (the readers
    /// trading turns, each polling) all stop at the breakpoint; the same with polling off.
    @Test(arguments: [0, 50, 100_000]) func theServeLoopOverAPollingSocket(pollMicroseconds: Int) throws {
        let listener = try SocketListener(tcp: "127.0.0.1:0", allowNonLoopback: false, pollMicroseconds: pollMicroseconds)
        #expect(listener.pollMicroseconds == pollMicroseconds)
        let s = try HostileClientTests.Server(listener: listener)
        defer { s.stop() }
        let port = UInt16(listener.address.split(separator: ":").last!)!
        let c = Connection.tcp(try #require(GDBServerCLITests.Client(port: port)))
        #expect(c.ask("?").hasPrefix("T05thread:1;"))
        c.send(wire("c"))
        #expect(waitFor { s.session.isRunning }, "the guest runs (no point is armed)")
        c.send([0x03])
        #expect(c.read().hasPrefix("T02thread:1;"), "the ^C stopped the guest")
        usleep(20_000)  // the spacing under test: past a 50 µs window
        #expect(c.ask("qAttached") == "1", "a packet after the window is answered")
        #expect(c.ask("Z1,1006,1") == "OK")
        for i in 0..<200 {
            let r = c.ask("vCont;c")
            if !r.hasPrefix("T05thread:1;hwbreak:;") { Issue.record("continue \(i): \(r)"); return }
        }
        #expect(c.ask("z1,1006,1") == "OK")
        c.send(wire("vCont;c"))
        #expect(waitFor { s.session.isRunning }, "the guest runs again")
        c.send([0x03])
        #expect(c.read().hasPrefix("T02thread:1;"), "a ^C after the rounds still stops it")
    }

    /// The flag end to end: `kvmdbg gdbserver --poll-us 50` serves breakpoint rounds and a ^C.
    @Test func theCommandServesWithAPollWindow() throws {
        let binary = try #require(GDBServerCLITests.binary, "build kvmdbg first")
        let server = try GDBServerProcess(kvmdbg: binary, arguments: ["--guest", "counter", "--backend", "fake", "--listen", "127.0.0.1:0", "--poll-us", "50"])
        defer { server.stop() }
        let port = try #require(server.address.split(separator: ":").last.flatMap { UInt16($0) })
        let c = Connection.tcp(try #require(GDBServerCLITests.Client(port: port)))
        #expect(c.ask("Z1,1006,1") == "OK")
        for _ in 0..<20 { #expect(c.ask("vCont;c").hasPrefix("T05thread:1;hwbreak:;")) }
        #expect(c.ask("z1,1006,1") == "OK")
        c.send(wire("vCont;c"))
        usleep(20_000)  // the spacing under test: the guest runs past a 50 µs window
        c.send([0x03])
        #expect(c.read().hasPrefix("T02thread:1;"), "the ^C stopped the guest")
    }

    @Test func theCommandRefusesABadPollWindow() throws {
        let binary = try #require(GDBServerCLITests.binary, "build kvmdbg first")
        #expect {
            _ = try GDBServerProcess(kvmdbg: binary, arguments: ["--guest", "counter", "--backend", "fake", "--listen", "127.0.0.1:0", "--poll-us", "200000"])
        } throws: { e in
            "\(e)".contains("--poll-us must be 0 (never poll) to 100000 microseconds, not 200000")
        }
    }
}
