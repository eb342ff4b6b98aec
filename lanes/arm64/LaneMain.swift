// The arm64 lane's entry point, compiled with Embedded Swift for aarch64 together
// with every file of Sources/KVMDebugCore and Sources/KVMDebugConformance (one module,
// so no imports here), and called by lanes/arm64/main.c
// running as /init inside QEMU: kvmdbg's own core on real KVM.
#if arch(arm64)
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
