// arm64 debug-register encoding for KVM_SET_GUEST_DEBUG (dbg_bcr/bvr/wcr/wvr[16]) and
// decoding of KVM_EXIT_DEBUG (hsr/hsr_high = ESR_EL2, far).
//
// Sources:
// - Arm ARM (DDI 0487), DBGBCR<n>_EL1: E[0], PMC[2:1], BAS[8:5] (RES1 in AArch64 state),
//   HMC[13], SSC[15:14], LBN[19:16], BT[23:20] (0b0000 = unlinked address match).
// - Arm ARM, DBGBVR<n>_EL1 / DBGWVR<n>_EL1: [63:53] RESS (sign extension of the top VA
//   bit), [1:0] RES0; watchpoints compare a doubleword and select bytes with BAS.
// - Arm ARM, DBGWCR<n>_EL1: E[0], PAC[2:1], LSC[4:3] (01 load, 10 store, 11 both),
//   BAS[12:5], HMC[13], SSC[15:14], LBN[19:16], WT[20], MASK[28:24] (0 = no mask,
//   1 and 2 reserved, 3..31 = low address bits masked; BAS must be 0xFF with a MASK).
// - Arm ARM, ESR_ELx: EC[31:26]; for watchpoints ISS.WnR is bit 6.
// - Linux tools/testing/selftests/kvm/arm64/debug-exceptions.c (DBGWCR_RD = 1 << 3,
//   DBGWCR_WR = 2 << 3, DBGWCR_E = 1, EL1 privilege = 1 << 1).
// - QEMU target/arm/hyp_gdbstub.c: BCR = E | PMC 0b11 | BAS 0xF, BVR = sextract64(addr, 0, 53),
//   WVR = addr & ~7 with BAS bits per byte, or MASK = log2(len) with BAS 0xFF.
// - Measured (shared/arm64-lane/NOTES.md): BCR 0x1e7 and WCR 0x1ff7 fire; single step
//   hsr 0xcb000022; brk #0 hsr 0xf2000000.

/// Encodes hardware debug points into the arm64 DBGB*/DBGW* registers and decodes debug exits.
///
/// Privilege: PMC/PAC = 0b11 with HMC = 0 and SSC = 0 match EL1 and EL0 in any security
/// state (the selftest uses 0b01, EL1 only; QEMU and kvmdbg want guest user code too).
public enum Arm64DebugEncoding {
    // MARK: Constants

    /// KVM_ARM_MAX_DBG_REGS: the UAPI carries 16 of each register.
    public static let maxSlots = 16
    /// Largest watch piece: MASK = 31 (2 GiB).
    public static let maxMask: UInt8 = 31

    /// The ESR exception classes (ESR_ELx.EC, bits 31:26) of debug exceptions.
    public enum ExceptionClass: UInt8, Sendable {
        /// Breakpoint from a lower EL (what the host sees for a guest): ESR_ELx_EC_BREAKPT_LOW.
        case breakpointLowerEL = 0x30
        /// Breakpoint at the current EL (a guest's own handlers; never seen by the host).
        case breakpointCurrentEL = 0x31
        /// Software step from a lower EL: ESR_ELx_EC_SOFTSTP_LOW.
        case softwareStepLowerEL = 0x32
        case softwareStepCurrentEL = 0x33
        /// Watchpoint from a lower EL: ESR_ELx_EC_WATCHPT_LOW.
        case watchpointLowerEL = 0x34
        case watchpointCurrentEL = 0x35
        /// BKPT from AArch32 state: ESR_ELx_EC_BKPT32.
        case bkpt32 = 0x38
        /// BRK from AArch64 state: ESR_ELx_EC_BRK64.
        case brk64 = 0x3C
    }

    // The raw EC values, for comparing with `esrClass`.
    public static let ecBreakpointLowerEL = ExceptionClass.breakpointLowerEL.rawValue
    public static let ecBreakpointCurrentEL = ExceptionClass.breakpointCurrentEL.rawValue
    public static let ecSoftwareStepLowerEL = ExceptionClass.softwareStepLowerEL.rawValue
    public static let ecSoftwareStepCurrentEL = ExceptionClass.softwareStepCurrentEL.rawValue
    public static let ecWatchpointLowerEL = ExceptionClass.watchpointLowerEL.rawValue
    public static let ecWatchpointCurrentEL = ExceptionClass.watchpointCurrentEL.rawValue
    public static let ecBKPT32 = ExceptionClass.bkpt32.rawValue
    public static let ecBRK64 = ExceptionClass.brk64.rawValue

