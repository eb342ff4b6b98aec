import CPosix
import Synchronization
import KVMDebugModel

/// An all-stop debug session over every vCPU of one backend: what `kvmdbg run`, the GDB
/// server, a host VMM and the tests all drive.
///
/// Each vCPU runs on its own thread (KVM's vCPU ioctls belong to one thread at a time),
/// except a lone step (one vCPU steps, the others held), which runs on the caller of `start`
/// while that vCPU's thread waits (`stepsOnCallingThread`).
/// A round starts with per-vCPU actions (continue, step, or stay stopped); when any
/// vCPU stops or exits, every other running vCPU is kicked out of `KVM_RUN` before the
/// round ends, and every event of the round is reported, none lost. Between rounds
/// every vCPU is held, and points, registers and memory may be changed.
///
/// Foundation-free (pthreads), so it builds with Embedded Swift like the rest of the core.
public final class DebugSession<Backend: DebugBackend>: @unchecked Sendable {
    public let debugger: Debugger<Backend>
    private let core: SessionCore<Backend>
    private let physical = PhysicalModeSwitch()

    public init(debugger: Debugger<Backend>) {
        self.debugger = debugger
        core = SessionCore(debugger: debugger)
        // Protection watches protect physical pages: their virtual addresses go through
        // each vCPU's page tables, as memory access does.
        // (The Debugger is passed in, not captured: no cycle, and no weak reference, which
        // Embedded Swift lacks.)
        debugger.setTranslator { [physical] (va: UInt64, vcpu: Int, d: Debugger<Backend>) throws(DebugError) -> UInt64 in
            let w = try DebugSession.walk(va, vcpu: vcpu, debugger: d, physical: physical.on.load(ordering: .relaxed))
            guard let pa = w.physicalAddress else { throw .unmapped(address: va, reason: w.fault ?? "no translation") }
            return pa
        }
    }

    public convenience init(backend: Backend) {
        self.init(debugger: Debugger(backend: backend))
    }

    deinit { close() }

    public var backend: Backend { debugger.backend }
    public var arch: Arch { debugger.backend.arch }
    public var vcpuCount: Int { debugger.backend.vcpuCount }
    public var capabilities: Capabilities { debugger.backend.capabilities }

    // MARK: Rounds

    /// Starts a round without blocking: `actions[v]` is `.continue`, `.step` or nil (vCPU v
    /// stays stopped). vCPUs that continue from a breakpoint step past it first, one at a
    /// time with the others held (a software breakpoint is briefly unpatched from shared
    /// memory); an event found on the way ends the round at once.
    /// A vCPU that stopped on a fatal exit (`VCPUExit.endsVCPU`) is refused with `.fatalExit`,
    /// before anything runs.
    public func start(_ actions: [ResumeMode?]) throws(DebugError) {
        for (v, a) in actions.enumerated() where a != nil {
            if let x = debugger.fatalExit(of: v) { throw .fatalExit(vcpu: v, exit: x) }
        }
        try core.start(actions)
    }

    /// The fatal exit `vcpu` stopped on, if any (`Debugger.fatalExit(of:)`).
    public func fatalExit(of vcpu: Int) -> VCPUExit? { debugger.fatalExit(of: vcpu) }

    /// Blocks until the round is over and returns its events (at once if it already is).
    /// With a `deadline` (CLOCK_MONOTONIC nanoseconds, `monotonicNanoseconds()`), a round
    /// still running then is interrupted; its `timedOut` says so.
    public func wait(deadline: UInt64? = nil) throws(DebugError) -> StopRound { try core.wait(deadline: deadline) }

    /// `start` then `wait`.
    public func resume(_ actions: [ResumeMode?], deadline: UInt64? = nil) throws(DebugError) -> StopRound {
        try start(actions)
        return try core.wait(deadline: deadline)
    }

    /// Every vCPU does `mode`.
    public func resumeAll(_ mode: ResumeMode = .continue) throws(DebugError) -> StopRound {
        try resume([ResumeMode?](repeating: mode, count: vcpuCount))
    }

