import KVMDebugCore

/// Where a GDB register's value lives: the general `RegisterFile`, the `FPRegisterFile`, or
/// the guest's own debug registers (`GuestOwnDebugRegisters`). Every register is read from the
/// vCPU; none has a made-up value.
enum RegisterField: Sendable, Equatable {
    /// x86 general register in GDB's order (rax rbx rcx rdx rsi rdi rbp rsp r8-r15).
    case x86GPR(Int)
    case x86RIP, x86RFLAGS
    /// x86 segment selector: 0 cs, 1 ss, 2 ds, 3 es, 4 fs, 5 gs.
    case x86Selector(Int)
    case x86FSBase, x86GSBase
    case x86CR0, x86CR2, x86CR3, x86CR4, x86CR8, x86EFER
    /// arm64 x0-x30.
    case arm64X(Int)
    /// The stack pointer in use (SP_EL1 at EL1h).
    case arm64SP
    case arm64PC
    /// PSTATE as GDB's 32-bit cpsr.
    case arm64CPSR
    /// x87 ST(i), 80 bits, stack order.
    case x87ST(Int)
    /// x87 control/status registers as GDB names them.
    case x87(X87Field)
    /// XMM0-15.
    case xmm(Int)
    case mxcsr
    /// YMM0-15 bits 255:128 (GDB's ymm0h..ymm15h).
    case ymmHigh(Int)
    /// arm64 V0-V31.
    case arm64V(Int)
    case arm64FPSR, arm64FPCR
    /// arm64 SVE Z0-Z31, P0-P15, FFR (vector-length wide) and VG (the length in 64-bit granules).
    case sveZ(Int), sveP(Int), sveFFR, sveVG
    /// The guest's own x86 DR0-DR3 (0-3), DR6 (6), DR7 (7).
    case x86GuestDR(Int)
    /// The guest's own arm64 debug register: DBGBVRn, DBGBCRn, DBGWVRn, DBGWCRn, MDSCR_EL1.
    case arm64GuestDebug(Arm64GuestDebugField)

    /// Which read serves the field.
    var bank: RegisterBank {
        switch self {
        case .x87ST, .x87, .xmm, .mxcsr, .ymmHigh, .arm64V, .arm64FPSR, .arm64FPCR,
             .sveZ, .sveP, .sveFFR, .sveVG: return .floatingPoint
        case .x86GuestDR, .arm64GuestDebug: return .guestDebug
        default: return .general
        }
    }
}

/// The x87 registers after st0-7 in GDB's i386 core feature. In the 64-bit FXSAVE format GDB
/// shows FIP/FDP bits 31:0 as fioff/fooff and bits 63:32 as fiseg/foseg (as it reads an FXSAVE
/// area itself, i387-tdep.c offsets 8, 12, 16, 20).
enum X87Field: Sendable, Equatable, CaseIterable {
    case fctrl, fstat, ftag, fiseg, fioff, foseg, fooff, fop
}

/// One arm64 debug register of the guest's own.
enum Arm64GuestDebugField: Sendable, Equatable {
    case bvr(Int), bcr(Int), wvr(Int), wcr(Int), mdscr
}

/// The three reads behind the register table: general registers on every stop that needs
/// them, the other two only when a packet asks for one of their registers.
enum RegisterBank: Sendable, Equatable { case general, floatingPoint, guestDebug }

/// What one `g`/`G`/`p`/`P` works on: the general file, and the FP/SIMD and guest debug
/// registers when read (nil: not asked for, or the backend cannot read them: unavailable).
struct RegisterValues: Sendable, Equatable {
    var general: RegisterFile
    var fp: FPRegisterFile? = nil
    var guestDebug: GuestOwnDebugRegisters? = nil
}

/// One register as GDB numbers it (`p`/`P` number = index in the table; `g` = table order).
struct GDBRegister: Sendable {
    var name: String
    var bits: Int
    /// The target description type (int64, code_ptr, i387_ext, ...).
    var type: String
    /// The target description group ("" = GDB's default).
    var group: String
    /// The target description feature it belongs to.
    var feature: String
    var field: RegisterField

    var bytes: Int { bits / 8 }
}

/// The one fixed register layout per architecture, whatever mode the guest is in.
enum RegisterLayout {
    static func table(for arch: Arch) -> [GDBRegister] {
        switch arch {
        case .x86_64: return x86
        case .arm64: return arm64
        }
    }