    /// ESR_ELx.EC is bits 31:26.
    public static let esrClassShift: UInt64 = 26
    public static let esrClassMask: UInt64 = 0x3F
    /// ESR_ELx.ISS is bits 24:0.
    public static let esrISSMask: UInt64 = 0x1FF_FFFF
    /// ISS.WnR (bit 6) of a watchpoint ESR: 1 = the access was a write.
    public static let esrWnR: UInt64 = 1 << 6

    // MARK: Register helpers

    /// DBGBCR for an unlinked address-match breakpoint on one A64 instruction:
    /// E = 1, PMC = 0b11 (EL1 and EL0), BAS = 0b1111, HMC = SSC = LBN = BT = 0 -> 0x1E7.
    public static func breakpointControl() -> UInt64 {
        1 | 0b11 << 1 | 0b1111 << 5
    }

    /// The LSC field for a watch kind: 01 load (read), 10 store (write), 11 both (access).
    public static func loadStoreControl(_ kind: WatchKind) -> UInt64 {
        switch kind {
        case .read: return 0b01
        case .write: return 0b10
        case .access: return 0b11
        }
    }

    /// DBGWCR: E = 1, PAC = 0b11, LSC for `kind`, BAS[12:5] = `bas`, MASK[28:24] = `mask`
    /// (low 5 bits), HMC = SSC = LBN = WT = 0.
    public static func watchpointControl(kind: WatchKind, bas: UInt8, mask: UInt8) -> UInt64 {
        1 | 0b11 << 1 | loadStoreControl(kind) << 3 | UInt64(bas) << 5 | UInt64(mask & 0x1F) << 24
    }

    /// DBGBVR/DBGWVR value for a virtual address: bits 63:53 become copies of bit 52
    /// (RESS), as QEMU does with `sextract64(addr, 0, 53)`. Canonical addresses, user
    /// (0x0000...) or kernel (0xffff...), are unchanged.
    public static func valueRegister(_ address: UInt64) -> UInt64 {
        UInt64(bitPattern: Int64(bitPattern: address << 11) >> 11)
    }

    /// ESR.EC (bits 31:26) of an ESR value (hsr, or hsr | hsr_high << 32).
    public static func esrClass(_ esr: UInt64) -> UInt8 {
        UInt8(truncatingIfNeeded: (esr >> esrClassShift) & esrClassMask)
    }