    /// Ends the running round from any thread (every vCPU kicked); the round reports
    /// `interrupted`. Called between rounds, it ends the next round as soon as it starts,
    /// so a Ctrl-C is never lost.
    public func interrupt() { core.interrupt() }

    /// Called on a vCPU thread when a round ends; `wait()` then returns at once.
    public func setRoundFinishedHandler(_ handler: (@Sendable () -> Void)?) { core.setHandler(handler) }

    /// True between `start` and the end of its round.
    public var isRunning: Bool { core.isRunning }

    /// A round in which one vCPU steps and every other stays stopped runs on the thread that
    /// calls `start` (which returns once it is over) instead of waking that vCPU's thread:
    /// a GDB `stepi` costs no thread switch. On unless the backend says a run can wait in the
    /// kernel (`runMayWaitInKernel`: arm64's WFI, an adopted VMM's in-kernel irqchip halting
    /// on `hlt`), where the caller of `start` must stay free, e.g. to read a client's ^C.
    /// Set it before the first round.
    public var stepsOnCallingThread: Bool {
        get { core.stepsOnCallingThread }
        set { core.stepsOnCallingThread = newValue }
    }

    /// A round in which one vCPU continues and every other stays stopped runs on the thread
    /// that calls `start`, like a lone step, step-over included: `start` returns when the vCPU
    /// stopped, and no vCPU thread is woken on the way. Off by default: turn it on only where
    /// another thread stays free to call `interrupt()` (the GDB server's second reader, a
    /// signal-watching thread), since the caller is inside `KVM_RUN` until the guest stops.
    /// Read by each `start`.
    public var continuesOnCallingThread: Bool {
        get { core.continuesOnCallingThread.load(ordering: .relaxed) }
        set { core.continuesOnCallingThread.store(newValue, ordering: .relaxed) }
    }

    /// Every round runs on the thread that calls `start`, which returns once it is over; no vCPU
    /// thread is ever created. The launched vCPUs take turns: each runs until its own stop, exit
    /// or kick, and one vCPU's stop does not kick those whose turn is still to come, so a round
    /// can report several stops, as a concurrent one can (one legal interleaving: each vCPU's run
    /// whole, in vCPU order). Only for a backend whose every run returns by itself, such as the
    /// fake with `maxInstructionsPerRun` (nothing else can interrupt the round): the fuzzer's
    /// sessions, an input costing no thread switch and running the same way every time.
    /// `moveVCPUThread` is refused (there is no vCPU thread). Set it before the first round.
    package var runsRoundsOnCallingThread: Bool {
        get { core.inline }
        set { core.inline = newValue }
    }

    /// The round `start` began is over and `wait` returns at once; false when no round is open.
    public var isRoundOver: Bool { core.isRoundOver }

    // MARK: While stopped

    /// Moves vCPU `vcpu`'s thread to host CPU `cpu` (pthread_setaffinity_np): its next
    /// `KVM_RUN` loads the vCPU there. Between rounds. Lone steps and continues run on the
    /// caller of `start` instead (`stepsOnCallingThread`, `continuesOnCallingThread`): turn
    /// those off to have every run on the moved thread.
    public func moveVCPUThread(_ vcpu: Int, toCPU cpu: Int) throws(DebugError) {
        guard vcpu >= 0, vcpu < vcpuCount else { throw .noSuchVCPU(index: vcpu, count: vcpuCount) }
        try core.moveThread(vcpu, toCPU: cpu)
    }

    /// The host CPU vCPU `vcpu`'s thread ran its last command on (getcpu as it reports), once
    /// `moveVCPUThread` has moved it; nil before that (other threads are not measured).
    public func lastHostCPU(of vcpu: Int) -> Int? { core.lastCPU(vcpu) }

    /// The vCPU's registers, read once per stop (`Debugger.registers`).
    public func registers(vcpu: Int) throws(DebugError) -> RegisterFile { try debugger.registers(vcpu: vcpu) }

