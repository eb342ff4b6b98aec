import Foundation
import Synchronization
import KVMDebugCore

/// What `kvmdbg run` is asked to do.
public struct RunPlan: Sendable {
    public var points: [PointSpec] = []
    /// Single-step this many instructions, from the entry or from the first stop.
    /// Under SMP only the stepped vCPU (the first to stop, or vCPU 0) moves.
    public var steps: Int = 0
    /// End after this many stops (nil: no limit).
    public var maxStops: Int? = 100
    /// End after this many seconds of wall time.
    public var timeout: Double = 10
    /// vCPU stepped from the entry when no point is armed.
    public var vcpu: Int = 0
    /// Tell the guest its clock was paused when a stop is held longer than this (seconds).
    public var pausedNotifyAfter: Double = 1

    public init() {}
}

/// How a run ended (`{"event":"end",...}`).
public struct RunEnd: Sendable {
    /// `max-stops`, `steps-done`, `timeout`, `interrupted`, `guest-halted`, `shutdown`, `internal-error`, ...
    public var reason: String
    public var stops: Int
    public var setGuestDebugCalls: Int
    public var detail: String?
    /// All-stop latencies (first vCPU's exit to every vCPU stopped), microseconds, one per round.
    public var allStopLatenciesMicroseconds: [Double] = []
}

/// One reported stop plus the all-stop context it was reported in.
public struct RoundStop: Sendable {
    public var stop: Stop
    /// Every vCPU held stopped when the stop was reported.
    public var stopped: [Int]
    /// First exit to all stopped, microseconds (nil with one vCPU).
    public var allStopMicroseconds: Double?
}

/// One line of run output.
public enum RunRecord: Sendable {
    case stop(RoundStop)
    case end(RunEnd)
}

/// Drives a guest's vCPUs through a `RunPlan` on any backend, GDB's all-stop way:
/// each vCPU runs on its own thread; when any stops, every other vCPU is kicked out
/// of KVM_RUN (immediate_exit + signal) before the stop is reported, and resuming
/// resumes all. Stops that arrive together are all reported, none lost.
public final class GuestRunner<Backend: DebugBackend>: @unchecked Sendable {
    public let debugger: Debugger<Backend>
    private let stopRequest = Atomic<Int>(0)  // 0 running, 1 timeout, 2 interrupt
    private let n: Int
    private let cond = NSCondition()
    // Guarded by `cond`.
    private var commands: [Command]
    private var running: [Bool]
    private var reports: [Report] = []
    /// A launch-all round is under way: the first vCPU with a real event kicks the
    /// others itself (one scheduling hop less than waking the coordinator first).
    private var roundActive = false
    private var firstExit: UInt64? = nil

    private enum Command { case idle, go(ResumeMode), stepOver, quit }
    private struct Report {
        var vcpu: Int
        var result: Result<RunEvent, DebugError>
        var at: UInt64
    }

    public init(debugger: Debugger<Backend>) {
        self.debugger = debugger
        n = debugger.backend.vcpuCount
        commands = [Command](repeating: .idle, count: n)
        running = [Bool](repeating: false, count: n)
    }

    /// Arms every point of the plan: all of them or none (a failure removes the ones
    /// already armed, so nothing is half-applied).
    public func arm(_ points: [PointSpec]) throws(DebugError) {
        var done: [PointSpec] = []
        for p in points {
            do throws(DebugError) {
                try debugger.insert(p.point, on: p.target)
                done.append(p)
            } catch {
                for d in done.reversed() { try? debugger.remove(d.point, from: d.target) }
                throw error
            }
        }
    }

    /// Asks a running `run` to end with reason `interrupted` (Ctrl-C); safe from any thread.
    public func interrupt() { requestStop(2) }

    private func requestStop(_ why: Int) {
        _ = stopRequest.compareExchange(expected: 0, desired: why, ordering: .sequentiallyConsistent)
        for v in 0..<n { debugger.backend.kick(vcpu: v) }
    }

