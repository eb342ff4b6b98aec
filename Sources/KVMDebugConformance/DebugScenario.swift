import KVMDebugCore

/// One named debug scenario: a guest, the points to arm (by symbol, each on all vCPUs
/// or one), and how far to run. The single scenario type behind every list: the arm64
/// and x86 lanes and `kvmdbg scenarios` (each run by `GuestRunner`, see ScenarioRun.swift),
/// and the differential tests.
public struct DebugScenario: Sendable {
    /// What a run does.
    public enum Kind: Sendable, Hashable {
        /// Arm the points, run, print each stop.
        case run
        /// Print the backend's capabilities (KVM_CAP_* probe) and nothing else.
        case capabilities
        /// The state-survival run (`GuestRunner.survive`, `survival`) on a guest keeping the
        /// survival contract (`SurvivalGuest`); `points`, `steps` and `maxStops` are not used.
        case survive
    }

    /// The host's part of a `.survive` scenario.
    public struct Survival: Sendable, Hashable {
        public var rounds = 3
        public var steps = 3
        /// Single-steps from the entry first (`SurvivalPlan.entrySteps`).
        public var entrySteps = 0
        /// Written into an FP/SIMD register (and the guest's `expect`) in the first round.
        public var hostWrite: FPWrite? = nil
        /// Written into a register behind the guest's back in the last round: the guest's check
        /// must fail (the comparison's own test; kept out of the lane lists).
        public var clobber: FPWrite? = nil

        public init(rounds: Int = 3, steps: Int = 3, hostWrite: FPWrite? = nil, clobber: FPWrite? = nil) {
            self.rounds = rounds
            self.steps = steps
            self.hostWrite = hostWrite
            self.clobber = clobber
        }
    }

    /// How the x86 lane compares the stops of a run.
    public enum Comparison: Sendable, Hashable {
        /// Every (vCPU, reason, pc, address) in order.
        case exact
        /// SMP with a global point: which vCPU reaches it first is up to the host's
        /// scheduler, so vCPUs print as `*`; reasons, pcs, addresses and the stopped
        /// list (every vCPU, every round) are still compared.
        case anyVCPU
    }

    public var name: String
    public var arch: Arch
    /// The x86 CPU mode (real or long); nil for the arch's default (x86 long, arm64 EL1).
    public var mode: CPUMode?
    public var kind: Kind
    /// The guest each run starts from (a fresh VM per run).
    public var guest: ScenarioGuest
    public var vcpus: Int
    /// Armed in this order: breakpoints and watch pieces take slots in insertion order.
    public var points: [ScenarioPoint]
    /// Before `points`, fill every breakpoint slot but one with breakpoints nothing
    /// executes, so the first `.hardware` point lands in the highest slot the backend
    /// reports.
    public var fillBreakpointSlots: Bool
    /// The same for watchpoint slots (filler watchpoints on data nothing accesses).
    public var fillWatchpointSlots: Bool
    /// Single-step this many instructions: from the entry (no points), else from the first stop.
    public var steps: Int
    /// End after this many stops.
    public var maxStops: Int
    /// nil: every vCPU runs at once (all-stop). Otherwise the vCPUs resume one at a time in
    /// this order each round, each until its next stop (`RunPlan.vcpuOrder`): the same stop
    /// order on every backend.
    public var order: [Int]?
    /// What resuming does with a BRK the guest ran itself.
    public var foreignBreakpoints: ForeignBreakpointPolicy
    /// Registers of vCPU 0 printed on the result line (arm64 backends with register access).
    public var report: [Arm64Register]
    /// Features the scenario needs; a backend whose probe says one is broken skips it
    /// (the first broken one names the skip).
    public var needs: [ProbedFeature]
    /// How the x86 lane compares its stops.
    public var comparison: Comparison
    /// What serves the scenario's watchpoints (`Debugger.watchMechanism`): `.protection` runs
    /// them by memory protection alone, on every backend.
    public var watches: WatchMechanismChoice = .automatic
    /// Seconds before a run that has not reached its planned end ends with `timeout` (the
    /// x86 lane's watches that never fire end so; elsewhere a ceiling for a broken backend).
    public var timeout: Double = 2
    /// What a `.survive` scenario does on the host.
    public var survival = Survival()
    /// Needs the guest's CPL0 code to run natively: where KVM runs it in its instruction
    /// emulator (PVM), whose instruction set is small, the scenario is skipped as `cpl0-emulated`.
    public var needsNativeCPL0 = false

    public init(name: String, arch: Arch = .arm64, mode: CPUMode? = nil, kind: Kind = .run,
                guest: ScenarioGuest = .counter, vcpus: Int = 1, points: [ScenarioPoint] = [],
                fillBreakpointSlots: Bool = false, fillWatchpointSlots: Bool = false, steps: Int = 0,
                maxStops: Int = 6, order: [Int]? = nil, foreignBreakpoints: ForeignBreakpointPolicy = .report,
                report: [Arm64Register] = [], needs: [ProbedFeature] = [], comparison: Comparison = .exact) {
        self.name = name
        self.arch = arch
        self.mode = mode
        self.kind = kind
        self.guest = guest
        self.vcpus = vcpus
        self.points = points
        self.fillBreakpointSlots = fillBreakpointSlots
        self.fillWatchpointSlots = fillWatchpointSlots
        self.steps = steps
        self.maxStops = maxStops
        self.order = order
        self.foreignBreakpoints = foreignBreakpoints
        self.report = report
        self.needs = needs
        self.comparison = comparison
    }

    /// A fresh copy of the scenario's guest.
    public func makeGuest() throws(DebugError) -> Guest {
        try guest.make(arch: arch, mode: mode)
    }

    /// The points at their addresses in `g` (the scenario's guest), in arming order.
    public func resolvedPoints(in g: Guest) throws(DebugError) -> [(DebugPoint, VCPUTarget)] {
        var out: [(DebugPoint, VCPUTarget)] = []
        for p in points { out.append((try p.resolved(in: g), p.target)) }
        return out
    }
}