    /// Writes the vCPU's registers.
    public func setRegisters(_ file: RegisterFile, vcpu: Int) throws(DebugError) {
        try debugger.setRegisters(file, vcpu: vcpu)
    }

    /// The vCPU's FP/SIMD registers, read once per stop and only when asked.
    public func floatingPointRegisters(vcpu: Int) throws(DebugError) -> FPRegisterFile {
        try debugger.floatingPointRegisters(vcpu: vcpu)
    }

    /// Writes the vCPU's FP/SIMD registers.
    public func setFloatingPointRegisters(_ file: FPRegisterFile, vcpu: Int) throws(DebugError) {
        try debugger.setFloatingPointRegisters(file, vcpu: vcpu)
    }

    /// The guest's own debug registers (not kvmdbg's points), read once per stop when asked.
    public func guestDebugRegisters(vcpu: Int) throws(DebugError) -> GuestOwnDebugRegisters {
        try debugger.guestDebugRegisters(vcpu: vcpu)
    }

    /// Writes the guest's own debug registers.
    public func setGuestDebugRegisters(_ registers: GuestOwnDebugRegisters, vcpu: Int) throws(DebugError) {
        try debugger.setGuestDebugRegisters(registers, vcpu: vcpu)
    }

    /// Reads guest memory at a guest-virtual address as `vcpu` sees it (physical with
    /// `physicalMode`); software breakpoints are hidden. Each page is translated on its own.
    public func readMemory(_ address: UInt64, count: Int, vcpu: Int) throws(DebugError) -> [UInt8] {
        var out: [UInt8] = []
        for (pa, n) in try pieces(address, count: count, vcpu: vcpu) {
            out += try debugger.readMemory(pa, count: n)
        }
        return out
    }

    /// Writes guest memory at a guest-virtual address as `vcpu` sees it; bytes under a
    /// software breakpoint update its saved original. Every page is translated before
    /// any byte is written, so an unmapped page leaves memory unchanged.
    public func writeMemory(_ address: UInt64, _ bytes: [UInt8], vcpu: Int) throws(DebugError) {
        var offset = 0
        for (pa, n) in try pieces(address, count: bytes.count, vcpu: vcpu) {
            try debugger.writeMemory(pa, Array(bytes[offset..<offset + n]))
            offset += n
        }
    }

    /// Addresses are guest-physical (no walk) while true: GDB's `monitor phys on`, QEMU's
    /// `Qqemu.PhyMemMode:1`. Off by default.
    public var physicalMode: Bool {
        get { physical.on.load(ordering: .relaxed) }
        set { physical.on.store(newValue, ordering: .relaxed) }
    }

    /// Guest-virtual to guest-physical through `vcpu`'s own page tables (its registers of
    /// this stop): the one place paged guests plug in. Paging off and `physicalMode` are
    /// the identity; an address that does not translate throws `.unmapped`.
    public func translate(_ address: UInt64, vcpu: Int) throws(DebugError) -> UInt64 {
        let w = try walk(address, vcpu: vcpu)
        guard let pa = w.physicalAddress else { throw .unmapped(address: address, reason: w.fault ?? "no translation") }
        return pa
    }

    /// The whole walk of `address` on `vcpu`: every level's entry, read through physical
    /// memory (x86: `X86PageWalk`, Intel SDM vol. 3 ch. 4; arm64: `Arm64PageWalk`, Arm ARM D8).
    /// With `physicalMode` on, the identity.
    public func walk(_ address: UInt64, vcpu: Int) throws(DebugError) -> PageWalk {
        try DebugSession.walk(address, vcpu: vcpu, debugger: debugger, physical: physicalMode)
    }