    /// Runs the plan, reporting each stop through `emit`, and returns how it ended.
    public func run(_ plan: RunPlan, emit: (RunRecord) -> Void) throws(DebugError) -> RunEnd {
        try arm(plan.points)
        if plan.vcpu < 0 || plan.vcpu >= n { throw .noSuchVCPU(index: plan.vcpu, count: n) }
        let deadline = DispatchWorkItem { [weak self] in self?.requestStop(1) }
        DispatchQueue.global().asyncAfter(deadline: .now() + plan.timeout, execute: deadline)
        defer { deadline.cancel() }
        var threads: [Thread] = []
        if n > 1 {
            for v in 0..<n {
                let t = Thread { [unowned self] in self.vcpuThread(v) }
                t.name = "vcpu\(v)"
                t.stackSize = 1 << 20
                threads.append(t)
                t.start()
            }
        }
        defer {
            if n > 1 {
                cond.lock()
                for v in 0..<n { commands[v] = .quit }
                cond.broadcast()
                cond.unlock()
                for t in threads { while t.isExecuting { usleep(100) } }
            }
        }
        return try drive(plan, emit: emit)
    }

    // MARK: - Coordinator

    private func drive(_ plan: RunPlan, emit: (RunRecord) -> Void) throws(DebugError) -> RunEnd {
        var stops = 0
        var latencies: [Double] = []
        // With points armed, stepping starts at the first stop; without, at the entry.
        var stepVCPU: Int? = plan.steps > 0 && plan.points.isEmpty ? plan.vcpu : nil
        var stepsDone = 0
        func end(_ reason: String, _ detail: String? = nil) -> RunEnd {
            var e = RunEnd(reason: reason, stops: stops, setGuestDebugCalls: debugger.totalSetGuestDebugCalls, detail: detail)
            e.allStopLatenciesMicroseconds = latencies
            emit(.end(e))
            return e
        }
        while true {
            if let m = plan.maxStops, stops >= m { return end("max-stops") }
            if stepVCPU != nil && stepsDone >= plan.steps { return end("steps-done") }
            switch stopRequest.load(ordering: .sequentiallyConsistent) {
            case 1: return end("timeout", "no end within \(plan.timeout) s")
            case 2: return end("interrupted")
            default: break
            }
            // Phase 1: vCPUs sitting on a point step past it one at a time, the others
            // held (a software breakpoint is briefly unpatched from shared memory).
            var round: [(Int, RunEvent)] = []
            if stepVCPU == nil {
                for v in 0..<n where debugger.needsStepOver(vcpu: v) {
                    if let e = try execute(v, .stepOver) { round.append((v, e)) }
                }
            }
            var latency: Double? = nil
            if round.isEmpty {
                // Phase 2: everyone goes (or just the stepped vCPU); the first real
                // stop or exit brings all the others to a halt.
                let go: [Int] = stepVCPU.map { [$0] } ?? Array(0..<n)
                let (events, lat) = try launchAndAllStop(go, mode: stepVCPU == nil ? .continue : .step)
                round = events
                latency = lat
                if let l = lat { latencies.append(l) }
            }
            let stopped = Array(0..<n)
            let held = Date()
            for (v, event) in round.sorted(by: { $0.0 < $1.0 }) {
                switch event {
                case .stop(let s):
                    if let m = plan.maxStops, stops >= m { continue }
                    stops += 1
                    emit(.stop(RoundStop(stop: s, stopped: stopped, allStopMicroseconds: latency)))
                    if stepVCPU == v { stepsDone += 1 } else if stepVCPU == nil && plan.steps > 0 { stepVCPU = v }
                case .exit(.interrupted):
                    continue
                case .exit(let e):
                    return end(e.name, exitDetail(e, vcpu: v))
                }
            }
            if Date().timeIntervalSince(held) > plan.pausedNotifyAfter { debugger.notifyGuestPaused() }
        }
    }

    /// Runs one command on vCPU `v` alone and waits for it.
    private func execute(_ v: Int, _ c: Command) throws(DebugError) -> RunEvent? {
        if n == 1 { return try perform(v, c) }
        cond.lock()
        commands[v] = c
        running[v] = true
        cond.broadcast()
        while running[v] { cond.wait() }
        // Only v ran; take its report (every round drains all reports before it ends).
        let r = reports.remove(at: reports.lastIndex { $0.vcpu == v } ?? reports.count - 1)
        cond.unlock()
        return try r.result.get()
    }

