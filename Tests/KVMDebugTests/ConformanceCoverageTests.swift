import KVMDebug
import KVMDebugCore
import Testing

/// The arm64 lane runs the host-side scenario list too: every `Scenario.arm64` is in
/// `ConformanceScenarios.arm64` under the same name, with the same points, steps and stops.
@Suite struct ConformanceCoverageTests {
    @Test(arguments: Scenario.arm64)
    func hostScenarioIsInTheLane(_ s: Scenario) throws {
        let c = try #require(ConformanceScenarios.arm64.first { $0.name == s.name }, "\(s.name) missing from the lane")
        let g = try s.guest()
        let plan = try s.plan(for: g)
        #expect(c.guest == g)
        #expect(c.points.map(\.0) == plan.points.map(\.point))
        #expect(c.points.map(\.1) == plan.points.map(\.target))
        #expect(c.steps == s.steps && c.maxStops == s.maxStops)
    }
}
