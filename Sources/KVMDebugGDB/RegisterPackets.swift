/// Register packets: `g`, `G`, `p`, `P` (little-endian hex, through the per-arch RegisterLayout table), with LLDB's `;thread:N;` suffix.
import KVMDebugCore

extension GDBEngine {
    /// Reads or writes the general thread's registers, or the suffix's thread (`QThreadSuffixSupported`).
    /// A register whose bank cannot be read is sent as `x` digits; writing one is an error.
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
        let table = RegisterLayout.table(for: target)
        let body = p.dropFirst()
        do throws(DebugError) {
            switch p.first {
            case UInt8(ascii: "g"):
                sendPacket(RegisterLayout.hexAll(try registerValues(vcpu, banks: [.floatingPoint, .guestDebug]), table: table))
            case UInt8(ascii: "G"):
                let before = try registerValues(vcpu, banks: [.floatingPoint, .guestDebug])
                var values = before
                guard RegisterLayout.decodeAll(hex: body, table: table, into: &values) else { sendErrno(1); return }
                try write(values, over: before, vcpu: vcpu)
                sendOK()
            case UInt8(ascii: "p"):
                guard let n = GDBHex.number(body), n < UInt64(table.count) else { sendErrno(1); return }
                let r = table[Int(n)]
                sendPacket(RegisterLayout.hex(r, in: try registerValues(vcpu, banks: [r.field.bank])))
            default:  // P n=value
                guard let (num, value) = splitOnce(body, UInt8(ascii: "=")),
                      let n = GDBHex.number(num), n < UInt64(table.count),
                      let bytes = GDBHex.decode(value), bytes.count == table[Int(n)].bytes else { sendErrno(1); return }
                let r = table[Int(n)]
                let before = try registerValues(vcpu, banks: [r.field.bank])
                var values = before
                // A register kvmdbg cannot read cannot be written either: no silent yes.
                guard RegisterLayout.setBytes(r, bytes, in: &values) else { sendErrno(1); return }
                try write(values, over: before, vcpu: vcpu)
                sendOK()
            }
        } catch {
            sendErrno(1)
        }
    }

    /// The general registers and the asked-for banks; a bank the backend cannot read stays nil.
    private func registerValues(_ vcpu: Int, banks: [RegisterBank]) throws(DebugError) -> RegisterValues {
        var v = RegisterValues(general: try target.registers(vcpu: vcpu))
        if banks.contains(.floatingPoint) { v.fp = try? target.floatingPointRegisters(vcpu: vcpu) }
        if banks.contains(.guestDebug) { v.guestDebug = try? target.guestDebugRegisters(vcpu: vcpu) }
        return v
    }

    /// Writes back each bank that changed (the session skips unchanged ones too).
    private func write(_ values: RegisterValues, over before: RegisterValues, vcpu: Int) throws(DebugError) {
        if values.general != before.general { try target.setRegisters(values.general, vcpu: vcpu) }
        if let fp = values.fp, fp != before.fp { try target.setFloatingPointRegisters(fp, vcpu: vcpu) }
        if let d = values.guestDebug, d != before.guestDebug { try target.setGuestDebugRegisters(d, vcpu: vcpu) }
    }
}
