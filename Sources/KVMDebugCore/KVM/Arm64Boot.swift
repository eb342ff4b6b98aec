import CKVM

/// `KVM_{GET,SET}_ONE_REG` ids of the arm64 core registers:
/// KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offset in kvm_regs / 4).
public enum Arm64Registers {
    static let core: UInt64 = 0x6030_0000_0010_0000
    /// X<n>, n in 0...30.
    public static func x(_ n: Int) -> UInt64 { core | UInt64(n * 2) }
    /// SP_EL0 (user_pt_regs.sp).
    public static let sp: UInt64 = core | 0x3E
    /// PC (user_pt_regs.pc) = 0x6030000000100040.
    public static let pc: UInt64 = core | 0x40
    /// PSTATE.
    public static let pstate: UInt64 = core | 0x42
}

/// arm64 vCPU start-up: KVM_ARM_VCPU_INIT with the preferred target, then PC = entry,
/// X0 = vCPU index. KVM resets to EL1h with DAIF masked and the MMU off.
enum Arm64Boot {
    #if arch(arm64)
    static func setUp(_ v: KVMVCPU, index: Int, guest: Guest, vm: KVMVM) throws(DebugError) {
        let target = try vm.preferredTarget()
        try v.armInit(target)
        try v.setOneRegister(Arm64Registers.pc, guest.entry)
        try v.setOneRegister(Arm64Registers.x(0), UInt64(index))
    }
    #endif
}