    /// `walk` for any debugger (the protection watchpoints' translator calls it too).
    static func walk(_ address: UInt64, vcpu: Int, debugger d: Debugger<Backend>, physical: Bool) throws(DebugError) -> PageWalk {
        let n = d.backend.vcpuCount
        if vcpu < 0 || vcpu >= n { throw .noSuchVCPU(index: vcpu, count: n) }
        if physical { return .identity(address, scheme: "physical mode (monitor phys on), identity") }
        func entry(_ pa: UInt64, _ size: Int) throws(DebugError) -> UInt64 {
            // The tables as the guest wrote them: page tables never carry our patches.
            littleEndianValue(try d.backend.readMemory(pa, count: size))
        }
        switch try d.registers(vcpu: vcpu) {
        case .x86_64(let r): return try X86PageWalk.walk(address, registers: r, read: entry)
        case .arm64(let r): return try Arm64PageWalk.walk(address, registers: r, read: entry)
        }
    }

    /// `[address, address+count)` cut at page boundaries, each piece translated.
    private func pieces(_ address: UInt64, count: Int, vcpu: Int) throws(DebugError) -> [(UInt64, Int)] {
        var out: [(UInt64, Int)] = []
        var va = address
        var left = count
        if count <= 0 { _ = try walk(address, vcpu: vcpu); return [] }
        while left > 0 {
            let w = try walk(va, vcpu: vcpu)
            guard let pa = w.physicalAddress else { throw .unmapped(address: va, reason: w.fault ?? "no translation") }
            // Paging off: one piece (physical memory is contiguous); else up to the page's end.
            let inPage = w.levels.isEmpty ? UInt64(left) : w.pageSize - (va & (w.pageSize - 1))
            let n = Int(min(UInt64(left), inPage))
            if let last = out.last, last.0 &+ UInt64(last.1) == pa {
                out[out.count - 1].1 += n  // physically contiguous pages: one access
            } else {
                out.append((pa, n))
            }
            va &+= UInt64(n)
            left -= n
        }
        return out
    }

    /// Arms `point`. A software breakpoint's virtual address is translated on every vCPU
    /// it targets, and patched once per distinct physical address.
    public func insert(_ point: DebugPoint, on target: VCPUTarget = .all) throws(DebugError) {
        guard case .software(let va) = point else { return try debugger.insert(point, on: target) }
        var physical: [(vcpu: Int, address: UInt64)] = []
        switch target {
        case .all: for v in 0..<vcpuCount { physical.append((v, try translate(va, vcpu: v))) }
        case .vcpu(let v): physical.append((v, try translate(va, vcpu: v)))
        }
        try debugger.insert(point, on: target, physical: physical)
    }

    public func remove(_ point: DebugPoint, from target: VCPUTarget = .all) throws(DebugError) {
        try debugger.remove(point, from: target)
    }

    /// Arms every point as `insert` does (software breakpoints by their translated addresses):
    /// all of them or none (a failure removes those already armed).
    public func insertAll(_ points: [(DebugPoint, VCPUTarget)]) throws(DebugError) {
        var done: [(DebugPoint, VCPUTarget)] = []
        for (p, t) in points {
            do throws(DebugError) {
                try insert(p, on: t)
                done.append((p, t))
            } catch {
                for (q, u) in done.reversed() { try? debugger.remove(q, from: u) }
                throw error
            }
        }
    }

    /// Installs now, on each vCPU whose points changed, the debug state its next run would
    /// install (`stepping` as guessed, no point stepped over), so that run issues no
    /// `KVM_SET_GUEST_DEBUG` unless its state differs. For a server between a reply and the
    /// client's next packet. Nothing while a round runs; a failure is left to the run, which
    /// installs the state again and reports it.
    public func preinstallDebugState(stepping: Bool) {
        guard !isRunning else { return }
        debugger.preinstallDebugState(stepping: stepping)
    }

    /// Removes every point and unpatches every software breakpoint (detach, kill, exit).
    public func removeAllPoints() { debugger.removeAllPoints() }

    /// Every vCPU's points and slot use.
    public var tables: DebugTables { debugger.tables }

    /// Counters for `monitor stats` and the end event.
    public var stats: SessionStats {
        var s = core.stats
        s.setGuestDebugCalls = debugger.totalSetGuestDebugCalls
        return s
    }

