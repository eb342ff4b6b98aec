/// Framing: `$payload#cc`, `+`/`-` acknowledgements, the 0x03 interrupt byte, `}` escapes.

/// One thing seen on the wire.
enum WireEvent: Equatable {
    /// A packet whose checksum matched; the payload still carries `}` escapes (only `X` unescapes).
    case packet([UInt8])
    /// A packet whose checksum did not match: answered with `-` in ack mode.
    case badChecksum
    /// A packet longer than the PacketSize we advertised: refused.
    case oversize(Int)
    /// `+`.
    case ack
    /// `-`: the client asks for the last packet again.
    case nak
    /// 0x03 outside a packet: ^C.
    case interrupt
}

/// Turns any split of the client's bytes into wire events (half packets are buffered).
struct PacketDecoder {
    /// The largest payload accepted, as advertised in qSupported's PacketSize.
    let limit: Int
    private var state = State.idle
    private var body: [UInt8] = []
    private var length = 0
    private var sum: UInt8 = 0
    private var checksum: UInt8 = 0

    private enum State { case idle, body, check1, check2 }

    init(limit: Int) { self.limit = limit }

    /// Drops a half-read packet (a new client).
    mutating func reset() {
        state = .idle
        body = []
        length = 0
    }

    /// Feeds bytes; returns the events they complete, in order.
    mutating func feed(_ bytes: [UInt8]) -> [WireEvent] {
        var out: [WireEvent] = []
        for b in bytes {
            switch state {
            case .idle:
                switch b {
                case UInt8(ascii: "$"): state = .body; body = []; length = 0; sum = 0
                case UInt8(ascii: "+"): out.append(.ack)
                case UInt8(ascii: "-"): out.append(.nak)
                case 0x03: out.append(.interrupt)
                default: break  // line noise between packets
                }
            case .body:
                if b == UInt8(ascii: "#") { state = .check1; continue }
                if b == UInt8(ascii: "$") { body = []; length = 0; sum = 0; continue }  // restart: GDB resent
                sum &+= b
                length += 1
                // Past the limit the bytes are counted, not kept, so a flood cannot grow memory.
                if length <= limit { body.append(b) }
            case .check1:
                checksum = (GDBHex.nibble(b) ?? 0xFF) << 4
                if GDBHex.nibble(b) == nil { checksum = 0; sum &+= 1 }  // forces a mismatch
                state = .check2
            case .check2:
                state = .idle
                let ok = GDBHex.nibble(b).map { checksum | $0 == sum } ?? false
                if !ok { out.append(.badChecksum) }
                else if length > limit { out.append(.oversize(length)) }
                else { out.append(.packet(body)) }
                body = []
            }
        }
        return out
    }
}

/// Frames a packet: `$`, the payload with `$ # } *` escaped, `#`, two checksum digits. The one
/// framing of the project: the engine's replies, the refusal of a second client, the fuzz
/// harnesses, the benchmark's null stub and the tests' raw clients.
public func framePacket(_ payload: [UInt8]) -> [UInt8] {
    // Counted, then written into the result's buffer with a table lookup per byte (see
    // `GDBHex.encode`: every reply of the engine is framed here).
    payload.withUnsafeBufferPointer { src in
        packetEscapes.withUnsafeBufferPointer { escape in
            var escapes = 0
            for b in src { escapes &+= Int(escape[Int(b)]) }
            var framed = [UInt8](repeating: 0, count: src.count + escapes + 4)
            framed.withUnsafeMutableBufferPointer { out in
                out[0] = UInt8(ascii: "$")
                var o = 1
                var sum: UInt8 = 0
                for b in src {
                    if escape[Int(b)] != 0 {
                        out[o] = UInt8(ascii: "}")
                        out[o + 1] = b ^ 0x20
                        sum &+= UInt8(ascii: "}") &+ (b ^ 0x20)
                        o += 2
                    } else {
                        out[o] = b
                        sum &+= b
                        o += 1
                    }
                }
                out[o] = UInt8(ascii: "#")
                out[o + 1] = GDBHex.digits[Int(sum >> 4)]
                out[o + 2] = GDBHex.digits[Int(sum & 0xF)]
            }
            return framed
        }
    }
}

/// 1 for the bytes a packet escapes (`$ # } *`), else 0.
private let packetEscapes: [UInt8] = (0..<256).map { b in
    [UInt8(ascii: "$"), UInt8(ascii: "#"), UInt8(ascii: "}"), UInt8(ascii: "*")].contains(UInt8(b)) ? 1 : 0
}

/// Undoes `}` escapes (binary data of `X`).
func unescape<C: Collection>(_ data: C) -> [UInt8] where C.Element == UInt8 {
    var out: [UInt8] = []
    out.reserveCapacity(data.count)
    var escaped = false
    for b in data {
        if escaped { out.append(b ^ 0x20); escaped = false }
        else if b == UInt8(ascii: "}") { escaped = true }
        else { out.append(b) }
    }
    return out
}