    /// Starts `vcpus`, waits for the first stop or exit, kicks the rest, waits for all.
    private func launchAndAllStop(_ vcpus: [Int], mode: ResumeMode) throws(DebugError) -> ([(Int, RunEvent)], Double?) {
        if n == 1 {
            return ([(vcpus[0], try perform(vcpus[0], .go(mode)) ?? .exit(.interrupted))], nil)
        }
        cond.lock()
        for v in vcpus {
            commands[v] = .go(mode)
            running[v] = true
        }
        roundActive = true
        firstExit = nil
        cond.broadcast()
        var events: [(Int, RunEvent)] = []
        var failure: DebugError? = nil
        var lastAt: UInt64 = 0
        while true {
            while reports.isEmpty && running.contains(true) { cond.wait() }
            if reports.isEmpty { break }
            let r = reports.removeFirst()
            lastAt = max(lastAt, r.at)
            switch r.result {
            case .failure(let e):
                failure = failure ?? e
            case .success(.exit(.interrupted)):
                // A stale kick (or a signal) and no all-stop under way: send it back in.
                if firstExit == nil && stopRequest.load(ordering: .sequentiallyConsistent) == 0 {
                    commands[r.vcpu] = .go(mode)
                    running[r.vcpu] = true
                    cond.broadcast()
                }
            case .success(let e):
                events.append((r.vcpu, e))
            }
            if !running.contains(true) && reports.isEmpty { break }
        }
        roundActive = false
        // First vCPU's exit to the last vCPU out of KVM_RUN, as each thread stamped them.
        let latency = firstExit.map { Double(lastAt &- $0) / 1000 }
        cond.unlock()
        if let failure { throw failure }
        return (events, latency)
    }

    /// Caller holds `cond`.
    private func kickRunning() {
        for v in 0..<n where running[v] { debugger.backend.kick(vcpu: v) }
    }

    // MARK: - vCPU threads

    private func vcpuThread(_ v: Int) {
        while true {
            cond.lock()
            while case .idle = commands[v] { cond.wait() }
            let c = commands[v]
            commands[v] = .idle
            cond.unlock()
            if case .quit = c { return }
            let result: Result<RunEvent, DebugError>
            do throws(DebugError) {
                result = .success(try perform(v, c) ?? .exit(.interrupted))
            } catch {
                result = .failure(error)
            }
            let at = Self.now()
            cond.lock()
            reports.append(Report(vcpu: v, result: result, at: at))
            running[v] = false
            if roundActive && firstExit == nil && !Self.isInterrupted(result) {
                firstExit = at
                kickRunning()
            }
            cond.broadcast()
            cond.unlock()
        }
    }

    private static func isInterrupted(_ r: Result<RunEvent, DebugError>) -> Bool {
        if case .success(.exit(.interrupted)) = r { return true }
        return false
    }

    /// One command on the calling thread (the vCPU's own).
    private func perform(_ v: Int, _ c: Command) throws(DebugError) -> RunEvent? {
        switch c {
        case .go(let mode): return try debugger.resume(vcpu: v, mode: mode)
        case .stepOver: return try debugger.stepOverPending(vcpu: v)
        case .idle, .quit: return nil
        }
    }

    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    private func exitDetail(_ e: VCPUExit, vcpu: Int) -> String? {
        let who = n > 1 ? "vCPU \(vcpu): " : ""
        switch e {
        case .halt(let pc): return who + "guest halted at \(hex(pc))"
        case .io(let port, let w, let size, let pc): return who + "guest \(w ? "wrote" : "read") \(size) bytes at I/O port \(hex(UInt64(port))) (pc \(hex(pc)))"
        case .mmio(let a, let w, let l, let pc): return who + "guest \(w ? "wrote" : "read") \(l) bytes at unbacked address \(hex(a)) (pc \(hex(pc)))"
        case .internalError(let s): return who + "KVM_EXIT_INTERNAL_ERROR suberror \(s)\(s == 1 ? " (emulation failure: e.g. a jump into the middle of an instruction)" : "")"
        case .failEntry(let r): return who + "KVM_EXIT_FAIL_ENTRY hardware reason \(hex(r))"
        case .shutdown: return who + "KVM_EXIT_SHUTDOWN (triple fault)"
        case .systemEvent(let t): return who + "KVM_EXIT_SYSTEM_EVENT type \(t)"
        case .unknown(let r): return who + "exit reason \(r)"
        default: return nil
        }
    }
}
