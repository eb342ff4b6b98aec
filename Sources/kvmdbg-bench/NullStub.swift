import Foundation
import KVMDebugGDB

/// A GDB remote stub that answers every packet at once from canned replies: what gdb
/// costs by itself, with no target behind the wire (section 4's limit).
///
/// The replies come from a `kvmdbg gdbserver --log-packets` file of the same script, so
/// gdb takes the same paths (target description, thread list, stop replies with the same
/// expedited registers): exact requests get the reply logged for them; `m` gets zeros of
/// the asked length; `vCont`/`s`/`c` the logged stop reply of their kind; `Z`/`z` OK.
final class NullStub {
    private var exact: [String: String] = [:]
    private var stepReply = "T05thread:1;"
    private var breakReply = "T05thread:1;hwbreak:;"
    private var registersReply = ""
    private var noAck = false

    init(replaying log: String) throws {
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        var i = 0
        while i + 1 < lines.count {
            guard lines[i].hasPrefix("<- "), lines[i + 1].hasPrefix("-> ") else { i += 1; continue }
            let q = NullStub.unescape(String(lines[i].dropFirst(3)))
            let r = NullStub.unescape(String(lines[i + 1].dropFirst(3)))
            if exact[q] == nil { exact[q] = r }
            if q.hasPrefix("vCont;s") || q == "s" { stepReply = r }
            if (q.hasPrefix("vCont;c") || q == "c") && r.contains("hwbreak") { breakReply = r }
            if q == "g" { registersReply = r }
            i += 2
        }
    }

    /// The log writes non-printable bytes as \xNN.
    static func unescape(_ s: String) -> String {
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 3 < b.count, b[i + 1] == UInt8(ascii: "x"),
               let v = UInt8(String(decoding: b[(i + 2)...(i + 3)], as: UTF8.self), radix: 16) {
                out.append(v)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    func reply(to q: String) -> String {
        if q == "QStartNoAckMode" { noAck = true; return "OK" }
        if q.hasPrefix("vCont;s") || q == "s" { return stepReply }
        if q.hasPrefix("vCont;c") || q == "c" { return breakReply }
        if let r = exact[q] { return r }
        if q.hasPrefix("m"), let comma = q.firstIndex(of: ","), let n = Int(q[q.index(after: comma)...], radix: 16) {
            return String(repeating: "00", count: n)
        }
        if q == "g" { return registersReply }
        if q.hasPrefix("Z") || q.hasPrefix("z") || q.hasPrefix("H") || q == "D" || q.hasPrefix("D;") { return "OK" }
        if q == "?" { return stepReply }
        return ""
    }

    /// Listens on 127.0.0.1 (port 0: any), prints the address, serves clients one after another.
    func serve(port: UInt16) -> Never {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, len) } }
        listen(s, 4)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
        // Unbuffered: scripts/bench reads the port through a pipe.
        FileHandle.standardOutput.write(Data("listening on 127.0.0.1:\(UInt16(bigEndian: addr.sin_port))\n".utf8))
        while true {
            let c = accept(s, nil, nil)
            if c < 0 { continue }
            setsockopt(c, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            noAck = false
            session(c)
            close(c)
        }
    }

    private func session(_ c: Int32) {
        var buf = [UInt8](repeating: 0, count: 65536)
        var pending: [UInt8] = []
        while true {
            let n = read(c, &buf, buf.count)
            if n <= 0 { return }
            pending += buf[0..<n]
            var out: [UInt8] = []
            while let start = pending.firstIndex(of: 0x24), let hash = pending[start...].firstIndex(of: 0x23), hash + 2 < pending.count {
                let q = String(decoding: pending[(start + 1)..<hash], as: UTF8.self)
                pending.removeSubrange(0...(hash + 2))
                if !noAck { out.append(0x2B) }
                out += framePacket(Array(reply(to: q).utf8))
                if q == "k" || q.hasPrefix("vKill") { _ = write(c, out, out.count); return }
            }
            if pending.first == 0x03 { pending.removeFirst(); out += framePacket(Array(stepReply.utf8)) }
            pending.removeAll { $0 == 0x2B || $0 == 0x2D }
            if !out.isEmpty { _ = write(c, out, out.count) }
        }
    }
}
