import Testing
import Foundation
import KVMDebugCore
import KVMDebugFake
import KVMDebugGDB
import KVMDebugGDBServer
import KVMTestSupport

/// Issue 12 part 4: a thousand GDB clients connecting to one server over loopback TCP, each
/// asking, stepping and leaving (half with `D`, half by hanging up), leave no fd, thread or
/// mapping behind.
@Suite(.serialized) struct ConnectionLeakTests {
    @Test func aThousandLoopbackClientsLeaveNothing() throws {
        let listener = try SocketListener(tcp: "127.0.0.1:0", allowNonLoopback: false)
        let s = try HostileClientTests.Server(listener: listener)
        defer { s.stop() }
        let port = UInt16(listener.address.split(separator: ":").last!)!
        func client(_ i: Int) {
            guard let c = GDBServerCLITests.Client(port: port) else { Issue.record("connect \(i) failed"); return }
            let conn = Connection.tcp(c)
            if i % 2 == 0 {
                #expect(conn.ask("qAttached") == "1")
                #expect(conn.ask("s").hasPrefix("T05thread:1;"))
                #expect(conn.ask("D") == "OK")
            } else {
                #expect(conn.ask("?").hasPrefix("T05thread:1;"))
                conn.hangUp()
            }
            // The next client is accepted only after the driver dropped this one.
            #expect(s.said.wait(for: "client \(i % 2 == 0 ? "detached; guest running" : "disconnected")"))
            s.said.clear()
        }
        for i in 0..<10 { client(i) }
        let before = ProcessCounts.take()
        let start = Date()
        for i in 0..<1000 { client(i) }
        let after = ProcessCounts.settled(within: 1000 / 4, since: before)
        print("GDB clients x1000 (\(Int(Date().timeIntervalSince(start) * 1000)) ms): before \(before); after \(after)")
        // Fewer than one per four clients: neighbours come and go, a per-client leak exceeds it.
        #expect(after.grewAtMost(1000 / 4, since: before), "before \(before); after \(after)")
    }
}
