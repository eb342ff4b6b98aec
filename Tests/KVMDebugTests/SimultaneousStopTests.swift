import Foundation
import Synchronization
import Testing
import KVMDebugCLI
import KVMDebugCore

/// A backend whose vCPUs follow a script, so "two vCPUs hit at once" is exact rather
/// than a race: each `run` returns the next scripted exit, or blocks like a busy
/// guest until kicked (then returns `.interrupted`).
final class ScriptedBackend: DebugBackend, @unchecked Sendable {
    let arch = Arch.x86_64
    let vcpuCount: Int
    let capabilities = Capabilities(arch: .x86_64, setGuestDebug: true, supportedControl: .x86ValidMask, slots: .x86,
                                    reportedHardwareBreakpoints: 0, reportedHardwareWatchpoints: 0, maxVCPUs: 64, backend: "scripted")
    private let lock = NSCondition()
    private var scripts: [[VCPUExit?]]  // nil = run until kicked
    private var kicked: [Bool]
    private var stepping: [Bool]
    private(set) var runs: [Int]
    private(set) var pausedNotices: [Int] = []

    /// vCPUs that all must be inside `run` before any of them returns its scripted
    /// exit: "at once" made exact, whatever the thread start-up order.
    private let together: Set<Int>
    private var entered: Set<Int> = []

    init(scripts: [[VCPUExit?]], together: Set<Int> = []) {
        self.scripts = scripts
        self.together = together
        vcpuCount = scripts.count
        kicked = [Bool](repeating: false, count: scripts.count)
        stepping = kicked
        runs = [Int](repeating: 0, count: scripts.count)
    }

    func setGuestDebug(_ state: GuestDebugState, vcpu: Int) throws(DebugError) {
        lock.lock()
        stepping[vcpu] = state.control.contains(.singleStep)
        lock.unlock()
    }

    func run(vcpu: Int) throws(DebugError) -> VCPUExit {
        lock.lock()
        defer { lock.unlock() }
        runs[vcpu] += 1
        if together.contains(vcpu) {
            entered.insert(vcpu)
            lock.broadcast()
            while !together.isSubset(of: entered) { lock.wait() }
        }
        // A scripted exit happens "at the same moment" as any kick: the kick stays pending.
        if !scripts[vcpu].isEmpty, let next = scripts[vcpu].removeFirst() { return next }
        if kicked[vcpu] { kicked[vcpu] = false; return .interrupted }
        if stepping[vcpu] { return .debug(.x86(exception: 1, pc: 0x1006, dr6: 0xFFFF_4FF0, dr7: 0x400)) }
        while !kicked[vcpu] { lock.wait() }
        kicked[vcpu] = false
        return .interrupted
    }

    func programCounter(vcpu: Int) throws(DebugError) -> UInt64 { 0x1003 }
    func registers(vcpu: Int) throws(DebugError) -> RegisterFile {
        var r = X86RegisterFile()
        r.rip = 0x1003
        return .x86_64(r)
    }
    func setRegisters(_ file: RegisterFile, vcpu: Int) throws(DebugError) {}
    func readMemory(_ address: UInt64, count: Int) throws(DebugError) -> [UInt8] { [UInt8](repeating: 0, count: count) }
    func writeMemory(_ address: UInt64, _ bytes: [UInt8]) throws(DebugError) {}
    func guestPaused(vcpu: Int) {
        lock.lock()
        pausedNotices.append(vcpu)
        lock.unlock()
    }
    func kick(vcpu: Int) {
        lock.lock()
        kicked[vcpu] = true
        lock.broadcast()
        lock.unlock()
    }
}

@Suite struct SimultaneousStopTests {
    /// A #DB exit for DR0 (B0) at `pc`, as KVM reports an execute breakpoint.
    static func hit(_ pc: UInt64) -> VCPUExit { .debug(.x86(exception: 1, pc: pc, dr6: 0xFFFF_0FF1, dr7: 0x401)) }

    @Test func twoVCPUsHittingAtOnceAreBothReported() throws {
        // vCPUs 1 and 2 both exit with a breakpoint at once; 0 and 3 run until kicked.
        let b = ScriptedBackend(scripts: [[nil], [Self.hit(0x1003)], [Self.hit(0x1003)], [nil]], together: [1, 2])
        let d = Debugger(backend: b)
        try d.insert(.hardware(address: 0x1003), on: .all)
        var stops: [ReportedStop] = []
        var plan = RunPlan()
        plan.maxStops = 2
        plan.timeout = 30
        let end = try GuestRunner(debugger: d).run(plan) { if case .stop(let s) = $0 { stops.append(s) } }
        #expect(end.reason == "max-stops")
        try #require(stops.count == 2)
        #expect(stops.map(\.stop.vcpu) == [1, 2])
        #expect(stops.allSatisfy { $0.stopped == [0, 1, 2, 3] && $0.stop.reason == .hardwareBreakpoint })
        // Both were reported from the same all-stop round.
        #expect(stops[0].allStopMicroseconds == stops[1].allStopMicroseconds)
    }

    @Test func aStopHeldLongTellsEveryGuestItsClockPaused() throws {
        let b = ScriptedBackend(scripts: [[Self.hit(0x1003)], [nil]])
        let d = Debugger(backend: b)
        try d.insert(.hardware(address: 0x1003), on: .all)
        var plan = RunPlan()
        plan.maxStops = 1
        plan.timeout = 5
        plan.pausedNotifyAfter = 0.05
        // The stop is "held for a person" longer than the threshold: every vCPU is told.
        // (A hold, not a wait: a loaded host only makes it longer.)
        _ = try GuestRunner(debugger: d).run(plan) { if case .stop = $0 { Thread.sleep(forTimeInterval: 0.1) } }
        #expect(b.pausedNotices.sorted() == [0, 1])
        // A stop that is reported and resumed at once tells nobody (a threshold no loaded
        // host reaches between two rounds).
        let quick = ScriptedBackend(scripts: [[Self.hit(0x1003)], [nil]])
        let dq = Debugger(backend: quick)
        try dq.insert(.hardware(address: 0x1003), on: .all)
        plan.pausedNotifyAfter = 10
        _ = try GuestRunner(debugger: dq).run(plan) { _ in }
        #expect(quick.pausedNotices.isEmpty)
    }

    @Test func interruptStopsEveryVCPUAndEndsCleanly() throws {
        let b = ScriptedBackend(scripts: [[nil], [nil], [nil]])
        let runner = GuestRunner(debugger: Debugger(backend: b))
        var plan = RunPlan()
        plan.timeout = 30
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { runner.interrupt() }
        let start = Date()
        let end = try runner.run(plan) { _ in }
        #expect(end.reason == "interrupted" && end.stops == 0)
        #expect(Date().timeIntervalSince(start) < 5)
    }
}
