import KVMDebugCore

/// A vCPU slot of the fake VM: its CPU, its kick flag and the last state installed.
///
/// Held in an immutable array so that vCPUs run on separate threads never touch a
/// shared mutable container; `cpu` and `installed` belong to the vCPU's own thread
/// (`cpu` is replaced only by `FakeBackend.reset`, while no vCPU runs).
final class FakeVCPU: @unchecked Sendable {
    let index: Int
    var cpu: any FakeCPU
    let kick = FakeKick()
    /// The last state KVM_SET_GUEST_DEBUG accepted, exactly as passed.
    var installed: GuestDebugState?

    init(index: Int, cpu: any FakeCPU) {
        self.index = index
        self.cpu = cpu
    }
}
