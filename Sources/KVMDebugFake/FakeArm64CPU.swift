import KVMDebugModel

/// An arm64 vCPU under KVM: registers, the installed `kvm_guest_debug`, and how
/// KVM routes debug exceptions to userspace around the interpreter.
///
/// Any non-zero `guest_debug` sets MDCR_EL2.TDE, so every debug exception (BRK,
/// breakpoint, watchpoint, step) exits to the host. Exit syndromes are the ones
/// measured on the arm64 lane (shared arm64-lane NOTES).
final class FakeArm64CPU: FakeCPU {
    /// ESR_EL2 of the exits: EC << 26 | IL (bit 25) | ISS.
    static let esrBreakpoint: UInt64 = 0xC200_0022   // EC 0x30, IFSC 0x22
    static let esrSoftwareStep: UInt64 = 0xCB00_0022 // EC 0x32, ISV, EX 0, IFSC 0x22 (measured)
    static let esrWatchpoint: UInt64 = 0xD200_0022   // EC 0x34, DFSC 0x22; WnR is bit 6
    static let esrBRK: UInt64 = 0xF200_0000          // EC 0x3C, ISS = imm16
    /// A data abort taken at EL1 from EL1 (EC 0x25), IL, DFSC 0x21 alignment fault; WnR is bit 6.
    static let esrAlignmentFault: UInt64 = 0x9600_0021
    /// The prefetch abort KVM injects for a fetch outside every memslot (inject_abt64 in
    /// arch/arm64/kvm/inject_fault.c): EC 0x21 from EL1 (0x20 from EL0), IL, FSC 0x10 (synchronous
    /// external abort).
    static let esrPrefetchAbort: UInt64 = 0x8600_0010, esrPrefetchAbortLower: UInt64 = 0x8200_0010
    /// PSCI 0.2 SYSTEM_OFF and SYSTEM_RESET (SMC32 function IDs), which KVM turns into
    /// KVM_EXIT_SYSTEM_EVENT SHUTDOWN / RESET with data[0] (flags) 0, having preloaded x0 with
    /// PSCI_RET_INTERNAL_FAILURE (-6) and x1-x3 with 0 for a guest resumed anyway
    /// (kvm_psci_0_2_call, arch/arm64/kvm/psci.c).
    static let psciSystemOff: UInt64 = 0x8400_0008, psciSystemReset: UInt64 = 0x8400_0009

    let index: Int
    let breakpointSlots: Int
    let watchpointSlots: Int
    var registers = FakeArm64Registers()

    /// `vcpu->guest_debug`: the control word, or empty when ENABLE was clear.
    private var control: GuestDebugControl = []
    /// The comparators in effect: the host's with USE_HW, else the guest's own (all off).
    private var debugUnit = FakeArm64DebugUnit.reset
    /// `run->debug.arch.far`: written only by watchpoint exits, stale otherwise.
    private var lastFAR: UInt64 = 0
    /// An MMIO access userspace has not completed yet (KVM finishes it on the next KVM_RUN).
    private var pendingMMIO: (rt: Int, size: Int, isLoad: Bool)?
    /// `kvm_run.mmio.data`: a store's bytes at its exit; what a load gets on re-entry.
    var mmioData = [UInt8](repeating: 0, count: 8)
    /// The VM enabled KVM_CAP_ARM_NISV_TO_USER: an access without a valid syndrome to a
    /// protected page exits KVM_EXIT_ARM_NISV; without it KVM_RUN fails with ENOSYS.
    var nisvToUser = true
    /// A step exception owed by an access completed at the start of the last KVM_RUN
    /// (KVM's "active-pending" step state).
    private var stepOwed = false

    /// `sveVQ`: the vCPU was created with SVE of that many quadwords (FakeArm64FPU).
    init(index: Int, entry: UInt64, breakpoints: Int, watchpoints: Int, sveVQ: Int? = nil) {
        self.index = index
        breakpointSlots = breakpoints
        watchpointSlots = watchpoints
        registers.pc = entry
        registers.fp = FakeArm64FPU(sveVQ: sveVQ)
        registers.debug = FakeGuestDebugRegisters(breakpoints: breakpoints, watchpoints: watchpoints)
        // Boot convention: X0 = vCPU index, so an SMP guest can tell its vCPUs apart.
        registers.x[0] = UInt64(index)
    }