    /// The table `target` is served with: x86 adds ymm0h-ymm15h (`org.gnu.gdb.i386.avx`) where
    /// the vCPUs have AVX (`Capabilities.x86AVX`), after every other register, so the numbers
    /// before them are the same either way.
    /// arm64 vCPUs created with SVE (`Capabilities.arm64SVEQuadwords`) get `org.gnu.gdb.aarch64.sve`
    /// in place of the fpu feature (gdb then makes v0-v31 from z0-z31 itself).
    static func table(for target: some GDBTarget) -> [GDBRegister] {
        table(for: target.arch, avx: target.capabilities.x86AVX, sve: target.capabilities.arm64SVEQuadwords)
    }

    static func table(for arch: Arch, avx: Bool, sve: Int? = nil) -> [GDBRegister] {
        if arch == .arm64, let vq = sve { return arm64SVE(vq: vq) }
        return arch == .x86_64 && avx ? x86AVX : table(for: arch)
    }

    /// gdb's aarch64 SVE numbering (gdb/aarch64-tdep.h): the core registers, then z0-z31, fpsr,
    /// fpcr, p0-p15, ffr, vg where the fpu feature's v0-v31, fpsr, fpcr would be; gdb takes the
    /// vector length from z0's bitsize. The guest debug feature follows, as without SVE.
    static func arm64SVE(vq: Int) -> [GDBRegister] {
        let sve = "org.gnu.gdb.aarch64.sve"
        var t = Array(arm64.prefix(34))
        for i in 0..<32 { t.append(GDBRegister(name: "z\(i)", bits: 128 * vq, type: "svev", group: "vector", feature: sve, field: .sveZ(i))) }
        t.append(GDBRegister(name: "fpsr", bits: 32, type: "int", group: "float", feature: sve, field: .arm64FPSR))
        t.append(GDBRegister(name: "fpcr", bits: 32, type: "int", group: "float", feature: sve, field: .arm64FPCR))
        for i in 0..<16 { t.append(GDBRegister(name: "p\(i)", bits: 16 * vq, type: "svep", group: "vector", feature: sve, field: .sveP(i))) }
        t.append(GDBRegister(name: "ffr", bits: 16 * vq, type: "svep", group: "vector", feature: sve, field: .sveFFR))
        t.append(GDBRegister(name: "vg", bits: 64, type: "int", group: "vector", feature: sve, field: .sveVG))
        return t + arm64.dropFirst(34 + 34)
    }

    static let x86AVX: [GDBRegister] = x86 + (0..<16).map {
        GDBRegister(name: "ymm\($0)h", bits: 128, type: "uint128", group: "", feature: "org.gnu.gdb.i386.avx", field: .ymmHigh($0))
    }

