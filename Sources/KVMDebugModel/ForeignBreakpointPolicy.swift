/// What resuming a vCPU does with a BRK the guest itself ran (one kvmdbg did not plant).
public enum ForeignBreakpointPolicy: UInt8, Sendable, Hashable {
    /// Report it as a `sw-breakpoint` stop with no point; resuming re-runs the BRK, so it
    /// is reported again (the default, unchanged behaviour).
    case report = 0
    /// Report it once; resuming hands it to the guest: ESR_EL1/ELR_EL1/SPSR_EL1 set, PSTATE =
    /// EL1h with DAIF masked, PC = VBAR_EL1 + 0x200 (or + 0x0 / + 0x400 from EL1t / EL0).
    /// arm64 only; needs a backend with `arm64Register` / `setArm64Register`.
    case handBackToGuest = 1
}