    /// Ends the vCPU threads and leaves the guest undebugged: no point, no int3/brk in its
    /// memory, every vCPU's debug state disabled (`Debugger.disableDebugging`), which matters
    /// for a host VMM's adopted vCPUs that run on afterwards. The session cannot run
    /// afterwards. Idempotent; failures of that last KVM_SET_GUEST_DEBUG are ignored (the
    /// vCPU fd may already be gone with its VMM).
    public func close() {
        if core.close() { try? debugger.disableDebugging() }
    }
}

/// `DebugSession.physicalMode`, in a box the protection translator shares.
final class PhysicalModeSwitch: Sendable {
    let on = Atomic<Bool>(false)
}

/// The session's threads and rendezvous. A separate object so the vCPU threads can hold
/// it strongly while `DebugSession`'s deinit stops and joins them.
final class SessionCore<Backend: DebugBackend>: @unchecked Sendable {
    private let debugger: Debugger<Backend>
    private let n: Int
    /// The main condition: the round's waiter (`wait`, `runAlone`); slot v: vCPU v's command.
    private let cond: DebugCondition

    private enum Command { case idle, go(ResumeMode), stepOver, quit }
    private struct Report {
        var vcpu: Int
        /// nil: nothing ran into anything (a step-over retired cleanly, or nothing was run).
        var result: Result<RunEvent?, DebugError>
        var at: UInt64
    }

    // Guarded by `cond`.
    private var threads: [DebugThread] = []
    private var commands: [Command]
    private var running: [Bool]
    /// How many of `running` are true.
    private var runningCount = 0
    /// `inline`: launched vCPUs whose turn is still to come (the round is not over before them).
    private var queued = 0
    private var reports: [Report] = []
    /// Between `start` and the end of `wait`.
    private var roundOpen = false
    /// Every vCPU of the open round is stopped again.
    private var roundDone = false
    /// The launched vCPUs are out: the first real event kicks the others itself (one
    /// scheduling hop less than waking the waiter first).
    private var launched = false
    private var firstExit: UInt64? = nil
    private var stopRequested = false
    private var pendingInterrupt = false
    private var handler: (@Sendable () -> Void)? = nil
    private var closed = false
    var stats = SessionStats()
    /// Per vCPU: the host CPU its last run returned on, measured only once its thread was moved
    /// (-1: not yet), so other rounds pay no getcpu.
    private var hostCPUs: [Int]
    /// Per vCPU: the host CPU its thread moves to before its next command (guarded by `cond`).
    private var wantedCPU: [Int?]
    /// See `DebugSession.stepsOnCallingThread` (set before rounds run).
    var stepsOnCallingThread = true
    /// See `DebugSession.continuesOnCallingThread`.
    let continuesOnCallingThread = Atomic<Bool>(false)
    /// See `DebugSession.runsRoundsOnCallingThread` (set before rounds run).
    var inline = false

    init(debugger: Debugger<Backend>) {
        self.debugger = debugger
        n = debugger.backend.vcpuCount
        cond = DebugCondition(slots: n)
        stepsOnCallingThread = !debugger.backend.runMayWaitInKernel
        commands = [Command](repeating: .idle, count: n)
        running = [Bool](repeating: false, count: n)
        hostCPUs = [Int](repeating: -1, count: n)
        wantedCPU = [Int?](repeating: nil, count: n)
    }

    var isRunning: Bool { cond.withLock { roundOpen } }

    var isRoundOver: Bool { cond.withLock { roundOpen && roundDone } }

    func setHandler(_ h: (@Sendable () -> Void)?) { cond.withLock { handler = h } }

    /// The thread pins itself before its next command (`vcpuThread`): affinity by raw syscall
    /// applies to the calling thread, and a failure is that command's reported error.
    func moveThread(_ v: Int, toCPU cpu: Int) throws(DebugError) {
        if inline { throw .unsupported(reason: "this session runs every round on the calling thread: there is no vCPU thread to move") }
        let allowed = allowedHostCPUs()
        guard allowed.contains(cpu) else {
            throw .unsupported(reason: "host CPU \(cpu) is not in this process's affinity mask (allowed: \(allowed))")
        }
        cond.withLock { wantedCPU[v] = cpu }
    }

