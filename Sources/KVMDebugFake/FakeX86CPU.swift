import KVMDebugModel

/// An x86 vCPU under KVM: registers, the installed `kvm_guest_debug`, and KVM's
/// handling of #DB/#BP, TF and VM entry around the interpreter.
///
/// Debug exceptions follow the hardware (Intel SDM vol. 3 ch. 18), which this
/// machine's PVM host does not fully: PVM ignores RF and never fires data
/// breakpoints (see shared x86-lane NOTES); the fake models real VMX/SVM.
final class FakeX86CPU: FakeCPU {
    /// DR6 bits that read as 1 (KVM's DR6_ACTIVE_LOW).
    static let dr6ActiveLow: UInt64 = 0xFFFF_0FF0
    /// DR6.BS: the single-step trap.
    static let dr6SingleStep: UInt64 = 1 << 14
    /// VMX exit reason of a failed VM entry for invalid guest state (bit 31 | 33).
    static let invalidGuestState: UInt64 = 0x8000_0021

    let index: Int
    let mode: CPUMode
    var registers = FakeX86Registers()
    /// x87/SSE state (KVM_GET/SET_XSAVE), used by the interpreter's SSE rows.
    var fpu = FakeX86FPU()
    /// The guest's own DR0-3, DR6, DR7 (KVM_GET/SET_DEBUGREGS, the guest's mov to/from DRn).
    var guestDebug = FakeGuestDebugRegisters(breakpoints: 0, watchpoints: 0)

    /// `vcpu->guest_debug`: the control word, or empty when ENABLE was clear.
    private var control: GuestDebugControl = []
    /// The DRs in effect: the host's with USE_HW_BP, else the guest's own (all off).
    private var debugUnit = FakeX86DebugUnit.reset
    /// KVM's `singlestep_rip`, captured at KVM_SET_GUEST_DEBUG time.
    private var singleStepRIP: UInt64 = 0
    /// The TF KVM put in the real RFLAGS (hidden from KVM_GET_REGS).
    private var trapFlag = false
    /// An exception queued by INJECT_DB/INJECT_BP (vector).
    private var pendingException: UInt32?
    /// dr6/dr7 of the last #DB exit: `kvm_run` keeps them, so #BP exits report them stale.
    private var lastDR6: UInt64 = 0
    private var lastDR7: UInt64 = 0
    /// An MMIO access userspace has not completed yet (KVM finishes it on the next KVM_RUN).
    private var pendingMMIO: (instruction: FakeX86Interpreter.Instruction, isLoad: Bool)?
    /// A step trap owed by an instruction completed at the start of the last KVM_RUN.
    private var stepOwed = false
    /// `kvm_run.mmio.data`: a store's bytes at its exit; what userspace supplies for a load.
    var mmioData = [UInt8](repeating: 0, count: 8)
    /// An access to a protected page between its MMIO exits.
    private var protectedAccess: FakeProtectedAccess?

    /// Segments, control registers and EFER as kvmdbg's boot code leaves them (X86Boot):
    /// the interpreter uses only CR3 (through `paging`), KVM_GET_SREGS reports them all.
    var special = X86RegisterFile()
    /// Long mode's linear -> physical translation from CR3 (real mode: none).
    var paging = FakeX86Paging(cr3: 0)
    /// IDTR: KVM's reset value (base 0, limit 0xFFFF) until the guest's lidt.
    var idt: (base: UInt64, limit: UInt64) = (0, 0xFFFF)

    init(index: Int, mode: CPUMode, entry: UInt64, pageTables: UInt64 = 0, stack: UInt64 = 0) {
        self.index = index
        self.mode = mode
        registers.rip = entry
        registers.gpr[4] = stack  // RSP, as kvmdbg's boot code sets it
        if mode == .long {
            special.cs = X86Segment(selector: 8, base: 0, limit: 0xFFFF_FFFF)
            let data = X86Segment(selector: 16, base: 0, limit: 0xFFFF_FFFF)
            special.ss = data; special.ds = data; special.es = data; special.fs = data; special.gs = data
            special.cr0 = 0x8005_0033
            special.cr3 = pageTables
            special.cr4 = 0x20
            special.efer = 0x500
            paging.load(cr3: pageTables)
        } else {
            special.cr0 = 0x6000_0010  // the reset value KVM reports (CD|NW|ET)
        }
        // Boot convention: RDI = vCPU index, so an SMP guest can tell its vCPUs apart.
        registers.gpr[7] = UInt64(index)
    }

