import Glibc
import KVMDebugCore
import KVMDebugFake

/// What must hold of a session after any input, whatever the client sent: its tables are
/// consistent with its hardware slots, and guest memory differs from what the guest sees
/// only under armed software breakpoints, none of which is left behind once removed.
public enum SessionProperties {
    /// The first broken property, or nil. Ends by removing every point (as a detach does).
    public static func violation(_ session: DebugSession<FakeBackend>, backend: FakeBackend) -> String? {
        if let v = tablesViolation(session.tables) { return v }
        return memoryViolation(session, backend: backend)
    }

    /// Slots: each in range, used once, by a point armed on that vCPU; every hardware
    /// breakpoint armed has a slot (a breakpoint has no other mechanism).
    static func tablesViolation(_ t: DebugTables) -> String? {
        for v in 0..<t.vcpuCount {
            let cap = t.capacity[v]
            let slots = t.encoded[v].slots
            var seen: [(SlotKind, Int)] = []
            for s in slots {
                let limit: Int
                switch s.kind {
                case .debugRegister: limit = 4
                case .breakpoint: limit = cap.breakpoints
                case .watchpoint: limit = cap.watchpoints
                }
                if s.slot < 0 || s.slot >= limit { return "vCPU \(v): slot \(s.slot) of \(s.kind) outside 0..<\(limit)" }
                if seen.contains(where: { $0.0 == s.kind && $0.1 == s.slot }) { return "vCPU \(v): \(s.kind) slot \(s.slot) used twice" }
                seen.append((s.kind, s.slot))
                if !t.isArmed(s.point, on: v) { return "vCPU \(v): slot \(s.slot) holds \(s.point), which is not armed there" }
            }
            for p in t.points(on: v) {
                if case .hardware = p, !slots.contains(where: { $0.point == p }) {
                    return "vCPU \(v): \(p) is armed without a slot"
                }
            }
        }
        return nil
    }

    /// On every page written during the input (the only places a patch can be): RAM differs
    /// from what the debugger shows the client only by whole breakpoint instructions, and
    /// only while a software breakpoint is armed; after every point is removed, RAM is exactly
    /// what the client saw (no int3 or brk left behind) and nothing is hidden any more.
    static func memoryViolation(_ session: DebugSession<FakeBackend>, backend: FakeBackend) -> String? {
        let d = session.debugger
        let instruction: [UInt8] = session.arch == .x86_64 ? [0xCC] : [0x00, 0x00, 0x20, 0xD4]
        let softwareArmed = session.tables.hasSoftwareBreakpoints
        var seenBefore: [(UInt64, [UInt8])] = []
        for page in backend.writtenPages {
            guard let raw = try? backend.readMemory(page, count: 0x1000), let seen = try? d.readMemory(page, count: 0x1000) else {
                return "page \(hex(page)) was written but cannot be read back"
            }
            seenBefore.append((page, seen))
            if same(raw, seen) { continue }
            guard softwareArmed else {
                let i = raw.indices.first { raw[$0] != seen[$0] } ?? 0
                return "no software breakpoint is armed, yet RAM at \(hex(page + UInt64(i))) is \(hex(UInt64(raw[i]))) while the client sees \(hex(UInt64(seen[i])))"
            }
            if let v = hiddenByteViolation(page: page, raw: raw, seen: seen, instruction: instruction) { return v }
        }
        session.removeAllPoints()
        for (page, seen) in seenBefore {
            guard let raw = try? backend.readMemory(page, count: seen.count), let now = try? d.readMemory(page, count: seen.count) else { continue }
            if !same(raw, seen) {
                let i = raw.indices.first { raw[$0] != seen[$0] } ?? 0
                return "after removing every point RAM at \(hex(page + UInt64(i))) is \(hex(UInt64(raw[i]))), not the \(hex(UInt64(seen[i]))) the client saw (a breakpoint left behind)"
            }
            if !same(now, raw) { return "after removing every point the debugger still hides bytes on page \(hex(page))" }
        }
        return nil
    }
}

extension SessionProperties {
    /// Byte-for-byte equality by memcmp: the check compares two 4 KiB pages per page written,
    /// twice, after every input (Array's == goes element by element).
    static func same(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.count == b.count && (a.isEmpty || a.withUnsafeBytes { x in b.withUnsafeBytes { y in memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 } })
    }

    /// Where the client is shown another byte than RAM holds on `page`, RAM must hold a byte of
    /// a breakpoint instruction at its place in an aligned one (int3 anywhere; brk 4-aligned,
    /// arm64 refuses others). Not the whole instruction: where the guest stored over part of a
    /// brk, the client sees the guest's bytes and only the rest stays hidden. (A guest store
    /// over a patch, shown as the stale original, was the one violation this check found,
    /// after 56 minutes of `packets`.)
    public static func hiddenByteViolation(page: UInt64, raw: [UInt8], seen: [UInt8], instruction: [UInt8]) -> String? {
        for i in raw.indices where raw[i] != seen[i] && raw[i] != instruction[i % instruction.count] {
            return "RAM at \(hex(page + UInt64(i))) is \(hex(UInt64(raw[i]))) while the client sees \(hex(UInt64(seen[i]))): not a breakpoint instruction"
        }
        return nil
    }
}

/// What must hold of every byte stream the engine sends: acks and well-framed packets only,
/// each payload within the PacketSize the engine advertises.
public enum ReplyProperties {
    /// The first malformed thing in what the engine sent: a packet with a bad checksum, an
    /// unescaped `$`/`#` inside one, a payload over PacketSize, or a byte outside any packet
    /// that is not an ack. nil when the stream is well formed.
    public static func violation(_ bytes: [UInt8], packetSize: Int = 4096) -> String? {
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "+") || b == UInt8(ascii: "-") { i += 1; continue }
            guard b == UInt8(ascii: "$") else { return "stray byte \(b) at \(i)" }
            var j = i + 1
            var sum: UInt8 = 0
            while j < bytes.count && bytes[j] != UInt8(ascii: "#") {
                if bytes[j] == UInt8(ascii: "$") { return "unescaped $ inside the packet at \(i)" }
                sum &+= bytes[j]
                j += 1
            }
            guard j + 2 < bytes.count else { return "truncated packet at \(i)" }
            guard let hi = GDBHexDigit.value(bytes[j + 1]), let lo = GDBHexDigit.value(bytes[j + 2]),
                  hi << 4 | lo == sum else { return "bad checksum on the packet at \(i)" }
            let payload = bytes[(i + 1)..<j]
            // `O` + hex is console output (monitor); `OK` is the only other reply starting with O.
            if payload.first == UInt8(ascii: "O"), !payload.elementsEqual("OK".utf8),
               payload.count % 2 == 0 || payload.dropFirst().contains(where: { GDBHexDigit.value($0) == nil }) {
                return "packet at \(i) starts with O but is neither OK nor O + hex console output"
            }
            if j - i - 1 > packetSize { return "packet at \(i) has a \(j - i - 1)-byte payload, over PacketSize \(packetSize)" }
            i = j + 3
        }
        return nil
    }
}

extension ReplyProperties {
    /// The payloads of the packets in a well-formed reply stream, in order (acks skipped).
    public static func payloads(_ bytes: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var i = 0
        while i < bytes.count {
            guard bytes[i] == UInt8(ascii: "$"), let end = bytes[i...].firstIndex(of: UInt8(ascii: "#")) else { i += 1; continue }
            out.append(Array(bytes[(i + 1)..<end]))
            i = end + 3
        }
        return out
    }
}

/// A hex digit's value (the harness checks replies without the engine's own decoder).
enum GDBHexDigit {
    static func value(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
