/// Register packets: `g`, `G`, `p`, `P` (little-endian hex, through the per-arch RegisterLayout table), with LLDB's `;thread:N;` suffix.
import KVMDebugCore

extension GDBEngine {
    /// Reads or writes the general thread's registers, or the suffix's thread (`QThreadSuffixSupported`).
    /// The packets are `g`, `G`, `p`, `P`.
    func handleRegisters(_ packet: ArraySlice<UInt8>) {
        var p = packet
        var vcpu = generalThread
        if let semicolon = p.firstIndex(of: UInt8(ascii: ";")) {
            let suffix = p[(semicolon + 1)...]
            guard hasPrefix(suffix, "thread:"),
                  let t = parseThread(suffix.dropFirst(7).prefix { $0 != UInt8(ascii: ";") }),
                  case .vcpu(let v) = t else { sendErrno(1); return }
            vcpu = v
            p = p[..<semicolon]
        }
        let table = RegisterLayout.table(for: target.arch)
        let body = p.dropFirst()
        do throws(DebugError) {
            switch p.first {
            case UInt8(ascii: "g"):
                sendPacket(GDBHex.encode(RegisterLayout.encodeAll(try target.registers(vcpu: vcpu))))
            case UInt8(ascii: "G"):
                guard let bytes = GDBHex.decode(body) else { sendErrno(1); return }
                var file = try target.registers(vcpu: vcpu)
                guard RegisterLayout.decodeAll(bytes, into: &file) else { sendErrno(1); return }
                try target.setRegisters(file, vcpu: vcpu)
                sendOK()
            case UInt8(ascii: "p"):
                guard let n = GDBHex.number(body), n < UInt64(table.count) else { sendErrno(1); return }
                sendPacket(GDBHex.encode(RegisterLayout.encode(table[Int(n)], in: try target.registers(vcpu: vcpu))))
            default:  // P n=value
                guard let (num, value) = splitOnce(body, UInt8(ascii: "=")),
                      let n = GDBHex.number(num), n < UInt64(table.count),
                      let bytes = GDBHex.decode(value), bytes.count == table[Int(n)].bytes else { sendErrno(1); return }
                var file = try target.registers(vcpu: vcpu)
                let old = file
                RegisterLayout.set(table[Int(n)], GDBHex.value(littleEndian: bytes), in: &file)
                // Registers kvmdbg does not keep (x87, SSE) are accepted and ignored.
                if file != old { try target.setRegisters(file, vcpu: vcpu) }
                sendOK()
            }
        } catch {
            sendErrno(1)
        }
    }
}
