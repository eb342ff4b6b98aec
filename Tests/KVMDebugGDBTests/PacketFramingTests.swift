import Testing
import KVMDebugCore
import KVMDebugFake
@testable import KVMDebugGDB

@Suite struct PacketFramingTests {
    @Test func checksumIsTheSumModulo256() {
        #expect(framePacket(Array("OK".utf8)) == Array("$OK#9a".utf8))
        #expect(framePacket([]) == Array("$#00".utf8))
    }

    @Test func repliesEscapeDollarHashBraceAndStar() {
        let framed = framePacket(Array("a$b#c}d*".utf8))
        #expect(String(decoding: framed, as: UTF8.self).hasPrefix("$a}\u{04}b}\u{03}c}]d}\u{0A}#"))
        #expect(unescape(framed.dropFirst().dropLast(3)) == Array("a$b#c}d*".utf8))
    }

    /// The buffer-writing framing, hex and log helpers (written for the fuzzer's speed) against
    /// plain per-byte definitions, over every byte value and edge-case numbers.
    @Test func fastHelpersMatchTheirDefinitions() throws {
        let all = (0...255).map { UInt8($0) }
        var framed: [UInt8] = [UInt8(ascii: "$")]
        var sum: UInt8 = 0
        for b in all {
            let piece: [UInt8] = [0x24, 0x23, 0x7D, 0x2A].contains(b) ? [0x7D, b ^ 0x20] : [b]
            framed += piece
            for p in piece { sum &+= p }
        }
        framed += Array("#\(String(format2: sum))".utf8)
        #expect(framePacket(all) == framed)
        #expect(GDBHex.encode(all) == Array(all.map { String(format2: $0) }.joined().utf8))
        #expect(GDBHex.encode([]) == [])
        let engine = GDBEngine(target: DebugSession(backend: try FakeBackend(guest: BuiltinGuests.counterX86(.long))))
        let logged: [String] = all.map { (b: UInt8) -> String in b >= 0x20 && b < 0x7F ? String(UnicodeScalar(b)) : "\\x" + String(format2: b) }
        #expect(engine.printable(all[...]) == logged.joined())
        #expect(engine.printable([][...]) == "")
        for v: UInt64 in [0, 1, 0xF, 0x10, 0xABC, 0x8000_0000_0000_0000, .max] {
            var n: [UInt8] = []
            GDBHex.appendNumber(v, to: &n)
            #expect(String(decoding: n, as: UTF8.self) == String(v, radix: 16))
            for count in [0, 1, 4, 8, 10, 16] {
                var hex: [UInt8] = [0x41]
                GDBHex.appendLittleEndian(v, count: count, to: &hex)
                #expect(hex == [0x41] + GDBHex.encode(GDBHex.littleEndian(v, count: count)))
                let bytes: [UInt8] = (0..<count).map { (i: Int) -> UInt8 in i < 8 ? UInt8(truncatingIfNeeded: v >> UInt64(8 * i)) : 0 }
                #expect(GDBHex.littleEndian(v, count: count) == bytes)
            }
        }
    }

    /// The decoder takes body bytes a run at a time (memchr to the next `#` or `$`): any split of
    /// a stream gives the same events as one read, restarts, bad checksums and oversize included.
    @Test func anySplitDecodesTheSame() {
        let long = [UInt8](repeating: UInt8(ascii: "a"), count: 40)
        var stream: [UInt8] = framePacket(Array("m1000,4".utf8)) + [0x03] + Array("$abc$".utf8) + framePacket(Array("qC".utf8))
        stream += Array("$xyz#00+-".utf8) + framePacket(long) + framePacket(Array("X0,1:}]".utf8)) + Array("noise$ab#4".utf8)
        var whole = PacketDecoder(limit: 32)
        let expected = whole.feed(stream)
        let wanted: [WireEvent] = [.packet(Array("m1000,4".utf8)), .interrupt, .packet(Array("qC".utf8)), .badChecksum, .ack, .nak,
                                   .oversize(40), .packet(Array("X0,1:}]]".utf8))]  // the `}` arrives escaped
        #expect(expected == wanted)
        for size in [1, 2, 3, 7, 64] {
            var d = PacketDecoder(limit: 32)
            var got: [WireEvent] = []
            var i = 0
            while i < stream.count {
                got += d.feed(Array(stream[i..<min(i + size, stream.count)]))
                i += size
            }
            #expect(got == expected, "reads of \(size)")
        }
    }

    @Test func halfPacketsAreBufferedAcrossCalls() throws {
        let h = try Harness()
        let bytes = wire("qAttached")
        let first = try h.feed(Array(bytes[0..<4]))
        #expect(first.packets.isEmpty && first.acks.isEmpty)
        let rest = try h.feed(Array(bytes[4...]))
        #expect(rest.acks == [UInt8(ascii: "+")])
        #expect(rest.packets == ["1"])
        #expect(rest.badFrames == 0)
    }

