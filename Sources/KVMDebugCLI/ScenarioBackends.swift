import KVMDebugConformance
import KVMDebugCore
import KVMDebugFake

/// A scenario on the two backends the host has: the fake backend's run is the prediction
/// real KVM is compared against (ScenarioRun.swift has the runner and the line).
extension DebugScenario {
    /// Runs it on the fake backend.
    public func recordOnFake(watches: WatchMechanismChoice? = nil) throws(DebugError) -> ScenarioResult {
        try record(make: DebugScenarios.fake, watches: watches)
    }

    /// Runs it on this machine's /dev/kvm.
    public func recordOnKVM(watches: WatchMechanismChoice? = nil) throws(DebugError) -> ScenarioResult {
        try record(make: DebugScenarios.kvm, watches: watches)
    }
}

extension DebugScenarios {
    /// `DebugScenarios.run` on the fake backend or /dev/kvm (`.auto` is the fake's).
    public static func run(_ list: [DebugScenario], on kind: BackendKind, skip: (DebugScenario) -> String? = { _ in nil },
                           emit: (DebugScenario, ScenarioOutcome) -> Void) -> ScenarioTally {
        kind == .kvm ? run(list, make: kvm, skip: skip, emit: emit) : run(list, make: fake, skip: skip, emit: emit)
    }

    static func fake(_ g: Guest, _ vcpus: Int) throws(DebugError) -> FakeBackend { try FakeBackend(guest: g, vcpus: vcpus) }
    static func kvm(_ g: Guest, _ vcpus: Int) throws(DebugError) -> KVMBackend { try KVMBackend(guest: g, vcpus: vcpus) }
}
