/// The GDB engine fed raw wire bytes, split into reads of a size the input chooses.
///
/// Byte 0 picks the guest (`FuzzGuest`); with its bit 7 set, byte 1 is the read size
/// (1...255, 0 meaning 1) and the rest arrives in reads of that size, so packets split at any
/// byte; else the rest arrives in one read. Used by the libFuzzer target `gdb` and the corpus
/// replay test.
public enum GDBFuzzHarness {
    public typealias Outcome = GDBFuzzDriver.Outcome

    public static func run(_ input: [UInt8]) -> Outcome {
        guard let first = input.first else { return Outcome() }
        var body = input.dropFirst()
        var size = max(body.count, 1)
        if first & 0x80 != 0, let s = body.first {
            size = max(Int(s), 1)
            body = body.dropFirst()
        }
        var chunks: [[UInt8]] = []
        var at = body.startIndex
        while at < body.endIndex {
            let end = min(at + size, body.endIndex)
            chunks.append(Array(body[at..<end]))
            at = end
        }
        return GDBFuzzDriver.run(FuzzGuest(byte: first), chunks: chunks)
    }

    /// Kept for the tests written against it: `ReplyProperties.violation`.
    public static func framingViolation(_ bytes: [UInt8]) -> String? { ReplyProperties.violation(bytes) }
}
