import KVMDebug
import KVMDebugCLI
import KVMDebugConformance
import KVMDebugCore
import KVMDebugFake
import Testing

/// The host-side arm64 scenarios are the first entries of the arm64 lane's list by
/// construction (`DebugScenarios.arm64Basic`), so nothing is copied to pin. What is
/// left to check: the two runners that take them, `GuestRunner` (every vCPU on its own
/// thread, all-stop) and `ConformanceRunner` (the lane's, one vCPU at a time), see the
/// same stops and end the same way on the fake backend.
@Suite struct ConformanceCoverageTests {
    @Test(arguments: DebugScenarios.arm64Basic)
    func bothRunnersSeeTheSameStops(_ s: DebugScenario) throws {
        var lines: [String] = []
        let ok = ConformanceRunner.run(s, emit: { lines.append($0) }) { (g, n) throws(DebugError) -> FakeBackend in
            try FakeBackend(guest: g, vcpus: n)
        }
        #expect(ok)
        let host = try s.recordOnFake()
        // ConformanceRunner: one `vcpu=.. reason=.. pc=.. addr=.. ec=..` line per stop, then `end=R stops=N`.
        let laneStops = lines.dropLast().map { $0.split(separator: " ").prefix(4).joined(separator: " ") }
        let hostStops = host.stops.map { "vcpu=\($0.vcpu) reason=\($0.reason) pc=\(hex($0.pc)) addr=\($0.address.map(hex) ?? "-")" }
        #expect(laneStops == hostStops)
        #expect(lines.last == "end=\(host.end) stops=\(host.stops.count)")
    }
}
