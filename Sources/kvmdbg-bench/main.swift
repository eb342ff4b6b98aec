// kvmdbg-bench: guest-debug rates through the library, each printed as a ratio
// against a baseline measured in the same process: a raw ioctl loop over the same
// vCPU kind (CKVM calls only, no library logic). Never a timed test: numbers are
// printed, not asserted.
//
//   swift run -c release kvmdbg-bench [seconds-per-measurement]
import CKVM
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

/// The raw baseline: our own kvm_run view and ioctls straight through CKVM.
final class RawVCPU {
    let fd: Int32
    let run: UnsafeMutablePointer<kvm_run>
    let size: Int
    init(fd: Int32, mmapSize: Int) {
        self.fd = fd
        size = mmapSize
        run = ckvm_mmap(nil, mmapSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)!.bindMemory(to: kvm_run.self, capacity: 1)
    }
    deinit { _ = ckvm_munmap(run, size) }

    func setDebug(_ control: UInt32, dr0: UInt64 = 0, dr7: UInt64 = 0x400) {
        var d = kvm_guest_debug()
        d.control = control
        #if arch(x86_64)
        d.arch.debugreg.0 = dr0
        d.arch.debugreg.7 = dr7
        #endif
        precondition(ckvm_set_guest_debug(fd, &d) == 0, "KVM_SET_GUEST_DEBUG")
    }

    func runDebugExit() {
        precondition(ckvm_run(fd) == 0 && run.pointee.exit_reason == KVM_EXIT_DEBUG, "expected KVM_EXIT_DEBUG")
    }
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
    raw1.setDebug(0x1 | 0x2 | 0x2_0000)
    let rawStep = rate { raw1.runDebugExit() }
    let d1 = Debugger(backend: try KVMBackend(guest: guest))
    let libStep = try rate { _ = try d1.resume(vcpu: 0, mode: .step) }
    report("kvm single-step", library: libStep, baseline: rawStep, baselineName: "raw ioctl loop")

    // Baseline 2: hit the breakpoint, disarm + step + re-arm by hand.
    let b2 = try KVMBackend(guest: guest)
    let raw2 = RawVCPU(fd: b2.vcpus[0].fd, mmapSize: mmapSize)
    let armed: UInt64 = 0x401
    raw2.setDebug(0x1 | 0x2_0000, dr0: loop, dr7: armed)
    let rawHit = rate {
        raw2.runDebugExit()                               // the breakpoint
        raw2.setDebug(0x1 | 0x2 | 0x2_0000)               // disarmed, one step
        raw2.runDebugExit()
        raw2.setDebug(0x1 | 0x2_0000, dr0: loop, dr7: armed)  // re-armed
    }
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
