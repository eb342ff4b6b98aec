import KVMDebugGDB
/// The GDB engine fed packet bodies that the harness frames, so checksums are always right
/// and mutations reach the packet parsers instead of dying in the framing.
///
/// Byte 0 picks the guest (`FuzzGuest`); the rest is lines (`\n`-separated), each one packet
/// body, framed by `framePacket` (`$ # } *` escaped as the protocol's binary escape: `}` then
/// the byte xor 0x20). A line `^C` sends the 0x03 interrupt byte, `+` and `-` an ack
/// or nak, and a line starting `monitor ` becomes `qRcmd,` with the rest hex-encoded (the
/// `monitor` target's lines). Everything goes in one read. Used by the libFuzzer targets
/// `packets` and `monitor` and the corpus replay test.
public enum PacketFuzzHarness {
    public static func run(_ input: [UInt8]) -> GDBFuzzDriver.Outcome {
        guard let first = input.first else { return GDBFuzzDriver.Outcome() }
        return GDBFuzzDriver.run(FuzzGuest(byte: first), chunks: [wire(lines: input.dropFirst())])
    }

    /// The bytes a client sends for `lines`.
    public static func wire(lines: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        for line in lines.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            if line.elementsEqual("^C".utf8) { out.append(0x03); continue }
            if line.count == 1, line.first == UInt8(ascii: "+") || line.first == UInt8(ascii: "-") { out += line; continue }
            if line.starts(with: "monitor ".utf8) {
                out += framePacket(Array("qRcmd,".utf8) + hex(line.dropFirst(8)))
            } else {
                out += framePacket(Array(line))
            }
        }
        return out
    }

    static func hex(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        for b in bytes { out += [digits[Int(b >> 4)], digits[Int(b & 0xF)]] }
        return out
    }

    static let digits = Array("0123456789abcdef".utf8)
}

/// The monitor-command parser: each line is a command as typed after `monitor` (sent as
/// `qRcmd,HEX`); a line starting `$` is a packet body instead (to arm points the commands
/// list or delete). Byte 0 picks the guest. Besides the engine's checks, when every line is a
/// command, the replies are one group per command: `O` console packets, then `OK` or an error.
public enum MonitorFuzzHarness {
    public static func run(_ input: [UInt8]) -> GDBFuzzDriver.Outcome {
        guard let first = input.first else { return GDBFuzzDriver.Outcome() }
        var lines: [UInt8] = []
        var commands = 0
        var onlyCommands = true
        for line in input.dropFirst().split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            if !lines.isEmpty { lines.append(UInt8(ascii: "\n")) }
            if line.first == UInt8(ascii: "$") {
                lines += line.dropFirst()
                onlyCommands = false
            } else {
                lines += Array("monitor ".utf8) + line
                commands += 1
            }
        }
        var outcome = GDBFuzzDriver.run(FuzzGuest(byte: first), chunks: [PacketFuzzHarness.wire(lines: lines[...])])
        if outcome.violation == nil, onlyCommands {
            outcome.violation = groupViolation(ReplyProperties.payloads(outcome.sent), commands: commands)
        }
        return outcome
    }

    /// Replies to `commands` monitor commands: each `O`+hex packets then one `OK` or `E...`.
    public static func groupViolation(_ payloads: [[UInt8]], commands: Int) -> String? {
        var groups = 0
        for p in payloads {
            if p.first == UInt8(ascii: "O") && !p.elementsEqual("OK".utf8) { continue }
            guard p.elementsEqual("OK".utf8) || p.first == UInt8(ascii: "E") else {
                return "reply \(groups + 1) to a monitor command ends in '\(String(decoding: p.prefix(40), as: UTF8.self))', not OK or an error"
            }
            groups += 1
        }
        return groups == commands ? nil : "\(commands) monitor commands got \(groups) final replies"
    }
}
