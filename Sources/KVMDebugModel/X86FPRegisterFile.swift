/// x86 x87, SSE and AVX registers as the XSAVE area holds them (Intel SDM vol. 1 §10.5.1
/// FXSAVE layout, §13.4 XSAVE header, §13.5 AVX state).
///
/// kvmdbg reads the area with `KVM_GET_XSAVE2`/`KVM_GET_XSAVE` (standard, non-compacted
/// format: the legacy 512 bytes, the header at 512, YMM_Hi128 at 576) or, where the kernel has
/// no XSAVE, `KVM_GET_FPU`; it writes the fields below back into the area it read, so state it
/// does not show (AVX-512, PKRU) stays as the vCPU had it.
public struct X86FPRegisterFile: Sendable, Hashable {
    /// FCW: x87 control word.
    public var fcw: UInt16 = 0x37F
    /// FSW: x87 status word (TOP in bits 13:11).
    public var fsw: UInt16 = 0
    /// FTW as FXSAVE keeps it: one bit per physical register, 1 = not empty.
    public var abridgedTag: UInt8 = 0
    /// FOP: the last x87 opcode (11 bits).
    public var fop: UInt16 = 0
    /// FIP: last x87 instruction pointer (64-bit format; bits 63:32 are FCS in 32-bit format).
    public var fip: UInt64 = 0
    /// FDP: last x87 data pointer (64-bit format; bits 63:32 are FDS in 32-bit format).
    public var fdp: UInt64 = 0
    public var mxcsr: UInt32 = 0x1F80
    /// ST(0)...ST(7) in stack order, 80 bits each (the low 10 bytes of each 16-byte slot).
    public var st: [UInt128] = [UInt128](repeating: 0, count: 8)
    /// XMM0...XMM15.
    public var xmm: [UInt128] = [UInt128](repeating: 0, count: 16)
    /// YMM0...YMM15 bits 255:128 (XSAVE component 2); nil where the vCPU has no AVX.
    public var ymmHigh: [UInt128]?

    public init() {}

    /// Offsets into the XSAVE area (SDM vol. 1 table 10-2, §13.4.2).
    public enum Offset {
        public static let fcw = 0, fsw = 2, ftw = 4, fop = 6, fip = 8, fdp = 16, mxcsr = 24
        public static let st = 32, xmm = 160, xstateBV = 512, xcompBV = 520
        /// YMM_Hi128: CPUID.(EAX=0DH,ECX=2).EBX, 576 on every AVX CPU (standard format).
        public static let ymmHigh = 576
        /// Bytes up to the end of the AVX component.
        public static let endOfAVX = 576 + 256
    }

    /// XSTATE_BV bits: x87 (0), SSE (1), AVX (2).
    public static let x87Bit: UInt64 = 1, sseBit: UInt64 = 2, avxBit: UInt64 = 4

    /// Decodes an XSAVE area in standard format. A component whose XSTATE_BV bit is clear is in
    /// its initial configuration (SDM §13.6), whatever its bytes say.
    public init(xsave a: [UInt8], hasAVX: Bool) {
        self.init()
        let bv = a.count >= Offset.xstateBV + 8 ? UInt64(Self.load(a, Offset.xstateBV, 8)) : Self.x87Bit | Self.sseBit
        if bv & Self.x87Bit != 0 {
            fcw = UInt16(Self.load(a, Offset.fcw, 2))
            fsw = UInt16(Self.load(a, Offset.fsw, 2))
            abridgedTag = UInt8(Self.load(a, Offset.ftw, 1))
            fop = UInt16(Self.load(a, Offset.fop, 2)) & 0x7FF
            fip = UInt64(Self.load(a, Offset.fip, 8))
            fdp = UInt64(Self.load(a, Offset.fdp, 8))
            for i in 0..<8 { st[i] = Self.load(a, Offset.st + 16 * i, 10) }
        }
        mxcsr = UInt32(Self.load(a, Offset.mxcsr, 4))
        if bv & Self.sseBit != 0 {
            for i in 0..<16 { xmm[i] = Self.load(a, Offset.xmm + 16 * i, 16) }
        }
        if hasAVX {
            var y = [UInt128](repeating: 0, count: 16)
            if bv & Self.avxBit != 0, a.count >= Offset.endOfAVX {
                for i in 0..<16 { y[i] = Self.load(a, Offset.ymmHigh + 16 * i, 16) }
            }
            ymmHigh = y
        }
    }

