import KVMDebugCore
import KVMDebugGDB

/// A debug session whose rounds end by themselves: what the fuzzer serves GDB packets from.
///
/// Every requirement of `GDBTarget` is forwarded to the session, except that `wait` interrupts a
/// round still running after `roundNanoseconds`, so a fuzzed `c` on a guest that never stops
/// costs a quarter of a millisecond instead of hanging the run. (`FakeBackend.maxInstructionsPerRun` alone is
/// not enough: the session sends a vCPU whose run ended `.interrupted` without a kick back in.)
public final class BoundedGDBTarget<Backend: DebugBackend>: GDBTarget {
    public let session: DebugSession<Backend>
    /// How long a round may run before it is interrupted.
    public let roundNanoseconds: UInt64

    public init(session: DebugSession<Backend>, roundNanoseconds: UInt64 = 250_000) {
        self.session = session
        self.roundNanoseconds = roundNanoseconds
    }

    /// The round's end, at the latest `roundNanoseconds` after the call (then `interrupted`).
    public func wait() throws(DebugError) -> StopRound {
        try session.wait(deadline: monotonicNanoseconds() + roundNanoseconds)
    }

    public var arch: Arch { session.arch }
    public var vcpuCount: Int { session.vcpuCount }
    public var capabilities: Capabilities { session.capabilities }
    public func registers(vcpu: Int) throws(DebugError) -> RegisterFile { try session.registers(vcpu: vcpu) }
    public func setRegisters(_ file: RegisterFile, vcpu: Int) throws(DebugError) { try session.setRegisters(file, vcpu: vcpu) }
    public func floatingPointRegisters(vcpu: Int) throws(DebugError) -> FPRegisterFile { try session.floatingPointRegisters(vcpu: vcpu) }
    public func setFloatingPointRegisters(_ file: FPRegisterFile, vcpu: Int) throws(DebugError) {
        try session.setFloatingPointRegisters(file, vcpu: vcpu)
    }
    public func guestDebugRegisters(vcpu: Int) throws(DebugError) -> GuestOwnDebugRegisters { try session.guestDebugRegisters(vcpu: vcpu) }
    public func setGuestDebugRegisters(_ registers: GuestOwnDebugRegisters, vcpu: Int) throws(DebugError) {
        try session.setGuestDebugRegisters(registers, vcpu: vcpu)
    }
    public var physicalMode: Bool {
        get { session.physicalMode }
        set { session.physicalMode = newValue }
    }
    public func walk(_ address: UInt64, vcpu: Int) throws(DebugError) -> PageWalk { try session.walk(address, vcpu: vcpu) }
    public func scanPageTables(vcpu: Int, budget: PageTableBudget,
                               _ visit: (PageMapping) -> Bool) throws(DebugError) -> PageTableScan {
        try session.scanPageTables(vcpu: vcpu, budget: budget, visit)
    }
    public var ramRegions: [RAMRegion]? { session.ramRegions }
    public var canBlockInterruptsWhileStepping: Bool { session.canBlockInterruptsWhileStepping }
    public var blockInterruptsWhileStepping: Bool { session.blockInterruptsWhileStepping }
    public func setBlockInterruptsWhileStepping(_ on: Bool) throws(DebugError) { try session.setBlockInterruptsWhileStepping(on) }
    public func readMemory(_ address: UInt64, count: Int, vcpu: Int) throws(DebugError) -> [UInt8] {
        try session.readMemory(address, count: count, vcpu: vcpu)
    }
    public func writeMemory(_ address: UInt64, _ bytes: [UInt8], vcpu: Int) throws(DebugError) {
        try session.writeMemory(address, bytes, vcpu: vcpu)
    }
    public func insert(_ point: DebugPoint, on target: VCPUTarget) throws(DebugError) { try session.insert(point, on: target) }
    public func remove(_ point: DebugPoint, from target: VCPUTarget) throws(DebugError) { try session.remove(point, from: target) }
    public func removeAllPoints() { session.removeAllPoints() }
    public var tables: DebugTables { session.tables }
    public var stats: SessionStats { session.stats }
    public func start(_ actions: [ResumeMode?]) throws(DebugError) { try session.start(actions) }
    public func interrupt() { session.interrupt() }
    public var isRoundOver: Bool { session.isRoundOver }
    public func setRoundFinishedHandler(_ handler: (@Sendable () -> Void)?) { session.setRoundFinishedHandler(handler) }
}
