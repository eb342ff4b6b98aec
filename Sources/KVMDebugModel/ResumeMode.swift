/// How to resume a stopped vCPU.
public enum ResumeMode: Sendable, Hashable {
    /// Run until the next debug stop or exit.
    case `continue`
    /// Retire one instruction (every armed point stays armed).
    case step
}
