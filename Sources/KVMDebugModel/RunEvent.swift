/// What one resume ended with.
public enum RunEvent: Sendable, Hashable {
    /// A decoded KVM_EXIT_DEBUG.
    case stop(Stop)
    /// Any other exit the guest made (halt, io, shutdown, internal error, ...); never
    /// `.interrupted`, which is `.kicked`.
    case exit(VCPUExit)
    /// KVM_RUN came back before the guest made any exit (`VCPUExit.interrupted`: a kick, for an
    /// all-stop, an interrupt, a deadline or a close; a stray signal; the fake backend's run
    /// budget spent). The vCPU is where it was and may run again; nothing to report.
    case kicked
}
