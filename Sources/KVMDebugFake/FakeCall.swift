import KVMDebugModel

/// One ioctl the fake backend would have issued on a real vCPU fd, in call order.
///
/// Tests use the trace to check what a client asks of KVM (e.g. that it re-sends the
/// whole debug state before a step), not just what the guest did.
public enum FakeCall: Sendable, Hashable {
    /// KVM_SET_GUEST_DEBUG with the state exactly as passed (recorded even when it fails).
    case setGuestDebug(vcpu: Int, state: GuestDebugState)
    /// KVM_RUN.
    case run(vcpu: Int)
    /// KVM_GET_REGS (x86) / KVM_GET_ONE_REG (arm64), issued by `programCounter`.
    case getRegisters(vcpu: Int)
    /// KVM_SET_REGS (x86) / KVM_SET_ONE_REG (arm64), issued by `setProgramCounter` and `setRegister`.
    case setRegisters(vcpu: Int)
    /// KVM_GET_XSAVE (x86) / KVM_GET_ONE_REG of the fp_regs ids (arm64).
    case getFPRegisters(vcpu: Int)
    /// KVM_SET_XSAVE (x86) / KVM_SET_ONE_REG of the fp_regs ids (arm64).
    case setFPRegisters(vcpu: Int)
    /// KVM_GET_DEBUGREGS (x86) / KVM_GET_ONE_REG of the debug system registers (arm64).
    case getGuestDebugRegisters(vcpu: Int)
    /// KVM_SET_DEBUGREGS (x86) / KVM_SET_ONE_REG of the debug system registers (arm64).
    case setGuestDebugRegisters(vcpu: Int)

    /// The vCPU the call was issued on.
    public var vcpu: Int {
        switch self {
        case .setGuestDebug(let v, _), .run(let v), .getRegisters(let v), .setRegisters(let v),
             .getFPRegisters(let v), .setFPRegisters(let v), .getGuestDebugRegisters(let v), .setGuestDebugRegisters(let v):
            return v
        }
    }
}
