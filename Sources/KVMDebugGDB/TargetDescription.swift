import KVMDebugCore

/// The target description GDB reads with `qXfer:features:read:target.xml`, built from the
/// register table so the XML and the `g` layout can never disagree.
enum TargetDescription {
    /// The whole description: every register, with LLDB's `dwarf_regnum`, `ehframe_regnum`, `generic`
    /// and `altname` attributes (GDB ignores attributes it does not know). The packet is `qXfer:features:read`.
    /// `sve`: the arm64 vCPUs' SVE vector length in quadwords (`org.gnu.gdb.aarch64.sve`), or nil.
    static func xml(for arch: Arch, avx: Bool = false, sve: Int? = nil) -> String {
        var s = "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n"
        switch arch {
        case .x86_64: s += "<architecture>i386:x86-64</architecture>\n"
        case .arm64: s += "<architecture>aarch64</architecture>\n"
        }
        var feature = ""
        for (n, r) in RegisterLayout.table(for: arch, avx: avx, sve: sve).enumerated() {
            if r.feature != feature {
                if !feature.isEmpty { s += "</feature>\n" }
                feature = r.feature
                s += "<feature name=\"\(feature)\">\n" + types(for: feature, sve: sve ?? 0)
            }
            s += "<reg name=\"\(r.name)\" bitsize=\"\(r.bits)\" type=\"\(r.type)\" regnum=\"\(n)\""
            if !r.group.isEmpty { s += " group=\"\(r.group)\"" }
            let numbering = RegisterNumbering.of(r.name, arch: arch)
            if let d = numbering.dwarf { s += " dwarf_regnum=\"\(d)\" ehframe_regnum=\"\(d)\"" }
            if let g = numbering.generic { s += " generic=\"\(g)\"" }
            if let a = numbering.altName { s += " altname=\"\(a)\"" }
            s += "/>\n"
        }
        s += "</feature>\n</target>\n"
        return s
    }

