/// A vCPU's registers, one case per architecture: what a debugger shows and edits.
///
/// Read with `DebugBackend.registers(vcpu:)` (x86: `KVM_GET_REGS` + `KVM_GET_SREGS`;
/// arm64: one `KVM_GET_ONE_REG` per register) and written back whole with
/// `setRegisters(_:vcpu:)`; `Debugger` caches the file per stop.
public enum RegisterFile: Sendable, Hashable {
    case x86_64(X86RegisterFile)
    case arm64(Arm64RegisterFile)

    /// The architecture of the file.
    public var arch: Arch {
        switch self {
        case .x86_64: return .x86_64
        case .arm64: return .arm64
        }
    }

    /// RIP, or PC.
    public var pc: UInt64 {
        get {
            switch self {
            case .x86_64(let r): return r.rip
            case .arm64(let r): return r.pc
            }
        }
        set {
            switch self {
            case .x86_64(var r): r.rip = newValue; self = .x86_64(r)
            case .arm64(var r): r.pc = newValue; self = .arm64(r)
            }
        }
    }

    /// RSP, or the stack pointer of the current exception level (`Arm64RegisterFile.currentSP`).
    public var sp: UInt64 {
        switch self {
        case .x86_64(let r): return r.rsp
        case .arm64(let r): return r.currentSP
        }
    }
}

/// One x86 segment register as KVM_GET_SREGS gives it (`struct kvm_segment`, the parts
/// a debugger shows; the descriptor's attribute bits stay as the vCPU has them).
public struct X86Segment: Sendable, Hashable {
    public var selector: UInt16
    public var base: UInt64
    public var limit: UInt32

    public init(selector: UInt16 = 0, base: UInt64 = 0, limit: UInt32 = 0xFFFF) {
        self.selector = selector
        self.base = base
        self.limit = limit
    }
}

/// x86_64 registers: `struct kvm_regs` (general registers, rip, rflags) and the parts of
/// `struct kvm_sregs` a debugger needs (segments, control registers, EFER).
///
/// One 64-bit layout whatever mode the vCPU is in (real mode shows the low bits).
/// `fsBase`/`gsBase` are the FS/GS segment bases (the FS_BASE/GS_BASE MSRs in long mode).
public struct X86RegisterFile: Sendable, Hashable {
    public var rax: UInt64 = 0, rbx: UInt64 = 0, rcx: UInt64 = 0, rdx: UInt64 = 0
    public var rsi: UInt64 = 0, rdi: UInt64 = 0, rbp: UInt64 = 0, rsp: UInt64 = 0
    public var r8: UInt64 = 0, r9: UInt64 = 0, r10: UInt64 = 0, r11: UInt64 = 0
    public var r12: UInt64 = 0, r13: UInt64 = 0, r14: UInt64 = 0, r15: UInt64 = 0
    public var rip: UInt64 = 0
    /// RFLAGS as the guest sees it (KVM hides the TF it sets for single-step).
    public var rflags: UInt64 = 0x2
    public var cs = X86Segment(), ss = X86Segment(), ds = X86Segment()
    public var es = X86Segment(), fs = X86Segment(), gs = X86Segment()
    public var cr0: UInt64 = 0, cr2: UInt64 = 0, cr3: UInt64 = 0, cr4: UInt64 = 0, cr8: UInt64 = 0
    public var efer: UInt64 = 0
    /// IDTR (`kvm_sregs.idt`): where exception gates are read (`monitor catch exception`).
    public var idtBase: UInt64 = 0, idtLimit: UInt16 = 0

    public init() {}

    public var fsBase: UInt64 {
        get { fs.base }
        set { fs.base = newValue }
    }

    public var gsBase: UInt64 {
        get { gs.base }
        set { gs.base = newValue }
    }

    /// The 16 general registers in encoding order (rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8-r15).
    public var generalRegisters: [UInt64] {
        get { [rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15] }
        set {
            precondition(newValue.count == 16, "16 general registers")
            rax = newValue[0]; rcx = newValue[1]; rdx = newValue[2]; rbx = newValue[3]
            rsp = newValue[4]; rbp = newValue[5]; rsi = newValue[6]; rdi = newValue[7]
            r8 = newValue[8]; r9 = newValue[9]; r10 = newValue[10]; r11 = newValue[11]
            r12 = newValue[12]; r13 = newValue[13]; r14 = newValue[14]; r15 = newValue[15]
        }
    }

