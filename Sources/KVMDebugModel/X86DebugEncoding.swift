// x86 debug-register encoding for KVM_SET_GUEST_DEBUG (debugreg[0..3], debugreg[7])
// and decoding of KVM_EXIT_DEBUG (exception, pc, dr6).
//
// Sources:
// - Intel SDM vol. 3, §18.2 "Debug Registers": DR0-DR3 addresses, DR6 status
//   (B0-B3 bits 0-3, BD bit 13, BS bit 14), DR7 control (L<i> bit 2i, G<i> bit 2i+1,
//   R/W<i> bits 16+4i, LEN<i> bits 18+4i; bit 10 reads as 1; §18.2.5: a breakpoint
//   address must be aligned to its length, and execute breakpoints need LEN = 00).
// - Linux tools/testing/selftests/kvm/x86/debug_regs.c: debugreg[7] = 0x400 | enable |
//   (0xd0000 << 4i) for a 4-byte write watch in DR<i>; expected DR6 = 0xffff0ff0 | 1 << i.
// - arch/x86/kvm/x86.c: KVM copies debugreg[0..3] and debugreg[7] without validation;
//   on #BP exits it does not write dr6/dr7 (they are stale).

/// The decoded fields of one DR7 slot (see `X86DebugEncoding.dr7Slot`).
public struct X86DR7Slot: Sendable, Hashable {
    /// L<i> (bit 2i).
    public var localEnable: Bool
    /// G<i> (bit 2i+1).
    public var globalEnable: Bool
    /// R/W<i>: 00 execute, 01 write, 10 I/O, 11 read/write.
    public var condition: UInt64
    /// LEN<i>: 00 = 1 byte, 01 = 2, 10 = 8, 11 = 4.
    public var lengthCode: UInt64

    public init(localEnable: Bool, globalEnable: Bool, condition: UInt64, lengthCode: UInt64) {
        self.localEnable = localEnable
        self.globalEnable = globalEnable
        self.condition = condition
        self.lengthCode = lengthCode
    }

    /// True when either enable bit is set (the CPU and KVM's emulator test `enable & 3`).
    public var isEnabled: Bool { localEnable || globalEnable }
    /// The watched length in bytes.
    public var length: UInt64 { X86DebugEncoding.lengthBytes(forCode: lengthCode) }
}

/// Encodes hardware debug points into DR0-DR3/DR7 and decodes x86 debug exits.
///
/// Enable bits: kvmdbg sets the *local* enable L<i>. The CPU fires on either L<i> or G<i>;
/// the only architectural difference is that a hardware task switch clears L0-L3 (SDM
/// §18.2.4). Under KVM that cannot touch these values: a guest task switch always exits
/// and is emulated (arch/x86/kvm/emulate.c `emulator_do_task_switch`), which clears the L
/// bits of the *guest's* DR7 (`vcpu->arch.dr7`) only; with KVM_GUESTDBG_USE_HW_BP,
/// `kvm_update_dr7` loads `guest_debug_dr7` (our value) again. KVM's emulator checks
/// `enable & 3` (`kvm_vcpu_check_hw_bp`), so L works there too. Local enables are also what
/// GDB's x86 debug-register code uses (`X86_DR_LOCAL_ENABLE` in gdb/nat/x86-dregs.c); the
/// kernel selftest and QEMU use G, and both work.
///
/// LE/GE (bits 8/9) are not set: P6 and later processors ignore them (SDM §18.2.4), and
/// the selftest's data breakpoints fire without them.
public enum X86DebugEncoding {
    // MARK: Constants

    /// Number of address debug registers (DR0-DR3; KVM_NR_DB_REGS = 4).
    public static let slotCount = 4
    /// DR7 bit 10 reads as 1 (`DR7_FIXED_1`); always set it.
    public static let dr7Fixed: UInt64 = 0x400
    /// DR7.GD (bit 13), general detect. kvmdbg never sets it.
    public static let dr7GeneralDetect: UInt64 = 1 << 13
    /// DR6.B0-B3 (bits 0-3): breakpoint condition <i> was met.
    public static let dr6B0: UInt64 = 1 << 0
    public static let dr6B1: UInt64 = 1 << 1
    public static let dr6B2: UInt64 = 1 << 2
    public static let dr6B3: UInt64 = 1 << 3
    /// B0 | B1 | B2 | B3.
    public static let dr6BreakpointMask: UInt64 = 0xF
    /// DR6.BD (bit 13): debug-register access detected (DR7.GD).
    public static let dr6BD: UInt64 = 1 << 13
    /// DR6.BS (bit 14): single step.
    public static let dr6BS: UInt64 = 1 << 14
    /// `exception` of a #DB exit (DB_VECTOR).
    public static let debugException: UInt32 = 1
    /// `exception` of a #BP exit (BP_VECTOR, int3).
    public static let breakpointException: UInt32 = 3
    /// R/W codes (SDM §18.2.4). 10 (I/O) is not used by kvmdbg.
    public static let conditionExecute: UInt64 = 0b00
    public static let conditionWrite: UInt64 = 0b01
    public static let conditionIO: UInt64 = 0b10
    public static let conditionReadWrite: UInt64 = 0b11

