// The arm64 lane's entry point, compiled with Embedded Swift for aarch64 as its own module
// against the package's modules (each built as itself: scripts/lane-lib's embedded_modules),
// and called by lanes/arm64/main.c running as /init inside QEMU: kvmdbg's own core on real KVM.
#if arch(arm64)
import KVMDebugConformance
import KVMDebugCore
/// Runs `DebugScenarios.arm64` on `/dev/kvm` and prints the canonical lines
/// (`ConformanceRunner`). Returns the number of scenarios that ended in an error.
@_cdecl("kvmdbg_lane_main")
public func kvmdbgLaneMain() -> Int32 {
    let errors = ConformanceRunner.runAll(DebugScenarios.arm64, emit: { print($0) }) { (g, n) throws(DebugError) -> KVMBackend in
        try KVMBackend(guest: g, vcpus: n)
    }
    return Int32(errors)
}
#endif