    /// Whether the vCPU is in 64-bit mode (EFER.LMA and CS.L): decides how addresses read.
    public var isLongMode: Bool { efer & (1 << 10) != 0 }
    /// CR0.PG: paging on.
    public var pagingEnabled: Bool { cr0 & (1 << 31) != 0 }
}

/// arm64 registers: X0-X30, both stack pointers, PC, PSTATE, the EL1 exception registers
/// kvmdbg writes to hand a guest's own BRK back, and the system registers a stage-1 page
/// walk reads. Every field is one `KVM_{GET,SET}_ONE_REG` id (`Arm64Register`).
public struct Arm64RegisterFile: Sendable, Hashable {
    /// X0...X30.
    public var x: [UInt64] = [UInt64](repeating: 0, count: 31)
    /// SP_EL0 (`user_pt_regs.sp`).
    public var spEL0: UInt64 = 0
    /// SP_EL1 (`kvm_regs.sp_el1`).
    public var spEL1: UInt64 = 0
    public var pc: UInt64 = 0
    /// PSTATE (NZCV, DAIF, M[3:0]); GDB's `cpsr`.
    public var pstate: UInt64 = 0
    public var elrEL1: UInt64 = 0
    public var spsrEL1: UInt64 = 0
    public var esrEL1: UInt64 = 0
    public var farEL1: UInt64 = 0
    public var vbarEL1: UInt64 = 0
    public var sctlrEL1: UInt64 = 0
    public var tcrEL1: UInt64 = 0
    public var ttbr0EL1: UInt64 = 0
    public var ttbr1EL1: UInt64 = 0

    public init() {}

    /// The stack pointer in use: SP_EL1 when PSTATE.M is EL1h (M[0] = SPSel = 1 at EL1),
    /// else SP_EL0 (EL0t, EL1t).
    public var currentSP: UInt64 {
        get { usesSPEL1 ? spEL1 : spEL0 }
        set { if usesSPEL1 { spEL1 = newValue } else { spEL0 = newValue } }
    }

    /// The stack pointer not in use (SP_EL0 at EL1h, else SP_EL1).
    public var inactiveSP: UInt64 {
        get { usesSPEL1 ? spEL0 : spEL1 }
        set { if usesSPEL1 { spEL0 = newValue } else { spEL1 = newValue } }
    }

    private var usesSPEL1: Bool { (pstate >> 2) & 3 >= 1 && pstate & 1 == 1 }

    /// Every register of the file with its ONE_REG id, in a fixed order.
    public static let all: [Arm64Register] =
        (0...30).map { Arm64Register.x($0) } + [.spEL0, .spEL1, .pc, .pstate, .elrEL1, .spsrEL1,
                                                  .esrEL1, .farEL1, .vbarEL1, .sctlrEL1, .tcrEL1, .ttbr0EL1, .ttbr1EL1]

    /// One register by id.
    public subscript(_ r: Arm64Register) -> UInt64 {
        get {
            switch r {
            case .x(let n): return x[n]
            case .spEL0: return spEL0
            case .spEL1: return spEL1
            case .pc: return pc
            case .pstate: return pstate
            case .elrEL1: return elrEL1
            case .spsrEL1: return spsrEL1
            case .esrEL1: return esrEL1
            case .farEL1: return farEL1
            case .vbarEL1: return vbarEL1
            case .sctlrEL1: return sctlrEL1
            case .tcrEL1: return tcrEL1
            case .ttbr0EL1: return ttbr0EL1
            case .ttbr1EL1: return ttbr1EL1
            }
        }
        set {
            switch r {
            case .x(let n): x[n] = newValue
            case .spEL0: spEL0 = newValue
            case .spEL1: spEL1 = newValue
            case .pc: pc = newValue
            case .pstate: pstate = newValue
            case .elrEL1: elrEL1 = newValue
            case .spsrEL1: spsrEL1 = newValue
            case .esrEL1: esrEL1 = newValue
            case .farEL1: farEL1 = newValue
            case .vbarEL1: vbarEL1 = newValue
            case .sctlrEL1: sctlrEL1 = newValue
            case .tcrEL1: tcrEL1 = newValue
            case .ttbr0EL1: ttbr0EL1 = newValue
            case .ttbr1EL1: ttbr1EL1 = newValue
            }
        }
    }
}
