/// The scenario lists, each defined once: `arm64` (the arm64 conformance lane, whose
/// first ten, `arm64Basic`, are also the host-side arm64 scenarios), `x86(mode:)` (the
/// differential tests) and `x86Lane` (the x86 lane and `kvmdbg scenarios`, derived from
/// `x86(mode:)` plus its own additions).
public enum DebugScenarios {}