    /// The linear address of RIP: CS.base is 0 in real mode and flat in long mode.
    private func linear(_ rip: UInt64) -> UInt64 { mode == .real ? rip & 0xFFFF : rip }

    var programCounter: UInt64 { registers.rip }

    func setProgramCounter(_ pc: UInt64) {
        registers.rip = pc
        setRegistersSideEffects()
    }

    func register(_ name: String) -> UInt64? {
        switch name {
        case "rip": return registers.rip
        case "rflags": return registers.rflags
        default:
            guard let i = FakeX86Registers.names.firstIndex(of: name) else { return nil }
            return registers.gpr[i]
        }
    }

    func setRegister(_ name: String, _ value: UInt64) -> Bool {
        switch name {
        case "rip": registers.rip = value
        case "rflags": registers.rflags = value | FakeX86Registers.flagFixed
        default:
            guard let i = FakeX86Registers.names.firstIndex(of: name) else { return false }
            registers.gpr[i] = value
        }
        setRegistersSideEffects()
        return true
    }

    var registerFile: RegisterFile {
        var f = special
        f.idtBase = idt.base
        f.idtLimit = UInt16(truncatingIfNeeded: idt.limit)
        f.generalRegisters = registers.gpr
        f.rip = registers.rip
        f.rflags = registers.rflags
        return .x86_64(f)
    }

    func setRegisterFile(_ file: RegisterFile) throws(DebugError) {
        guard case .x86_64(let f) = file else { throw .unsupported(reason: "arm64 registers passed to an x86_64 vCPU") }
        special = f
        idt = (f.idtBase, UInt64(f.idtLimit))
        if mode == .long { paging.load(cr3: f.cr3) }  // KVM_SET_SREGS flushes the TLB
        registers.gpr = f.generalRegisters
        registers.rip = f.rip
        registers.rflags = f.rflags | FakeX86Registers.flagFixed
        setRegistersSideEffects()
    }

    /// KVM_SET_REGS ends in `__kvm_set_rflags`, which keeps KVM's TF only while the
    /// linear RIP still equals `singlestep_rip`: change RIP (or just call SET_REGS
    /// after a step) without re-issuing SET_GUEST_DEBUG and stepping stops.
    private func setRegistersSideEffects() {
        trapFlag = control.contains(.singleStep) && linear(registers.rip) == singleStepRIP
    }

    func install(_ state: GuestDebugState) throws(DebugError) {
        guard case .x86(let regs) = state.registers else {
            throw .unsupported(reason: "arm64 debug registers passed to an x86_64 vCPU")
        }
        let c = state.control
        // Injection is queued before the ENABLE check, and a pending exception makes
        // the whole call fail with nothing changed (x86.c kvm_arch_vcpu_ioctl_set_guest_debug).
        if c.contains(.x86InjectDebugException) || c.contains(.x86InjectBreakpoint) {
            guard pendingException == nil else { throw kvmError("KVM_SET_GUEST_DEBUG", FakeErrno.ebusy) }
            pendingException = c.contains(.x86InjectDebugException) ? 1 : 3
        }
        // x86 KVM does not reject unknown control bits; it stores them.
        control = c.contains(.enable) ? c : []
        debugUnit = control.contains(.x86UseHardwareBreakpoints)
            ? FakeX86DebugUnit(address: Array(regs.address.prefix(4)), dr7: regs.dr7)
            : .reset
        if control.contains(.singleStep) { singleStepRIP = linear(registers.rip) }
        trapFlag = control.contains(.singleStep)
        stepOwed = stepOwed && trapFlag
    }

