import Testing
import Foundation
import KVMDebugCore
import KVMDebugFake
import KVMDebugGDB
import KVMDebugGDBServer
import KVMTestSupport

/// A lone continue runs on the reader that read it while the other reader watches the client:
/// what the client sends during the round is neither lost nor allowed to hide a ^C after it.
@Suite(.serialized) struct LoneContinueDriverTests {
    func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }

    @Test func aPacketDuringALoneContinueDoesNotHideTheControlCAfterIt() throws {
        let listener = PipeListener()
        let s = try HostileClientTests.Server(listener: listener)
        defer { s.stop() }
        let c = listener.connect()
        c.write(wire("c"))
        #expect(waitUntil { s.session.isRunning }, "the guest runs (no point is armed)")
        c.write(wire("qAttached"))
        c.write([0x03])
        let got = text(c.read(until: { String(decoding: $0, as: UTF8.self).contains("$1#31") }, timeout: 10))
        let stop = try #require(got.range(of: "$T02thread:1;"), "the ^C stopped the guest: \(got)")
        let answer = try #require(got.range(of: "$1#31"), "the packet sent while it ran was answered: \(got)")
        #expect(stop.lowerBound < answer.lowerBound, "the stop reply first, then the packet's reply: \(got)")
    }

    /// Many rounds back to back: the readers trade the turn each time and nothing is lost.
    @Test func aThousandHardwareBreakpointContinues() throws {
        let listener = PipeListener()
        let s = try HostileClientTests.Server(listener: listener)
        defer { s.stop() }
        let c = Connection.pipe(listener.connect())
        #expect(c.ask("Z1,1006,1") == "OK")
        for i in 0..<1000 {
            let r = c.ask("vCont;c")
            if !r.hasPrefix("T05thread:1;hwbreak:;") { Issue.record("continue \(i): \(r)"); return }
        }
        #expect(c.ask("qAttached") == "1")
    }
}
