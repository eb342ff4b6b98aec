import KVMDebugModel

/// The guest's own debug registers of a fake vCPU, kept apart from what KVM_SET_GUEST_DEBUG
/// installs (KVM keeps `vcpu->arch.db/dr6/dr7` and `vcpu_debug_state` for the guest and loads
/// the debugger's values into the hardware only while it debugs), behind KVM's ABI:
/// x86 KVM_GET/SET_DEBUGREGS, arm64 ONE_REG system register ids decoded here from
/// ARM64_SYS_REG's layout. The fake's interpreters do not run the guest's own points: these
/// are kept and returned, which is what the state-survival checks need.
struct FakeGuestDebugRegisters: Sendable, Hashable {
    /// x86 DR0-3, DR6, DR7 (reset values 0, 0xFFFF0FF0, 0x400).
    var db: [UInt64] = [0, 0, 0, 0]
    var dr6: UInt64 = 0xFFFF_0FF0
    var dr7: UInt64 = 0x400
    /// arm64 DBGBVR/DBGBCR/DBGWVR/DBGWCR per slot, MDSCR_EL1.
    var bvr: [UInt64], bcr: [UInt64], wvr: [UInt64], wcr: [UInt64]
    var mdscr: UInt64 = 0

    init(breakpoints: Int, watchpoints: Int) {
        bvr = [UInt64](repeating: 0, count: breakpoints)
        bcr = bvr
        wvr = [UInt64](repeating: 0, count: watchpoints)
        wcr = wvr
    }

    /// KVM_SET_DEBUGREGS: flags must be 0 and DR6/DR7 fit in 32 bits (kvm_dr6_valid,
    /// kvm_dr7_valid), else EINVAL with nothing changed.
    mutating func setX86(db: [UInt64], dr6: UInt64, dr7: UInt64, flags: UInt64) throws(DebugError) {
        guard flags == 0, dr6 >> 32 == 0, dr7 >> 32 == 0, db.count == 4 else { throw kvmError("KVM_SET_DEBUGREGS", FakeErrno.einval) }
        self.db = db
        self.dr6 = dr6
        self.dr7 = dr7
    }

    /// Decodes an arm64 debug system register id: ARM64_SYS_REG is 0x6030_0000_0013_0000 |
    /// op0 << 14 | op1 << 11 | CRn << 7 | CRm << 3 | op2; the debug registers are op0 2, op1 0,
    /// CRn 0, with CRm the slot and op2 4 (BVR), 5 (BCR), 6 (WVR), 7 (WCR); MDSCR_EL1 is CRm 2, op2 2.
    private func slot(_ id: UInt64) -> (kind: Int, n: Int)? {
        guard id & 0xFFFF_FFFF_FFFF_0000 == 0x6030_0000_0013_0000 else { return nil }
        let op0 = (id >> 14) & 3, op1 = (id >> 11) & 7, crn = (id >> 7) & 15, crm = Int((id >> 3) & 15), op2 = Int(id & 7)
        guard op0 == 2, op1 == 0, crn == 0 else { return nil }
        if crm == 2, op2 == 2 { return (0, 0) }
        switch op2 {
        case 4, 5: return crm < bvr.count ? (op2, crm) : nil
        case 6, 7: return crm < wvr.count ? (op2, crm) : nil
        default: return nil
        }
    }

    /// KVM_GET_ONE_REG of a debug system register; nil for other ids (KVM: ENOENT).
    func getArm64(_ id: UInt64) -> UInt64? {
        guard let (kind, n) = slot(id) else { return nil }
        switch kind {
        case 4: return bvr[n]
        case 5: return bcr[n]
        case 6: return wvr[n]
        case 7: return wcr[n]
        default: return mdscr
        }
    }

    /// KVM_SET_ONE_REG of a debug system register; false for other ids.
    mutating func setArm64(_ id: UInt64, _ value: UInt64) -> Bool {
        guard let (kind, n) = slot(id) else { return false }
        switch kind {
        case 4: bvr[n] = value
        case 5: bcr[n] = value
        case 6: wvr[n] = value
        case 7: wcr[n] = value
        default: mdscr = value
        }
        return true
    }
}