    /// The non-builtin types a feature's registers use (as GDB's own features/ XML names them).
    private static func types(for feature: String, sve vq: Int) -> String {
        switch feature {
        case "org.gnu.gdb.i386.core":
            return flags("i386_eflags", 4, [("CF", 0), ("", 1), ("PF", 2), ("AF", 4), ("ZF", 6), ("SF", 7),
                                            ("TF", 8), ("IF", 9), ("DF", 10), ("OF", 11), ("NT", 14), ("RF", 16),
                                            ("VM", 17), ("AC", 18), ("VIF", 19), ("VIP", 20), ("ID", 21)])
        case "org.gnu.gdb.i386.sse":
            return """
            <vector id="v8bf16" type="bfloat16" count="8"/>
            <vector id="v8h" type="ieee_half" count="8"/>
            <vector id="v4f" type="ieee_single" count="4"/>
            <vector id="v2d" type="ieee_double" count="2"/>
            <vector id="v16i8" type="int8" count="16"/>
            <vector id="v8i16" type="int16" count="8"/>
            <vector id="v4i32" type="int32" count="4"/>
            <vector id="v2i64" type="int64" count="2"/>
            <union id="vec128">
            <field name="v8_bfloat16" type="v8bf16"/>
            <field name="v8_half" type="v8h"/>
            <field name="v4_float" type="v4f"/>
            <field name="v2_double" type="v2d"/>
            <field name="v16_int8" type="v16i8"/>
            <field name="v8_int16" type="v8i16"/>
            <field name="v4_int32" type="v4i32"/>
            <field name="v2_int64" type="v2i64"/>
            <field name="uint128" type="uint128"/>
            </union>

            """ + flags("i386_mxcsr", 4, [("IE", 0), ("DE", 1), ("ZE", 2), ("OE", 3), ("UE", 4), ("PE", 5),
                                         ("DAZ", 6), ("IM", 7), ("DM", 8), ("ZM", 9), ("OM", 10), ("UM", 11),
                                         ("PM", 12), ("FZ", 15)])
        case "org.gnu.gdb.aarch64.core":
            return flags("cpsr_flags", 4, [("SP", 0), ("EL", 2), ("nRW", 4), ("F", 6), ("I", 7), ("A", 8),
                                           ("D", 9), ("IL", 20), ("SS", 21), ("V", 28), ("C", 29), ("Z", 30),
                                           ("N", 31)])
        case "org.gnu.gdb.aarch64.fpu":
            // GDB's aarch64v: one 128-bit register seen as d/s/h/b/q lanes.
            let vectors: [(String, String, Int)] = [("v2d", "ieee_double", 2), ("v2u", "uint64", 2), ("v2i", "int64", 2),
                                                   ("v4f", "ieee_single", 4), ("v4u", "uint32", 4), ("v4i", "int32", 4),
                                                   ("v8f", "ieee_half", 8), ("v8u", "uint16", 8), ("v8i", "int16", 8),
                                                   ("v8bf16", "bfloat16", 8), ("v16u", "uint8", 16), ("v16i", "int8", 16),
                                                   ("v1u", "uint128", 1), ("v1i", "int128", 1)]
            let unions: [(String, [(String, String)])] = [
                ("vnd", [("f", "v2d"), ("u", "v2u"), ("s", "v2i")]),
                ("vns", [("f", "v4f"), ("u", "v4u"), ("s", "v4i")]),
                ("vnh", [("bf", "v8bf16"), ("f", "v8f"), ("u", "v8u"), ("s", "v8i")]),
                ("vnb", [("u", "v16u"), ("s", "v16i")]),
                ("vnq", [("u", "v1u"), ("s", "v1i")]),
                ("aarch64v", [("d", "vnd"), ("s", "vns"), ("h", "vnh"), ("b", "vnb"), ("q", "vnq")]),
            ]
            return vectorTypes(vectors, unions: unions)
        case "org.gnu.gdb.aarch64.sve":
            // gdb's own SVE types (gdb/features/aarch64-sve.c): Zn as q/d/s/h/b lanes of the
            // vector length, Pn and FFR as one byte per 8 predicate bits.
            let vectors: [(String, String, Int)] = [("svevqu", "uint128", vq), ("svevqs", "int128", vq),
                                                   ("svevdf", "ieee_double", 2 * vq), ("svevdu", "uint64", 2 * vq), ("svevds", "int64", 2 * vq),
                                                   ("svevsf", "ieee_single", 4 * vq), ("svevsu", "uint32", 4 * vq), ("svevss", "int32", 4 * vq),
                                                   ("svevhf", "ieee_half", 8 * vq), ("svevhu", "uint16", 8 * vq), ("svevhs", "int16", 8 * vq),
                                                   ("svevbu", "uint8", 16 * vq), ("svevbs", "int8", 16 * vq), ("svep", "uint8", 2 * vq)]
            let unions: [(String, [(String, String)])] = [
                ("svevnq", [("u", "svevqu"), ("s", "svevqs")]),
                ("svevnd", [("f", "svevdf"), ("u", "svevdu"), ("s", "svevds")]),
                ("svevns", [("f", "svevsf"), ("u", "svevsu"), ("s", "svevss")]),
                ("svevnh", [("f", "svevhf"), ("u", "svevhu"), ("s", "svevhs")]),
                ("svevnb", [("u", "svevbu"), ("s", "svevbs")]),
                ("svev", [("q", "svevnq"), ("d", "svevnd"), ("s", "svevns"), ("h", "svevnh"), ("b", "svevnb")]),
            ]
            return vectorTypes(vectors, unions: unions)
        default:
            return ""
        }
    }

    /// `<vector>` types (id, element type, count), then `<union>`s of named fields over them.
    private static func vectorTypes(_ vectors: [(String, String, Int)], unions: [(String, [(String, String)])]) -> String {
        var t = ""
        for (id, type, count) in vectors { t += "<vector id=\"\(id)\" type=\"\(type)\" count=\"\(count)\"/>\n" }
        for (id, fields) in unions {
            t += "<union id=\"\(id)\">\n"
            for (n, type) in fields { t += "<field name=\"\(n)\" type=\"\(type)\"/>\n" }
            t += "</union>\n"
        }
        return t
    }

    private static func flags(_ id: String, _ size: Int, _ bits: [(String, Int)]) -> String {
        var s = "<flags id=\"\(id)\" size=\"\(size)\">\n"
        for (n, b) in bits {
            let end = n == "EL" ? b + 1 : b
            s += "<field name=\"\(n)\" start=\"\(b)\" end=\"\(end)\"/>\n"
        }
        return s + "</flags>\n"
    }
}