    var programCounter: UInt64 { registers.pc }

    /// The guest's own debug registers: what its MSRs wrote, what ONE_REG serves.
    var guestDebug: FakeGuestDebugRegisters {
        get { registers.debug }
        set { registers.debug = newValue }
    }

    func setProgramCounter(_ pc: UInt64) { registers.pc = pc }

    /// The stack pointer not in use (the interpreter's `sp` is the current one).
    private var otherSP: UInt64 = 0

    var registerFile: RegisterFile {
        var f = Arm64RegisterFile()
        f.x = registers.x
        f.pc = registers.pc
        f.pstate = registers.pstate
        f.currentSP = registers.sp
        f.inactiveSP = otherSP
        for sr in FakeArm64SystemRegister.allCases { f[sr.kvmRegister] = registers.read(sr) }
        return .arm64(f)
    }

    func setRegisterFile(_ file: RegisterFile) throws(DebugError) {
        guard case .arm64(let f) = file else { throw .unsupported(reason: "x86 registers passed to an arm64 vCPU") }
        registers.x = f.x
        registers.pc = f.pc
        registers.pstate = f.pstate
        registers.sp = f.currentSP
        otherSP = f.inactiveSP
        for sr in FakeArm64SystemRegister.allCases { registers.write(sr, f[sr.kvmRegister]) }
    }

    func register(_ name: String) -> UInt64? {
        switch name {
        case "sp": return registers.sp
        case "pc": return registers.pc
        case "pstate": return registers.pstate
        default:
            if let sr = FakeArm64SystemRegister(name: name) { return registers.read(sr) }
            guard name.first == "x", let n = Int(name.dropFirst()), (0...30).contains(n),
                  name == "x\(n)" else { return nil }
            return registers.x[n]
        }
    }

    func setRegister(_ name: String, _ value: UInt64) -> Bool {
        switch name {
        case "sp": registers.sp = value
        case "pc": registers.pc = value
        case "pstate": registers.pstate = value
        default:
            if let sr = FakeArm64SystemRegister(name: name) {
                registers.write(sr, value)
                return true
            }
            guard name.first == "x", let n = Int(name.dropFirst()), (0...30).contains(n),
                  name == "x\(n)" else { return false }
            registers.x[n] = value
        }
        return true
    }

    func install(_ state: GuestDebugState) throws(DebugError) {
        guard case .arm64(let regs) = state.registers else {
            throw .unsupported(reason: "x86 debug registers passed to an arm64 vCPU")
        }
        // guest.c: control bits outside KVM_GUESTDBG_VALID_MASK fail with EINVAL, nothing changed.
        guard state.control.rawValue & ~GuestDebugControl.arm64ValidMask.rawValue == 0 else {
            throw kvmError("KVM_SET_GUEST_DEBUG", FakeErrno.einval)
        }
        if state.control.contains(.enable) {
            control = state.control
        } else {
            // Debugging off: all flags and the pending-step state go.
            control = []
            stepOwed = false
        }
        debugUnit = control.contains(.arm64UseHardware)
            ? FakeArm64DebugUnit(bcr: regs.bcr, bvr: regs.bvr, wcr: regs.wcr, wvr: regs.wvr,
                                 breakpoints: breakpointSlots, watchpoints: watchpointSlots)
            : .reset
        if !control.contains(.singleStep) { stepOwed = false }
    }

