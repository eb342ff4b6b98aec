import CKVM
import KVMDebugModel

/// arm64 vCPU start-up: KVM_ARM_VCPU_INIT with the preferred target and PSCI 0.2 (and SVE where
/// the host offers it), then PC = entry, X0 = vCPU index. KVM resets to EL1h with DAIF masked and
/// the MMU off.
enum Arm64Boot {
    #if arch(arm64)
    static func setUp(_ v: KVMVCPU, index: Int, guest: Guest, vm: KVMVM) throws(DebugError) {
        var target = try vm.preferredTarget()
        // KVM_ARM_VCPU_PSCI_0_2 (feature bit 2, api.rst KVM_ARM_VCPU_INIT): the standard PSCI
        // function IDs (SYSTEM_OFF 0x84000008, ...), as every VMM enables; without it KVM serves
        // only PSCI 0.1's own IDs and a guest's SYSTEM_OFF returns NOT_SUPPORTED.
        target.features.0 |= 1 << UInt32(KVM_ARM_VCPU_PSCI_0_2)
        // KVM_ARM_VCPU_SVE (feature bit 4) where KVM_CAP_ARM_SVE says the host can: the guest
        // gets the SVE registers a VMM's vCPU would have, at the host's best vector lengths (the
        // VLS pseudo-register is left as KVM_ARM_VCPU_INIT set it), and KVM_ARM_VCPU_FINALIZE
        // must follow before KVM_RUN (api.rst KVM_ARM_VCPU_INIT). kvmdbg then serves Z/P/FFR/VG.
        let sve = (vm.check(.armSVE) ?? 0) > 0
        if sve { target.features.0 |= 1 << 4 }
        try v.armInit(target)
        if sve { try v.finalizeSVE() }
        try v.setOneRegister(.pc, guest.entry)
        try v.setOneRegister(.x(0), UInt64(index))
    }
    #endif
}
