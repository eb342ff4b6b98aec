/// Framing: `$payload#cc`, `+`/`-` acknowledgements, the 0x03 interrupt byte, `}` escapes.

import CPosix

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
        bytes.withUnsafeBufferPointer { buf in
            var i = 0
            while i < buf.count {
                if state == .body, let end = Self.bodyRun(buf, from: i) {
                    takeBody(UnsafeBufferPointer(rebasing: buf[i..<end]))
                    i = end
                    continue
                }
                step(buf[i], &out)
                i += 1
            }
        }
        return out
    }

    /// The end of the run of body bytes from `i` (up to the next `#` or `$`, found by memchr),
    /// or nil when `buf[i]` is one of those.
    private static func bodyRun(_ buf: UnsafeBufferPointer<UInt8>, from i: Int) -> Int? {
        let start = buf.baseAddress! + i
        var n = buf.count - i
        if let p = memchr(start, Int32(UInt8(ascii: "#")), n) { n = UnsafeRawPointer(p) - UnsafeRawPointer(start) }
        if n > 0, let p = memchr(start, Int32(UInt8(ascii: "$")), n) { n = UnsafeRawPointer(p) - UnsafeRawPointer(start) }
        return n > 0 ? i + n : nil
    }

    /// Body bytes, taken a run at a time instead of through `step` one by one (a packet is mostly
    /// body, and the fuzzer feeds megabytes): summed, and kept up to the limit.
    private mutating func takeBody(_ run: UnsafeBufferPointer<UInt8>) {
        for b in run { sum &+= b }
        // Past the limit the bytes are counted, not kept, so a flood cannot grow memory.
        let keep = min(run.count, max(0, limit - length))
        if keep > 0 { body.append(contentsOf: UnsafeBufferPointer(rebasing: run[..<keep])) }
        length += run.count
    }

    /// One byte of the state machine.
    private mutating func step(_ b: UInt8, _ out: inout [WireEvent]) {
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
            if b == UInt8(ascii: "#") { state = .check1; return }
            if b == UInt8(ascii: "$") { body = []; length = 0; sum = 0; return }  // restart: GDB resent
            // Any other body byte went to `takeBody` with its run (`feed`).
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
}

/// Frames a packet: `$`, the payload with `$ # } *` escaped, `#`, two checksum digits. The one
/// framing of the project: the engine's replies, the refusal of a second client, the fuzz
/// harnesses, the benchmark's null stub and the tests' raw clients.
public func framePacket(_ payload: [UInt8]) -> [UInt8] {
    // One pass into a buffer sized for the worst case (every byte escaped), then cut to size,
    // with no comparison per byte: under the fuzzer's coverage instrumentation every compare
    // is traced, and every reply of the engine is framed here.
    var out = [UInt8](repeating: 0, count: 2 * payload.count + 4)
    let n = out.withUnsafeMutableBufferPointer { dst -> Int in
        payload.withUnsafeBufferPointer { src -> Int in
            let escape = packetEscapes
            let hex = GDBHex.digitTable
            dst[0] = UInt8(ascii: "$")
            var o = 1
            var sum: UInt8 = 0
            for b in src {
                let e = escape[Int(b)]                          // 1: escaped, 0: as is
                let first = b &+ e &* (UInt8(ascii: "}") &- b)  // b, or `}`
                let second = b ^ 0x20                           // kept only when escaped
                dst[o] = first
                dst[o + 1] = second
                sum &+= first &+ e &* second
                o += 1 &+ Int(e)
            }
            dst[o] = UInt8(ascii: "#")
            dst[o + 1] = hex[Int(sum >> 4)]
            dst[o + 2] = hex[Int(sum & 0xF)]
            return o + 3
        }
    }
    out.removeLast(out.count - n)
    return out
}

/// 1 for the bytes a packet escapes (`$ # } *`), else 0 (written once, never freed).
private nonisolated(unsafe) let packetEscapes: UnsafePointer<UInt8> = {
    let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
    p.initialize(repeating: 0, count: 256)
    for b in [UInt8(ascii: "$"), UInt8(ascii: "#"), UInt8(ascii: "}"), UInt8(ascii: "*")] { p[Int(b)] = 1 }
    return UnsafePointer(p)
}()

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
