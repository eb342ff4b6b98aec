/// A vCPU's floating-point and SIMD registers, one case per architecture.
///
/// Read apart from the general registers (`DebugBackend.floatingPointRegisters(vcpu:)`), so a
/// stop costs no extra ioctl: x86 `KVM_GET_XSAVE2`/`KVM_GET_XSAVE` (`KVM_GET_FPU` without
/// XSAVE), arm64 one `KVM_GET_ONE_REG` per `fp_regs` id. `Debugger` caches it per stop.
public enum FPRegisterFile: Sendable, Hashable {
    case x86_64(X86FPRegisterFile)
    case arm64(Arm64FPRegisterFile)

    /// The architecture of the file.
    public var arch: Arch {
        switch self {
        case .x86_64: return .x86_64
        case .arm64: return .arm64
        }
    }
}
