import Synchronization

/// How long a reader polls its client's socket (reads without blocking, in a loop) before it
/// blocks in read(2): the server's analogue of KVM's `halt_poll_ns`. A thread that blocks and is
/// woken from the other CPU pays an IPI (on this Firecracker VM a VM exit) and a reschedule, and
/// on an idle host the wake-up of an idle vCPU of the VM as well; gdb answers most replies within
/// 20-30 µs during a step or continue loop, so a reader that polls for that long never sleeps.
///
/// The window adapts as KVM's does (`grow_halt_poll_ns` / `shrink_halt_poll_ns` in
/// virt/kvm/kvm_main.c): bytes that came inside it leave it as it is; bytes that came after it
/// but within the cap grow it (doubled, from `growStart`); a wait longer than the cap (a user
/// typing at gdb, a guest running free) halves it, to 0 below `growStart` (KVM's
/// `halt_poll_ns_shrink=2`, its default since "KVM: Enable halt polling shrink parameter by
/// default"; a reset to 0 would cost a scripted loop several packets to grow back after each
/// pause between its commands). So an interactive session polls briefly and rarely, and a
/// scripted loop polls up to the cap.
public final class ReadPoll: Sendable {
    /// The longest window, in nanoseconds; 0: never poll (read(2) blocks at once, as before).
    public let capNanoseconds: UInt64
    private let window: Atomic<UInt64>
    /// A window grows from here (KVM's `halt_poll_ns_grow_start` is 10 µs too).
    static let growStart: UInt64 = 10_000

    /// `microseconds` is the cap (`kvmdbg gdbserver --poll-us`); the window starts at it.
    public init(microseconds: Int) {
        capNanoseconds = UInt64(max(0, microseconds)) * 1000
        window = Atomic(capNanoseconds)
    }

    /// The window to poll for now, in nanoseconds (0: block at once).
    public var windowNanoseconds: UInt64 { window.load(ordering: .relaxed) }

    /// Adapts the window after a read that waited `waited` ns from its start to its bytes
    /// (polling included).
    public func record(waited: UInt64) {
        guard capNanoseconds > 0 else { return }
        let w = window.load(ordering: .relaxed)
        if waited <= w { return }  // caught while polling
        let next: UInt64
        if waited > capNanoseconds {
            next = w / 2 < Self.growStart ? 0 : w / 2
        } else {
            next = min(capNanoseconds, max(w * 2, min(Self.growStart, capNanoseconds)))
        }
        window.store(next, ordering: .relaxed)
    }
}
