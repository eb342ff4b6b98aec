/// Register info: `qRegisterInfoN` (LLDB's per-register description, for LLDB builds without XML).
import KVMDebugCore

extension GDBEngine {
    /// Describes register N of the `g` layout (name, size, offset, encoding, set, DWARF and generic
    /// numbers), or `E45` past the last one, which ends LLDB's enumeration. The packet is `qRegisterInfo`.
    func registerInfo(_ number: ArraySlice<UInt8>) {
        let table = RegisterLayout.table(for: target)
        guard let n = GDBHex.number(number) else { sendErrno(1); return }
        guard n < UInt64(table.count) else { sendErrno(0x45); return }
        let r = table[Int(n)]
        let offset = table[..<Int(n)].reduce(0) { $0 + $1.bytes }
        var s = "name:\(r.name);bitsize:\(r.bits);offset:\(offset);"
        switch r.type {
        case "i387_ext": s += "encoding:ieee754;format:float;"
        case "vec128", "aarch64v", "uint128", "svev", "svep": s += "encoding:vector;format:vector-uint8;"
        default: s += "encoding:uint;format:hex;"
        }
        s += "set:\(RegisterInfoSet.name(of: r));"
        let numbering = RegisterNumbering.of(r.name, arch: target.arch)
        if let d = numbering.dwarf { s += "ehframe:\(d);dwarf:\(d);" }
        if let g = numbering.generic { s += "generic:\(g);" }
        if let a = numbering.altName { s += "alt-name:\(a);" }
        send(s)
    }
}

/// The register set LLDB's `register read` groups a register under.
enum RegisterInfoSet {
    /// "General Purpose Registers" for the core integer registers, else by group or feature.
    static func name(of r: GDBRegister) -> String {
        if r.feature.hasSuffix("guest-debug") { return "Guest Debug Registers" }
        if r.group == "float" || r.type == "i387_ext" { return "Floating Point Registers" }
        if r.feature.hasSuffix(".sse") || r.feature.hasSuffix(".fpu") || r.feature.hasSuffix(".avx") || r.feature.hasSuffix(".sve") {
            return "Vector Registers"
        }
        if r.group == "system" { return "System Registers" }
        return "General Purpose Registers"
    }
}
