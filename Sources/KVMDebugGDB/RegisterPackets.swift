/// Register packets: `g`, `G`, `p`, `P` (little-endian hex, through the per-arch RegisterLayout table).
import KVMDebugCore

extension GDBEngine {
    /// Reads or writes the general thread's registers. The packets are `g`, `G`, `p`, `P`.
    func handleRegisters(_ p: ArraySlice<UInt8>) {
        let vcpu = generalThread
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
