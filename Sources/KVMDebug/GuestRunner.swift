import Foundation
import Synchronization
import KVMDebugCore

/// What `kvmdbg run` is asked to do.
public struct RunPlan: Sendable {
    public var points: [PointSpec] = []
    /// Single-step this many instructions, from the entry or from the first stop.
    public var steps: Int = 0
    /// End after this many stops (nil: no limit).
    public var maxStops: Int? = 100
    /// End after this many seconds of wall time.
    public var timeout: Double = 10
    public var vcpu: Int = 0

    public init() {}
}

/// How a run ended (`{"event":"end",...}`).
public struct RunEnd: Sendable {
    /// `max-stops`, `steps-done`, `timeout`, `interrupted`, `guest-halted`, `shutdown`, `internal-error`, ...
    public var reason: String
    public var stops: Int
    public var setGuestDebugCalls: Int
    public var detail: String?
}

/// One line of run output.
public enum RunRecord: Sendable {
    case stop(Stop)
    case end(RunEnd)
}

/// Drives one vCPU of a guest through a `RunPlan` on any backend.
public final class GuestRunner<Backend: DebugBackend> {
    public let debugger: Debugger<Backend>
    private let stopRequest = Atomic<Int>(0)  // 0 running, 1 timeout, 2 interrupt

    public init(debugger: Debugger<Backend>) {
        self.debugger = debugger
    }

    /// Arms every point of the plan: all of them or none (a failure removes the ones
    /// already armed, so nothing is half-applied).
    public func arm(_ points: [PointSpec]) throws(DebugError) {
        var done: [PointSpec] = []
        for p in points {
            do {
                try debugger.insert(p.point, on: p.target)
                done.append(p)
            } catch {
                for d in done.reversed() { try? debugger.remove(d.point, from: d.target) }
                throw error
            }
        }
    }

    /// Asks a running `run` to end with reason `interrupted` (Ctrl-C); safe from any thread.
    public func interrupt() {
        stopRequest.store(2, ordering: .sequentiallyConsistent)
        for v in 0..<debugger.backend.vcpuCount { debugger.backend.kick(vcpu: v) }
    }

    /// Runs the plan, reporting each stop through `emit`, and returns how it ended.
    public func run(_ plan: RunPlan, emit: (RunRecord) -> Void) throws(DebugError) -> RunEnd {
        try arm(plan.points)
        let vcpu = plan.vcpu
        let backend = debugger.backend
        let deadline = DispatchWorkItem { [weak self] in
            guard let self else { return }
            _ = self.stopRequest.compareExchange(expected: 0, desired: 1, ordering: .sequentiallyConsistent)
            for v in 0..<backend.vcpuCount { backend.kick(vcpu: v) }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + plan.timeout, execute: deadline)
        defer { deadline.cancel() }

        var stops = 0
        // With points armed, stepping starts at the first stop; without, at the entry.
        var stepping = plan.steps > 0 && plan.points.isEmpty
        var stepsDone = 0
        func end(_ reason: String, _ detail: String? = nil) -> RunEnd {
            let e = RunEnd(reason: reason, stops: stops, setGuestDebugCalls: debugger.totalSetGuestDebugCalls, detail: detail)
            emit(.end(e))
            return e
        }
        while true {
            if let m = plan.maxStops, stops >= m { return end("max-stops") }
            if stepping && stepsDone >= plan.steps { return end("steps-done") }
            switch stopRequest.load(ordering: .sequentiallyConsistent) {
            case 1: return end("timeout", "no stop within \(plan.timeout) s")
            case 2: return end("interrupted")
            default: break
            }
            let event = try debugger.resume(vcpu: vcpu, mode: stepping ? .step : .continue)
            switch event {
            case .stop(let s):
                stops += 1
                emit(.stop(s))
                if stepping { stepsDone += 1 } else if plan.steps > 0 { stepping = true }
            case .exit(.interrupted):
                continue  // the loop head reports timeout / interrupt
            case .exit(let e):
                return end(e.name, exitDetail(e))
            }
        }
    }

    private func exitDetail(_ e: VCPUExit) -> String? {
        switch e {
        case .halt(let pc): return "guest halted at \(hex(pc))"
        case .io(let port, let w, let size, let pc): return "guest \(w ? "wrote" : "read") \(size) bytes at I/O port \(hex(UInt64(port))) (pc \(hex(pc)))"
        case .mmio(let a, let w, let l, let pc): return "guest \(w ? "wrote" : "read") \(l) bytes at unbacked address \(hex(a)) (pc \(hex(pc)))"
        case .internalError(let s): return "KVM_EXIT_INTERNAL_ERROR suberror \(s)\(s == 1 ? " (emulation failure: e.g. a jump into the middle of an instruction)" : "")"
        case .failEntry(let r): return "KVM_EXIT_FAIL_ENTRY hardware reason \(hex(r))"
        case .shutdown: return "KVM_EXIT_SHUTDOWN (triple fault)"
        case .systemEvent(let t): return "KVM_EXIT_SYSTEM_EVENT type \(t)"
        case .unknown(let r): return "exit reason \(r)"
        default: return nil
        }
    }
}
