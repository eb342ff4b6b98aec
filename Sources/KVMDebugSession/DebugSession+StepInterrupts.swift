import KVMDebugModel

/// Stepping with interrupts blocked: x86 KVM_GUESTDBG_BLOCKIRQ in the control word of every
/// single-step run (QEMU's gdbstub calls it SSTEP_NOIRQ).
extension DebugSession {
    /// True when this backend can block interrupts while stepping: x86 with SET_GUEST_DEBUG2
    /// advertising KVM_GUESTDBG_BLOCKIRQ (0x100000). Never on arm64, which has no such flag.
    public var canBlockInterruptsWhileStepping: Bool {
        arch == .x86_64 && capabilities.supports(.x86BlockIRQ)
    }

    /// Steps run with KVM_GUESTDBG_BLOCKIRQ set: no IRQ, NMI or SMI is injected, so a step
    /// stays in line instead of landing in an interrupt handler. On by default where offered.
    public var blockInterruptsWhileStepping: Bool {
        canBlockInterruptsWhileStepping && debugger.blockInterruptsWhileStepping
    }

    /// Turns blocking on or off for the following steps. Turning it on where the kernel does not
    /// offer KVM_GUESTDBG_BLOCKIRQ throws instead of stepping with interrupts on regardless.
    public func setBlockInterruptsWhileStepping(_ on: Bool) throws(DebugError) {
        if on && !canBlockInterruptsWhileStepping {
            let mask = capabilities.supportedControl.map { hex(UInt64($0.rawValue)) } ?? "absent"
            throw .unsupported(reason: arch == .x86_64
                ? "KVM_GUESTDBG_BLOCKIRQ (0x100000) is not in this kernel's KVM_CAP_SET_GUEST_DEBUG2 mask (\(mask)): steps cannot block interrupts here"
                : "arm64 KVM has no KVM_GUESTDBG_BLOCKIRQ: steps cannot block interrupts")
        }
        debugger.blockInterruptsWhileStepping = on
    }
}