    @Test func badChecksumIsNAKedAndNotExecuted() throws {
        let h = try Harness()
        let s = try h.feed(Array("$qAttached#00".utf8))
        #expect(s.acks == [UInt8(ascii: "-")])
        #expect(s.packets.isEmpty)
    }

    @Test func nakResendsTheLastPacket() throws {
        let h = try Harness()
        #expect(try h.reply("qAttached") == "1")
        let again = try h.feed([UInt8(ascii: "-")])
        #expect(again.packets == ["1"])
    }

    @Test func noAckModeStopsAcknowledgements() throws {
        let h = try Harness()
        let s = try h.feed(wire("QStartNoAckMode"))
        #expect(s.acks == [UInt8(ascii: "+")])  // the request itself is still acked
        #expect(s.packets == ["OK"])
        let after = try h.feed(wire("qAttached"))
        #expect(after.acks.isEmpty)
        #expect(after.packets == ["1"])
        // A bad checksum in no-ack mode gets no '-' (GDB would not read it).
        #expect(try h.feed(Array("$qC#00".utf8)).acks.isEmpty)
    }

    @Test func unknownPacketsGetTheEmptyReply() throws {
        let h = try Harness()
        let s = try h.feed(wire("qSomethingNew:1"))
        #expect(s.packets == [""])
        #expect(try h.reply("vMustReplyEmpty") == "")
        #expect(try h.reply("!") == "")
    }

    @Test func oversizePacketsAreRefused() throws {
        let h = try Harness()
        let big = "M1000,900:" + String(repeating: "00", count: 0x900)
        let r = try h.ask(big)
        #expect(r.count == 1)
        #expect(r.first?.hasPrefix("E.packet of") == true)
        // Memory was not touched, and the engine still answers.
        #expect(try h.reply("qAttached") == "1")
    }

    @Test func interruptWhileStoppedGetsAStopReply() throws {
        let h = try Harness()
        let s = try h.feed([0x03])
        #expect(s.packets.count == 1)
        #expect(s.packets[0].hasPrefix("T02thread:1;"))
    }

    @Test func binaryWriteUnescapes() throws {
        let h = try Harness()
        // X2000,3: 0x7d 0x23 0x2a escaped as }] }\x03 }\x0a
        var bytes = Array("X2000,3:".utf8)
        bytes += [0x7D, 0x5D, 0x7D, 0x03, 0x7D, 0x0A]
        let sum = bytes.reduce(UInt8(0)) { $0 &+ $1 }
        let d = Array("0123456789abcdef".utf8)
        let s = try h.feed([UInt8(ascii: "$")] + bytes + [UInt8(ascii: "#"), d[Int(sum >> 4)], d[Int(sum & 0xF)]])
        #expect(s.packets == ["OK"])
        #expect(try h.session.readMemory(0x2000, count: 3, vcpu: 0) == [0x7D, 0x23, 0x2A])
        #expect(try h.reply("m2000,3") == "7d232a")
        #expect(try h.reply("X2000,0:") == "OK")
    }

    /// lldb asks for no-ack mode before qSupported: the mode it negotiated stays (no `+` it did not
    /// ask for on any later reply; lldb-13 hung on them).
    @Test func noAckModeSurvivesQSupported() throws {
        let h = try Harness()
        #expect(try h.feed([UInt8(ascii: "+")] + wire("QStartNoAckMode")).acks == [UInt8(ascii: "+")])
        #expect(try h.feed([UInt8(ascii: "+")]).acks.isEmpty)  // the client's ack of the OK
        let s = try h.feed(wire("qSupported:xmlRegisters=i386"))
        #expect(s.acks.isEmpty && s.packets.count == 1 && s.packets[0].contains("PacketSize="))
        for p in ["qHostInfo", "?", "qfThreadInfo", "g"] {
            let r = try h.feed(wire(p))
            #expect(r.acks.isEmpty, "\(p) was acked in no-ack mode")
        }
    }

    /// A serial line shows no hang-up: a new gdb there starts with `+` then qSupported in ack mode,
    /// and is answered in ack mode.
    @Test func aNewAckingClientOnTheSameLineGetsAcks() throws {
        let h = try Harness()
        _ = try h.feed(wire("qSupported"))
        _ = try h.feed(wire("QStartNoAckMode") + [UInt8(ascii: "+")])
        #expect(try h.feed(wire("?")).acks.isEmpty)
        let s = try h.feed([UInt8(ascii: "+")] + wire("qSupported:multiprocess+"))
        #expect(s.acks == [UInt8(ascii: "+")] && s.packets.count == 1)
        #expect(try h.feed(wire("?")).acks == [UInt8(ascii: "+")])
    }
}

private extension String {
    /// Two lowercase hex digits.
    init(format2 b: UInt8) {
        let h = String(b, radix: 16)
        self = b < 16 ? "0" + h : h
    }
}
