import KVMDebugCore

/// Where a GDB register's value lives in a `RegisterFile`.
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
    /// Not kept by kvmdbg (x87, SSE, FP): always reads this value; writes are accepted and ignored.
    case constant(UInt64)
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
            t.append(GDBRegister(name: "st\(i)", bits: 80, type: "i387_ext", group: "", feature: core, field: .constant(0)))
        }
        // x87 state kvmdbg does not read: the reset values (FCW 0x37f, empty tags).
        let x87: [(String, UInt64)] = [("fctrl", 0x37F), ("fstat", 0), ("ftag", 0xFFFF), ("fiseg", 0),
                                       ("fioff", 0), ("foseg", 0), ("fooff", 0), ("fop", 0)]
        for (n, v) in x87 {
            t.append(GDBRegister(name: n, bits: 32, type: "int", group: "float", feature: core, field: .constant(v)))
        }
        let sse = "org.gnu.gdb.i386.sse"
        for i in 0..<16 {
            t.append(GDBRegister(name: "xmm\(i)", bits: 128, type: "vec128", group: "", feature: sse, field: .constant(0)))
        }
        t.append(GDBRegister(name: "mxcsr", bits: 32, type: "i386_mxcsr", group: "vector", feature: sse, field: .constant(0x1F80)))
        let segments = "org.gnu.gdb.i386.segments"
        t.append(GDBRegister(name: "fs_base", bits: 64, type: "int", group: "", feature: segments, field: .x86FSBase))
        t.append(GDBRegister(name: "gs_base", bits: 64, type: "int", group: "", feature: segments, field: .x86GSBase))
        let sys = "org.kvmdbg.x86.sys"
        let control: [(String, RegisterField)] = [("cr0", .x86CR0), ("cr2", .x86CR2), ("cr3", .x86CR3),
                                                  ("cr4", .x86CR4), ("cr8", .x86CR8), ("efer", .x86EFER)]
        for (n, f) in control {
            t.append(GDBRegister(name: n, bits: 64, type: "int64", group: "system", feature: sys, field: f))
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
        return t
    }()

    /// The GDB numbers of pc, sp and flags, sent with every stop reply so GDB need not read them.
    static func expedited(for arch: Arch) -> [Int] {
        switch arch {
        case .x86_64: return [16, 7, 6, 17]   // rip, rsp, rbp, eflags
        case .arm64: return [32, 31, 29, 33]  // pc, sp, x29 (fp), cpsr
        }
    }

    /// The register's value in `file`.
    static func value(_ r: GDBRegister, in file: RegisterFile) -> UInt64 {
        switch (r.field, file) {
        case (.constant(let v), _): return v
        case (.x86GPR(let i), .x86_64(let x)): return x86GPRs(x)[i]
        case (.x86RIP, .x86_64(let x)): return x.rip
        case (.x86RFLAGS, .x86_64(let x)): return x.rflags
        case (.x86Selector(let i), .x86_64(let x)): return UInt64(segments(x)[i].selector)
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
        default: return 0
        }
    }

    /// Writes the register's value into `file`; registers kvmdbg does not keep are ignored.
    static func set(_ r: GDBRegister, _ v: UInt64, in file: inout RegisterFile) {
        switch file {
        case .x86_64(var x):
            switch r.field {
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
            switch r.field {
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

    /// The register as `g`/`p` send it: little-endian bytes.
    static func encode(_ r: GDBRegister, in file: RegisterFile) -> [UInt8] {
        GDBHex.littleEndian(value(r, in: file), count: r.bytes)
    }

    /// Every register of `file` in table order, as one `g` reply body (raw bytes).
    static func encodeAll(_ file: RegisterFile) -> [UInt8] {
        var out: [UInt8] = []
        for r in table(for: file.arch) { out += encode(r, in: file) }
        return out
    }

    /// Total bytes of a `g` reply.
    static func size(for arch: Arch) -> Int { table(for: arch).reduce(0) { $0 + $1.bytes } }

    /// Applies a whole `G` body (raw bytes) to `file`; false when its size is wrong.
    static func decodeAll(_ bytes: [UInt8], into file: inout RegisterFile) -> Bool {
        let t = table(for: file.arch)
        guard bytes.count == size(for: file.arch) else { return false }
        var at = 0
        for r in t {
            set(r, GDBHex.value(littleEndian: bytes[at..<(at + r.bytes)]), in: &file)
            at += r.bytes
        }
        return true
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
