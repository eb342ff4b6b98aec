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
    laneProtectionBench()
    return Int32(tally.errors)
}

/// What a watch hit costs on this KVM, each row against the hardware row or the breakpoint
/// cycle measured in the same run: `lane-bench:` lines (not compared; scripts/arm64-lane prints
/// them). Under QEMU's emulated EL2 the numbers are only indicative.
func laneProtectionBench() {
    let rounds = 200
    /// Mean µs per stop-and-continue of `points` on `guest`, by `mechanism`; nil on an error.
    func cycle(_ guest: Guest, _ points: [DebugPoint], _ mechanism: WatchMechanismChoice) -> Double? {
        do throws(DebugError) {
            let d = Debugger(backend: try KVMBackend(guest: guest))
            d.watchMechanism = mechanism
            for p in points { try d.insert(p) }
            _ = try d.resume(vcpu: 0, mode: .continue)  // the first stop: pages faulted in
            let t0 = monotonicNanoseconds()
            for _ in 0..<rounds {
                guard case .stop = try d.resume(vcpu: 0, mode: .continue) else { return nil }
            }
            return Double(monotonicNanoseconds() - t0) / Double(rounds) / 1000
        } catch {
            print("lane-bench: error: \(error.message)")
            return nil
        }
    }
    func row(_ name: String, _ v: Double?, against base: Double?, _ baseName: String) {
        guard let v, let base else { return print("lane-bench: \(name): not measured") }
        print("lane-bench: \(name): \(Int(v)) us per hit, \(baseName) \(Int(base)) us, ratio \(Int(v / base * 100))%")
    }
    let counter = BuiltinGuests.counterArm64()
    let word = DebugPoint.watch(address: 0x11000, length: 8, kind: .write)
    let hardware = cycle(counter, [word], .hardware)
    row("protection write-watch hit, str (KVM_EXIT_MMIO)", cycle(counter, [word], .protection), against: hardware,
        "hardware write-watch hit")
    row("protection write-watch hit, stp (KVM_EXIT_ARM_NISV, stepped with the slot back)",
        cycle(ConformanceGuests.pair(), [.watch(address: 0x11008, length: 8, kind: .write)], .protection),
        against: hardware, "hardware write-watch hit")
    let loop = DebugPoint.hardware(address: 0x1000C)
    row("breakpoint cycle with an unrelated watched word on the stored page (one filtered store each)",
        cycle(counter, [loop, .watch(address: 0x11800, length: 8, kind: .write)], .protection),
        against: cycle(counter, [loop], .protection), "breakpoint cycle alone")
}
#endif
