import KVMDebugModel

/// The x87/SSE state of a fake x86 vCPU, and KVM's XSAVE ABI over it: `xsave()` is what
/// KVM_GET_XSAVE fills (4096 bytes, standard format), `load(xsave:)` is KVM_SET_XSAVE with
/// the kernel's checks (fpu_copy_uabi_to_guest_fpstate: XCOMP_BV zero, XSTATE_BV within the
/// guest's supported XCR0, MXCSR within MXCSR_MASK). Written from the SDM layout on its
/// own, not from kvmdbg's `X86FPRegisterFile`, so the two check each other.
///
/// By default the fake vCPU has no AVX (like this machine's PVM host: no XSAVE or AVX in
/// KVM_GET_SUPPORTED_CPUID), so its supported XCR0 is x87 | SSE; with `avx` it adds the AVX
/// component (YMM_Hi128, 16 x 16 bytes at offset 576 of the standard format).
struct FakeX86FPU: Sendable, Hashable {
    var avx = false
    var supportedXCR0: UInt64 { avx ? 0x7 : 0x3 }
    static let mxcsrMask: UInt32 = 0xFFFF
    static let areaSize = 4096

    var fcw: UInt16 = 0x37F
    var fsw: UInt16 = 0
    /// The FXSAVE abridged tag byte.
    var ftw: UInt8 = 0
    var fop: UInt16 = 0
    var fip: UInt64 = 0
    var fdp: UInt64 = 0
    var mxcsr: UInt32 = 0x1F80
    /// ST0-7 as 10 bytes each.
    var st: [[UInt8]] = [[UInt8]](repeating: [UInt8](repeating: 0, count: 10), count: 8)
    /// XMM0-15 as 16 bytes each.
    var xmm: [[UInt8]] = [[UInt8]](repeating: [UInt8](repeating: 0, count: 16), count: 16)
    /// YMM0-15 bits 255:128 (only with `avx`).
    var ymmHigh: [[UInt8]] = [[UInt8]](repeating: [UInt8](repeating: 0, count: 16), count: 16)

    /// 64-bit lane `i` (0 low, 1 high) of XMM`n`.
    func lane(_ n: Int, _ i: Int) -> UInt64 {
        (0..<8).reduce(0) { $0 | UInt64(xmm[n][8 * i + $1]) << UInt64(8 * $1) }
    }

    mutating func setLane(_ n: Int, _ i: Int, _ v: UInt64) {
        for k in 0..<8 { xmm[n][8 * i + k] = UInt8(truncatingIfNeeded: v >> UInt64(8 * k)) }
    }

    /// What FXSAVE writes (SDM vol. 2 FXSAVE, tables 3-53/3-56): bytes 0-415 of the legacy
    /// region; 416-511 are reserved or software's and left as they are. `wide` (FXSAVE64)
    /// stores FIP/FDP as 64-bit offsets; otherwise as 32-bit offsets with FCS/FDS, which the
    /// fake does not model, as 0.
    func fxsave(wide: Bool) -> [UInt8] {
        var a = Array(xsave().prefix(416))
        if !wide {
            for i in 0..<4 { a[12 + i] = 0; a[20 + i] = 0 }
        }
        return a
    }

    /// FXRSTOR from `a` (at least 416 bytes, the layout `fxsave` writes): false, with nothing
    /// loaded, when the image's MXCSR sets a bit outside MXCSR_MASK (#GP). Without `wide`,
    /// FIP/FDP take only their low 32 bits.
    mutating func fxrstor(_ a: [UInt8], wide: Bool) -> Bool {
        func get(_ at: Int, _ n: Int) -> UInt64 { (0..<n).reduce(0) { $0 | UInt64(a[at + $1]) << UInt64(8 * $1) } }
        guard a.count >= 416 else { return false }
        let m = UInt32(get(24, 4))
        guard m & ~Self.mxcsrMask == 0 else { return false }
        fcw = UInt16(get(0, 2)); fsw = UInt16(get(2, 2)); ftw = a[4]
        fop = UInt16(get(6, 2)) & 0x7FF
        fip = get(8, wide ? 8 : 4); fdp = get(16, wide ? 8 : 4)
        mxcsr = m
        for i in 0..<8 { st[i] = Array(a[(32 + 16 * i)..<(42 + 16 * i)]) }
        for i in 0..<16 { xmm[i] = Array(a[(160 + 16 * i)..<(176 + 16 * i)]) }
        return true
    }

    /// KVM_GET_XSAVE: the legacy region (FCW 0, FSW 2, FTW 4, FOP 6, FIP 8, FDP 16, MXCSR 24,
    /// MXCSR_MASK 28, ST at 32 + 16i, XMM at 160 + 16i), then XSTATE_BV at 512.
    func xsave() -> [UInt8] {
        var a = [UInt8](repeating: 0, count: Self.areaSize)
        func put(_ at: Int, _ v: UInt64, _ n: Int) { for i in 0..<n { a[at + i] = UInt8(truncatingIfNeeded: v >> UInt64(8 * i)) } }
        put(0, UInt64(fcw), 2)
        put(2, UInt64(fsw), 2)
        a[4] = ftw
        put(6, UInt64(fop), 2)
        put(8, fip, 8)
        put(16, fdp, 8)
        put(24, UInt64(mxcsr), 4)
        put(28, UInt64(Self.mxcsrMask), 4)
        for i in 0..<8 { a.replaceSubrange((32 + 16 * i)..<(42 + 16 * i), with: st[i]) }
        for i in 0..<16 { a.replaceSubrange((160 + 16 * i)..<(176 + 16 * i), with: xmm[i]) }
        if avx { for i in 0..<16 { a.replaceSubrange((576 + 16 * i)..<(592 + 16 * i), with: ymmHigh[i]) } }
        put(512, supportedXCR0, 8)
        return a
    }

    /// KVM_SET_XSAVE: EINVAL (nothing changed) for a short area, a compacted header, a
    /// component the vCPU lacks or a reserved MXCSR bit; a component whose XSTATE_BV bit is
    /// clear is loaded in its initial configuration.
    mutating func load(xsave a: [UInt8]) throws(DebugError) {
        func get(_ at: Int, _ n: Int) -> UInt64 { (0..<n).reduce(0) { $0 | UInt64(a[at + $1]) << UInt64(8 * $1) } }
        guard a.count >= Self.areaSize else { throw kvmError("KVM_SET_XSAVE", FakeErrno.einval) }
        let bv = get(512, 8), comp = get(520, 8), m = UInt32(get(24, 4))
        guard comp == 0, bv & ~supportedXCR0 == 0, m & ~Self.mxcsrMask == 0 else {
            throw kvmError("KVM_SET_XSAVE", FakeErrno.einval)
        }
        var n = FakeX86FPU()
        n.avx = avx
        n.mxcsr = m
        if bv & 1 != 0 {
            n.fcw = UInt16(get(0, 2)); n.fsw = UInt16(get(2, 2)); n.ftw = a[4]
            n.fop = UInt16(get(6, 2)) & 0x7FF; n.fip = get(8, 8); n.fdp = get(16, 8)
            for i in 0..<8 { n.st[i] = Array(a[(32 + 16 * i)..<(42 + 16 * i)]) }
        }
        if bv & 2 != 0 {
            for i in 0..<16 { n.xmm[i] = Array(a[(160 + 16 * i)..<(176 + 16 * i)]) }
        }
        if bv & 4 != 0 {
            for i in 0..<16 { n.ymmHigh[i] = Array(a[(576 + 16 * i)..<(592 + 16 * i)]) }
        }
        self = n
    }
}