    func lastCPU(_ v: Int) -> Int? {
        let c = cond.withLock { hostCPUs[v] }
        return c < 0 ? nil : c
    }

    func interrupt() {
        cond.withLock {
            if roundOpen {
                stopRequested = true
                for v in 0..<n where running[v] { debugger.backend.kick(vcpu: v) }
            } else {
                pendingInterrupt = true
            }
        }
    }

    func start(_ actions: [ResumeMode?]) throws(DebugError) {
        if actions.count != n { throw .unsupported(reason: "a round needs one action per vCPU (\(n)), got \(actions.count)") }
        // One critical section: an interrupt() from here on finds the round open and sets
        // stopRequested, which every later launch checks (it was once reset in between).
        let interruptedAlready = try cond.withLock { () throws(DebugError) -> Bool in
            if closed { throw .unsupported(reason: "the debug session is closed") }
            if roundOpen { throw .unsupported(reason: "a round is already running; wait for it or interrupt it") }
            if threads.isEmpty && !inline { try spawnThreads() }
            roundOpen = true
            roundDone = false
            launched = false
            firstExit = nil
            stopRequested = pendingInterrupt
            pendingInterrupt = false
            return stopRequested
        }
        if interruptedAlready {
            finishRound()
            return
        }
        let launching = actions.indices.filter { actions[$0] != nil }
        // A lone round on this thread: a step (`stepsOnCallingThread`), or a continue when the
        // caller said another thread watches for interrupts; its step-over runs here too.
        let lone: ResumeMode? = launching.count == 1 ? actions[launching[0]] : nil
        let here = inline || (lone == .step ? stepsOnCallingThread
            : lone == .continue && continuesOnCallingThread.load(ordering: .relaxed))
        // Phase 1: vCPUs sitting on a point step past it one at a time, the others held.
        var found = false
        for v in 0..<n where actions[v] == .continue && debugger.needsStepOver(vcpu: v) {
            let r = here ? runAloneHere(v) : runAlone(v)
            if !r.result.reportable { continue }
            cond.withLock { reports.append(r) }
            found = true
            if case .failure = r.result { break }
        }
        if found {
            finishRound()
            return
        }
        // A lone round (gdb's stepi on one vCPU; a continue of the only vCPU) runs on this
        // thread: no vCPU thread to wake, and the round ends before `start` returns.
        if here, let mode = lone {
            let v = launching[0]
            let go = cond.withLock { () -> Bool in
                if closed || stopRequested { return false }
                running[v] = true
                runningCount += 1
                launched = true
                return true
            }
            if go { runAndReport(v, .go(mode)) } else { finishRound() }
            return
        }
        if inline { return runInTurn(actions) }
        // Phase 2: everyone asked goes; the first real stop or exit brings the rest to a halt.
        let launchedAny = cond.withLock { () -> Bool in
            // A close() from another thread during phase 1: its .quit must not be overwritten.
            // An interrupt() during phase 1 found nothing running to kick: launch nothing.
            if closed || stopRequested { return false }
            for v in 0..<n {
                guard let mode = actions[v] else { continue }
                commands[v] = .go(mode)
                running[v] = true
                runningCount += 1
            }
            launched = true
            return runningCount > 0
        }
        if !launchedAny { finishRound(); return }
        // Each launched thread is woken alone, after the unlock (it needs the lock at once).
        for v in 0..<n where actions[v] != nil { cond.signal(slot: v) }
    }

    /// Phase 2 of an `inline` round: the launched vCPUs run one after another on this thread.
    /// Queued vCPUs are not `running`, so an earlier one's stop does not kick them; each still
    /// runs only until its first kick once the round is ending (`runAndReport`).
    private func runInTurn(_ actions: [ResumeMode?]) {
        let launchedAny = cond.withLock { () -> Bool in
            if closed || stopRequested { return false }
            queued = actions.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
            launched = true
            return queued > 0
        }
        if !launchedAny { finishRound(); return }
        for v in 0..<n {
            guard let mode = actions[v] else { continue }
            let go = cond.withLock { () -> Bool in
                queued -= 1
                if closed { return false }
                running[v] = true
                runningCount += 1
                return true
            }
            if go { runAndReport(v, .go(mode)) }
        }
        // Closed meanwhile: the turns skipped still end the round.
        if !cond.withLock({ roundDone }) { finishRound() }
    }

