/// `monitor info registers`: the vCPU's register file laid out as QEMU's dump of it.
import KVMDebugCore

extension GDBEngine {
    /// The general thread's registers in the layout of QEMU's `info registers`
    /// (x86: `x86_cpu_dump_state`, 64-bit lines in long mode, 32-bit ones otherwise; arm64:
    /// `aarch64_cpu_dump_state`). Only what kvmdbg's register file holds: QEMU's II, A20, SMM,
    /// HLT, segment flags, LDT, TR, GDT, IDT, debug and FPU registers are left out rather
    /// than shown with made-up values. The packet is `qRcmd`.
    func monitorInfoRegisters(_ lines: inout [String]) -> MonitorResult {
        let file: RegisterFile
        do throws(DebugError) { file = try target.registers(vcpu: generalThread) } catch { return .error(error.message) }
        switch file {
        case .x86_64(let r): lines += Self.x86Dump(r)
        case .arm64(let r): lines += Self.arm64Dump(r)
        }
        return .ok
    }

    static func x86Dump(_ r: X86RegisterFile) -> [String] {
        let long = r.isLongMode
        let w = long ? 16 : 8
        func reg(_ name: String, _ v: UInt64) -> String { name + "=" + paddedHex(long ? v : v & 0xFFFF_FFFF, w) }
        var out: [String] = []
        if long {
            out.append([reg("RAX", r.rax), reg("RBX", r.rbx), reg("RCX", r.rcx), reg("RDX", r.rdx)].joined(separator: " "))
            out.append([reg("RSI", r.rsi), reg("RDI", r.rdi), reg("RBP", r.rbp), reg("RSP", r.rsp)].joined(separator: " "))
            out.append([reg("R8 ", r.r8), reg("R9 ", r.r9), reg("R10", r.r10), reg("R11", r.r11)].joined(separator: " "))
            out.append([reg("R12", r.r12), reg("R13", r.r13), reg("R14", r.r14), reg("R15", r.r15)].joined(separator: " "))
        } else {
            out.append([reg("EAX", r.rax), reg("EBX", r.rbx), reg("ECX", r.rcx), reg("EDX", r.rdx)].joined(separator: " "))
            out.append([reg("ESI", r.rsi), reg("EDI", r.rdi), reg("EBP", r.rbp), reg("ESP", r.rsp)].joined(separator: " "))
        }
        let f = r.rflags
        func flag(_ bit: UInt64, _ c: String) -> String { f & (1 << bit) != 0 ? c : "-" }
        // CPL is CS.RPL in protected mode; 0 in real mode (CR0.PE clear).
        let cpl = r.cr0 & 1 == 0 ? 0 : Int(r.cs.selector & 3)
        out.append(reg(long ? "RIP" : "EIP", r.rip) + " RFL=" + paddedHex(f & 0xFFFF_FFFF, 8) + " ["
                   + flag(10, "D") + flag(11, "O") + flag(7, "S") + flag(6, "Z") + flag(4, "A") + flag(2, "P") + flag(0, "C")
                   + "] CPL=\(cpl)")
        for (name, s) in [("ES", r.es), ("CS", r.cs), ("SS", r.ss), ("DS", r.ds), ("FS", r.fs), ("GS", r.gs)] {
            out.append(name + " =" + paddedHex(UInt64(s.selector), 4) + " " + paddedHex(long ? s.base : s.base & 0xFFFF_FFFF, w)
                       + " " + paddedHex(UInt64(s.limit), 8))
        }
        out.append("CR0=" + paddedHex(r.cr0 & 0xFFFF_FFFF, 8) + " CR2=" + paddedHex(r.cr2, w) + " CR3=" + paddedHex(r.cr3, w)
                   + " CR4=" + paddedHex(r.cr4 & 0xFFFF_FFFF, 8))
        out.append("EFER=" + paddedHex(r.efer))
        return out
    }

    static func arm64Dump(_ r: Arm64RegisterFile) -> [String] {
        // QEMU: " PC=..." then X00...X30 and SP, three to a line after the PC's.
        var text = " PC=" + paddedHex(r.pc) + " "
        for i in 0..<32 {
            text += i == 31 ? " SP=" + paddedHex(r.currentSP) : "X" + (i < 10 ? "0" : "") + "\(i)=" + paddedHex(r.x[i])
            text += (i + 2) % 3 != 0 ? " " : "\n"
        }
        var out = text.split(separator: "\n", omittingEmptySubsequences: true).map { String($0).trimmingSuffixSpaces() }
        let p = r.pstate
        func flag(_ bit: UInt64, _ c: String) -> String { p & (1 << bit) != 0 ? c : "-" }
        let el = (p >> 2) & 3
        out.append("PSTATE=" + paddedHex(p & 0xFFFF_FFFF, 8) + " " + flag(31, "N") + flag(30, "Z") + flag(29, "C") + flag(28, "V")
                   + " EL\(el)" + (p & 1 == 1 ? "h" : "t"))
        out.append("ELR_EL1=" + paddedHex(r.elrEL1) + " SPSR_EL1=" + paddedHex(r.spsrEL1, 8) + " ESR_EL1=" + paddedHex(r.esrEL1, 8)
                   + " FAR_EL1=" + paddedHex(r.farEL1))
        out.append("SCTLR_EL1=" + paddedHex(r.sctlrEL1) + " TCR_EL1=" + paddedHex(r.tcrEL1))
        out.append("TTBR0_EL1=" + paddedHex(r.ttbr0EL1) + " TTBR1_EL1=" + paddedHex(r.ttbr1EL1) + " VBAR_EL1=" + paddedHex(r.vbarEL1))
        return out
    }
}

private extension String {
    func trimmingSuffixSpaces() -> String {
        var s = self
        while s.hasSuffix(" ") { s.removeLast() }
        return s
    }
}
