import Foundation
import KVMDebugConformance
import KVMDebugCore
import Testing

/// Every scenario list on the fake backend, line for line against
/// Tests/Fixtures/fake-stops.golden: between lane runs the fake is the oracle the lanes
/// compare real KVM against, so its exact stops (vCPU, reason, pc, address, order), ends,
/// stopped sets and reported registers are pinned here, not only "it stopped".
///
/// After a deliberate change to the fake or to a scenario, regenerate and review the diff:
///
///     KVMDBG_UPDATE_GOLDEN=1 swift test --filter FakeStopGoldenTests
@Suite struct FakeStopGoldenTests {
    static let updating = ProcessInfo.processInfo.environment["KVMDBG_UPDATE_GOLDEN"] == "1"
    static let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/fake-stops.golden")

    /// The arm64 lane's list, the x86 lane's, and both x86 modes of the differential tests,
    /// each name once.
    static let scenarios: [DebugScenario] = {
        var seen: Set<String> = []
        return (DebugScenarios.arm64 + DebugScenarios.x86Lane + DebugScenarios.x86(mode: .long) + DebugScenarios.x86(mode: .real))
            .filter { seen.insert($0.name).inserted }
    }()

    static func line(_ s: DebugScenario) -> String {
        do throws(DebugError) { return s.line(.ran(try s.recordOnFake())) } catch { return s.line(.failed(error)) }
    }

    /// The golden lines by scenario name (`#` lines are comments).
    static func golden() throws -> [(name: String, line: String)] {
        try String(contentsOf: file, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("#") }.map { l in
            (String(l.split(separator: " ")[1]), String(l))
        }
    }

    @Test(.disabled(if: updating), arguments: scenarios)
    func fakeStopsAsInTheGolden(_ s: DebugScenario) throws {
        let expected = try #require(try Self.golden().first { $0.name == s.name }?.line, "\(s.name) not in \(Self.file.path)")
        #expect(Self.line(s) == expected)
    }

    @Test(.disabled(if: updating)) func goldenHasEveryScenarioOnce() throws {
        #expect(try Self.golden().map(\.name) == Self.scenarios.map(\.name))
    }

    @Test(.enabled(if: updating)) func regenerate() throws {
        let header = """
            # The fake backend's line for every scenario (Tests/KVMDebugTests/FakeStopGoldenTests.swift).
            # Regenerate: KVMDBG_UPDATE_GOLDEN=1 swift test --filter FakeStopGoldenTests
            """
        let lines = Self.scenarios.map(Self.line)
        try (([header] + lines).joined(separator: "\n") + "\n").write(to: Self.file, atomically: true, encoding: .utf8)
    }
}