    func run(memory: FakeMemory, budget: inout FakeRunBudget) throws(DebugError) -> VCPUExit {
        // KVM completes an MMIO access first (kvm_handle_mmio_return), even with
        // immediate_exit, and advances whatever PC is current by 4 (the lane's gotcha 1).
        if let p = pendingMMIO {
            pendingMMIO = nil
            // kvm_handle_mmio_return: a load's register gets kvm_run.mmio.data (zero-extended:
            // the fake has no sign-extending loads), then the PC moves past the instruction.
            if p.isLoad {
                var v: UInt64 = 0
                for (i, b) in mmioData.prefix(p.size).enumerated() { v |= UInt64(b) << UInt64(8 * i) }
                registers.write(p.rt, v)
            }
            registers.pc &+= 4
            stepOwed = control.contains(.singleStep)
        }
        if budget.kick.consume() { return .interrupted }
        if stepOwed {
            stepOwed = false
            return .debug(.arm64(esr: Self.esrSoftwareStep, far: lastFAR, pc: registers.pc))
        }
        while !budget.exhausted() {
            if let exit = try step(memory: memory, budget: &budget) { return exit }
        }
        return .interrupted
    }

    /// A synchronous exception taken to EL1 from the current PSTATE: ESR_EL1, ELR_EL1 = PC,
    /// SPSR_EL1 = PSTATE, PSTATE = EL1h with DAIF masked (NZCV kept), PC = VBAR_EL1 +
    /// 0x0 (from EL1t), 0x200 (EL1h) or 0x400 (EL0, AArch64).
    private func takeExceptionToEL1(esr: UInt64) throws(DebugError) {
        let offset: UInt64
        switch registers.pstate & 0x1F {
        case 0b00100: offset = 0
        case 0b00101: offset = 0x200
        case 0b00000: offset = 0x400
        default:
            throw .unsupported(reason: "exception from PSTATE mode \(hex(registers.pstate & 0x1F)) on vCPU \(index): the fake models EL0t, EL1t and EL1h only")
        }
        registers.write(.esrEL1, esr)
        registers.write(.elrEL1, registers.pc)
        registers.write(.spsrEL1, registers.pstate)
        registers.pstate = (registers.pstate & 0xF000_0000) | 0x3C5
        registers.pc = (registers.read(.vbarEL1) & ~0x7FF) &+ offset
    }