    func run(memory: FakeMemory, budget: inout FakeRunBudget) throws(DebugError) -> VCPUExit {
        // KVM completes an MMIO access before it looks at immediate_exit.
        if let (insn, isLoad) = pendingMMIO {
            pendingMMIO = nil
            if isLoad, case .mov(.register(let dst), _) = insn.operation {
                // No kvm_run.mmio.data in this API: loads from unbacked memory read 0.
                registers.write(dst, size: insn.size, 0, mode: mode)
            }
            registers.rip = insn.next
            registers.rflags &= ~FakeX86Registers.flagResume
            stepOwed = trapFlag
        }
        if let op = protectedAccess {
            if let exit = continueProtected(memory: memory, budget: &budget) { return exit }
            // KVM drops the step trap of an instruction whose store exited (x86.c,
            // complete_emulated_mmio: "FIXME: return into emulator if single-stepping"); a
            // load re-enters the emulator and traps as the instruction ran under TF.
            stepOwed = trapFlag && op.stepping && !op.stored
            // The emulator's step trap comes out of the same KVM_RUN, before immediate_exit counts.
            if stepOwed {
                stepOwed = false
                return debugExit(pc: linear(registers.rip), bits: Self.dr6SingleStep)
            }
        }
        if budget.kick.consume() { return .interrupted }
        if debugUnit.dr7 >> 32 != 0 {
            // VMX checks GUEST_DR7[63:32] == 0 at VM entry; KVM never validated it.
            return .failEntry(reason: Self.invalidGuestState)
        }
        if let vector = pendingException {
            pendingException = nil
            throw .unsupported(reason: "KVM_GUESTDBG_INJECT_\(vector == 1 ? "DB" : "BP") queued \(vector == 1 ? "#DB" : "#BP") for vCPU \(index), but the fake backend's guests have no IDT to deliver it to")
        }
        if stepOwed {
            stepOwed = false
            return debugExit(pc: linear(registers.rip), bits: Self.dr6SingleStep)
        }
        if registers.rflags & FakeX86Registers.flagTrap != 0 {
            throw .unsupported(reason: "guest RFLAGS.TF is set on vCPU \(index): the guest would take #DB through an IDT the fake does not model; use KVM_GUESTDBG_SINGLESTEP")
        }
        while !budget.exhausted() {
            if let exit = try step(memory: memory, budget: &budget) { return exit }
        }
        return .interrupted
    }

    /// One instruction with the checks in hardware order; nil = keep running.
    private func step(memory: FakeMemory, budget: inout FakeRunBudget) throws(DebugError) -> VCPUExit? {
        let pc = linear(registers.rip)
        let hardware = control.contains(.x86UseHardwareBreakpoints)
        // 1. Execute breakpoints are faults, taken before the instruction unless RF is set.
        if hardware && registers.rflags & FakeX86Registers.flagResume == 0 {
            let bits = debugUnit.executeHits(at: pc)
            if bits != 0 { return debugExit(pc: pc, bits: bits) }
        }
        // An instruction fetch from an unmapped page: #PF (I/D set in the error code).
        guard let bytes = fetch(pc, memory: memory) else { return raise(14, errorCode: 0x10, cr2: pc, memory: memory) }
        guard let insn = try FakeX86Interpreter.decode(bytes, rip: registers.rip, pc: pc, mode: mode, registers: registers) else {
            // Fetching code from unbacked memory: KVM's emulator fails (measured on PVM).
            return .internalError(suberror: 1)
        }
        // 2. int3: KVM intercepts #BP only with ENABLE and USE_SW_BP; pc is the int3.
        if case .int3 = insn.operation {
            if control.contains(.x86UseSoftwareBreakpoints) {
                return .debug(.x86(exception: 3, pc: pc, dr6: lastDR6, dr7: lastDR7))
            }
            throw .unsupported(reason: "int3 at \(hex(pc)) on vCPU \(index) without KVM_GUESTDBG_USE_SW_BP: the guest would take #BP through an IDT the fake does not model")
        }
        // SSE with CR4.OSFXSR clear is #UD (SDM vol. 3 §2.5), delivered like any exception.
        // (FXSAVE/FXRSTOR run without it: whether they then skip XMM and MXCSR is implementation
        // dependent, SDM vol. 2 FXSAVE; the fake keeps them.)
        if case .sse(let op, _, _) = insn.operation, !op.isStateImage, special.cr4 & 0x200 == 0 {
            return raise(6, errorCode: nil, memory: memory)
        }
        if case .ud2 = insn.operation { return raise(6, errorCode: nil, memory: memory) }
        if case .loadIDT(let a) = insn.operation {
            guard let p = physical(a, memory: memory), let limit = memory.load(p, size: 2),
                  let base = memory.load(p &+ 2, size: 8) else { return raise(14, errorCode: 0, cr2: a, memory: memory) }
            idt = (base, limit)
        }
        // A data access whose page does not translate: #PF (W/R from the access); with no valid
        // handler it ends as a triple fault (`raise`).
        var dataPhysical: UInt64? = nil
        if let access = insn.access {
            guard let p = physical(access.address, memory: memory) else {
                return raise(14, errorCode: access.isWrite ? 2 : 0, cr2: access.address, memory: memory)
            }
            dataPhysical = p
            // An access to unbacked memory exits to userspace before it is done.
            if !memory.contains(p, access.size) {
                pendingMMIO = (insn, !access.isWrite)
                return .mmio(address: p, isWrite: access.isWrite, length: access.size, pc: pc)
            }
        }
        if case .sse(let op, _, .memory(let a)) = insn.operation, let p = dataPhysical,
           let vector = FakeX86Interpreter.stateFault(op, at: a, memory: memory, physical: p) {
            return raise(vector, errorCode: 0, memory: memory)
        }
        // A protected page (a memory slot kvmdbg made read-only, or left out): KVM's
        // emulator exits for it, see `FakeProtectedAccess`.
        if let p = dataPhysical, let op = FakeProtectedAccess(insn, pc: pc, physical: p, memory: memory) {
            protectedAccess = op
            if let exit = continueProtected(memory: memory, budget: &budget) { return exit }
            return nil
        }
        // 3. Execute; RF clears once an instruction completes. The one data access is at
        // dataPhysical (within one page: accesses that cross a page are not split).
        execute(insn, dataPhysical: dataPhysical, memory: memory, budget: &budget)
        let next = linear(registers.rip)
        // 5 before 4: KVM's emulated hlt overwrites a pending step exit (the TODO in kvm_emulate_halt).
        if case .hlt = insn.operation { return .halt(pc: next) }
        // 4. Traps after the instruction: data breakpoints and the single step, in one exit.
        var bits: UInt64 = 0
        if hardware, let access = insn.access { bits |= debugUnit.dataHits(access) }
        if trapFlag { bits |= Self.dr6SingleStep }
        guard bits != 0 else { return nil }
        // An execute breakpoint on the next instruction is a fault of *that* instruction:
        // silicon and PVM report it in its own exit when the vCPU re-enters (measured here).
        // QEMU's TCG model folds it into this trap's DR6 (B0|B2 seen in the x86 lane): a
        // known emulator divergence, not modelled.
        return debugExit(pc: next, bits: bits)
    }

    /// Executes `insn` (its data access at `dataPhysical`); RF clears once it completes.
    private func execute(_ insn: FakeX86Interpreter.Instruction, dataPhysical: UInt64?, memory: FakeMemory,
                         budget: inout FakeRunBudget) {
        let translated = insn.access.map { ($0.address, dataPhysical ?? $0.address) }
        let toPhysical: (UInt64) -> UInt64 = { linear in
            guard let (l, p) = translated else { return linear }
            return p &+ (linear &- l)
        }
        let newCR3 = FakeX86Interpreter.execute(insn, registers: &registers, memory: memory, mode: mode, physical: toPhysical)
        switch insn.operation {
        case .loadCR4(let src):
            special.cr4 = registers.gpr[src.index]
        case .moveDR(let n, let reg, let toDR):
            // KVM keeps the guest's values (kvm_set_dr): DR6/DR7 with their fixed bits set.
            if toDR {
                let v = registers.gpr[reg.index]
                switch n {
                case 6: guestDebug.dr6 = (v & 0x0001_E80F) | 0xFFFF_0FF0
                case 7: guestDebug.dr7 = (v & 0xFFFF_2BFF) | 0x400
                default: guestDebug.db[n] = v
                }
            } else {
                registers.gpr[reg.index] = n == 6 ? guestDebug.dr6 : n == 7 ? guestDebug.dr7 : guestDebug.db[n]
            }
        case .sse(let op, let xmm, let rm):
            FakeX86Interpreter.executeSSE(op, xmm: xmm, rm: rm, size: insn.size, registers: &registers, fpu: &fpu,
                                          memory: memory, physical: toPhysical)
        default:
            break
        }
        if let cr3 = newCR3 {
            special.cr3 = cr3
            paging.load(cr3: cr3)
        }
        registers.rflags &= ~FakeX86Registers.flagResume
        budget.retired()
    }

    /// The next exit of the protected access under way, or nil once it is complete.
    private func continueProtected(memory: FakeMemory, budget: inout FakeRunBudget) -> VCPUExit? {
        guard var op = protectedAccess else { return nil }
        if let r = op.pendingRead {
            op.readData.append((r.address, Array(mmioData.prefix(r.length))))
            op.pendingRead = nil
        }
        if !op.reads.isEmpty {
            let r = op.reads.removeFirst()
            op.pendingRead = r
            protectedAccess = op
            return .mmio(address: r.address, isWrite: false, length: r.length, pc: op.pc)
        }
        if !op.executed {
            // The loaded bytes are what userspace supplied; the stored ones go to userspace
            // and the protected bytes keep their values.
            var saved: [(UInt64, [UInt8])] = []
            for (a, d) in op.readData {
                saved.append((a, memory.read(a, d.count) ?? []))
                memory.write(a, d)
            }
            let stores = op.instruction.access?.isWrite == true ? memory.protectedFragments(op.physical, op.size) : []
            let before = stores.map { memory.read($0.address, $0.length) ?? [] }
            execute(op.instruction, dataPhysical: op.physical, memory: memory, budget: &budget)
            op.stepping = trapFlag
            let after = stores.map { memory.read($0.address, $0.length) ?? [] }
            for (f, b) in zip(stores, before) { memory.write(f.address, b) }
            for (a, b) in saved.reversed() { memory.write(a, b) }
            op.writes = zip(stores, after).map { ($0.address, $1) }
            op.stored = !op.writes.isEmpty
            op.executed = true
        }
        if !op.writes.isEmpty {
            let w = op.writes.removeFirst()
            mmioData = w.bytes + [UInt8](repeating: 0, count: max(0, 8 - w.bytes.count))
            protectedAccess = op
            return .mmio(address: w.address, isWrite: true, length: w.bytes.count, pc: linear(registers.rip))
        }
        protectedAccess = nil
        return nil
    }

    /// The physical address of a linear one (long mode: through CR3's tables).
    func physical(_ linear: UInt64, memory: FakeMemory) -> UInt64? {
        mode == .long ? paging.physical(linear, memory: memory) : linear
    }

    /// Up to 15 instruction bytes at linear `pc`, read page by page; nil when `pc` itself
    /// does not translate (#PF: a triple fault here), fewer bytes at the end of RAM or
    /// where the next page does not translate.
    private func fetch(_ pc: UInt64, memory: FakeMemory) -> [UInt8]? {
        guard let first = physical(pc, memory: memory) else { return nil }
        let inPage = Int(0x1000 - (pc & 0xFFF))
        var bytes = memory.fetch(first, upTo: min(15, mode == .long ? inPage : 15))
        if mode == .long && bytes.count == inPage && inPage < 15, let second = physical(pc &+ UInt64(inPage), memory: memory) {
            bytes += memory.fetch(second, upTo: 15 - inPage)
        }
        return bytes
    }

    private func debugExit(pc: UInt64, bits: UInt64) -> VCPUExit {
        lastDR6 = Self.dr6ActiveLow | bits
        lastDR7 = debugUnit.reportedDR7
        return .debug(.x86(exception: 1, pc: pc, dr6: lastDR6, dr7: lastDR7))
    }
}
