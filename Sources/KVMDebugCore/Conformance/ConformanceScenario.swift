/// One conformance scenario: a guest, the points to arm (each on all vCPUs or one),
/// and how far to run. The same value runs on the fake backend (the prediction, on
/// the host) and on real KVM (the arm64 lane), through `ConformanceRunner`.
public struct ConformanceScenario: Sendable {
    public enum Kind: Sendable, Hashable {
        /// Arm the points, run, print each stop.
        case run
        /// Print the backend's capabilities (KVM_CAP_* probe) and nothing else.
        case capabilities
    }

    public var name: String
    public var arch: Arch
    public var kind: Kind
    /// The guest each run starts from (a fresh VM per scenario).
    public var guest: Guest
    public var vcpus: Int
    /// Armed in this order: breakpoints and watch pieces take slots in insertion order.
    public var points: [(DebugPoint, VCPUTarget)]
    /// Before `points`, fill every breakpoint slot but one with breakpoints nothing
    /// executes, so the first `.hardware` point lands in the highest slot the backend reports.
    public var fillBreakpointSlots: Bool
    /// The same for watchpoint slots (filler watchpoints on data nothing accesses).
    public var fillWatchpointSlots: Bool
    /// Single-step this many instructions: from the entry (no points), else from the first stop.
    public var steps: Int
    /// End after this many stops.
    public var maxStops: Int
    /// vCPU order in each round (each resumed until its next stop); nil = highest index first.
    public var order: [Int]?
    /// What resuming does with a BRK the guest ran itself.
    public var foreignBreakpoints: ForeignBreakpointPolicy
    /// Registers of vCPU 0 printed on the result line (arm64 backends with register access).
    public var report: [Arm64Register]

    public init(name: String, arch: Arch = .arm64, kind: Kind = .run, guest: Guest, vcpus: Int = 1,
                points: [(DebugPoint, VCPUTarget)] = [], fillBreakpointSlots: Bool = false,
                fillWatchpointSlots: Bool = false, steps: Int = 0, maxStops: Int = 6, order: [Int]? = nil,
                foreignBreakpoints: ForeignBreakpointPolicy = .report, report: [Arm64Register] = []) {
        self.name = name
        self.arch = arch
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
    }
}
