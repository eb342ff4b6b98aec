import CKVM

/// How kvmdbg brings a vCPU thread out of `KVM_RUN` for all-stop and interrupts.
///
/// Every kick first sets `kvm_run.immediate_exit`, so a vCPU about to enter returns at
/// once; this says what reaches a thread already inside KVM_RUN.
public enum KVMKick: Sendable {
    /// kvmdbg installs a no-op handler for this signal without SA_RESTART (process-wide)
    /// and, per vCPU fd, `KVM_SET_SIGNAL_MASK` so only it is deliverable inside KVM_RUN;
    /// a kick is `pthread_kill` of the thread in KVM_RUN. Pick a signal the host VMM
    /// does not use itself.
    case signal(Int32)
    /// The host VMM delivers kicks itself (its own signal, already set up on the vCPU
    /// threads): kvmdbg installs nothing and sets no signal mask, and after setting
    /// immediate_exit calls this with the vCPU index, from any thread.
    case custom(@Sendable (Int) -> Void)

    /// SIGUSR1: what kvmdbg uses for the VMs it creates.
    public static let `default` = KVMKick.signal(SIGUSR1)

    /// The signal kvmdbg owns, if any.
    var signal: Int32? {
        if case .signal(let s) = self { return s }
        return nil
    }
}
