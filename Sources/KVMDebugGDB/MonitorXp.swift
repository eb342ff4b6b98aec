/// `monitor xp /FMT ADDR`: guest-physical memory examined, as QEMU's `xp` does.
import KVMDebugCore

extension GDBEngine {
    /// Dumps COUNT units of SIZE bytes at guest-physical ADDR in FORMAT; `/FMT` is QEMU's (and
    /// gdb's) `/Nfu`: N a count (default 1), f `x` hex, `d` signed, `u` unsigned, `o` octal or `c`
    /// char (default `x`), u `b`, `h`, `w` or `g` for 1, 2, 4, 8 bytes (default `w`; `b` for `c`). Lines are
    /// QEMU's `memory_dump`: 16 hex digits of address, `:`, then 16 bytes of units (8 for bytes),
    /// each after a space; `x` zero-padded to the unit's width with `0x`. At most 64 KiB.
    /// The packet is `qRcmd`.
    func monitorXp(_ w: [String], _ lines: inout [String]) -> MonitorResult {
        let usage = "usage: monitor xp /Nfu ADDR (f: x d u o c; u: b h w g), e.g. monitor xp /4xg 0x1000"
        let fmt: String, addressText: String
        if w.count == 3, w[1].hasPrefix("/") { fmt = String(w[1].dropFirst()); addressText = w[2] }
        else if w.count == 2, !w[1].hasPrefix("/") { fmt = ""; addressText = w[1] }
        else { return .error(usage) }
        guard let address = parseAddress(addressText) else { return .error(usage) }
        // The count comes first, then the format and size letters in either order.
        let digits = fmt.prefix { $0.isASCII && $0.isNumber }
        var format: Character = "x"
        var sizeLetter: Int? = nil
        for c in fmt.dropFirst(digits.count) {
            switch c {
            case "x", "d", "u", "o", "c": format = c
            case "b": sizeLetter = 1
            case "h": sizeLetter = 2
            case "w": sizeLetter = 4
            case "g": sizeLetter = 8
            default: return .error(usage + " ('\(c)' is not a format or size)")
            }
        }
        let count = digits.isEmpty ? 1 : Int(digits) ?? 0
        // Characters are bytes unless a size says otherwise, as in gdb's `x/c`.
        let size = sizeLetter ?? (format == "c" ? 1 : 4)
        guard count >= 1, count * size <= 1 << 16 else { return .error("xp count must be 1...\((1 << 16) / size) for \(size)-byte units") }
        let bytes: [UInt8]
        let wasPhysical = target.physicalMode
        target.physicalMode = true
        defer { target.physicalMode = wasPhysical }
        do throws(DebugError) {
            bytes = try target.readMemory(address, count: count * size, vcpu: generalThread)
        } catch {
            return .error(paddedHex(address) + ": Cannot access memory (" + error.message + ")")
        }
        let lineSize = size == 1 ? 8 : 16
        var offset = 0
        while offset < bytes.count {
            var line = paddedHex(address &+ UInt64(offset)) + ":"
            for at in stride(from: offset, to: min(offset + lineSize, bytes.count), by: size) {
                var v: UInt64 = 0
                for b in 0..<size { v |= UInt64(bytes[at + b]) << (8 * UInt64(b)) }
                line += " " + Self.xpUnit(v, format: format, size: size)
            }
            lines.append(line)
            offset += lineSize
        }
        return .ok
    }

    /// One unit as QEMU prints it: widths are what the unit's largest value needs.
    static func xpUnit(_ v: UInt64, format: Character, size: Int) -> String {
        let bits = size * 8
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        switch format {
        case "x": return "0x" + paddedHex(v, bits / 4)
        case "u": return pad(String(v), (bits * 10 + 32) / 33)
        case "d":
            let signed = bits == 64 ? Int64(bitPattern: v) : Int64(v) - (v >> (bits - 1) == 1 ? Int64(1) << bits : 0)
            return pad(String(signed), (bits * 10 + 32) / 33)
        case "o": return pad(v == 0 ? "0" : "0" + String(v, radix: 8), (bits + 2) / 3)
        default:
            let c = UInt8(truncatingIfNeeded: v)
            switch c {
            case UInt8(ascii: "'"): return "'\\''"
            case UInt8(ascii: "\\"): return "'\\\\'"
            case 10: return "'\\n'"
            case 13: return "'\\r'"
            case 32...126: return "'" + String(UnicodeScalar(c)) + "'"
            default: return "'\\x" + paddedHex(UInt64(c), 2) + "'"
            }
        }
    }
}
