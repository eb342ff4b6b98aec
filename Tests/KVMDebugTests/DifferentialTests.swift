import KVMDebugConformance
import Testing
import KVMDebugCLI
import KVMDebugCore

/// The same scenarios on real KVM and on the fake backend must give the same
/// sequence of (vCPU, reason, pc, address). Scenarios are grouped by the features
/// they need; a group this host's KVM does not deliver (probed) is a named skip.
@Suite(KVMHost.required) struct DifferentialTests {
    static let all = DebugScenarios.x86(mode: .long) + DebugScenarios.x86(mode: .real)

    static func group(_ f: (DebugScenario) -> Bool) -> [String] { all.filter(f).map(\.name) }
    static let execution = group { !$0.needs.contains { [.softwareBreakpoint, .writeWatchpoint, .accessWatchpoint, .readWatchpoint].contains($0) } }
    static let software = group { $0.needs.contains(.softwareBreakpoint) }
    static let watching = group { $0.needs.contains { [.writeWatchpoint, .accessWatchpoint, .readWatchpoint].contains($0) } }

    func compare(_ name: String) throws {
        let s = try #require(Self.all.first { $0.name == name })
        let fake = try s.recordOnFake()
        let kvm = try s.recordOnKVM()
        #expect(!fake.stops.isEmpty, "the fake backend must stop in \(name)")
        #expect(kvm.stops == fake.stops, "\(name): kvm \(kvm.stops) vs fake \(fake.stops)")
        #expect(kvm.end == fake.end)
    }

    @Test(KVMHost.requiring(.executeBreakpoint, .singleStep), arguments: execution)
    func breakpointsAndSteps(_ name: String) throws { try compare(name) }

    @Test(KVMHost.requiring(.softwareBreakpoint), arguments: software)
    func softwareBreakpoints(_ name: String) throws { try compare(name) }

    @Test(KVMHost.requiring(.writeWatchpoint, .accessWatchpoint), arguments: watching)
    func watchpoints(_ name: String) throws { try compare(name) }
}
