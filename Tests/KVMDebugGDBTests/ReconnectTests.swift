import Testing
import Foundation
import KVMDebugCore
import KVMDebugFake
import KVMDebugGDB
import KVMDebugGDBServer

/// Scripts connect to see whether the port is up, and clients hang up without `D`: the next
/// client, a moment later, must be served, never refused as a second client. A refusal is only
/// for a client that is really there.
@Suite(.serialized) struct ReconnectTests {
    /// 1000 rounds at each spacing: a connect-and-close (no packet), then `spacing` later a client
    /// that asks `?` and leaves: hanging up after one packet, detaching, or hanging up at once.
    @Test(arguments: [0, 1, 5]) func connectAndCloseThenAttachIsNeverRefused(spacingMs: Int) throws {
        let listener = try SocketListener(tcp: "127.0.0.1:0", allowNonLoopback: false)
        let s = try HostileClientTests.Server(listener: listener)
        defer { s.stop() }
        let port = UInt16(listener.address.split(separator: ":").last!)!
        var refused = 0, other: [String] = []
        for i in 0..<1000 {
            guard let probe = GDBServerCLITests.Client(port: port) else { Issue.record("probe connect \(i) failed"); return }
            shutdown(probe.fd, Int32(SHUT_RDWR))
            if spacingMs > 0 { usleep(UInt32(spacingMs * 1000)) }  // the spacing under test, not a wait
            guard let c = GDBServerCLITests.Client(port: port) else { Issue.record("connect \(i) failed"); return }
            let conn = Connection.tcp(c)
            let r = conn.ask("?")
            if r.contains("another GDB client") { refused += 1 }
            else if !r.hasPrefix("T05thread:1;") { other.append(r) }
            switch i % 3 {
            case 0: conn.hangUp()
            case 1: if conn.ask("D") != "OK" { other.append("D") }
            default: conn.hangUp()
            }
        }
        #expect(refused == 0, "refused \(refused) of 1000 at \(spacingMs) ms")
        #expect(other.isEmpty, "unexpected replies: \(other.prefix(5))")
    }

    /// While a client is really attached (its connection open), a second one is refused with a
    /// message every client shows: gdb prints `E.text`, lldb reads `Exx;HEXTEXT`-less errors as
    /// codes, so the refusal also goes as console output first.
    @Test func aLiveClientStillKeepsOthersOut() throws {
        let listener = try SocketListener(tcp: "127.0.0.1:0", allowNonLoopback: false)
        let s = try HostileClientTests.Server(listener: listener)
        defer { s.stop() }
        let port = UInt16(listener.address.split(separator: ":").last!)!
        let first = Connection.tcp(try #require(GDBServerCLITests.Client(port: port)))
        #expect(first.ask("?").hasPrefix("T05thread:1;"))
        let second = Connection.tcp(try #require(GDBServerCLITests.Client(port: port)))
        #expect(second.ask("qSupported").contains("another GDB client is attached"))
        #expect(first.ask("?").hasPrefix("T05thread:1;"), "the first client keeps working")
    }
}
