import KVMDebugCore

/// What the engine needs of a debug session; DebugSession conforms (extension in KVMDebugGDB).
///
/// Per-vCPU point tables live behind this protocol (in the session), never in the engine:
/// the engine only remembers which `Z` packet inserted which point, so `z` removes exactly that.
public protocol GDBTarget: CatchTarget {
    var arch: Arch { get }
    var vcpuCount: Int { get }
    var capabilities: Capabilities { get }
    func registers(vcpu: Int) throws(DebugError) -> RegisterFile
    func setRegisters(_ file: RegisterFile, vcpu: Int) throws(DebugError)
    /// FP/SIMD registers (x87/SSE, V0-V31/FPSR/FPCR), read only when a packet asks for one.
    func floatingPointRegisters(vcpu: Int) throws(DebugError) -> FPRegisterFile
    func setFloatingPointRegisters(_ file: FPRegisterFile, vcpu: Int) throws(DebugError)
    /// The guest's own debug registers (x86 DR0-3/6/7, arm64 DBGB*/DBGW*/MDSCR_EL1).
    func guestDebugRegisters(vcpu: Int) throws(DebugError) -> GuestOwnDebugRegisters
    func setGuestDebugRegisters(_ registers: GuestOwnDebugRegisters, vcpu: Int) throws(DebugError)
    /// Memory packets' addresses are guest-physical while true (`monitor phys`, `Qqemu.PhyMemMode`).
    var physicalMode: Bool { get set }
    /// The page walk of a guest-virtual address on a vCPU (`monitor translate`).
    func walk(_ address: UInt64, vcpu: Int) throws(DebugError) -> PageWalk
    /// Every leaf of a vCPU's page tables until `visit` says stop (`monitor info mem`, `info tlb`, the memory map).
    func scanPageTables(vcpu: Int, budget: PageTableBudget, _ visit: (PageMapping) -> Bool) throws(DebugError) -> PageTableScan
    /// Guest-physical RAM; nil when the backend does not know it.
    var ramRegions: [RAMRegion]? { get }
    /// Steps may block interrupts here (x86 KVM_GUESTDBG_BLOCKIRQ offered; QEMU's SSTEP_NOIRQ).
    var canBlockInterruptsWhileStepping: Bool { get }
    var blockInterruptsWhileStepping: Bool { get }
    /// Throws when asked to block where the kernel cannot.
    func setBlockInterruptsWhileStepping(_ on: Bool) throws(DebugError)
    func readMemory(_ address: UInt64, count: Int, vcpu: Int) throws(DebugError) -> [UInt8]
    func writeMemory(_ address: UInt64, _ bytes: [UInt8], vcpu: Int) throws(DebugError)
    func insert(_ point: DebugPoint, on target: VCPUTarget) throws(DebugError)
    func remove(_ point: DebugPoint, from target: VCPUTarget) throws(DebugError)
    func removeAllPoints()
    var tables: DebugTables { get }
    var stats: SessionStats { get }
    func start(_ actions: [ResumeMode?]) throws(DebugError)
    func wait() throws(DebugError) -> StopRound
    func interrupt()
    /// The round `start` began is over and `wait` would return at once (false when none is open).
    var isRoundOver: Bool { get }
    func setRoundFinishedHandler(_ handler: (@Sendable () -> Void)?)
    /// A round in which one vCPU continues runs on the caller of `start` (see
    /// `DebugSession.continuesOnCallingThread`); a driver sets it only while another thread of
    /// its own reads the client's ^C.
    var continuesOnCallingThread: Bool { get set }
    /// What serves execute breakpoints (`monitor break-mode`): comparators only (`.hardware`),
    /// then a code-page hole (`.automatic`), or always a hole (`.protection`).
    var breakMechanism: WatchMechanismChoice { get set }
    /// The fatal exit vCPU `vcpu` stopped on (`VCPUExit.endsVCPU`), which it cannot run on from.
    func fatalExit(of vcpu: Int) -> VCPUExit?
    /// Writes an ELF64 core of the stopped guest (`DebugSession.writeCore`; `monitor dump-guest-memory`).
    func writeCore(to path: String, current: Int, signal: UInt8) throws(DebugError) -> CoreDumpSummary
    /// Software breakpoints the guest stored over (`Debugger.overwrittenSoftwareBreakpoints`).
    var overwrittenSoftwareBreakpoints: [UInt64] { get }
    /// Installs now, on the stopped vCPUs whose points changed, the debug state their next run
    /// would (`DebugSession.preinstallDebugState`); the serve loop calls it after a `Z`/`z` reply.
    func preinstallDebugState(stepping: Bool)
}