    /// ESR.ISS (bits 24:0); for BRK64 its low 16 bits are the BRK immediate.
    public static func esrISS(_ esr: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: esr & esrISSMask)
    }

    /// The (DBGWCR, DBGWVR) pair that watches exactly `piece`, or nil if one pair cannot:
    /// 1-8 bytes inside one doubleword -> WVR = address & ~7, BAS = one bit per byte,
    /// MASK = 0; an aligned power-of-two block of 16 bytes to 2 GiB -> WVR = address,
    /// BAS = 0xFF, MASK = log2(length). (An aligned 8-byte piece uses BAS = 0xFF, MASK = 0.)
    public static func watchpointRegisters(for piece: WatchPiece, kind: WatchKind) -> (control: UInt64, value: UInt64)? {
        let a = piece.address
        let len = piece.length
        if len == 0 { return nil }
        if len <= 8 {
            let offset = a & 7
            if offset + len > 8 { return nil }
            let bas = UInt8(truncatingIfNeeded: ((UInt64(1) << len) - 1) << offset)
            return (watchpointControl(kind: kind, bas: bas, mask: 0), valueRegister(a & ~7))
        }
        guard len.nonzeroBitCount == 1 else { return nil }
        let mask = len.trailingZeroBitCount
        guard mask <= Int(maxMask), a & (len - 1) == 0 else { return nil }
        return (watchpointControl(kind: kind, bas: 0xFF, mask: UInt8(mask)), valueRegister(a))
    }

    /// The bytes an enabled DBGWCR/DBGWVR pair watches, or nil when disabled or not
    /// a form kvmdbg writes (reserved MASK 1-2, MASK with BAS != 0xFF, non-contiguous BAS).
    /// The address is the register value (sign-extended).
    public static func watchedRange(control wcr: UInt64, value wvr: UInt64) -> WatchPiece? {
        guard wcr & 1 != 0 else { return nil }
        let bas = (wcr >> 5) & 0xFF
        let mask = (wcr >> 24) & 0x1F
        if mask != 0 {
            guard mask >= 3, bas == 0xFF else { return nil }
            let size = UInt64(1) << mask
            return WatchPiece(address: wvr & ~(size - 1), length: size)
        }
        guard bas != 0 else { return nil }
        let first = UInt64(bas.trailingZeroBitCount)
        let run = bas >> first
        guard run & (run + 1) == 0 else { return nil } // contiguous ones
        return WatchPiece(address: (wvr & ~7) + first, length: UInt64(run.nonzeroBitCount))
    }

    // MARK: Pieces

    /// The pieces one point needs on arm64.
    ///
    /// Execute breakpoint: the address must be 4-byte aligned (DBGBVR[1:0] are RES0;
    /// else `.misaligned`) -> (addr, 4). Software points -> []. Watch: split greedily,
    /// at each position taking the largest piece one DBGWCR/DBGWVR pair can express exactly:
    /// at an 8-aligned position with 8 or more bytes left, the largest aligned power-of-two
    /// block (8 bytes to 2 GiB) that fits; otherwise the rest of the current doubleword.
    /// This gives the fewest pieces covering exactly the range. Throws `.unencodableWatch`
    /// for length 0, a range that wraps, or more than 16 pieces.
    public static func pieces(of point: DebugPoint) throws(DebugError) -> [WatchPiece] {
        switch point {
        case .software(let a):
            // A64 instructions are word-aligned: a BRK planted off a word boundary could never
            // run, and would overwrite half of a neighbouring one's patch (found by the fuzzer).
            if a & 3 != 0 { throw .misaligned(address: a, alignment: 4, what: "arm64 software breakpoint") }
            return []
        case .hardware(let a):
            if a & 3 != 0 { throw .misaligned(address: a, alignment: 4, what: "arm64 breakpoint") }
            return [WatchPiece(address: a, length: 4)]
        case .watch(let a, let len, _):
            try WatchPiece.checkRange(address: a, length: len, arch: .arm64)
            let split = WatchSplitter.split(address: a, length: len, rule: .arm64, limit: maxSlots)
            if split.total > UInt64(maxSlots) {
                throw .unencodableWatch(
                    address: a, length: len, arch: .arm64,
                    reason: "one watchpoint register pair covers up to 8 bytes inside one aligned doubleword, or one aligned power-of-two block (16 bytes to 2 GiB); a range over 8 bytes must be split into aligned power-of-two blocks; this needs \(split.total) slots, more than \(maxSlots); watch a power-of-two sized range aligned to its size, or a shorter one")
            }
            return split.pieces
        }
    }

    // MARK: Encode

    /// Encodes hardware points (software points ignored) into 16-entry bcr/bvr/wcr/wvr.
    ///
    /// Breakpoints take slots 0..<capacity.breakpoints and watch pieces slots
    /// 0..<capacity.watchpoints (separate pools), in the order of `points`. Unused entries
    /// are 0 (disabled). Throws `.noFreeSlot(kind: .breakpoint / .watchpoint)` naming
    /// `vcpu` when a pool is exceeded (capacities are clamped to 0...16).
    public static func encode(_ points: [DebugPoint], capacity: SlotCapacity, vcpu: Int) throws(DebugError) -> EncodedDebugRegisters {
        var planned: [(point: DebugPoint, piece: WatchPiece)] = []
        var breakpointCount = 0
        var watchCount = 0
        for point in points where point.usesHardwareSlot {
            for piece in try pieces(of: point) {
                planned.append((point, piece))
                if point.isWatch { watchCount += 1 } else { breakpointCount += 1 }
            }
        }
        let bcap = max(0, min(capacity.breakpoints, maxSlots))
        let wcap = max(0, min(capacity.watchpoints, maxSlots))
        if breakpointCount > bcap {
            throw .noFreeSlot(vcpu: vcpu, kind: .breakpoint, capacity: bcap, needed: breakpointCount)
        }
        if watchCount > wcap {
            throw .noFreeSlot(vcpu: vcpu, kind: .watchpoint, capacity: wcap, needed: watchCount)
        }
        var regs = Arm64DebugRegisters()
        var slots: [SlotUse] = []
        var nextBreakpoint = 0
        var nextWatch = 0
        for use in planned {
            switch use.point {
            case .watch(_, _, let kind):
                // Pieces from WatchSplitter are always expressible by one pair.
                guard let pair = watchpointRegisters(for: use.piece, kind: kind) else { continue }
                regs.wcr[nextWatch] = pair.control
                regs.wvr[nextWatch] = pair.value
                slots.append(SlotUse(kind: .watchpoint, slot: nextWatch, point: use.point,
                                     address: use.piece.address, length: use.piece.length))
                nextWatch += 1
            default:
                regs.bcr[nextBreakpoint] = breakpointControl()
                regs.bvr[nextBreakpoint] = valueRegister(use.piece.address)
                slots.append(SlotUse(kind: .breakpoint, slot: nextBreakpoint, point: use.point,
                                     address: use.piece.address, length: use.piece.length))
                nextBreakpoint += 1
            }
        }
        return EncodedDebugRegisters(registers: .arm64(regs), slots: slots)
    }

    // MARK: Decode

    /// Decodes a debug exit from ESR_EL2 (`esr`), FAR_EL2 (`far`, valid for watchpoints
    /// only) and the PC.
    ///
    /// - EC 0x30: `.hardwareBreakpoint`; slot/point from the breakpoint slot at `pc`
    ///   (nil if none).
    /// - EC 0x32: `.singleStep`.
    /// - EC 0x34: `.watchpoint` with address = far and accessWasWrite = ISS.WnR; the slot
    ///   is the watch slot containing far, else (FAR may name the start of a wider access)
    ///   the nearest one whose aligned block (the doubleword for BAS pieces, the block
    ///   itself for MASK pieces) contains far, else the nearest watch slot.
    /// - EC 0x3C (BRK64), 0x38 (BKPT32): `.softwareBreakpoint` at pc.
    /// - anything else: `.unknown`.
    public static func decode(esr: UInt64, far: UInt64, pc: UInt64, slots: [SlotUse]) -> [StopHit] {
        switch ExceptionClass(rawValue: esrClass(esr)) {
        case .breakpointLowerEL:
            let at = valueRegister(pc)
            if let use = slots.first(where: { $0.kind == .breakpoint && distance(at, $0) == 0 }) {
                return [StopHit(reason: .hardwareBreakpoint, point: use.point, slot: use.slot)]
            }
            return [StopHit(reason: .hardwareBreakpoint)]
        case .softwareStepLowerEL:
            return [StopHit(reason: .singleStep)]
        case .watchpointLowerEL:
            let write = esr & esrWnR != 0
            if let use = watchSlot(for: far, in: slots) {
                return [StopHit(reason: .watchpoint, point: use.point, slot: use.slot, address: far, accessWasWrite: write)]
            }
            return [StopHit(reason: .watchpoint, address: far, accessWasWrite: write)]
        case .brk64, .bkpt32:
            return [StopHit(reason: .softwareBreakpoint, point: .software(address: pc))]
        case .breakpointCurrentEL, .softwareStepCurrentEL, .watchpointCurrentEL, nil:
            return [StopHit(reason: .unknown)]
        }
    }

    /// The watch slot a FAR belongs to (see `decode`).
    static func watchSlot(for far: UInt64, in slots: [SlotUse]) -> SlotUse? {
        let f = valueRegister(far)
        var best: SlotUse?
        var bestInBlock = false
        var bestDistance = UInt64.max
        for use in slots where use.kind == .watchpoint {
            let d = distance(f, use)
            if d == 0 { return use }
            let inBlock = blockContains(f, use)
            if (inBlock && !bestInBlock) || (inBlock == bestInBlock && d < bestDistance) {
                best = use
                bestInBlock = inBlock
                bestDistance = d
            }
        }
        return best
    }

    /// Bytes between `address` and the range a slot covers (0 inside it); addresses compared
    /// in their sign-extended register form.
    static func distance(_ address: UInt64, _ use: SlotUse) -> UInt64 {
        let first = valueRegister(use.address)
        let last = first &+ (use.length == 0 ? 0 : use.length - 1)
        if address < first { return first - address }
        if address > last { return address - last }
        return 0
    }

    /// True when `address` lies in the aligned block the slot's register pair compares:
    /// the doubleword for BAS pieces (up to 8 bytes), the block itself for MASK pieces.
    static func blockContains(_ address: UInt64, _ use: SlotUse) -> Bool {
        let first = valueRegister(use.address)
        if use.length <= 8 { return address & ~7 == first & ~7 }
        return address >= first && address - first < use.length
    }
}
