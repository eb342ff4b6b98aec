import KVMDebugModel

/// An instruction whose data access touches a protected page, as KVM's emulator carries it
/// through its MMIO exits: first one exit per hole fragment it loads (RIP at the
/// instruction; `kvm_run.mmio.data` supplies the bytes), then the instruction runs, then
/// one exit per protected fragment it stores (the store not done, RIP past it). Parts on
/// ordinary pages are read and written directly, as KVM does for a store straddling a page edge.
struct FakeProtectedAccess {
    var instruction: FakeX86Interpreter.Instruction
    /// Linear pc of the instruction.
    var pc: UInt64
    /// Physical address and size of the instruction's data access.
    var physical: UInt64
    var size: Int
    /// Hole fragments still to exit for (loads).
    var reads: [(address: UInt64, length: Int)]
    /// The load exit the guest waits on now.
    var pendingRead: (address: UInt64, length: Int)?
    /// What userspace supplied for each load exit.
    var readData: [(address: UInt64, bytes: [UInt8])] = []
    /// Store exits still to make, with their bytes.
    var writes: [(address: UInt64, bytes: [UInt8])] = []
    var executed = false
    /// The single-step trap flag was on when the instruction executed.
    var stepping = false
    /// Some of its bytes went out through a store exit.
    var stored = false

    init?(_ insn: FakeX86Interpreter.Instruction, pc: UInt64, physical: UInt64, memory: FakeMemory) {
        guard let access = insn.access else { return nil }
        let fragments = memory.protectedFragments(physical, access.size)
        // A load from a read-only page, or any access to ordinary pages only: no exit.
        let exits = fragments.contains { $0.protection == .hole || access.isWrite }
        guard exits else { return nil }
        instruction = insn
        self.pc = pc
        self.physical = physical
        size = access.size
        reads = insn.loads ? fragments.filter { $0.protection == .hole }.map { ($0.address, $0.length) } : []
    }
}

extension FakeX86Interpreter.Instruction {
    /// True when the instruction reads its memory operand (a load, or a read-modify-write).
    var loads: Bool {
        switch operation {
        case .mov(.memory, _), .push, .call: return false
        default: return access != nil
        }
    }
}