    /// GDB's amd64 numbering: `org.gnu.gdb.i386.core` must hold rax..gs and st0..fop (40
    /// registers, gdb's i386 tdesc validation rejects anything less), then SSE, segment bases,
    /// and control registers in a kvmdbg feature.
    static let x86: [GDBRegister] = {
        let core = "org.gnu.gdb.i386.core"
        var t: [GDBRegister] = []
        let gprs = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
                    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]
        for (i, n) in gprs.enumerated() {
            let type = n == "rbp" || n == "rsp" ? "data_ptr" : "int64"
            t.append(GDBRegister(name: n, bits: 64, type: type, group: "", feature: core, field: .x86GPR(i)))
        }
        t.append(GDBRegister(name: "rip", bits: 64, type: "code_ptr", group: "", feature: core, field: .x86RIP))
        t.append(GDBRegister(name: "eflags", bits: 32, type: "i386_eflags", group: "", feature: core, field: .x86RFLAGS))
        for (i, n) in ["cs", "ss", "ds", "es", "fs", "gs"].enumerated() {
            t.append(GDBRegister(name: n, bits: 32, type: "int32", group: "", feature: core, field: .x86Selector(i)))
        }
        for i in 0..<8 {
            t.append(GDBRegister(name: "st\(i)", bits: 80, type: "i387_ext", group: "", feature: core, field: .x87ST(i)))
        }
        for f in X87Field.allCases {
            t.append(GDBRegister(name: "\(f)", bits: 32, type: "int", group: "float", feature: core, field: .x87(f)))
        }
        let sse = "org.gnu.gdb.i386.sse"
        for i in 0..<16 {
            t.append(GDBRegister(name: "xmm\(i)", bits: 128, type: "vec128", group: "", feature: sse, field: .xmm(i)))
        }
        t.append(GDBRegister(name: "mxcsr", bits: 32, type: "i386_mxcsr", group: "vector", feature: sse, field: .mxcsr))
        let segments = "org.gnu.gdb.i386.segments"
        t.append(GDBRegister(name: "fs_base", bits: 64, type: "int", group: "", feature: segments, field: .x86FSBase))
        t.append(GDBRegister(name: "gs_base", bits: 64, type: "int", group: "", feature: segments, field: .x86GSBase))
        let sys = "org.kvmdbg.x86.sys"
        let control: [(String, RegisterField)] = [("cr0", .x86CR0), ("cr2", .x86CR2), ("cr3", .x86CR3),
                                                  ("cr4", .x86CR4), ("cr8", .x86CR8), ("efer", .x86EFER)]
        for (n, f) in control {
            t.append(GDBRegister(name: n, bits: 64, type: "int64", group: "system", feature: sys, field: f))
        }
        let debug = "org.kvmdbg.x86.guest-debug"
        for i in [0, 1, 2, 3, 6, 7] {
            t.append(GDBRegister(name: "dr\(i)", bits: 64, type: "int64", group: "system", feature: debug, field: .x86GuestDR(i)))
        }
        return t
    }()

    /// GDB's aarch64 numbering: `org.gnu.gdb.aarch64.core` x0-x30, sp, pc, cpsr (32-bit).
    static let arm64: [GDBRegister] = {
        let core = "org.gnu.gdb.aarch64.core"
        var t: [GDBRegister] = []
        for i in 0..<31 {
            t.append(GDBRegister(name: "x\(i)", bits: 64, type: "int", group: "", feature: core, field: .arm64X(i)))
        }
        t.append(GDBRegister(name: "sp", bits: 64, type: "data_ptr", group: "", feature: core, field: .arm64SP))
        t.append(GDBRegister(name: "pc", bits: 64, type: "code_ptr", group: "", feature: core, field: .arm64PC))
        t.append(GDBRegister(name: "cpsr", bits: 32, type: "cpsr_flags", group: "", feature: core, field: .arm64CPSR))
        let fpu = "org.gnu.gdb.aarch64.fpu"
        for i in 0..<32 {
            t.append(GDBRegister(name: "v\(i)", bits: 128, type: "aarch64v", group: "vector", feature: fpu, field: .arm64V(i)))
        }
        t.append(GDBRegister(name: "fpsr", bits: 32, type: "int", group: "float", feature: fpu, field: .arm64FPSR))
        t.append(GDBRegister(name: "fpcr", bits: 32, type: "int", group: "float", feature: fpu, field: .arm64FPCR))
        // The guest's own debug registers: 16 slots each (KVM_ARM_MAX_DBG_REGS); slots past the
        // vCPU's count (ID_AA64DFR0_EL1.BRPs/WRPs) read as unavailable.
        let debug = "org.kvmdbg.aarch64.guest-debug"
        let kinds: [(String, (Int) -> Arm64GuestDebugField)] = [("dbgbvr", Arm64GuestDebugField.bvr), ("dbgbcr", Arm64GuestDebugField.bcr),
                                                                ("dbgwvr", Arm64GuestDebugField.wvr), ("dbgwcr", Arm64GuestDebugField.wcr)]
        for (prefix, make) in kinds {
            for n in 0..<16 {
                t.append(GDBRegister(name: "\(prefix)\(n)_el1", bits: 64, type: "int64", group: "system", feature: debug,
                                     field: .arm64GuestDebug(make(n))))
            }
        }
        t.append(GDBRegister(name: "mdscr_el1", bits: 64, type: "int64", group: "system", feature: debug, field: .arm64GuestDebug(.mdscr)))
        return t
    }()

    /// The GDB numbers of pc, sp and flags, sent with every stop reply so GDB need not read them.
    static func expedited(for arch: Arch) -> [Int] {
        switch arch {
        case .x86_64: return [16, 7, 6, 17]   // rip, rsp, rbp, eflags
        case .arm64: return [32, 31, 29, 33]  // pc, sp, x29 (fp), cpsr
        }
    }

    /// The register's value, or nil when it cannot be read (its bank was not read or failed,
    /// or the vCPU lacks it): then `g`/`p` send `x` digits.
    static func value(_ r: GDBRegister, in v: RegisterValues) -> UInt128? {
        switch r.field.bank {
        case .general: return generalValue(r.field, v.general).map { UInt128($0) }
        case .floatingPoint:
            switch (r.field, v.fp) {
            case (.x87ST(let i), .x86_64(let f)?): return f.st[i] & ((1 << 80) - 1)
            case (.x87(let x), .x86_64(let f)?): return UInt128(x87Value(x, f))
            case (.xmm(let i), .x86_64(let f)?): return f.xmm[i]
            case (.mxcsr, .x86_64(let f)?): return UInt128(f.mxcsr)
            case (.ymmHigh(let i), .x86_64(let f)?): return f.ymmHigh?[i]
            case (.arm64V(let i), .arm64(let f)?): return f.v[i]
            case (.arm64FPSR, .arm64(let f)?): return UInt128(f.fpsr)
            case (.arm64FPCR, .arm64(let f)?): return UInt128(f.fpcr)
            case (.sveVG, .arm64(let f)?): return f.sve.map { UInt128($0.vg) }
            case (.sveZ, _), (.sveP, _), (.sveFFR, _):
                // Wider than 128 bits in general: `bytes` serves them; a 128-bit one fits.
                return bytes(r, in: v).flatMap { b in b.count <= 16 ? b.enumerated().reduce(UInt128(0)) { $0 | UInt128($1.element) << UInt128(8 * $1.offset) } : nil }
            default: return nil
            }
        case .guestDebug:
            switch (r.field, v.guestDebug) {
            case (.x86GuestDR(let i), .x86(let d)?):
                return UInt128(i < 4 ? d.address[i] : i == 6 ? d.dr6 : d.dr7)
            case (.arm64GuestDebug(let g), .arm64(let d)?):
                switch g {
                case .bvr(let n): return n < d.bvr.count ? UInt128(d.bvr[n]) : nil
                case .bcr(let n): return n < d.bcr.count ? UInt128(d.bcr[n]) : nil
                case .wvr(let n): return n < d.wvr.count ? UInt128(d.wvr[n]) : nil
                case .wcr(let n): return n < d.wcr.count ? UInt128(d.wcr[n]) : nil
                case .mdscr: return UInt128(d.mdscr)
                }
            default: return nil
            }
        }
    }

    /// Writes the register into `v`; false when it cannot be written (its bank is unavailable
    /// or the vCPU lacks it).
    static func set(_ r: GDBRegister, _ value: UInt128, in v: inout RegisterValues) -> Bool {
        switch r.field.bank {
        case .general:
            setGeneral(r.field, UInt64(truncatingIfNeeded: value), in: &v.general)
            return true
        case .floatingPoint:
            switch (r.field, v.fp) {
            case (.x87ST(let i), .x86_64(var f)?): f.st[i] = value & ((1 << 80) - 1); v.fp = .x86_64(f)
            case (.x87(let x), .x86_64(var f)?): setX87(x, UInt32(truncatingIfNeeded: value), &f); v.fp = .x86_64(f)
            case (.xmm(let i), .x86_64(var f)?): f.xmm[i] = value; v.fp = .x86_64(f)
            case (.mxcsr, .x86_64(var f)?): f.mxcsr = UInt32(truncatingIfNeeded: value); v.fp = .x86_64(f)
            case (.ymmHigh(let i), .x86_64(var f)?) where f.ymmHigh != nil: f.ymmHigh?[i] = value; v.fp = .x86_64(f)
            case (.arm64V(let i), .arm64(var f)?): f.v[i] = value; v.fp = .arm64(f)
            case (.arm64FPSR, .arm64(var f)?): f.fpsr = UInt32(truncatingIfNeeded: value); v.fp = .arm64(f)
            case (.arm64FPCR, .arm64(var f)?): f.fpcr = UInt32(truncatingIfNeeded: value); v.fp = .arm64(f)
            case (.sveZ, _), (.sveP, _), (.sveFFR, _), (.sveVG, _):
                return setBytes(r, (0..<r.bytes).map { UInt8(truncatingIfNeeded: value >> UInt128(8 * $0)) }, in: &v)
            default: return false
            }
            return true
        case .guestDebug:
            let x = UInt64(truncatingIfNeeded: value)
            switch (r.field, v.guestDebug) {
            case (.x86GuestDR(let i), .x86(var d)?):
                if i < 4 { d.address[i] = x } else if i == 6 { d.dr6 = x } else { d.dr7 = x }
                v.guestDebug = .x86(d)
            case (.arm64GuestDebug(let g), .arm64(var d)?):
                switch g {
                case .bvr(let n) where n < d.bvr.count: d.bvr[n] = x
                case .bcr(let n) where n < d.bcr.count: d.bcr[n] = x
                case .wvr(let n) where n < d.wvr.count: d.wvr[n] = x
                case .wcr(let n) where n < d.wcr.count: d.wcr[n] = x
                case .mdscr: d.mdscr = x
                default: return false
                }
                v.guestDebug = .arm64(d)
            default: return false
            }
            return true
        }
    }

    /// A general register as `g`/`p` send it, little-endian, in hex, appended to `out` (the stop
    /// reply's expedited registers; no array per register). Other banks have no value in
    /// `file` and append nothing.
    static func appendHex(_ r: GDBRegister, in file: RegisterFile, to out: inout [UInt8]) {
        guard let v = generalValue(r.field, file) else { return }
        GDBHex.appendLittleEndian(v, count: r.bytes, to: &out)
    }

    /// The register's little-endian bytes (`r.bytes` of them), or nil when it cannot be read.
    /// The SVE registers come from the file's bytes (up to 256 of them); the others from `value`.
    static func bytes(_ r: GDBRegister, in v: RegisterValues) -> [UInt8]? {
        switch (r.field, v.fp) {
        case (.sveZ(let n), .arm64(let f)?): return f.sve.map { $0.z[n] }.flatMap { $0.count == r.bytes ? $0 : nil }
        case (.sveP(let n), .arm64(let f)?): return f.sve.map { $0.p[n] }.flatMap { $0.count == r.bytes ? $0 : nil }
        case (.sveFFR, .arm64(let f)?): return f.sve.map { $0.ffr }.flatMap { $0.count == r.bytes ? $0 : nil }
        case (.sveZ, _), (.sveP, _), (.sveFFR, _): return nil
        default:
            guard let value = value(r, in: v) else { return nil }
            return (0..<r.bytes).map { UInt8(truncatingIfNeeded: value >> UInt128(8 * $0)) }
        }
    }

    /// Writes `bytes` (little-endian, `r.bytes` long) into `v`; false when the register cannot be
    /// written: unavailable, or VG set to another length (KVM fixes it at KVM_ARM_VCPU_FINALIZE).
    /// A Zn write also sets Vn (its low 128 bits), so the file's two views agree.
    static func setBytes(_ r: GDBRegister, _ bytes: [UInt8], in v: inout RegisterValues) -> Bool {
        guard bytes.count == r.bytes else { return false }
        switch (r.field, v.fp) {
        case (.sveZ(let n), .arm64(var f)?) where f.sve != nil:
            f.sve?.z[n] = bytes
            f.v[n] = f.sve?.low128(n) ?? 0
            v.fp = .arm64(f)
        case (.sveP(let n), .arm64(var f)?) where f.sve != nil: f.sve?.p[n] = bytes; v.fp = .arm64(f)
        case (.sveFFR, .arm64(var f)?) where f.sve != nil: f.sve?.ffr = bytes; v.fp = .arm64(f)
        case (.sveVG, .arm64(let f)?):
            let vg = bytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << UInt64(8 * $1.offset) }
            return f.sve?.vg == vg
        case (.sveZ, _), (.sveP, _), (.sveFFR, _), (.sveVG, _): return false
        default:
            let value = bytes.enumerated().reduce(UInt128(0)) { $0 | UInt128($1.element) << UInt128(8 * $1.offset) }
            return set(r, value, in: &v)
        }
        return true
    }

    /// The register as `g`/`p` send it: hex digits of the little-endian value, or `x` digits
    /// when it cannot be read (GDB's remote protocol, as gdbserver does).
    static func hex(_ r: GDBRegister, in v: RegisterValues) -> [UInt8] { hexAll(v, table: [r]) }

    /// Every register of `table` in order, as one `g` reply body (hex), written into one buffer
    /// (a `g` reply is some 80 registers; no array per register up to 128 bits).
    static func hexAll(_ v: RegisterValues, table: [GDBRegister]) -> [UInt8] {
        var out = [UInt8](repeating: UInt8(ascii: "x"), count: 2 * size(of: table))
        out.withUnsafeMutableBufferPointer { dst in
            guard var o = dst.baseAddress else { return }
            for r in table {
                switch r.field {
                case .sveZ, .sveP, .sveFFR:
                    if let b = bytes(r, in: v) { b.withUnsafeBufferPointer { GDBHex.write($0, to: o) } }
                default:
                    if let value = value(r, in: v) { GDBHex.write(littleEndian: value, count: r.bytes, to: o) }
                }
                o += 2 * r.bytes  // left as `x` digits when it cannot be read
            }
        }
        return out
    }

    /// Total bytes of a `g` reply.
    static func size(for arch: Arch) -> Int { size(of: table(for: arch)) }
    static func size(of table: [GDBRegister]) -> Int { table.reduce(0) { $0 + $1.bytes } }

    /// Applies a whole `G` body (hex digits) to `v`: registers sent as `x` digits, or whose bank
    /// is unavailable, are left as they are. False when the body's size or a digit is wrong.
    static func decodeAll(hex body: ArraySlice<UInt8>, table t: [GDBRegister], into v: inout RegisterValues) -> Bool {
        guard body.count == 2 * size(of: t) else { return false }
        var at = body.startIndex
        var next = v
        for r in t {
            let digits = body[at..<(at + 2 * r.bytes)]
            at += 2 * r.bytes
            if digits.allSatisfy({ $0 == UInt8(ascii: "x") }) { continue }
            guard let bytes = GDBHex.decode(digits) else { return false }
            if r.field.bank == .general || bytes != Self.bytes(r, in: next) { _ = setBytes(r, bytes, in: &next) }
        }
        v = next
        return true
    }

    private static func x87Value(_ x: X87Field, _ f: X86FPRegisterFile) -> UInt32 {
        switch x {
        case .fctrl: return UInt32(f.fcw)
        case .fstat: return UInt32(f.fsw)
        case .ftag: return UInt32(f.fullTag)
        case .fiseg: return UInt32(truncatingIfNeeded: f.fip >> 32)
        case .fioff: return UInt32(truncatingIfNeeded: f.fip)
        case .foseg: return UInt32(truncatingIfNeeded: f.fdp >> 32)
        case .fooff: return UInt32(truncatingIfNeeded: f.fdp)
        case .fop: return UInt32(f.fop & 0x7FF)
        }
    }

    private static func setX87(_ x: X87Field, _ v: UInt32, _ f: inout X86FPRegisterFile) {
        switch x {
        case .fctrl: f.fcw = UInt16(truncatingIfNeeded: v)
        case .fstat: f.fsw = UInt16(truncatingIfNeeded: v)
        case .ftag: f.fullTag = UInt16(truncatingIfNeeded: v)
        case .fiseg: f.fip = (f.fip & 0xFFFF_FFFF) | UInt64(v) << 32
        case .fioff: f.fip = (f.fip & ~0xFFFF_FFFF) | UInt64(v)
        case .foseg: f.fdp = (f.fdp & 0xFFFF_FFFF) | UInt64(v) << 32
        case .fooff: f.fdp = (f.fdp & ~0xFFFF_FFFF) | UInt64(v)
        case .fop: f.fop = UInt16(truncatingIfNeeded: v) & 0x7FF
        }
    }

    private static func generalValue(_ field: RegisterField, _ file: RegisterFile) -> UInt64? {
        switch (field, file) {
        case (.x86GPR(let i), .x86_64(let x)): return x86GPR(x, i)
        case (.x86RIP, .x86_64(let x)): return x.rip
        case (.x86RFLAGS, .x86_64(let x)): return x.rflags
        case (.x86Selector(let i), .x86_64(let x)): return UInt64(selector(x, i))
        case (.x86FSBase, .x86_64(let x)): return x.fsBase
        case (.x86GSBase, .x86_64(let x)): return x.gsBase
        case (.x86CR0, .x86_64(let x)): return x.cr0
        case (.x86CR2, .x86_64(let x)): return x.cr2
        case (.x86CR3, .x86_64(let x)): return x.cr3
        case (.x86CR4, .x86_64(let x)): return x.cr4
        case (.x86CR8, .x86_64(let x)): return x.cr8
        case (.x86EFER, .x86_64(let x)): return x.efer
        case (.arm64X(let i), .arm64(let a)): return a.x[i]
        case (.arm64SP, .arm64(let a)): return a.currentSP
        case (.arm64PC, .arm64(let a)): return a.pc
        case (.arm64CPSR, .arm64(let a)): return a.pstate & 0xFFFF_FFFF
        default: return nil
        }
    }

    private static func setGeneral(_ field: RegisterField, _ v: UInt64, in file: inout RegisterFile) {
        switch file {
        case .x86_64(var x):
            switch field {
            case .x86GPR(let i):
                var g = x86GPRs(x); g[i] = v; setX86GPRs(g, &x)
            case .x86RIP: x.rip = v
            case .x86RFLAGS: x.rflags = v
            case .x86Selector(let i): setSelector(i, UInt16(truncatingIfNeeded: v), &x)
            case .x86FSBase: x.fsBase = v
            case .x86GSBase: x.gsBase = v
            case .x86CR0: x.cr0 = v
            case .x86CR2: x.cr2 = v
            case .x86CR3: x.cr3 = v
            case .x86CR4: x.cr4 = v
            case .x86CR8: x.cr8 = v
            case .x86EFER: x.efer = v
            default: return
            }
            file = .x86_64(x)
        case .arm64(var a):
            switch field {
            case .arm64X(let i): a.x[i] = v
            case .arm64SP: a.currentSP = v
            case .arm64PC: a.pc = v
            // cpsr is 32 bits in GDB; PSTATE's upper half is kept.
            case .arm64CPSR: a.pstate = (a.pstate & 0xFFFF_FFFF_0000_0000) | (v & 0xFFFF_FFFF)
            default: return
            }
            file = .arm64(a)
        }
    }

    private static func x86GPRs(_ x: X86RegisterFile) -> [UInt64] {
        [x.rax, x.rbx, x.rcx, x.rdx, x.rsi, x.rdi, x.rbp, x.rsp,
         x.r8, x.r9, x.r10, x.r11, x.r12, x.r13, x.r14, x.r15]
    }

    private static func setX86GPRs(_ g: [UInt64], _ x: inout X86RegisterFile) {
        x.rax = g[0]; x.rbx = g[1]; x.rcx = g[2]; x.rdx = g[3]
        x.rsi = g[4]; x.rdi = g[5]; x.rbp = g[6]; x.rsp = g[7]
        x.r8 = g[8]; x.r9 = g[9]; x.r10 = g[10]; x.r11 = g[11]
        x.r12 = g[12]; x.r13 = g[13]; x.r14 = g[14]; x.r15 = g[15]
    }

    private static func segments(_ x: X86RegisterFile) -> [X86Segment] { [x.cs, x.ss, x.ds, x.es, x.fs, x.gs] }

    /// `x86GPRs(x)[i]` and `segments(x)[i].selector` without building the arrays: a stop reply
    /// reads four registers, a `g` reply all of them.
    private static func x86GPR(_ x: X86RegisterFile, _ i: Int) -> UInt64 {
        switch i {
        case 0: return x.rax
        case 1: return x.rbx
        case 2: return x.rcx
        case 3: return x.rdx
        case 4: return x.rsi
        case 5: return x.rdi
        case 6: return x.rbp
        case 7: return x.rsp
        default: return x86GPRs(x)[i]
        }
    }

    private static func selector(_ x: X86RegisterFile, _ i: Int) -> UInt16 {
        switch i {
        case 0: return x.cs.selector
        case 1: return x.ss.selector
        default: return segments(x)[i].selector
        }
    }

    private static func setSelector(_ i: Int, _ s: UInt16, _ x: inout X86RegisterFile) {
        switch i {
        case 0: x.cs.selector = s
        case 1: x.ss.selector = s
        case 2: x.ds.selector = s
        case 3: x.es.selector = s
        case 4: x.fs.selector = s
        default: x.gs.selector = s
        }
    }
}
