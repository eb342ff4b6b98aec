import KVMDebugModel

/// Exception delivery through the guest's IDT in 64-bit mode (Intel SDM vol. 3 ch. 6.12-6.14),
/// so the fake's guests fault as KVM's do: a valid gate runs the guest's handler; a gate beyond
/// IDTR.limit or not present raises #GP or #NP, and the double-fault rules (SDM table 6-5) end in
/// #DF and then a triple fault, which KVM reports as KVM_EXIT_SHUTDOWN with RIP still at the
/// faulting instruction (measured on PVM; VMX keeps the guest state too).
///
/// Modelled: 16-byte interrupt (type 0xE) and trap (0xF) gates, a CPL0 handler on the same stack
/// (no IST, no stack switch), the frame SS, RSP, RFLAGS, CS, RIP and the error code pushed on the
/// stack aligned down to 16, CR2 for #PF, IF cleared by an interrupt gate. Not modelled: IST,
/// privilege changes, the gate's selector (the flat code segment is assumed).
extension FakeX86CPU {
    /// #DE, #TS, #NP, #SS, #GP: the contributory class; #PF its own (SDM table 6-4).
    private static let contributory: Set<UInt8> = [0, 10, 11, 12, 13]

    /// Raises exception `vector` at the current instruction: nil when a handler now runs (the
    /// guest goes on), `.shutdown` when delivery failed all the way to a triple fault.
    func raise(_ vector: UInt8, errorCode: UInt64?, cr2: UInt64? = nil, memory: FakeMemory) -> VCPUExit? {
        guard mode == .long else { return .shutdown }  // real mode's IVT is not modelled
        if let cr2 { special.cr2 = cr2 }
        var v = vector, code = errorCode
        var first = true
        while true {
            if let failure = deliver(v, errorCode: code, memory: memory) {
                if v == 8 { return .shutdown }  // a fault while delivering #DF: triple fault
                // Benign first exception: the delivery fault is handled serially (#GP or #NP);
                // contributory or #PF followed by a contributory or #PF: #DF (error code 0).
                let firstBad = Self.contributory.contains(v) || v == 14
                if first && !firstBad {
                    v = failure.vector
                    code = failure.errorCode
                } else {
                    v = 8
                    code = 0
                }
                first = false
                continue
            }
            return nil
        }
    }

    /// Pushes the frame and jumps to the gate's handler; the fault delivery raised otherwise
    /// (#GP for a gate beyond the limit, #NP for one not present, #PF for an unmapped stack
    /// taken as #GP here: the double-fault rules treat both as contributory).
    private func deliver(_ v: UInt8, errorCode: UInt64?, memory: FakeMemory) -> (vector: UInt8, errorCode: UInt64)? {
        // The error code of a fault on an IDT gate: the vector as a selector index with IDT (bit 1).
        let gateFault = UInt64(v) << 3 | 2
        let offset = UInt64(v) * 16
        guard offset + 15 <= idt.limit else { return (13, gateFault) }
        guard let lowPA = physical(idt.base &+ offset, memory: memory), let low = memory.load(lowPA, size: 8),
              let highPA = physical(idt.base &+ offset &+ 8, memory: memory), let high = memory.load(highPA, size: 8)
        else { return (13, gateFault) }
        let type = (low >> 40) & 0xF
        guard (low >> 47) & 1 == 1 else { return (11, gateFault) }
        guard type == 0xE || type == 0xF else { return (13, gateFault) }
        let target = (low & 0xFFFF) | ((low >> 48) & 0xFFFF) << 16 | (high & 0xFFFF_FFFF) << 32
        var frame: [UInt64] = [UInt64(special.ss.selector), registers.gpr[4], registers.rflags,
                               UInt64(special.cs.selector), registers.rip]
        if let errorCode { frame.append(errorCode) }
        // Every slot translated before any is written: a failed push leaves memory as it was.
        var sp = registers.gpr[4] & ~0xF
        var slots: [UInt64] = []
        for _ in frame {
            sp &-= 8
            guard let p = physical(sp, memory: memory), memory.contains(p, 8) else { return (13, 0) }
            slots.append(p)
        }
        for (p, value) in zip(slots, frame) { _ = memory.store(p, size: 8, value) }
        registers.gpr[4] = sp
        registers.rip = target
        // TF, RF and NT clear; an interrupt gate also clears IF (SDM vol. 3 6.12.1.3).
        registers.rflags &= ~(UInt64(1) << 8 | 1 << 16 | 1 << 14 | (type == 0xE ? 1 << 9 : 0))
        return nil
    }
}
