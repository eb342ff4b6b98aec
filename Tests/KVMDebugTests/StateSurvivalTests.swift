import Foundation
import Testing
import KVMDebugCLI
import KVMDebugCore
import KVMDebugFake
import CPosix

/// The guest's FP/SIMD and debug registers survive being debugged. survive.c fills xmm0-15 and
/// programs its own DR0-3/DR7, then spins; the host, round after round, moves the vCPU thread to
/// another host CPU (sched_setaffinity), arms a hardware breakpoint, continues, steps, continues,
/// disarms and lets the guest run free (a detach) until a kick, reading the guest's registers
/// through kvmdbg each time; at the end the guest reads everything back itself and reports
/// through `result` (1: intact; 0x100 + n: xmm<n> changed; 0x200 + n: dr<n> changed).
@Suite(.serialized) struct StateSurvivalTests {
    static let rounds = 6

    static func build(into dir: URL) throws -> String {
        let out = dir.appendingPathComponent("survive.elf").path
        let script = GDBProgram.directory.appendingPathComponent("build").path
        let r = try runProcess(script, ["x86_64", out, "survive"], timeout: 60)
        try #require(r.status == 0, "\(script) x86_64 \(out) survive: \(r)")
        return out
    }

    /// What survive.c loads: xmm<n> = { 0x0101010101010101 * (n + 1), its complement }.
    static func pattern(_ n: Int) -> UInt128 {
        let low = 0x0101_0101_0101_0101 &* UInt64(n + 1)
        return UInt128(~low) << 64 | UInt128(low)
    }

    /// Pins the calling thread to host CPU `cpu`; the CPU it then runs on.
    static func moveThread(to cpu: Int) -> Int32 {
        _ = cposix_pin_self(Int32(cpu))
        return cposix_current_cpu()
    }

    /// Hands the backend to the rounds' thread and the kick timer (the test owns both lifetimes).
    final class Shared<B: DebugBackend>: @unchecked Sendable {
        let backend: B
        init(_ backend: B) { self.backend = backend }
    }

    /// The rounds on `backend`, on a thread of their own (its affinity changes die with it).
    func survive<B: DebugBackend>(_ backend: B, guest: Guest, watch: Bool) throws -> (result: UInt64, cpus: [Int32], log: [String]) {
        let shared = Shared(backend)
        let loop = try #require(guest.symbol("survive_loop")).address
        let done = try #require(guest.symbol("survive_done")).address
        let check = try #require(guest.symbol("check")).address, result = try #require(guest.symbol("result")).address
        let rounds = try #require(guest.symbol("rounds")).address
        let cpuCount = max(1, ProcessInfo.processInfo.activeProcessorCount)
        let finished = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var outcome: Result<(UInt64, [Int32], [String]), DebugError> = .failure(.unsupported(reason: "not run"))
        let thread = Thread {
            defer { finished.signal() }
            let backend = shared.backend
            let d = Debugger(backend: backend)
            var cpus: [Int32] = [], log: [String] = []
            func expectStop(_ e: RunEvent, at pc: UInt64?, _ what: String) {
                if case .stop(let s) = e, pc == nil || s.pc == pc { return }
                log.append("\(what): \(e)")
            }
            do throws(DebugError) {
                for round in 0..<Self.rounds {
                    cpus.append(Self.moveThread(to: round % cpuCount))
                    try d.insert(.hardware(address: loop))
                    expectStop(try d.resume(vcpu: 0, mode: .continue), at: loop, "round \(round) continue")
                    for k in 0..<3 { expectStop(try d.resume(vcpu: 0, mode: .step), at: nil, "round \(round) step \(k)") }
                    expectStop(try d.resume(vcpu: 0, mode: .continue), at: loop, "round \(round) second continue")
                    if watch {
                        try d.insert(.watch(address: rounds, length: 8, kind: .write))
                        expectStop(try d.resume(vcpu: 0, mode: .continue), at: nil, "round \(round) watch")
                        try d.remove(.watch(address: rounds, length: 8, kind: .write))
                    }
                    // What kvmdbg reads is what the guest wrote.
                    guard case .x86_64(let fp) = try d.floatingPointRegisters(vcpu: 0), case .x86(let dr) = try d.guestDebugRegisters(vcpu: 0) else {
                        log.append("round \(round): not x86 state"); break
                    }
                    for n in 0..<16 where fp.xmm[n] != Self.pattern(n) { log.append("round \(round): kvmdbg read xmm\(n) = \(String(fp.xmm[n], radix: 16))") }
                    if dr.address != [0x3F_0000, 0x3F_1000, 0x3F_2000, 0x3F_3000] || dr.dr7 != 0x405 {
                        log.append("round \(round): kvmdbg read dr0-3 \(dr.address.map { String($0, radix: 16) }), dr7 \(String(dr.dr7, radix: 16))")
                    }
                    // Disarm and detach: the guest runs free (its own DR7 in the hardware) until a kick.
                    d.removeAllPoints()
                    let kicked = DispatchSemaphore(value: 0)
                    // A hold, not a wait: the guest runs free for it; a kick is never lost (it sets
                    // immediate_exit, so a run not yet entered returns at once).
                    let kicker = Thread { usleep(30_000); shared.backend.kick(vcpu: 0); kicked.signal() }
                    kicker.start()
                    let free = try d.resume(vcpu: 0, mode: .continue)
                    if free != .exit(.interrupted) { log.append("round \(round) detached run: \(free)") }
                    _ = kicked.wait(timeout: .now() + 60)
                }
                cpus.append(Self.moveThread(to: Self.rounds % cpuCount))
                try d.writeMemory(check, littleEndianBytes(1))
                try d.insert(.hardware(address: done))
                expectStop(try d.resume(vcpu: 0, mode: .continue), at: done, "final continue")
                outcome = .success((littleEndianValue(try d.readMemory(result, count: 8)), cpus, log))
            } catch {
                outcome = .failure(error)
            }
        }
        thread.start()
        #expect(finished.wait(timeout: .now() + 300) == .success, "the rounds did not finish within 300 s")
        return try outcome.get()
    }