    func wait(deadline: UInt64?) throws(DebugError) -> StopRound {
        var timedOut = false
        let (taken, interrupted, failure, latency): ([Report], Bool, DebugError?, UInt64?) = cond.withLock {
            if !roundOpen { return ([], false, nil, nil) }
            while !roundDone {
                guard let d = deadline else {
                    cond.wait()
                    continue
                }
                if !timedOut && monotonicNanoseconds() >= d {
                    timedOut = true
                    stopRequested = true
                    for v in 0..<n where running[v] { debugger.backend.kick(vcpu: v) }
                }
                if timedOut { cond.wait() } else { cond.wait(until: d) }
            }
            let taken = reports
            reports.removeAll()
            roundOpen = false
            launched = false
            var failure: DebugError? = nil
            var last: UInt64 = 0
            for r in taken {
                last = max(last, r.at)
                if case .failure(let e) = r.result, failure == nil { failure = e }
            }
            var latency: UInt64? = nil
            if let f = firstExit, n > 1 { latency = last &- f }
            return (taken, stopRequested, failure, latency)
        }
        if let failure { throw failure }
        var events: [VCPUEvent] = []
        for r in taken.sorted(by: { $0.vcpu < $1.vcpu }) {
            // A kicked vCPU was only halted: not an event of the round.
            guard case .success(let e?) = r.result, e != .kicked else { continue }
            events.append(VCPUEvent(vcpu: r.vcpu, event: e))
        }
        var round = StopRound(events: events, interrupted: interrupted, allStopNanoseconds: latency)
        round.timedOut = timedOut
        cond.withLock {
            stats.rounds += 1
            stats.stops += round.stops.count
            if let l = latency {
                stats.allStopRounds += 1
                stats.allStopTotalNanoseconds &+= l
                stats.allStopMeanNanoseconds = stats.allStopTotalNanoseconds / UInt64(stats.allStopRounds)
                stats.allStopMaxNanoseconds = max(stats.allStopMaxNanoseconds, l)
            }
        }
        return round
    }

    /// Ends a round that launched no vCPU (an event in phase 1, an interrupt, nothing to run).
    private func finishRound() {
        let h: (@Sendable () -> Void)? = cond.withLock {
            roundDone = true
            return handler
        }
        cond.broadcast()
        h?()
    }

    /// Stops and joins the vCPU threads; true for the call that closed the session.
    @discardableResult
    func close() -> Bool {
        let ts: [DebugThread]? = cond.withLock {
            if closed { return nil }
            closed = true
            for v in 0..<n {
                commands[v] = .quit
                if running[v] { debugger.backend.kick(vcpu: v) }
                cond.signal(slot: v)
            }
            cond.broadcast()
            return threads
        }
        guard let ts else { return false }
        for t in ts { t.join() }
        return true
    }

    // MARK: vCPU threads

    /// Caller holds `cond`.
    private func spawnThreads() throws(DebugError) {
        for v in 0..<n {
            let t = try DebugThread { [self] in self.vcpuThread(v) }
            threads.append(t)
        }
    }

    /// Runs one step-over on vCPU `v`'s thread and waits for its report (only v runs).
    private func runAlone(_ v: Int) -> Report {
        cond.withLock {
            commands[v] = .stepOver
            running[v] = true
            runningCount += 1
            cond.signal(slot: v)
            while running[v] { cond.wait() }
            let i = reports.lastIndex { $0.vcpu == v } ?? reports.count - 1
            return reports.remove(at: i)
        }
    }

