import Synchronization
import KVMDebugModel

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
    /// nil: every vCPU continues at once (all-stop). Otherwise each round resumes the
    /// vCPUs one at a time in this order, each until its next stop with the others held,
    /// so the order of stops is the same on every backend (the arm64 lane's SMP scenarios).
    public var vcpuOrder: [Int]? = nil
    /// Tell the guest its clock was paused when a stop is held longer than this (seconds).
    public var pausedNotifyAfter: Double = 1
    /// `--catch exception[:VECTOR]`: the vectors to catch at their handlers ([] = all); nil: none.
    public var catchVectors: [UInt8]? = nil
    /// Instructions `plan.vcpu` may single-step, at most, waiting for the guest to load tables
    /// with a valid handler before the catch is armed.
    public var catchArmSteps = 100_000

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
    /// The exit that ended the run, with every field KVM gave and the pc then (nil for ends that
    /// are no exit: limits, timeout, Ctrl-C).
    public var exit: ExitReport?
}

/// One reported stop plus the all-stop context it was reported in.
public struct ReportedStop: Sendable {
    public var stop: Stop
    /// Every vCPU held stopped when the stop was reported.
    public var stopped: [Int]
    /// First exit to all stopped, microseconds (nil with one vCPU).
    public var allStopMicroseconds: Double?
    /// The exception the stop caught at its handler (`--catch exception`).
    public var caught: CaughtException? = nil
}

/// One line of run output.
public enum RunRecord: Sendable {
    case stop(ReportedStop)
    case end(RunEnd)
}

/// Drives a `DebugSession` through a `RunPlan`: arms the plan's points, runs all-stop
/// rounds (or one vCPU at a time, `RunPlan.vcpuOrder`), counts stops and steps, and ends
/// on the plan's limits, a timeout, an interrupt (Ctrl-C) or a guest exit. The one runner
/// behind `kvmdbg run`, the feature probe and every scenario list (`kvmdbg scenarios`, the
/// arm64 lane's binary on real KVM). The threads, kicks and stop queue are the session's;
/// Foundation-free, so the arm64 lane builds it with Embedded Swift.
public final class GuestRunner<Backend: DebugBackend>: @unchecked Sendable {
    public let session: DebugSession<Backend>
    public var debugger: Debugger<Backend> { session.debugger }
    private let interrupted = Atomic<Bool>(false)
    private let n: Int

    public init(session: DebugSession<Backend>) {
        self.session = session
        n = session.vcpuCount
    }

    public convenience init(debugger: Debugger<Backend>) {
        self.init(session: DebugSession(debugger: debugger))
    }

    /// Arms every point of the plan: all of them or none.
    public func arm(_ points: [PointSpec]) throws(DebugError) {
        try session.insertAll(points.map { ($0.point, $0.target) })
    }

    /// Asks a running `run` to end with reason `interrupted` (Ctrl-C); safe from any thread.
    public func interrupt() {
        interrupted.store(true, ordering: .sequentiallyConsistent)
        session.interrupt()
    }

    /// Runs the plan, reporting each stop through `emit`, and returns how it ended.
    /// `armPoints: false` when the caller armed `plan.points` itself (`arm`).
    public func run(_ plan: RunPlan, armPoints: Bool = true, emit: (RunRecord) -> Void) throws(DebugError) -> RunEnd {
        // Checked before anything is armed: a bad plan changes nothing.
        for v in [plan.vcpu] + (plan.vcpuOrder ?? []) where v < 0 || v >= n { throw .noSuchVCPU(index: v, count: n) }
        if armPoints { try arm(plan.points) }
        // The session's own timed wait, not a Dispatch timer: libdispatch traps when it
        // cannot get its epoll fd, and a debugger must fail with a message instead.
        let deadline = monotonicNanoseconds() &+ UInt64(plan.timeout * 1e9)
        return try drive(plan, deadline: deadline, emit: emit)
    }

