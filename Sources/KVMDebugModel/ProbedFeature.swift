/// One guest-debug feature `caps --probe` tests for real, and that a scenario can need.
///
/// In the core so the scenario lists (KVMDebugConformance, Embedded-clean) can name the
/// features they need; the raw values are the probe's JSON keys and the skip reasons.
public enum ProbedFeature: String, Sendable, CaseIterable {
    case singleStep = "single-step"
    case executeBreakpoint = "hw-breakpoint"
    case softwareBreakpoint = "sw-breakpoint"
    case writeWatchpoint = "write-watchpoint"
    case accessWatchpoint = "access-watchpoint"
    case readWatchpoint = "read-watchpoint"
}
