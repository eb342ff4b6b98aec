// The arm64 lane's entry point, compiled with Embedded Swift for aarch64 as its own module
// against the package's modules (each built as itself: scripts/lane-lib's embedded_modules),
// and called by lanes/arm64/main.c running as /init inside QEMU: kvmdbg's own DebugSession on real KVM.
#if arch(arm64)
import KVMDebugConformance
import KVMDebugCore
/// Runs `DebugScenarios.arm64` on `/dev/kvm` through `GuestRunner` (one `DebugSession` per
/// scenario) and prints one `scenario` line each, then `scenarios-done`: the lines
/// `kvmdbg scenarios --arch arm64 --backend fake` predicts. Returns the number of scenarios
/// that ended in an error.
@_cdecl("kvmdbg_lane_main")
public func kvmdbgLaneMain() -> Int32 {
    let tally = DebugScenarios.run(DebugScenarios.arm64, make: { (g, n) throws(DebugError) in try KVMBackend(guest: g, vcpus: n) }) {
        print($0.line($1))
    }
    print(tally.line)
    return Int32(tally.errors)
}
#endif