    /// `runAlone` on the calling thread (a lone continue's step-over): kicks reach it there, as
    /// the kick goes to whichever thread entered `KVM_RUN` last.
    private func runAloneHere(_ v: Int) -> Report {
        let go = cond.withLock { () -> Bool in
            if closed { return false }
            running[v] = true
            runningCount += 1
            return true
        }
        let result = go ? perform(v, .stepOver) : .success(nil)
        let at = monotonicNanoseconds()
        return cond.withLock {
            if go {
                running[v] = false
                runningCount -= 1
            }
            return Report(vcpu: v, result: result, at: at)
        }
    }

    private func vcpuThread(_ v: Int) {
        var pinned = false
        while true {
            let (c, cpu): (Command, Int?) = cond.withLock {
                while case .idle = commands[v] { cond.wait(slot: v) }
                let c = commands[v]
                commands[v] = .idle
                defer { wantedCPU[v] = nil }
                return (c, wantedCPU[v])
            }
            if case .quit = c { return }
            if let cpu {
                let r = cposix_pin_self(Int32(cpu))
                if r != 0 {
                    report(v, .failure(.system(call: "sched_setaffinity", errno: r)), measuringCPU: pinned)
                    continue
                }
                pinned = true
            }
            runAndReport(v, c, measuringCPU: pinned)
        }
    }

    /// Carries out command `c` for vCPU `v` on this thread and reports it: on v's own
    /// thread, or on the caller of `start` for a lone step.
    private func runAndReport(_ v: Int, _ c: Command, measuringCPU: Bool = false) {
        var result: Result<RunEvent?, DebugError>
        while true {
            result = perform(v, c)
            // A stale kick (or a stray signal) while no all-stop is under way: go back in.
            guard case .go = c, case .success(.kicked?) = result else { break }
            let again = cond.withLock { firstExit == nil && !stopRequested && !closed }
            if !again { break }
        }
        report(v, result, measuringCPU: measuringCPU)
    }

    /// Reports vCPU `v`'s `result` for the round (or the step-over) it was running; with
    /// `measuringCPU` (a thread `moveThread` pinned), also the host CPU it ran on.
    private func report(_ v: Int, _ result: Result<RunEvent?, DebugError>, measuringCPU: Bool) {
        let at = monotonicNanoseconds()
        let cpu = measuringCPU ? currentHostCPU() : -1
        do {
            // Who to tell after the unlock: the main waiter (a step-over's, or the round's
            // end), and the handler at the round's end. Other vCPU threads are never woken.
            let (wake, h): (Bool, (@Sendable () -> Void)?) = cond.withLock {
                reports.append(Report(vcpu: v, result: result, at: at))
                if measuringCPU { hostCPUs[v] = cpu }
                running[v] = false
                runningCount -= 1
                guard launched else { return (true, nil) }
                // Kicked to a halt: nothing to start an all-stop with.
                if result.reportable && firstExit == nil {
                    firstExit = at
                    for u in 0..<n where running[u] { debugger.backend.kick(vcpu: u) }
                }
                if runningCount + queued > 0 { return (false, nil) }
                roundDone = true
                return (true, handler)
            }
            if wake { cond.broadcast() }
            h?()
        }
    }

    private func perform(_ v: Int, _ c: Command) -> Result<RunEvent?, DebugError> {
        do throws(DebugError) {
            switch c {
            case .go(let mode): return .success(try debugger.resume(vcpu: v, mode: mode))
            case .stepOver: return .success(try debugger.stepOverPending(vcpu: v))
            case .idle, .quit: return .success(nil)  // never performed: vcpuThread waits on one, ends on the other
            }
        } catch {
            return .failure(error)
        }
    }
}

extension Result where Success == RunEvent?, Failure == DebugError {
    /// A vCPU's outcome worth reporting, an event or a failure: it ends a round's phase 1 and
    /// starts the all-stop. A kick, or a step-over that retired cleanly, has nothing to report.
    fileprivate var reportable: Bool {
        guard case .success(let e) = self else { return true }
        return e != nil && e != .kicked
    }
}
