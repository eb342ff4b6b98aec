import KVMRawLoop
import KVMDebugCore
import KVMDebugFake

/// The raw KVM baseline (Sources/KVMRawLoop, C): the same ioctls with no library logic.
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

/// The fake backend's raw baseline: the backend's own calls (what the library would
/// issue as ioctls), with no Debugger in between.
struct RawFake {
    let backend: FakeBackend
    let stepState = GuestDebugState(control: [.enable, .singleStep, .x86UseHardwareBreakpoints],
                                    registers: .x86(X86DebugRegisters()))
    let armedState: GuestDebugState

    init(_ backend: FakeBackend, breakAt a: UInt64) {
        self.backend = backend
        armedState = GuestDebugState(control: [.enable, .x86UseHardwareBreakpoints],
                                     registers: .x86(X86DebugRegisters(address: [a, 0, 0, 0], dr7: 0x401)))
    }

    func steps(_ n: Int) throws {
        try backend.setGuestDebug(stepState, vcpu: 0)
        for _ in 0..<n { guard case .debug = try backend.run(vcpu: 0) else { fatalError("raw fake: expected a debug exit") } }
    }

    func breakpointCycles(_ n: Int) throws {
        try backend.setGuestDebug(armedState, vcpu: 0)
        for _ in 0..<n {
            guard case .debug = try backend.run(vcpu: 0) else { fatalError("raw fake: expected a debug exit") }
            try backend.setGuestDebug(stepState, vcpu: 0)
            guard case .debug = try backend.run(vcpu: 0) else { fatalError("raw fake: expected a debug exit") }
            try backend.setGuestDebug(armedState, vcpu: 0)
        }
    }
}

/// What one profiled operation loop runs (`--profile NAME`), for perf, strace and callgrind.
enum ProfileTarget: String, CaseIterable {
    case kvmStep = "kvm-step", kvmBreak = "kvm-break", rawStep = "raw-step", rawBreak = "raw-break"
    case fakeStep = "fake-step", fakeBreak = "fake-break", rawFakeStep = "raw-fake-step", rawFakeBreak = "raw-fake-break"
}

/// The library's loop: single-steps, or with `breakAt` continues to a hardware breakpoint there.
func debuggerLoop<B: DebugBackend>(_ backend: B, breakAt: UInt64?) throws(DebugError) -> (Int) throws -> Void {
    let d = Debugger(backend: backend)
    if let a = breakAt { try d.insert(.hardware(address: a)) }
    let mode: ResumeMode = breakAt == nil ? .step : .continue
    return { n in for _ in 0..<n { _ = try d.resume(vcpu: 0, mode: mode) } }
}

/// Builds the loop body for one target: `body(n)` does n operations.
func operation(_ t: ProfileTarget) throws -> (Int) throws -> Void {
    let guest = BuiltinGuests.counterX86(.long)
    let loop = guest.symbol("loop")!.address
    switch t {
    case .fakeStep, .fakeBreak:
        return try debuggerLoop(FakeBackend(guest: guest), breakAt: t == .fakeBreak ? loop : nil)
    case .rawFakeStep, .rawFakeBreak:
        let raw = RawFake(try FakeBackend(guest: guest), breakAt: loop)
        return t == .rawFakeStep ? { try raw.steps($0) } : { try raw.breakpointCycles($0) }
    #if arch(x86_64)
    case .kvmStep, .kvmBreak:
        return try debuggerLoop(KVMBackend(guest: guest), breakAt: t == .kvmBreak ? loop : nil)
    case .rawStep, .rawBreak:
        let b = try KVMBackend(guest: guest)
        let raw = RawVCPU(fd: b.vcpus[0].fd, mmapSize: Int(try KVMSystem().vcpuMmapSize()))
        // Keep the backend (its VM and memory) alive as long as the loop.
        return t == .rawStep ? { n in withExtendedLifetime(b) { raw.steps(n) } }
                             : { n in withExtendedLifetime(b) { raw.breakpointCycles(at: loop, n) } }
    #else
    default:
        throw DebugError.unsupported(reason: "the raw KVM loop is x86_64 only")
    #endif
    }
}

/// Section 1: single-step and breakpoint hit+continue, library against the raw loop, fake and KVM.
func libraryVsRaw(reps: Int, seconds: Double, kvm: Bool) -> (figures: [RatioFigure], notes: [String]) {
    var out: [RatioFigure] = []
    var notes: [String] = []
    let pairs: [(String, ProfileTarget, ProfileTarget, Bool)] = [
        ("fake single-step", .fakeStep, .rawFakeStep, false),
        ("fake breakpoint hit+continue", .fakeBreak, .rawFakeBreak, false),
        ("kvm single-step", .kvmStep, .rawStep, true),
        ("kvm breakpoint hit+continue", .kvmBreak, .rawBreak, true),
    ]
    for (name, lib, raw, needsKVM) in pairs {
        if needsKVM && !kvm { continue }
        do {
            let l = try operation(lib)
            let b = try operation(raw)
            out.append(try interleaved(name, baselineName: needsKVM ? "raw ioctl loop (C)" : "raw backend calls",
                                       reps: reps, seconds: seconds, library: l, baseline: b))
        } catch {
            notes.append("\(name): skipped: \((error as? DebugError)?.message ?? "\(error)")")
        }
    }
    return (out, notes)
}
