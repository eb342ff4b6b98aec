import KVMDebugCLI
import KVMDebugCore

/// The CLI's point specs (`--break`, `--sw-break`, `--watch` strings, `PointSpec.parse`).
///
/// Byte 0 picks the kind (0 break, 1 sw-break, 2 watch, by value mod 3); the rest is the text,
/// resolved against the x86 counter guest's symbols. Properties: a parsed point names a
/// vCPU index that is not negative; a watch has a length of at least one byte and an
/// address range that does not wrap; an address written as SYMBOL+OFFSET does not wrap past
/// the top of the address space (it would silently name a low address).
public enum PointSpecFuzzHarness {
    static let symbols = BuiltinGuests.counterX86(.long).symbols

    public static func run(_ input: [UInt8]) -> String? {
        guard let first = input.first else { return nil }
        let kind: PointSpec.Kind = [.hardware, .software, .watch][Int(first % 3)]
        let text = String(decoding: input.dropFirst(), as: UTF8.self)
        let spec: PointSpec
        do throws(DebugError) {
            spec = try PointSpec.parse(text, kind: kind, symbols: symbols)
        } catch {
            return error.message.isEmpty ? "an empty error for '\(text)'" : nil
        }
        if case .vcpu(let v) = spec.target, v < 0 { return "'\(text)' targets vCPU \(v)" }
        let address: UInt64
        switch spec.point {
        case .hardware(let a), .software(let a): address = a
        case .watch(let a, let l, _):
            address = a
            if l == 0 { return "'\(text)' watches 0 bytes" }
            if a > UInt64.max - (l - 1) { return "'\(text)' watches \(l) bytes at \(hex(a)), past the top of the address space" }
        }
        // SYMBOL+OFFSET: the result is at or above the symbol (no silent wrap).
        var body = Substring(text)
        if let at = body.lastIndex(of: "@") { body = body[..<at] }
        if kind == .watch, let colon = body.firstIndex(of: ":") { body = body[..<colon] }
        if let plus = body.firstIndex(of: "+"), let s = symbols.first(where: { $0.name == body[..<plus] }), address < s.address {
            return "'\(text)' resolves to \(hex(address)), below its symbol \(s.name) at \(hex(s.address)): the offset wrapped"
        }
        return nil
    }
}