extension GDBTarget {
    /// A target without the mode runs every continue on threads of its own.
    public var continuesOnCallingThread: Bool {
        get { false }
        set {}
    }

    /// Targets without memory protection keep their comparators.
    public var breakMechanism: WatchMechanismChoice {
        get { .hardware }
        set {}
    }

    /// Targets that never stop fatally (test doubles) need not say so.
    public func fatalExit(of vcpu: Int) -> VCPUExit? { nil }

    /// Targets whose runs install nothing costly need nothing ahead.
    public func preinstallDebugState(stepping: Bool) {}

    /// Targets that plant no breakpoint instructions have none overwritten.
    public var overwrittenSoftwareBreakpoints: [UInt64] { [] }

    /// Targets without guest RAM to dump refuse.
    public func writeCore(to path: String, current: Int, signal: UInt8) throws(DebugError) -> CoreDumpSummary {
        throw .unsupported(reason: "this target cannot write core files")
    }
}

/// How the engine serves a host: what traps there and what `monitor` prints.
public struct GDBEngineOptions: Sendable {
    /// false where the host's KVM does not trap int3/brk (this host's PVM): Z0 is then served by a
    /// free hardware slot, and `monitor points` says so; with none free, Z0 gets an E reply.
    /// Read when a Z0 or `monitor` needs it, so a probe may still be running when the server starts.
    public var softwareBreakpointsTrap: Bool {
        get { softwareBreakpointsTrapAnswer() }
        set { softwareBreakpointsTrapAnswer = { newValue } }
    }
    private var softwareBreakpointsTrapAnswer: @Sendable () -> Bool = { true }

    /// Lets `answer` decide `softwareBreakpointsTrap` when first needed (it may block until a
    /// feature probe running beside the server is done).
    public mutating func decideSoftwareBreakpointsTrap(by answer: @escaping @Sendable () -> Bool) {
        softwareBreakpointsTrapAnswer = answer
    }
    /// Lines for `monitor probe` (what really traps), computed by the CLI; nil: "not probed".
    public var probe: (@Sendable () -> [String])? = nil
    /// Extra lines for `monitor caps` (backend name, why chosen).
    public var backendDescription: String = ""
    /// Emit a `.log` line per packet (`--log-packets`). Off, the engine skips rendering
    /// them: that rendering was 40% of the engine's time for a 1 KiB `m` reply.
    public var logPackets: Bool = true
    /// Advertise `qXfer:memory-map:read+` (`--memory-map`). Off by default: gdb reads the map once
    /// per connection and then refuses every address outside it, so a guest that turns paging on or
    /// maps more afterwards would become unreadable (the paged-counter guest did, at its first stop).
    public var advertiseMemoryMap: Bool = false
    /// The most page tables one scan reads (`monitor info mem|tlb`, the memory map): tables that
    /// loop must not hold the engine for long (65536 took 44 s in a debug build).
    public var maxPageTables: Int = PageTableBudget().maxTables
    /// Where `monitor dump-guest-memory FILE` writes, given the client's FILE: by default FILE
    /// itself, with the server user's rights (as QEMU's monitor does). The fuzz harness maps
    /// every FILE to one scratch file: its inputs had written cores into / and the working folder.
    public var corePath: @Sendable (String) -> String = { $0 }
    /// `--core-dir DIR`: cores go only into DIR, and FILE must be a plain file name there (no
    /// '/', not '.' or '..'), so a client of a server reachable beyond this user cannot write
    /// elsewhere with the server's rights. nil: FILE is any path (`corePath` decides).
    public var coreDirectory: String? = nil

    public init(softwareBreakpointsTrap: Bool = true, probe: (@Sendable () -> [String])? = nil,
                backendDescription: String = "") {
        softwareBreakpointsTrapAnswer = { softwareBreakpointsTrap }
        self.probe = probe
        self.backendDescription = backendDescription
    }
}

/// What the driver must do after feeding the engine.
public enum GDBAction: Sendable, Equatable {
    /// Bytes for the client (packets, acks).
    case send([UInt8])
    /// The driver calls target.start(actions), then on round end engine.finish(round).
    case resume([ResumeMode?])
    /// After the OK was sent (points already removed by the engine): the driver lets the guest
    /// run (start all .continue) and accepts the next client.
    case detach
    /// End the guest and the server.
    case kill
    /// A line for --log-packets (`<- packet` in, `-> packet` out).
    case log(String)
}