    private func drive(_ plan: RunPlan, deadline: UInt64, emit: (RunRecord) -> Void) throws(DebugError) -> RunEnd {
        var stops = 0
        var latencies: [Double] = []
        // With points armed, stepping starts at the first stop; without, at the entry.
        var stepVCPU: Int? = plan.steps > 0 && plan.points.isEmpty ? plan.vcpu : nil
        var stepsDone = 0
        // --catch: armed once the guest's tables hold a handler; until then plan.vcpu steps.
        let catcher: ExceptionCatch? = try plan.catchVectors.map { (v) throws(DebugError) in try ExceptionCatch(vectors: v) }
        var catchArmed = false
        var armSteps = 0
        var armError: DebugError? = nil
        if let c = catcher {
            do throws(DebugError) { try c.refresh(session, vcpu: plan.vcpu); catchArmed = true } catch { armError = error }
        }
        func end(_ reason: String, _ detail: String? = nil, exit: ExitReport? = nil) -> RunEnd {
            var e = RunEnd(reason: reason, stops: stops, setGuestDebugCalls: debugger.totalSetGuestDebugCalls, detail: detail)
            e.allStopLatenciesMicroseconds = latencies
            e.exit = exit
            emit(.end(e))
            return e
        }
        func requested() -> RunEnd? {
            if interrupted.load(ordering: .sequentiallyConsistent) { return end("interrupted") }
            if monotonicNanoseconds() >= deadline {
                return end("timeout", "no end within \(Int(plan.timeout * 1000)) ms")
            }
            return nil
        }
        // One round with `actions`; the run's end when the round brought it.
        func play(_ actions: [ResumeMode?], arming: Bool) throws(DebugError) -> RunEnd? {
            let round = try session.resume(actions, deadline: deadline)
            if round.interrupted && round.events.isEmpty, let e = requested() { return e }
            let latency = round.allStopNanoseconds.map { Double($0) / 1000 }
            if let l = latency { latencies.append(l) }
            let stopped = Array(0..<n)
            let held = monotonicNanoseconds()
            for e in round.events {
                switch e.event {
                case .stop(let s):
                    // The steps that wait for the tables are kvmdbg's, not the user's: not reported.
                    if arming && s.reason == .singleStep { continue }
                    if let m = plan.maxStops, stops >= m { continue }
                    stops += 1
                    var rs = ReportedStop(stop: s, stopped: stopped, allStopMicroseconds: latency)
                    rs.caught = catcher?.caught(s, on: session)
                    emit(.stop(rs))
                    if stepVCPU == e.vcpu { stepsDone += 1 } else if stepVCPU == nil && plan.steps > 0 { stepVCPU = e.vcpu }
                case .exit(let x):
                    let report = ExitReport(vcpu: e.vcpu, exit: x, pc: try? session.registers(vcpu: e.vcpu).pc)
                    return end(x.name, exitDetail(x, vcpu: e.vcpu), exit: report)
                case .kicked:
                    continue  // never in a round (`StopRound.events`)
                }
            }
            if let c = catcher, let v = round.events.first?.vcpu {
                // Re-read at every stop: the guest may have moved its tables.
                do throws(DebugError) { try c.refresh(session, vcpu: catchArmed ? v : plan.vcpu); catchArmed = true } catch {
                    if !catchArmed { armError = error }
                }
            }
            if Double(monotonicNanoseconds() &- held) / 1e9 > plan.pausedNotifyAfter { debugger.notifyGuestPaused() }
            return nil
        }
        let idle = [ResumeMode?](repeating: nil, count: n)
        while true {
            if let m = plan.maxStops, stops >= m { return end("max-stops") }
            if stepVCPU != nil && stepsDone >= plan.steps { return end("steps-done") }
            if let e = requested() { return e }
            var actions = idle
            let arming = catcher != nil && !catchArmed
            if arming {
                if armSteps >= plan.catchArmSteps {
                    return end("catch-not-armed", "no valid exception handler after \(armSteps) instructions: \(armError?.message ?? "")")
                }
                actions[plan.vcpu] = .step
                armSteps += 1
            } else if let v = stepVCPU {
                actions[v] = .step
            } else if let order = plan.vcpuOrder {
                // One vCPU at a time; a stop that starts stepping ends the round there.
                for v in order {
                    if let m = plan.maxStops, stops >= m { break }
                    var one = idle
                    one[v] = .continue
                    if let e = try play(one, arming: false) { return e }
                    if stepVCPU != nil { break }
                }
                continue
            } else {
                actions = actions.map { _ in .continue }
            }
            if let e = try play(actions, arming: arming) { return e }
        }
    }

    private func exitDetail(_ e: VCPUExit, vcpu: Int) -> String? {
        let who = n > 1 ? "vCPU \(vcpu): " : ""
        // Exits whose kvm_run carries no pc: the guest's last pc, read after the exit.
        let last = (try? session.registers(vcpu: vcpu).pc).map { ", last pc \(hex($0))" } ?? ""
        switch e {
        case .halt(let pc): return who + "guest halted at pc \(hex(pc))"
        case .io(let port, let w, let size, let pc): return who + "guest \(w ? "wrote" : "read") \(size) bytes at I/O port \(hex(UInt64(port))) (pc \(hex(pc)))"
        case .mmio(let a, let w, let l, let pc): return who + "guest \(w ? "wrote" : "read") \(l) bytes at unbacked address \(hex(a)) (pc \(hex(pc)))"
        case .internalError(let s, _): return who + "KVM_EXIT_INTERNAL_ERROR suberror \(s)\(s == 1 ? " (emulation failure: e.g. a jump into the middle of an instruction)" : "")\(last)"
        case .failEntry(let r, _): return who + "KVM_EXIT_FAIL_ENTRY hardware reason \(hex(r))\(last)"
        case .shutdown: return who + "KVM_EXIT_SHUTDOWN (triple fault)\(last)"
        case .systemEvent(let t, _): return who + "KVM_EXIT_SYSTEM_EVENT type \(t)\(last)"
        case .unknown(let r): return who + "exit reason \(r)\(last)"
        default: return nil
        }
    }
}
