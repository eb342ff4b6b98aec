// kvmdbg-conformance: the host-side prediction of the arm64 conformance lane.
//
// Runs `ConformanceScenarios.arm64` on the fake backend and prints the canonical
// lines (see `ConformanceRunner`). scripts/arm64-lane diffs them, scenario by
// scenario, against the same list run on real KVM inside QEMU (lanes/arm64).
//
// Usage: kvmdbg-conformance [--list] [name-prefix...]
// Exits 1 when any scenario ended in an error (its lines are still printed, so the lane
// compares and fails it by name).
import Glibc
import KVMDebugCore
import KVMDebugFake

let args = Array(CommandLine.arguments.dropFirst())
var scenarios = ConformanceScenarios.arm64
let prefixes = args.filter { !$0.hasPrefix("--") }
if !prefixes.isEmpty { scenarios = scenarios.filter { s in prefixes.contains { s.name.hasPrefix($0) } } }
if args.contains("--list") {
    for s in scenarios { print(s.name) }
} else {
    let errors = ConformanceRunner.runAll(scenarios, emit: { print($0) }) { (g, n) throws(DebugError) -> FakeBackend in
        let b = try FakeBackend(guest: g, vcpus: n)
        // A scenario that never stops must end on the host too (real KVM would hang).
        b.maxInstructionsPerRun = 1_000_000
        return b
    }
    if errors > 0 {
        print("kvmdbg-conformance: \(errors) scenario(s) ended in an error")
        exit(1)
    }
}