    func checkSurvival<B: DebugBackend>(_ make: (Guest) throws -> B, watch: Bool) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-survive-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let guest = try ImageLoader.guest(path: try Self.build(into: dir), arch: .x86_64, mode: .long, loadAddress: nil, entry: nil)
        let (result, cpus, log) = try survive(try make(guest), guest: guest, watch: watch)
        #expect(log.isEmpty, "\(log.joined(separator: "\n"))")
        #expect(result == 1, "the guest found its state changed: result \(String(result, radix: 16)) (0x100+n: xmm<n>, 0x200+n: dr<n>)")
        if ProcessInfo.processInfo.activeProcessorCount > 1 {
            #expect(Set(cpus).count > 1, "the vCPU thread ran on several host CPUs: \(cpus)")
        }
    }

    @Test func onTheFake() throws {
        try checkSurvival({ try FakeBackend(guest: $0) }, watch: true)
    }

    /// kvm_pvm: DR7 data watchpoints never fire here (caps --probe), so the rounds arm none.
    @Test(KVMHost.required) func onKVM() throws {
        try checkSurvival({ try KVMBackend(guest: $0) }, watch: KVMHost.works([.writeWatchpoint]))
    }

    /// The check can fail: a debugger that clobbers xmm5 or DR2 is caught by the guest (on the
    /// fake, and on KVM where it runs).
    @Test(arguments: ["fake", "kvm"]) func aClobberedRegisterIsReportedByTheGuest(_ backend: String) throws {
        if backend == "kvm" && !KVMHost.usable { return }  // KVMHost.skipReason; the fake case runs everywhere
        try clobber(xmm: true, backend)
        try clobber(xmm: false, backend)
    }

    func clobber(xmm: Bool, _ backend: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-survive-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let guest = try ImageLoader.guest(path: try Self.build(into: dir), arch: .x86_64, mode: .long, loadAddress: nil, entry: nil)
        if backend == "kvm" { try clobber(xmm: xmm, Debugger(backend: try KVMBackend(guest: guest)), guest) }
        else { try clobber(xmm: xmm, Debugger(backend: try FakeBackend(guest: guest)), guest) }
    }

    func clobber<B: DebugBackend>(xmm: Bool, _ d: Debugger<B>, _ guest: Guest) throws {
        try d.insert(.hardware(address: try #require(guest.symbol("survive_loop")).address))
        _ = try d.resume(vcpu: 0, mode: .continue)
        if xmm {
            guard case .x86_64(var fp) = try d.floatingPointRegisters(vcpu: 0) else { Issue.record("not x86"); return }
            fp.xmm[5] ^= 1
            try d.setFloatingPointRegisters(.x86_64(fp), vcpu: 0)
        } else {
            guard case .x86(var dr) = try d.guestDebugRegisters(vcpu: 0) else { Issue.record("not x86"); return }
            dr.address[2] ^= 0x10
            try d.setGuestDebugRegisters(.x86(dr), vcpu: 0)
        }
        try d.writeMemory(try #require(guest.symbol("check")).address, littleEndianBytes(1))
        d.removeAllPoints()
        try d.insert(.hardware(address: try #require(guest.symbol("survive_done")).address))
        _ = try d.resume(vcpu: 0, mode: .continue)
        #expect(littleEndianValue(try d.readMemory(try #require(guest.symbol("result")).address, count: 8)) == (xmm ? 0x105 : 0x202))
    }
}