    /// Writes the fields into `area` (an XSAVE area read from the same vCPU) and marks x87,
    /// SSE (and AVX when kept) as not in their initial configuration, so the kernel loads them.
    public func store(intoXSAVE area: inout [UInt8]) {
        if area.count < Offset.xstateBV + 64 { area += [UInt8](repeating: 0, count: Offset.xstateBV + 64 - area.count) }
        Self.put(&area, Offset.fcw, 2, UInt128(fcw))
        Self.put(&area, Offset.fsw, 2, UInt128(fsw))
        area[Offset.ftw] = abridgedTag
        Self.put(&area, Offset.fop, 2, UInt128(fop & 0x7FF))
        Self.put(&area, Offset.fip, 8, UInt128(fip))
        Self.put(&area, Offset.fdp, 8, UInt128(fdp))
        Self.put(&area, Offset.mxcsr, 4, UInt128(mxcsr))
        for i in 0..<8 { Self.put(&area, Offset.st + 16 * i, 10, st[i]) }
        for i in 0..<16 { Self.put(&area, Offset.xmm + 16 * i, 16, xmm[i]) }
        var bv = UInt64(Self.load(area, Offset.xstateBV, 8)) | Self.x87Bit | Self.sseBit
        if let y = ymmHigh, area.count >= Offset.endOfAVX {
            for i in 0..<16 { Self.put(&area, Offset.ymmHigh + 16 * i, 16, y[i]) }
            bv |= Self.avxBit
        }
        Self.put(&area, Offset.xstateBV, 8, UInt128(bv))
    }

    /// TOP: the physical register that is ST(0) (FSW bits 13:11).
    public var top: Int { Int(fsw >> 11) & 7 }

    /// The full 16-bit tag word (2 bits per physical register: 0 valid, 1 zero, 2 special,
    /// 3 empty), rebuilt from the abridged tag and the register contents as FSAVE would store it
    /// (SDM vol. 1 §8.1.7, table 10-2 note). Setting it keeps only empty / not empty.
    public var fullTag: UInt16 {
        get {
            var t: UInt16 = 0
            for p in 0..<8 {
                let tag: UInt16
                if abridgedTag & (1 << p) == 0 {
                    tag = 3
                } else {
                    let v = st[(p - top) & 7]
                    let exponent = UInt16(truncatingIfNeeded: v >> 64) & 0x7FFF
                    let integer = (v >> 63) & 1 == 1
                    let fraction = UInt64(truncatingIfNeeded: v) & 0x7FFF_FFFF_FFFF_FFFF
                    if exponent == 0x7FFF { tag = 2 }
                    else if exponent == 0 { tag = fraction == 0 && !integer ? 1 : 2 }
                    else { tag = integer ? 0 : 2 }
                }
                t |= tag << UInt16(2 * p)
            }
            return t
        }
        set {
            var a: UInt8 = 0
            for p in 0..<8 where (newValue >> UInt16(2 * p)) & 3 != 3 { a |= 1 << p }
            abridgedTag = a
        }
    }

    /// `count` little-endian bytes of `a` at `offset` (zero past the end).
    package static func load(_ a: [UInt8], _ offset: Int, _ count: Int) -> UInt128 {
        var v: UInt128 = 0
        for i in 0..<count where offset + i < a.count { v |= UInt128(a[offset + i]) << UInt128(8 * i) }
        return v
    }

    package static func put(_ a: inout [UInt8], _ offset: Int, _ count: Int, _ v: UInt128) {
        for i in 0..<count where offset + i < a.count { a[offset + i] = UInt8(truncatingIfNeeded: v >> UInt128(8 * i)) }
    }
}
