import Synchronization

/// A vCPU's `kvm_run.immediate_exit` plus the signal that interrupts a running KVM_RUN.
///
/// `kick` may come from any thread while the vCPU's own thread is inside `run`,
/// so the flag is atomic. A kick is consumed by the `.interrupted` it causes.
final class FakeKick: Sendable {
    private let flag = Atomic<Bool>(false)

    func raise() { flag.store(true, ordering: .releasing) }

    /// True (and cleared) if a kick is pending.
    func consume() -> Bool { flag.exchange(false, ordering: .acquiringAndReleasing) }
}
