import CKVM
import KVMDebugModel

/// arm64 vCPU start-up: KVM_ARM_VCPU_INIT with the preferred target and PSCI 0.2, then PC =
/// entry, X0 = vCPU index. KVM resets to EL1h with DAIF masked and the MMU off.
enum Arm64Boot {
    #if arch(arm64)
    static func setUp(_ v: KVMVCPU, index: Int, guest: Guest, vm: KVMVM) throws(DebugError) {
        var target = try vm.preferredTarget()
        // KVM_ARM_VCPU_PSCI_0_2 (feature bit 2, api.rst KVM_ARM_VCPU_INIT): the standard PSCI
        // function IDs (SYSTEM_OFF 0x84000008, ...), as every VMM enables; without it KVM serves
        // only PSCI 0.1's own IDs and a guest's SYSTEM_OFF returns NOT_SUPPORTED.
        target.features.0 |= 1 << UInt32(KVM_ARM_VCPU_PSCI_0_2)
        try v.armInit(target)
        try v.setOneRegister(.pc, guest.entry)
        try v.setOneRegister(.x(0), UInt64(index))
    }
    #endif
}
