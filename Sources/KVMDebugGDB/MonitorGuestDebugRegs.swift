/// `monitor guest-debug-regs [vcpu N]`: the guest's own debug registers, decoded.
import KVMDebugCore

extension GDBEngine {
    /// Prints the guest's own DR0-3/DR6/DR7 (x86, `KVM_GET_DEBUGREGS`) or enabled
    /// DBGBCR/DBGBVR, DBGWCR/DBGWVR slots and MDSCR_EL1 (arm64, `KVM_GET_ONE_REG`) of the
    /// general thread or vCPU N. These are what the guest programmed: while kvmdbg's own hardware
    /// points are armed, KVM loads kvmdbg's values into the hardware and keeps these aside.
    func monitorGuestDebugRegs(_ w: [String], _ lines: inout [String]) -> MonitorResult {
        guard w.count == 1 || (w.count == 3 && w[1] == "vcpu") else { return .error("usage: monitor guest-debug-regs [vcpu N]") }
        let v = w.count == 3 ? Int(w[2]) ?? -1 : generalThread
        let regs: GuestOwnDebugRegisters
        do throws(DebugError) {
            regs = try target.guestDebugRegisters(vcpu: v)
        } catch {
            return .error("vCPU \(v): the guest's debug registers cannot be read: \(error.message)")
        }
        switch regs {
        case .x86(let d):
            lines.append("vCPU \(v): the guest's own debug registers (KVM_GET_DEBUGREGS)")
            for i in 0..<4 { lines.append("  dr\(i) \(hex16(d.address[i]))  \(Self.dr7Slot(d.dr7, i))") }
            lines.append("  dr6 \(hex16(d.dr6))")
            lines.append("  dr7 \(hex16(d.dr7))")
        case .arm64(let d):
            lines.append("vCPU \(v): the guest's own debug registers (KVM_GET_ONE_REG; \(d.bcr.count) breakpoint, \(d.wcr.count) watchpoint slots)")
            var shown = 0
            for n in d.bcr.indices where d.bcr[n] & 1 == 1 {
                lines.append("  breakpoint \(n): dbgbvr \(hex16(d.bvr[n])) dbgbcr \(hex16(d.bcr[n]))")
                shown += 1
            }
            for n in d.wcr.indices where d.wcr[n] & 1 == 1 {
                let kind = ["", "load", "store", "load/store"][Int((d.wcr[n] >> 3) & 3)]
                lines.append("  watchpoint \(n): dbgwvr \(hex16(d.wvr[n])) dbgwcr \(hex16(d.wcr[n])) (\(kind))")
                shown += 1
            }
            if shown == 0 { lines.append("  no breakpoint or watchpoint slot enabled (DBGBCR/DBGWCR.E clear)") }
            let mde = d.mdscr & (1 << 15) != 0, kde = d.mdscr & (1 << 13) != 0, ss = d.mdscr & 1 != 0
            lines.append("  mdscr_el1 \(hex16(d.mdscr)) (MDE \(mde ? 1 : 0), KDE \(kde ? 1 : 0), SS \(ss ? 1 : 0))")
        }
        lines.append("kvmdbg's own points are not listed here: see 'monitor points'.")
        return .ok
    }

    /// DR7's view of slot `i` (SDM vol. 3 §18.2.4): L/G enables, R/W (exec, write, io, rw), LEN.
    static func dr7Slot(_ dr7: UInt64, _ i: Int) -> String {
        let enables = (dr7 >> UInt64(2 * i)) & 3
        guard enables != 0 else { return "off" }
        let rw = (dr7 >> UInt64(16 + 4 * i)) & 3, len = (dr7 >> UInt64(18 + 4 * i)) & 3
        let kind = ["exec", "write", "io", "rw"][Int(rw)]
        let scope = enables == 3 ? "L+G" : enables == 1 ? "L" : "G"
        return "\(scope) \(kind) len \(X86DebugEncoding.lengthBytes(forCode: len))"
    }

    private func hex16(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 16 - s.count)) + s
    }
}
