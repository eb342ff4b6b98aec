import KVMDebugCore

/// The numbers other tools know a register by: DWARF / eh_frame (the same on x86_64 and aarch64)
/// and LLDB's generic role. LLDB unwinds with them; without them it cannot find pc, sp or the frame.
struct RegisterNumbering: Sendable, Equatable {
    /// The DWARF number, also the eh_frame number; nil for registers DWARF does not name.
    var dwarf: Int?
    /// LLDB's generic name: pc, sp, fp, ra, flags, arg1...; nil for none.
    var generic: String?
    /// LLDB's own name where it differs from GDB's (x86 `rflags` for GDB's `eflags`); nil for none.
    var altName: String? = nil

    /// The numbering of `name` on `arch` (System V AMD64 psABI table 3.36; AAPCS64 DWARF).
    /// Used by `qRegisterInfo` and the `target.xml` `dwarf_regnum`/`generic`/`altname` attributes.
    static func of(_ name: String, arch: Arch) -> RegisterNumbering {
        switch arch {
        case .x86_64: return x86[name] ?? RegisterNumbering()
        case .arm64: return arm64[name] ?? RegisterNumbering()
        }
    }

    private static let x86: [String: RegisterNumbering] = {
        // DWARF's order differs from GDB's g order (rdx before rcx, rbx after).
        let dwarf: [String] = ["rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp",
                               "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"]
        let generic = ["rip": "pc", "rsp": "sp", "rbp": "fp", "eflags": "flags",
                       "rdi": "arg1", "rsi": "arg2", "rdx": "arg3", "rcx": "arg4", "r8": "arg5", "r9": "arg6"]
        var t: [String: RegisterNumbering] = [:]
        // lldb-13 finds `register read pc` only by an alt-name (lldb 14 on also by `generic`);
        // lldb-server names them so.
        let alt = ["rip": "pc", "rsp": "sp", "rbp": "fp"]
        for (n, name) in dwarf.enumerated() { t[name] = RegisterNumbering(dwarf: n, generic: generic[name], altName: alt[name]) }
        for i in 0..<16 { t["xmm\(i)"] = RegisterNumbering(dwarf: 17 + i) }
        for i in 0..<8 { t["st\(i)"] = RegisterNumbering(dwarf: 33 + i) }
        t["eflags"] = RegisterNumbering(dwarf: 49, generic: "flags", altName: "rflags")
        for (i, s) in ["es", "cs", "ss", "ds", "fs", "gs"].enumerated() { t[s] = RegisterNumbering(dwarf: 50 + i) }
        t["fs_base"] = RegisterNumbering(dwarf: 58)
        t["gs_base"] = RegisterNumbering(dwarf: 59)
        t["mxcsr"] = RegisterNumbering(dwarf: 64)
        t["fctrl"] = RegisterNumbering(dwarf: 65)
        t["fstat"] = RegisterNumbering(dwarf: 66)
        return t
    }()

    private static let arm64: [String: RegisterNumbering] = {
        var t: [String: RegisterNumbering] = [:]
        for i in 0..<31 { t["x\(i)"] = RegisterNumbering(dwarf: i, generic: i < 8 ? "arg\(i + 1)" : nil) }
        t["x29"] = RegisterNumbering(dwarf: 29, generic: "fp")
        t["x30"] = RegisterNumbering(dwarf: 30, generic: "ra")
        t["sp"] = RegisterNumbering(dwarf: 31, generic: "sp")
        t["pc"] = RegisterNumbering(dwarf: 32, generic: "pc")
        t["cpsr"] = RegisterNumbering(dwarf: 33, generic: "flags")
        for i in 0..<32 { t["v\(i)"] = RegisterNumbering(dwarf: 64 + i) }  // AAPCS64 DWARF: V0-V31 are 64-95
        return t
    }()
}
