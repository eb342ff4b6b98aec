/// A debug point as written on the command line, resolved against a guest's symbols.
///
/// Forms: `--break ADDR|SYMBOL[+OFF][@VCPU]`, `--sw-break` likewise, and
/// `--watch ADDR|SYMBOL[+OFF]:LEN:r|w|rw[@VCPU]`. Without `@VCPU` the point is global.
public struct PointSpec: Sendable, Hashable {
    public var point: DebugPoint
    public var target: VCPUTarget
    /// The text the user wrote, for messages.
    public var text: String

    public init(point: DebugPoint, target: VCPUTarget, text: String) {
        self.point = point
        self.target = target
        self.text = text
    }

    public enum Kind: Sendable { case hardware, software, watch }

    /// Parses `text` for a guest. Throws `.unsupported` with a one-line explanation.
    public static func parse(_ text: String, kind: Kind, symbols: [GuestSymbol]) throws(DebugError) -> PointSpec {
        var body = Substring(text)
        var target = VCPUTarget.all
        if let at = body.lastIndex(of: "@") {
            let v = body[body.index(after: at)...]
            guard let n = Int(v), n >= 0 else {
                throw .unsupported(reason: "bad vCPU in '\(text)': expected @N with N a vCPU index")
            }
            target = .vcpu(n)
            body = body[..<at]
        }
        switch kind {
        case .hardware:
            return PointSpec(point: .hardware(address: try resolveAddress(String(body), symbols: symbols)), target: target, text: text)
        case .software:
            return PointSpec(point: .software(address: try resolveAddress(String(body), symbols: symbols)), target: target, text: text)
        case .watch:
            let parts = body.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3 else {
                throw .unsupported(reason: "bad watch '\(text)': expected ADDR|SYMBOL:LEN:r|w|rw, e.g. counter:8:w")
            }
            let address = try resolveAddress(String(parts[0]), symbols: symbols)
            guard let length = parseNumber(String(parts[1])), length > 0 else {
                throw .unsupported(reason: "bad watch length '\(parts[1])' in '\(text)': expected a positive number of bytes")
            }
            guard address <= UInt64.max - (length - 1) else {
                throw .unsupported(reason: "bad watch '\(text)': \(length) bytes at \(hex(address)) run past the top of the address space")
            }
            guard let k = WatchKind(shortName: String(parts[2])) else {
                throw .unsupported(reason: "bad watch kind '\(parts[2])' in '\(text)': expected r, w or rw")
            }
            return PointSpec(point: .watch(address: address, length: length, kind: k), target: target, text: text)
        }
    }
}

/// `0x1000`, `4096`, `store`, `store+4`, `counter+0x8`.
public func resolveAddress(_ text: String, symbols: [GuestSymbol]) throws(DebugError) -> UInt64 {
    if let n = parseNumber(text) { return n }
    var name = Substring(text)
    var offset: UInt64 = 0
    if let plus = text.firstIndex(of: "+") {
        name = text[..<plus]
        guard let o = parseNumber(String(text[text.index(after: plus)...])) else {
            throw .unsupported(reason: "bad offset in '\(text)': expected SYMBOL+N")
        }
        offset = o
    }
    guard let s = symbols.first(where: { $0.name == name }) else {
        let known = symbols.map { $0.name }.joined(separator: ", ")
        throw .unsupported(reason: "unknown symbol '\(name)'; this guest has: \(known.isEmpty ? "no symbols (use an address)" : known)")
    }
    let (address, wrapped) = s.address.addingReportingOverflow(offset)
    if wrapped { throw .unsupported(reason: "bad offset in '\(text)': \(s.name) at \(hex(s.address)) plus \(hex(offset)) runs past the top of the address space") }
    return address
}

/// Parses `0x`-prefixed hex or decimal.
public func parseNumber(_ text: String) -> UInt64? {
    let t = text.lowercased()
    if t.hasPrefix("0x") { return UInt64(t.dropFirst(2), radix: 16) }
    return UInt64(t)
}
