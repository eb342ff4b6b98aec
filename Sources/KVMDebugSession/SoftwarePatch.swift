/// Original bytes under a software breakpoint, at one guest-physical address, and the
/// (vCPU, virtual address) pairs of the points it serves.
struct SoftwarePatch: Sendable {
    /// Guest-physical: where the int3/brk is written.
    var address: UInt64
    var original: [UInt8]
    /// Which vCPUs reach it at which virtual address (the pc a hit reports).
    var users: [SoftwareUse] = []

    /// What the guest sees here while RAM holds `ram`: the saved original under each byte the
    /// breakpoint `instruction` still holds, and the guest's own byte where it stored over the
    /// instruction after it was planted (a data word, self-modifying code). A guest store of
    /// the very byte the instruction has there cannot be told apart and shows the original.
    func guestView(ram: [UInt8], instruction: [UInt8]) -> [UInt8] {
        original.indices.map { ram[$0] == instruction[$0] ? original[$0] : ram[$0] }
    }

    /// True when `vcpu` reaches this patch at `pc`.
    func serves(_ vcpu: Int, at pc: UInt64) -> Bool { users.contains { $0.vcpu == vcpu && $0.virtual == pc } }
}

/// One vCPU's view of a software breakpoint: the virtual address its point names.
struct SoftwareUse: Sendable, Hashable {
    var vcpu: Int
    var virtual: UInt64
}