    // MARK: Field helpers

    /// DR6.B<slot>.
    public static func dr6Breakpoint(_ slot: Int) -> UInt64 { UInt64(1) << UInt64(slot & 3) }
    /// DR7.L<slot> (bit 2*slot).
    public static func localEnable(slot: Int) -> UInt64 { UInt64(1) << UInt64(2 * (slot & 3)) }
    /// DR7.G<slot> (bit 2*slot+1).
    public static func globalEnable(slot: Int) -> UInt64 { UInt64(1) << UInt64(2 * (slot & 3) + 1) }
    /// Bit position of R/W<slot> (LEN<slot> is 2 above).
    public static func conditionShift(slot: Int) -> UInt64 { UInt64(16 + 4 * (slot & 3)) }

    /// The R/W code for a hardware point: 00 execute, 01 write, 11 read/write.
    /// `.read` is 11 too: x86 has no read-only data breakpoint (10 is I/O), so the
    /// Debugger filters read hits by value, as GDB does for `rwatch`. nil for software points.
    public static func condition(for point: DebugPoint) -> UInt64? {
        switch point {
        case .software: return nil
        case .hardware: return conditionExecute
        case .watch(_, _, let kind):
            switch kind {
            case .write: return conditionWrite
            case .read, .access: return conditionReadWrite
            }
        }
    }

    /// LEN code for a length: 1 -> 00, 2 -> 01, 4 -> 11, 8 -> 10; nil otherwise.
    public static func lengthCode(forBytes bytes: UInt64) -> UInt64? {
        switch bytes {
        case 1: return 0b00
        case 2: return 0b01
        case 4: return 0b11
        case 8: return 0b10
        default: return nil
        }
    }

    /// Bytes for a LEN code (only the low 2 bits are looked at).
    public static func lengthBytes(forCode code: UInt64) -> UInt64 {
        switch code & 3 {
        case 0b00: return 1
        case 0b01: return 2
        case 0b11: return 4
        default: return 8
        }
    }

    /// The DR7 bits one armed slot contributes: L<slot>, R/W<slot>, LEN<slot>.
    public static func dr7Bits(slot: Int, condition: UInt64, lengthCode: UInt64) -> UInt64 {
        let shift = conditionShift(slot: slot)
        return localEnable(slot: slot) | (condition & 3) << shift | (lengthCode & 3) << (shift + 2)
    }

    /// Decodes slot `slot` of a DR7 value.
    public static func dr7Slot(_ dr7: UInt64, slot: Int) -> X86DR7Slot {
        let shift = conditionShift(slot: slot)
        return X86DR7Slot(
            localEnable: dr7 & localEnable(slot: slot) != 0,
            globalEnable: dr7 & globalEnable(slot: slot) != 0,
            condition: (dr7 >> shift) & 3,
            lengthCode: (dr7 >> (shift + 2)) & 3)
    }

    // MARK: Pieces

    /// The naturally aligned pieces (1/2/4/8 bytes) one point needs on x86.
    ///
    /// Execute breakpoint -> one piece (addr, 1). Software points -> []. A watch is split
    /// greedily into the largest naturally aligned block at each position, which gives the
    /// fewest pieces that cover exactly the range. Throws `.unencodableWatch` when the
    /// length is 0, the range wraps, or it needs more than the 4 debug registers.
    public static func pieces(of point: DebugPoint) throws(DebugError) -> [WatchPiece] {
        switch point {
        case .software: return []
        case .hardware(let a): return [WatchPiece(address: a, length: 1)]
        case .watch(let a, let len, _):
            try WatchPiece.checkRange(address: a, length: len, arch: .x86_64)
            let split = WatchSplitter.split(address: a, length: len, rule: .x86, limit: slotCount)
            if split.total > UInt64(slotCount) {
                throw .unencodableWatch(
                    address: a, length: len, arch: .x86_64,
                    reason: "x86 debug registers each watch one naturally aligned 1, 2, 4 or 8 bytes; this range needs \(split.total) of them, more than the \(slotCount) (DR0-DR3); watch at most 32 bytes from an 8-byte aligned address, or a shorter range")
            }
            return split.pieces
        }
    }

    // MARK: Encode

