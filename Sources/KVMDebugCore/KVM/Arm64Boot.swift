import CKVM

/// arm64 vCPU start-up: KVM_ARM_VCPU_INIT with the preferred target, then PC = entry,
/// X0 = vCPU index. KVM resets to EL1h with DAIF masked and the MMU off.
enum Arm64Boot {
    #if arch(arm64)
    static func setUp(_ v: KVMVCPU, index: Int, guest: Guest, vm: KVMVM) throws(DebugError) {
        let target = try vm.preferredTarget()
        try v.armInit(target)
        try v.setOneRegister(.pc, guest.entry)
        try v.setOneRegister(.x(0), UInt64(index))
    }
    #endif
}
