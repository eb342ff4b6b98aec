/// What one resume ended with.
public enum RunEvent: Sendable, Hashable {
    /// A decoded KVM_EXIT_DEBUG.
    case stop(Stop)
    /// Any other exit (halt, interrupted, shutdown, internal error, ...).
    case exit(VCPUExit)
}
