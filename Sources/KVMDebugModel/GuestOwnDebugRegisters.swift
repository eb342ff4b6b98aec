/// The guest's own debug registers (what the guest programmed, not kvmdbg's points), one case
/// per architecture.
///
/// x86: `KVM_GET_DEBUGREGS` (DR0-DR3, DR6, DR7). arm64: one `KVM_GET_ONE_REG` per
/// DBGBCRn_EL1, DBGBVRn_EL1, DBGWCRn_EL1, DBGWVRn_EL1 and MDSCR_EL1. While kvmdbg itself
/// arms hardware points, KVM loads kvmdbg's values into the hardware and keeps the guest's
/// aside; these calls return the guest's (see README, "Registers").
public enum GuestOwnDebugRegisters: Sendable, Hashable {
    case x86(X86GuestDebugRegisters)
    case arm64(Arm64GuestDebugRegisters)
}

/// x86 DR0-DR3, DR6, DR7 as the guest set them (`struct kvm_debugregs`).
public struct X86GuestDebugRegisters: Sendable, Hashable {
    /// DR0...DR3.
    public var address: [UInt64] = [0, 0, 0, 0]
    /// DR6 (architectural reset value 0xFFFF0FF0).
    public var dr6: UInt64 = 0xFFFF_0FF0
    /// DR7 (reset value 0x400).
    public var dr7: UInt64 = 0x400

    public init() {}
}

/// arm64 DBGBCR/DBGBVR (breakpoints), DBGWCR/DBGWVR (watchpoints) and MDSCR_EL1 as the guest
/// set them; `bcr.count` and `wcr.count` are the vCPU's slot counts (ID_AA64DFR0_EL1.BRPs/WRPs + 1).
public struct Arm64GuestDebugRegisters: Sendable, Hashable {
    public var bcr: [UInt64]
    public var bvr: [UInt64]
    public var wcr: [UInt64]
    public var wvr: [UInt64]
    public var mdscr: UInt64 = 0

    public init(breakpoints: Int, watchpoints: Int) {
        bcr = [UInt64](repeating: 0, count: breakpoints)
        bvr = bcr
        wcr = [UInt64](repeating: 0, count: watchpoints)
        wvr = wcr
    }

    /// ONE_REG ids (ARM64_SYS_REG(op0, op1, CRn, CRm, op2), Arm ARM D24 encodings): DBGBVRn_EL1
    /// (2, 0, 0, n, 4), DBGBCRn_EL1 (2, 0, 0, n, 5), DBGWVRn_EL1 (2, 0, 0, n, 6), DBGWCRn_EL1
    /// (2, 0, 0, n, 7), MDSCR_EL1 (2, 0, 0, 2, 2).
    public static func bvrID(_ n: Int) -> UInt64 { Arm64Register.systemRegisterID(op0: 2, op1: 0, crn: 0, crm: UInt64(n), op2: 4) }
    public static func bcrID(_ n: Int) -> UInt64 { Arm64Register.systemRegisterID(op0: 2, op1: 0, crn: 0, crm: UInt64(n), op2: 5) }
    public static func wvrID(_ n: Int) -> UInt64 { Arm64Register.systemRegisterID(op0: 2, op1: 0, crn: 0, crm: UInt64(n), op2: 6) }
    public static func wcrID(_ n: Int) -> UInt64 { Arm64Register.systemRegisterID(op0: 2, op1: 0, crn: 0, crm: UInt64(n), op2: 7) }
    public static let mdscrID = Arm64Register.systemRegisterID(op0: 2, op1: 0, crn: 0, crm: 2, op2: 2)

    /// Every (id, value) pair of the file, in a fixed order.
    public var byID: [(id: UInt64, value: UInt64)] {
        var out: [(id: UInt64, value: UInt64)] = []
        for n in bcr.indices { out.append((Self.bvrID(n), bvr[n])); out.append((Self.bcrID(n), bcr[n])) }
        for n in wcr.indices { out.append((Self.wvrID(n), wvr[n])); out.append((Self.wcrID(n), wcr[n])) }
        out.append((Self.mdscrID, mdscr))
        return out
    }

    /// Sets the register with ONE_REG id `id`; false when the file has no such register.
    public mutating func set(id: UInt64, _ value: UInt64) -> Bool {
        for n in bcr.indices {
            if id == Self.bvrID(n) { bvr[n] = value; return true }
            if id == Self.bcrID(n) { bcr[n] = value; return true }
        }
        for n in wcr.indices {
            if id == Self.wvrID(n) { wvr[n] = value; return true }
            if id == Self.wcrID(n) { wcr[n] = value; return true }
        }
        if id == Self.mdscrID { mdscr = value; return true }
        return false
    }
}
