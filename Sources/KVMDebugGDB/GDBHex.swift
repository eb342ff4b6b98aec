/// Hex and little-endian helpers for packet payloads (no Foundation).
enum GDBHex {
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The value of one ASCII hex digit, or nil.
    static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Two hex digits per byte, lowercase.
    static func encode(_ bytes: [UInt8]) -> [UInt8] {
        if bytes.isEmpty { return [] }
        var out = [UInt8](repeating: 0, count: bytes.count * 2)
        out.withUnsafeMutableBufferPointer { dst in
            bytes.withUnsafeBufferPointer { src in write(src, to: dst.baseAddress!) }
        }
        return out
    }

    /// `digits` at a fixed address (written once, never freed). The loops that write hex (every byte of every register,
    /// memory and console reply) index it unchecked and never append: under the fuzzer's
    /// coverage instrumentation each bounds or capacity check is a traced comparison, and
    /// per-byte appends with checked lookups were the largest single cost of an input's replies.
    nonisolated(unsafe) static let digitTable: UnsafePointer<UInt8> = {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 16)
        p.initialize(from: digits, count: 16)
        return UnsafePointer(p)
    }()

    /// Two hex digits per byte of `src` at `dst` (room for 2 * src.count).
    static func write(_ src: UnsafeBufferPointer<UInt8>, to dst: UnsafeMutablePointer<UInt8>) {
        let hex = digitTable
        var o = dst
        for b in src {
            o[0] = hex[Int(b >> 4)]
            o[1] = hex[Int(b & 0xF)]
            o += 2
        }
    }

    /// Two hex digits per byte of `count` little-endian bytes of `v` (zero past 16) at `dst`.
    static func write(littleEndian v: UInt128, count: Int, to dst: UnsafeMutablePointer<UInt8>) {
        let hex = digitTable
        var rest = v
        var o = dst
        for _ in 0..<max(count, 0) {
            let b = UInt8(truncatingIfNeeded: rest)
            o[0] = hex[Int(b >> 4)]
            o[1] = hex[Int(b & 0xF)]
            o += 2
            rest >>= 8
        }
    }

    /// Bytes from pairs of hex digits; nil on an odd count or a non-digit.
    static func decode<C: Collection>(_ text: C) -> [UInt8]? where C.Element == UInt8 {
        if text.count % 2 != 0 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 2)
        var hi: UInt8? = nil
        for c in text {
            guard let n = nibble(c) else { return nil }
            if let h = hi { out.append(h << 4 | n); hi = nil } else { hi = n }
        }
        return out
    }

    /// A big-endian hex number as GDB writes addresses and lengths (no 0x); nil if empty or too long.
    static func number<C: Collection>(_ text: C) -> UInt64? where C.Element == UInt8 {
        if text.isEmpty || text.count > 16 { return nil }
        var v: UInt64 = 0
        for c in text {
            guard let n = nibble(c) else { return nil }
            v = v << 4 | UInt64(n)
        }
        return v
    }

    /// A number as GDB expects it in replies: lowercase hex, no leading zeros, no 0x.
    static func string(_ v: UInt64) -> String { String(v, radix: 16) }

    /// `count` little-endian bytes of `v`, zero-extended past 8 bytes.
    static func littleEndian(_ v: UInt64, count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: max(count, 0))
        out.withUnsafeMutableBufferPointer { dst in
            var rest = v
            for i in 0..<min(dst.count, 8) {
                dst[i] = UInt8(truncatingIfNeeded: rest)
                rest >>= 8
            }
        }
        return out
    }

    /// The hex digits of `littleEndian(v, count: count)`, appended to `out`.
    static func appendLittleEndian(_ v: UInt64, count: Int, to out: inout [UInt8]) {
        appendLittleEndian(UInt128(v), count: count, to: &out)
    }

    /// The hex digits of `count` little-endian bytes of `v`, zero past 16, appended to `out`.
    static func appendLittleEndian(_ v: UInt128, count: Int, to out: inout [UInt8]) {
        let n = 2 * max(count, 0)
        if n == 0 { return }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: n) { digits in
            write(littleEndian: v, count: count, to: digits.baseAddress!)
            out.append(contentsOf: UnsafeBufferPointer(digits))
        }
    }

    /// `string(v)` as bytes, appended to `out`.
    static func appendNumber(_ v: UInt64, to out: inout [UInt8]) {
        let hex = digitTable
        var shift = (max(64 - v.leadingZeroBitCount, 1) + 3) / 4 * 4
        while shift > 0 {
            shift -= 4
            out.append(hex[Int((v >> UInt64(shift)) & 0xF)])
        }
    }

    /// The low 8 bytes, little-endian, as a value.
    static func value<C: Collection>(littleEndian bytes: C) -> UInt64 where C.Element == UInt8 {
        var v: UInt64 = 0
        for (i, b) in bytes.enumerated() where i < 8 { v |= UInt64(b) << (8 * UInt64(i)) }
        return v
    }
}

/// Splits a payload at the first `separator` (the rest excludes it); nil when absent.
func splitOnce(_ s: ArraySlice<UInt8>, _ separator: UInt8) -> (ArraySlice<UInt8>, ArraySlice<UInt8>)? {
    guard let i = s.firstIndex(of: separator) else { return nil }
    return (s[s.startIndex..<i], s[(i + 1)...])
}

/// True when `payload` starts with `prefix`.
func hasPrefix(_ payload: ArraySlice<UInt8>, _ prefix: String) -> Bool {
    let p = Array(prefix.utf8)
    if payload.count < p.count { return false }
    return payload.prefix(p.count).elementsEqual(p)
}
