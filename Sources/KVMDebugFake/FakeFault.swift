import KVMDebugModel

/// A kernel failure the fake backend injects into one of a vCPU's next calls, so the
/// tests of every fault run on every host (`FakeBackend.inject`).
public enum FakeFault: Sendable, Hashable {
    /// The next such ioctl on the vCPU fails with `errno` (KVM_RUN with EINTR or EAGAIN
    /// comes back as `.interrupted`, as `KVMVCPU.runOnce` does on real KVM).
    case fail(FakeIoctl, errno: Int32)
    /// The next KVM_RUN returns this exit without running the guest.
    case exit(VCPUExit)
}

/// The vCPU ioctls a fault can hit.
public enum FakeIoctl: Sendable, Hashable, CaseIterable {
    case setGuestDebug, run, getRegisters, setRegisters

    /// The ioctl's name as a `DebugError.system` carries it on `arch`.
    public func name(on arch: Arch) -> String {
        switch self {
        case .setGuestDebug: return "KVM_SET_GUEST_DEBUG"
        case .run: return "KVM_RUN"
        case .getRegisters: return arch == .x86_64 ? "KVM_GET_REGS" : "KVM_GET_ONE_REG"
        case .setRegisters: return arch == .x86_64 ? "KVM_SET_REGS" : "KVM_SET_ONE_REG"
        }
    }
}
