/// Delivering a synchronous exception to a guest's EL1, the way the PE would have
/// taken it had the host not trapped it (AArch64.TakeException in the Arm ARM).
///
/// Why: any non-zero guest debug state sets MDCR_EL2.TDE, so a BRK the guest runs for
/// its own purposes exits to the host (EC 0x3C) instead of reaching the guest's vector,
/// and arm64 KVM has no INJECT flag. "It is the responsibility of the VMM to emulate
/// guest debug exceptions in this configuration" (arch/arm64/kvm/debug.c); QEMU does it
/// in kvm_arm_handle_debug by calling arm_cpu_do_interrupt with the syndrome.
public enum Arm64ExceptionDelivery {
    /// PSTATE.SS (bit 21): the host's single-step state, never the guest's.
    public static let pstateSS: UInt64 = 1 << 21
    /// PSTATE.D, A, I, F (bits 9:6).
    public static let pstateDAIF: UInt64 = 0x3C0
    /// PSTATE.M = EL1h (EL1 using SP_EL1).
    public static let modeEL1h: UInt64 = 0b0101

    /// The register writes that take a synchronous exception with syndrome `esr` at
    /// `pc` from `pstate` to EL1, through vector base `vbar`:
    /// - ESR_EL1 = `esr` (EC, IL, ISS as the host saw them; for BRK64 the ISS is the immediate),
    /// - ELR_EL1 = `pc` (a BRK's preferred return address is the BRK itself),
    /// - SPSR_EL1 = `pstate` without the host's SS bit,
    /// - PSTATE = EL1h with D, A, I, F masked, SS = IL = 0, NZCV kept,
    /// - PC = `vbar` + 0x000 from EL1t, + 0x200 from EL1h (current EL with SP_ELx),
    ///   + 0x400 from EL0 (lower EL, AArch64). Other modes (EL2, AArch32) throw.
    public static func synchronousToEL1(esr: UInt64, pc: UInt64, pstate: UInt64, vbar: UInt64) throws(DebugError)
        -> (esr: UInt64, elr: UInt64, spsr: UInt64, pstate: UInt64, pc: UInt64) {
        let offset: UInt64
        switch pstate & 0x1F {
        case 0b00100: offset = 0x000  // EL1t
        case 0b00101: offset = 0x200  // EL1h
        case 0b00000: offset = 0x400  // EL0t (AArch64)
        default:
            throw .unsupported(reason: "cannot hand an exception back to a guest in PSTATE mode \(hex(pstate & 0x1F)) (only EL0t, EL1t and EL1h AArch64 are modelled)")
        }
        let spsr = pstate & ~pstateSS
        let newPSTATE = (pstate & 0xF000_0000) | pstateDAIF | modeEL1h
        return (esr & 0xFFFF_FFFF, pc, spsr, newPSTATE, (vbar & ~0x7FF) &+ offset)
    }

    /// Reads the vCPU's registers, then writes the exception entry state computed by
    /// `synchronousToEL1` back in one register-file write. Returns the new pc (the vector entry).
    @discardableResult
    public static func deliver<B: DebugBackend>(esr: UInt64, pc: UInt64, vcpu: Int, on backend: B) throws(DebugError) -> UInt64 {
        var r = try backend.arm64Registers(vcpu: vcpu)
        let e = try synchronousToEL1(esr: esr, pc: pc, pstate: r.pstate, vbar: r.vbarEL1)
        r.esrEL1 = e.esr
        r.elrEL1 = e.elr
        r.spsrEL1 = e.spsr
        r.pstate = e.pstate
        r.pc = e.pc
        try backend.setRegisters(.arm64(r), vcpu: vcpu)
        return e.pc
    }
}
