// kvmdbg-bench: guest-debug rates through the library, each printed as a ratio
// against a baseline measured in the same process: a raw ioctl loop over the same
// vCPU kind (Sources/KVMRawLoop, plain C, no library logic). Never a timed test: numbers are
// printed, not asserted.
//
//   swift run -c release kvmdbg-bench [seconds-per-measurement]
import KVMRawLoop
import Foundation
import KVMDebugCore
import KVMDebugFake

let seconds = CommandLine.arguments.dropFirst().first.flatMap(Double.init) ?? 1.0

/// Runs `body` repeatedly for about `seconds`; returns operations per second.
func rate(_ body: () throws -> Void) rethrows -> Double {
    var n = 0
    let start = Date()
    var elapsed = 0.0
    repeat {
        for _ in 0..<256 { try body() }
        n += 256
        elapsed = Date().timeIntervalSince(start)
    } while elapsed < seconds
    return Double(n) / elapsed
}

func fmt(_ r: Double) -> String { String(format: "%9.0f/s", r) }

func report(_ name: String, library: Double, baseline: Double, baselineName: String) {
    print("\(name.padding(toLength: 34, withPad: " ", startingAt: 0)) library \(fmt(library))   \(baselineName) \(fmt(baseline))   ratio \(String(format: "%.2f", library / baseline))")
}

/// The raw baseline (Sources/KVMRawLoop, C): the same ioctls with no library logic.
final class RawVCPU {
    let fd: Int32
    let run: UnsafeMutableRawPointer
    let size: Int
    init(fd: Int32, mmapSize: Int) {
        self.fd = fd
        size = mmapSize
        run = kvm_raw_map(fd, mmapSize)!
    }
    deinit { kvm_raw_unmap(run, size) }

    func steps(_ n: Int) { precondition(kvm_raw_step_loop(fd, run, n) == 0, "raw step loop: expected KVM_EXIT_DEBUG") }
    func breakpointCycles(at a: UInt64, _ n: Int) {
        precondition(kvm_raw_break_loop(fd, run, a, n) == 0, "raw breakpoint loop: expected KVM_EXIT_DEBUG")
    }
}

/// Like `rate`, for a body that does `batch` operations per call.
func rate(batch: Int, _ body: (Int) -> Void) -> Double {
    var n = 0
    let start = Date()
    var elapsed = 0.0
    repeat {
        body(batch)
        n += batch
        elapsed = Date().timeIntervalSince(start)
    } while elapsed < seconds
    return Double(n) / elapsed
}

print("kvmdbg-bench: \(seconds) s per measurement; ratio = library rate / baseline rate (1.00 = no overhead)")
let guest = BuiltinGuests.counterX86(.long)
let loop = guest.symbol("loop")!.address

// Fake backend: no baseline exists outside the library, so report the interpreter's own rates.
do {
    let d = Debugger(backend: try FakeBackend(guest: guest))
    let steps = try rate { _ = try d.resume(vcpu: 0, mode: .step) }
    try d.insert(.hardware(address: loop))
    let hits = try rate { _ = try d.resume(vcpu: 0, mode: .continue) }
    print("fake backend:                      single-step \(fmt(steps))   breakpoint hit+continue \(fmt(hits))")
} catch { print("fake backend: error: \(error)") }

#if arch(x86_64)
do {
    let mmapSize = Int(try KVMSystem().vcpuMmapSize())
    // Baseline 1: SINGLESTEP once, then KVM_RUN in a loop (TF stays set across exits).
    let b1 = try KVMBackend(guest: guest)
    let raw1 = RawVCPU(fd: b1.vcpus[0].fd, mmapSize: mmapSize)
    let rawStep = rate(batch: 256) { raw1.steps($0) }
    let d1 = Debugger(backend: try KVMBackend(guest: guest))
    let libStep = try rate { _ = try d1.resume(vcpu: 0, mode: .step) }
    report("kvm single-step", library: libStep, baseline: rawStep, baselineName: "raw ioctl loop")

    // Baseline 2: hit the breakpoint, disarm + step + re-arm by hand.
    let b2 = try KVMBackend(guest: guest)
    let raw2 = RawVCPU(fd: b2.vcpus[0].fd, mmapSize: mmapSize)
    let rawHit = rate(batch: 256) { raw2.breakpointCycles(at: loop, $0) }
    let d2 = Debugger(backend: try KVMBackend(guest: guest))
    try d2.insert(.hardware(address: loop))
    let libHit = try rate { _ = try d2.resume(vcpu: 0, mode: .continue) }
    report("kvm breakpoint hit+continue", library: libHit, baseline: rawHit, baselineName: "raw ioctl loop")
} catch {
    print("kvm: skipped: \((error as? DebugError)?.message ?? "\(error)")")
}
#else
print("kvm: skipped: the raw baseline loop is x86_64 only")
#endif
