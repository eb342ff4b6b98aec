import Testing
import Foundation
import KVMTestSupport

/// `kvmdbg gdbserver` as a process over a real loopback socket: the stdout contract, a
/// session, a refused second client, detach and kill.
@Suite(.serialized) struct GDBServerCLITests {
    static var binary: String? {
        var dir = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { dir.deleteLastPathComponent() }
        for p in ["debug", "release"] {
            let u = dir.appendingPathComponent(".build/\(p)/kvmdbg").path
            if FileManager.default.isExecutableFile(atPath: u) { return u }
        }
        return nil
    }

    /// The shared `GDBServerProcess` (started once it is listening), read line by line in order.
    final class Server {
        let server: GDBServerProcess
        var process: Process { server.process }
        private var next = 0

        init(_ args: [String]) throws {
            server = try GDBServerProcess(kvmdbg: try #require(GDBServerCLITests.binary, "build kvmdbg first"), arguments: args)
        }

        /// The next stdout line (60 s at most).
        func line() -> String? {
            guard waitUntil(seconds: 60, { server.stdout.completeLines.count > next }) else { return nil }
            defer { next += 1 }
            return server.stdout.completeLines[next]
        }

        func stop() { server.stop() }
    }

    /// A blocking TCP client (shared with KVMDebugTests).
    typealias Client = LoopbackRSPClient

    @Test func stdoutContractSessionRefusalDetachAndKill() throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-gdb-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let s = try Server(["--guest", "counter", "--backend", "fake", "--vcpus", "2", "--listen", "127.0.0.1:0", "--log-packets", log])
        defer { s.stop() }
        #expect(s.line() == "backend: fake (fake backend requested)")
        #expect(s.line() == "guest:   counter x86_64 mode long, entry 0x1000, 2 vCPUs")
        let listening = try #require(s.line())
        let port = try #require(listening.split(separator: ";").first.flatMap { UInt16($0.split(separator: ":").last!) })
        #expect(listening == "listening on 127.0.0.1:\(port); attach with: gdb -ex 'target remote 127.0.0.1:\(port)'")

        let c = try #require(Client(port: port))
        c.send("qfThreadInfo")
        #expect(c.readPacket() == "+" + String(decoding: wire("m1,2"), as: UTF8.self))
        #expect(s.line() == "client connected")

        let second = try #require(Client(port: port))
        second.send("qSupported")
        #expect(second.readPacket().contains("$E.kvmdbg: another GDB client is attached; detach it (or quit it) first#"))
        #expect(s.line() == "client refused: another GDB client is attached")

        c.send("Z1,1006,1")
        #expect(c.readPacket().hasSuffix("$OK#9a"))
        c.send("vCont;c")
        // Either vCPU may get there first.
        #expect(c.readPacket().contains(";hwbreak:;reason:breakpoint;10:0610000000000000;"))
        c.send("D")
        #expect(c.readPacket().contains("$OK#9a"))
        #expect(s.line() == "client detached; guest running")

        let next = try #require(Client(port: port))
        next.send("?")
        #expect(next.readPacket().contains("$T05thread:"))
        #expect(s.line() == "client connected")
        next.send("k")
        s.process.waitUntilExit()
        #expect(s.process.terminationStatus == 0)

        let logged = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(logged.contains("<- qfThreadInfo"))
        #expect(logged.contains("-> m1,2"))
        #expect(logged.contains("<- Z1,1006,1"))
        #expect(logged.contains("<- k"))
    }

    @Test func sigtermRemovesPointsAndSaysSo() throws {
        let s = try Server(["--guest", "counter", "--backend", "fake", "--listen", "127.0.0.1:0"])
        defer { s.stop() }
        _ = s.line(); _ = s.line()
        let listening = try #require(s.line())
        let port = try #require(listening.split(separator: ";").first.flatMap { UInt16($0.split(separator: ":").last!) })
        let c = try #require(Client(port: port))
        c.send("Z0,100e,1")
        #expect(c.readPacket().hasSuffix("$OK#9a"))
        s.process.terminate()
        s.process.waitUntilExit()
        #expect(s.process.terminationStatus == 0)
        #expect(s.line() == "client connected")
        #expect(s.line() == "server stopped (signal)")
    }
}