    /// One instruction with the checks in architectural priority order; nil = keep running.
    private func step(memory: FakeMemory, budget: inout FakeRunBudget) throws(DebugError) -> VCPUExit? {
        let pc = registers.pc
        guard pc & 3 == 0 else {
            throw .unsupported(reason: "PC \(hex(pc)) on vCPU \(index) is not 4-byte aligned: the guest would take a PC alignment fault through a vector table the fake does not model")
        }
        // With the MMU on, fetches and data accesses go through the guest's own tables.
        guard let fetchPA = try FakeArm64MMU.translate(pc, registers: registers, memory: memory) else {
            throw .unsupported(reason: "instruction fetch at \(hex(pc)) on vCPU \(index) faults in the guest's page tables: the fake does not model the abort")
        }
        // Fetching from an IPA no memslot backs is a stage-2 instruction abort, which ranks above
        // breakpoints. KVM does not exit for it: it injects an external prefetch abort into the
        // guest (kvm_handle_guest_abort: -ENOEXEC, kvm_inject_pabt) with FAR_EL1 = the pc. A
        // vector table in such a hole takes it again at every entry: the vCPU spins inside
        // KVM_RUN until kicked (the `vbar-hole` crash guest).
        // A protected page left out of the slots (a hole, for a read watch) is such an IPA too.
        guard memory.protection(at: fetchPA) != .hole, let word = memory.load(fetchPA, size: 4) else {
            registers.write(.farEL1, pc)
            try takeExceptionToEL1(esr: registers.pstate & 0x1F == 0 ? Self.esrPrefetchAbortLower : Self.esrPrefetchAbort)
            budget.retired()
            return nil
        }
        let hardware = control.contains(.arm64UseHardware)
        // 1. Breakpoints are taken before the instruction, also while stepping.
        if hardware, debugUnit.breakpointHit(pc: pc) != nil {
            return .debug(.arm64(esr: Self.esrBreakpoint, far: lastFAR, pc: pc))
        }
        let insn = try FakeArm64Interpreter.decode(UInt32(word), pc: pc)
        try FakeArm64Interpreter.checkModelled(insn, registers: registers)
        // 2. BRK: with TDE set it goes to the host whether or not USE_SW_BP is set.
        if case .brk(let imm) = insn {
            if control.contains(.enable) {
                return .debug(.arm64(esr: Self.esrBRK | UInt64(imm), far: lastFAR, pc: pc))
            }
            // Debugging off: the guest takes its own BRK at EL1 (AArch64.TakeException).
            try takeExceptionToEL1(esr: Self.esrBRK | UInt64(imm))
            budget.retired()
            return nil
        }
        // HVC goes to KVM's PSCI; the exit's PC is past the HVC (its preferred return address).
        if case .hvc = insn {
            let function = registers.read(0) & 0xFFFF_FFFF
            guard function == Self.psciSystemOff || function == Self.psciSystemReset else {
                throw .unsupported(reason: "HVC with x0 = \(hex(function)) at \(hex(pc)) on vCPU \(index): the fake models PSCI SYSTEM_OFF and SYSTEM_RESET only")
            }
            registers.write(0, UInt64(bitPattern: -6))
            for n in 1...3 { registers.write(n, 0) }
            registers.pc = pc &+ 4
            budget.retired()
            return .systemEvent(type: function == Self.psciSystemOff ? 1 : 2, data: [0])
        }
        // 3. Watchpoints are taken before the access: memory unchanged, PC = the access.
        var dataOffset: UInt64 = 0
        if var access = FakeArm64Interpreter.access(insn, registers: registers) {
            if hardware, let far = debugUnit.watchpointHit(access) {
                // An access to a page kvmdbg protected takes its stage-2 abort before the
                // watchpoint, as QEMU's TCG orders them under the arm64 lane's emulated EL2
                // (measured: the MMIO exit came, the watchpoint did not).
                if let exit = try stage2Abort(insn, access, pc: pc, memory: memory) { return exit }
                lastFAR = far
                return .debug(.arm64(esr: Self.esrWatchpoint | (access.isWrite ? 1 << 6 : 0), far: far, pc: pc))
            }
            // An unaligned access takes an alignment fault to the guest's own EL1 vector (a
            // stage-1 fault: KVM never sees it) when SCTLR_EL1.A (bit 1) is set, or with the MMU
            // off, where data accesses are Device memory. (Not on a host with FEAT_S2FWB: KVM sets
            // HCR_EL2.FWB and its stage 2 forces Normal memory, so there only A faults; the fake
            // models the host without it.)
            let sctlr = registers.read(.sctlrEL1)
            guard access.address % UInt64(FakeArm64Interpreter.elementSize(insn)) == 0 || (sctlr & 1 != 0 && sctlr & 2 == 0) else {
                registers.write(.farEL1, access.address)
                try takeExceptionToEL1(esr: Self.esrAlignmentFault | (access.isWrite ? 1 << 6 : 0))
                budget.retired()
                return nil
            }
            // Watchpoints compare virtual addresses; memory is reached through the translation.
            let va = access.address
            guard let pa = try FakeArm64MMU.translate(va, registers: registers, memory: memory) else {
                throw .unsupported(reason: "\(access.size)-byte access to \(hex(va)) at \(hex(pc)) on vCPU \(index) faults in the guest's page tables: the fake does not model the abort")
            }
            guard (va & 0xFFF) + UInt64(access.size) <= 0x1000 || pa == va else {
                throw .unsupported(reason: "\(access.size)-byte access to \(hex(va)) at \(hex(pc)) crosses a page with the MMU on: the fake translates one page per access")
            }
            dataOffset = pa &- va
            access.address = pa
            if let exit = try protectedAccess(insn, access, pc: pc, memory: memory) { return exit }
            if !memory.contains(access.address, access.size) {
                guard case .loadStore(_, let isLoad, _, _, let rt) = insn else {
                    throw .unsupported(reason: "\(access.size)-byte access to \(hex(access.address)) at \(hex(pc)) on vCPU \(index) is outside RAM: the fake completes MMIO only for LDR/STR (unsigned offset)")
                }
                pendingMMIO = (rt, access.size, isLoad)
                return .mmio(address: access.address, isWrite: access.isWrite, length: access.size, pc: pc)
            }
        }
        // 4. Execute.
        FakeArm64Interpreter.execute(insn, registers: &registers, memory: memory, vcpu: index, dataOffset: dataOffset)
        budget.retired()
        // KVM would block in WFI until an interrupt; the fake ends the run instead.
        if case .wfi = insn { return .halt(pc: registers.pc) }
        // 5. The step exception after one retired instruction.
        if control.contains(.singleStep) {
            return .debug(.arm64(esr: Self.esrSoftwareStep, far: lastFAR, pc: registers.pc))
        }
        return nil
    }


