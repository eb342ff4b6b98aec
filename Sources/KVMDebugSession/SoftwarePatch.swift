/// Original bytes under a software breakpoint, at one guest-physical address, and the
/// (vCPU, virtual address) pairs of the points it serves.
struct SoftwarePatch: Sendable {
    /// Guest-physical: where the int3/brk is written.
    var address: UInt64
    var original: [UInt8]
    /// Which vCPUs reach it at which virtual address (the pc a hit reports).
    var users: [SoftwareUse] = []

    /// True when `vcpu` reaches this patch at `pc`.
    func serves(_ vcpu: Int, at pc: UInt64) -> Bool { users.contains { $0.vcpu == vcpu && $0.virtual == pc } }
}

/// One vCPU's view of a software breakpoint: the virtual address its point names.
struct SoftwareUse: Sendable, Hashable {
    var vcpu: Int
    var virtual: UInt64
}