    /// Encodes hardware points (software points ignored) into DR0-DR3 + DR7 for one vCPU.
    ///
    /// Slots are assigned in the order of `points`, piece by piece. Unused DRn are 0 and
    /// contribute nothing to DR7; DR7 always has bit 10 set and bits 63:32 zero. Throws
    /// `.noFreeSlot(kind: .debugRegister)` when the pieces exceed `capacity.breakpoints`
    /// (clamped to the 4 architectural registers).
    public static func encode(_ points: [DebugPoint], capacity: SlotCapacity, vcpu: Int) throws(DebugError) -> EncodedDebugRegisters {
        var planned: [(point: DebugPoint, piece: WatchPiece)] = []
        for point in points where point.usesHardwareSlot {
            for piece in try pieces(of: point) { planned.append((point, piece)) }
        }
        let cap = max(0, min(capacity.breakpoints, slotCount))
        if planned.count > cap {
            throw .noFreeSlot(vcpu: vcpu, kind: .debugRegister, capacity: cap, needed: planned.count)
        }
        var regs = X86DebugRegisters(address: [0, 0, 0, 0], dr7: dr7Fixed)
        var slots: [SlotUse] = []
        for (i, use) in planned.enumerated() {
            // usesHardwareSlot guarantees a condition; lengths come from WatchSplitter (1/2/4/8).
            let cond = condition(for: use.point) ?? conditionExecute
            let len = lengthCode(forBytes: use.piece.length) ?? 0
            regs.address[i] = use.piece.address
            regs.dr7 |= dr7Bits(slot: i, condition: cond, lengthCode: len)
            slots.append(SlotUse(kind: .debugRegister, slot: i, point: use.point,
                                 address: use.piece.address, length: use.piece.length))
        }
        return EncodedDebugRegisters(registers: .x86(regs), slots: slots)
    }

    // MARK: Decode

    /// Decodes a KVM_EXIT_DEBUG.
    ///
    /// - exception 3 (#BP): one `.softwareBreakpoint` hit at `pc`; DR6 is not looked at
    ///   (KVM does not write it on #BP exits, so it is stale).
    /// - exception 1 (#DB): one hit per B0-B3 bit whose slot is in `slots`
    ///   (`.hardwareBreakpoint` for execute slots, `.watchpoint` with the slot's start
    ///   address for data slots; B bits of other slots are ignored, since the CPU may set
    ///   them for disabled comparators, SDM §18.2.3); BS -> `.singleStep`; BD -> `.unknown`
    ///   (kvmdbg never sets DR7.GD). Only B0-B3, BD and BS are read: the other DR6 bits
    ///   differ between Intel, AMD and PVM. Several hits of one point (a split watch
    ///   firing two pieces) give one hit. Nothing matched -> one `.unknown` hit.
    /// - any other exception: one `.unknown` hit.
    public static func decode(exception: UInt32, pc: UInt64, dr6: UInt64, slots: [SlotUse]) -> [StopHit] {
        switch exception {
        case breakpointException:
            return [StopHit(reason: .softwareBreakpoint, point: .software(address: pc))]
        case debugException:
            var hits: [StopHit] = []
            // A trap exit (single step, or a data breakpoint) reports the previous
            // instruction. An execute-breakpoint B bit in it belongs to the *next*
            // instruction, which has not run: that fault is raised again on re-entry
            // (RF is clear). QEMU's model folds such bits into the trap (BS|B0, B0|B2);
            // silicon and PVM report them in their own exit. Dropping them here makes
            // every flavour report the breakpoint once, in its own stop.
            let trap = dr6 & dr6BS != 0 || slots.contains { $0.kind == .debugRegister && $0.point.isWatch && dr6 & dr6Breakpoint($0.slot) != 0 }
            for i in 0..<slotCount where dr6 & dr6Breakpoint(i) != 0 {
                guard let use = slots.first(where: { $0.kind == .debugRegister && $0.slot == i }) else { continue }
                if trap && !use.point.isWatch { continue }
                let hit: StopHit
                if use.point.isWatch {
                    hit = StopHit(reason: .watchpoint, point: use.point, slot: i, address: use.address)
                } else {
                    hit = StopHit(reason: .hardwareBreakpoint, point: use.point, slot: i)
                }
                if !hits.contains(where: { $0.reason == hit.reason && $0.point == hit.point }) {
                    hits.append(hit)
                }
            }
            if dr6 & dr6BS != 0 { hits.append(StopHit(reason: .singleStep)) }
            if dr6 & dr6BD != 0 || hits.isEmpty { hits.append(StopHit(reason: .unknown)) }
            return hits
        default:
            return [StopHit(reason: .unknown)]
        }
    }
}
