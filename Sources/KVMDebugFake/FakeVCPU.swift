import KVMDebugModel

/// A vCPU slot of the fake VM: its CPU, its kick flag and the last state installed.
///
/// Held in an immutable array so that vCPUs run on separate threads never touch a
/// shared mutable container; `cpu` and `installed` belong to the vCPU's own thread
/// (`cpu` is replaced only by `FakeBackend.reset`, while no vCPU runs).
final class FakeVCPU: @unchecked Sendable {
    let index: Int
    var cpu: any FakeCPU
    let kick = FakeKick()
    /// The last state KVM_SET_GUEST_DEBUG accepted, exactly as passed.
    var installed: GuestDebugState?
    /// x86 x87/SSE state (KVM_GET/SET_XSAVE), kept by the x86 CPU (its SSE rows use it).
    var x86FPU: FakeX86FPU {
        get { (cpu as? FakeX86CPU)?.fpu ?? FakeX86FPU() }
        set { (cpu as? FakeX86CPU)?.fpu = newValue }
    }
    /// arm64 V0-31, FPSR, FPCR (ONE_REG fp_regs ids), or Z/P/FFR with SVE, kept by the arm64
    /// CPU (its interpreter runs LDR/STR of Q registers and MSR/MRS of FPCR/FPSR); unused on x86.
    var arm64FPU: FakeArm64FPU {
        get { (cpu as? FakeArm64CPU)?.registers.fp ?? FakeArm64FPU() }
        set { (cpu as? FakeArm64CPU)?.registers.fp = newValue }
    }
    /// The guest's own debug registers (KVM_GET/SET_DEBUGREGS, arm64 debug sysreg ids), kept by
    /// the CPU (its interpreter runs mov to/from DRn, MSR/MRS of DBGB*/DBGW*/MDSCR_EL1).
    var guestDebug: FakeGuestDebugRegisters {
        get { cpu.guestDebug }
        set { cpu.guestDebug = newValue }
    }

    init(index: Int, cpu: any FakeCPU) {
        self.index = index
        self.cpu = cpu
    }
}