    /// The protected-page exit `access` makes, where it is aligned and translates (a stage-1
    /// fault comes first and is the interpreter's to take); nil otherwise.
    private func stage2Abort(_ insn: FakeArm64Interpreter.Instruction, _ access: FakeAccess, pc: UInt64,
                             memory: FakeMemory) throws(DebugError) -> VCPUExit? {
        let sctlr = registers.read(.sctlrEL1)
        guard access.address % UInt64(FakeArm64Interpreter.elementSize(insn)) == 0 || (sctlr & 1 != 0 && sctlr & 2 == 0),
              let pa = try? FakeArm64MMU.translate(access.address, registers: registers, memory: memory) else { return nil }
        var physical = access
        physical.address = pa
        return try protectedAccess(insn, physical, pc: pc, memory: memory)
    }

    /// ESR ISS bits of a stage-2 data abort the fake reports (KVM keeps CM, WnR and FSC for
    /// KVM_EXIT_ARM_NISV: kvm_vcpu_dabt_iss_nisv_sanitized): WnR is bit 6; FSC is given as a
    /// level-3 translation fault (0x07), the fake keeping no stage-2 tables to say otherwise.
    static let issWnR: UInt64 = 1 << 6, issTranslationFaultL3: UInt64 = 0x07

    /// An access to a page kvmdbg protected (a read-only slot, or a hole), as KVM reports it:
    /// a load from a read-only page runs; otherwise a single-register load or store without
    /// writeback (ESR_EL2.ISV = 1) exits KVM_EXIT_MMIO at the instruction, a store's bytes in
    /// `mmioData`, completed on the next KVM_RUN; anything else (ldp/stp, pre/post-index: ISV = 0)
    /// exits KVM_EXIT_ARM_NISV with the first protected byte, or fails KVM_RUN with ENOSYS when
    /// the VM did not enable KVM_CAP_ARM_NISV_TO_USER (io_mem_abort, arch/arm64/kvm/mmio.c). Nil: no exit.
    private func protectedAccess(_ insn: FakeArm64Interpreter.Instruction, _ access: FakeAccess, pc: UInt64,
                                 memory: FakeMemory) throws(DebugError) -> VCPUExit? {
        let fragments = memory.protectedFragments(access.address, access.size)
        guard let first = fragments.first(where: { access.isWrite || $0.protection == .hole }) else { return nil }
        let single: (isLoad: Bool, rt: Int)?
        switch insn {
        case .loadStore(_, let isLoad, _, _, let rt): single = (isLoad, rt)
        case .loadStoreIndexed(_, let isLoad, _, let index, _, let rt) where index == .offset: single = (isLoad, rt)
        default: single = nil
        }
        if let (isLoad, rt) = single {
            pendingMMIO = (rt, access.size, isLoad)
            var data = [UInt8](repeating: 0, count: 8)
            if !isLoad {
                let v = registers.read(rt)
                for i in 0..<access.size { data[i] = UInt8(truncatingIfNeeded: v >> UInt64(8 * i)) }
            }
            mmioData = data
            return .mmio(address: access.address, isWrite: !isLoad, length: access.size, pc: pc)
        }
        guard nisvToUser else { throw kvmError("KVM_RUN", FakeErrno.enosys) }
        return .armNISV(faultIPA: first.address, esrISS: (access.isWrite ? Self.issWnR : 0) | Self.issTranslationFaultL3, pc: pc)
    }
}
