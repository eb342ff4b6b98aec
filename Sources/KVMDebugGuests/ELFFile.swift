import KVMDebugModel

/// A minimal, bounds-checked ELF64 little-endian reader over `[UInt8]`.
///
/// It reads exactly what kvmdbg needs to load a guest image: the file header,
/// the program headers (PT_LOAD segments) and the symbol table (`.symtab`, or
/// `.dynsym` when there is no `.symtab`). Every offset, size and count taken from
/// the file is checked against the file before use; malformed input throws
/// `DebugError.badImage` and never traps.
public struct ELFFile: Sendable {
    /// `e_machine` values kvmdbg accepts.
    public static let machineX86_64: UInt16 = 62
    public static let machineAArch64: UInt16 = 183

    /// `p_type` of a loadable segment.
    public static let ptLoad: UInt32 = 1
    /// `sh_type` values.
    public static let shtSymtab: UInt32 = 2
    public static let shtStrtab: UInt32 = 3
    public static let shtNobits: UInt32 = 8
    public static let shtDynsym: UInt32 = 11

    /// Sizes of the ELF64 structures.
    static let headerSize = 64
    static let programHeaderSize: UInt64 = 56
    static let sectionHeaderSize: UInt64 = 64
    static let symbolSize: UInt64 = 24

    /// The largest total of PT_LOAD `p_memsz` accepted (guest RAM is capped at 1 GiB).
    public static let maxLoadBytes: UInt64 = 1 << 30

    public struct ProgramHeader: Sendable, Hashable {
        public var type: UInt32
        public var flags: UInt32
        public var offset: UInt64
        public var virtualAddress: UInt64
        public var physicalAddress: UInt64
        public var fileSize: UInt64
        public var memorySize: UInt64
        public var align: UInt64

        /// Where the segment is placed in guest-physical memory: `p_paddr`, or
        /// `p_vaddr` when `p_paddr` is 0 and `p_vaddr` is not.
        public var loadAddress: UInt64 {
            physicalAddress == 0 && virtualAddress != 0 ? virtualAddress : physicalAddress
        }
    }

    public struct SectionHeader: Sendable, Hashable {
        public var nameOffset: UInt32
        public var type: UInt32
        public var flags: UInt64
        public var address: UInt64
        public var offset: UInt64
        public var size: UInt64
        public var link: UInt32
        public var info: UInt32
        public var entrySize: UInt64
    }

    public struct Symbol: Sendable, Hashable {
        public var name: String
        public var value: UInt64
        public var size: UInt64
        /// `ELF64_ST_TYPE`: 0 NOTYPE, 1 OBJECT, 2 FUNC, 3 SECTION, 4 FILE, ...
        public var type: UInt8
        /// `ELF64_ST_BIND`: 0 LOCAL, 1 GLOBAL, 2 WEAK.
        public var binding: UInt8
        public var sectionIndex: UInt16
    }

    /// `e_type` (2 EXEC, 3 DYN, 1 REL, 4 CORE).
    public var type: UInt16
    /// `e_machine`.
    public var machine: UInt16
    /// `e_entry` (a virtual address; 0 when the file has none).
    public var entry: UInt64
    public var programHeaders: [ProgramHeader]
    public var sections: [SectionHeader]
    /// Symbols of `.symtab`, or of `.dynsym` if there is no `.symtab` (entry 0 skipped).
    public var symbols: [Symbol]
    /// Which table `symbols` came from: ".symtab", ".dynsym" or nil.
    public var symbolTable: String?

    /// The PT_LOAD program headers with a non-zero `p_memsz`, in file order.
    public var loadSegments: [ProgramHeader] {
        programHeaders.filter { $0.type == ELFFile.ptLoad && $0.memorySize > 0 }
    }

    /// True if `bytes` starts with the ELF magic `\x7fELF`.
    public static func hasMagic(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && bytes[0] == 0x7F && bytes[1] == 0x45 && bytes[2] == 0x4C && bytes[3] == 0x46
    }

    /// A readable name for an `e_machine` value.
    public static func machineName(_ m: UInt16) -> String {
        switch m {
        case 0: return "none"
        case 2: return "SPARC"
        case 3: return "i386"
        case 8: return "MIPS"
        case 20: return "PowerPC"
        case 21: return "PowerPC64"
        case 22: return "s390"
        case 40: return "ARM (32-bit)"
        case 43: return "SPARCv9"
        case 50: return "IA-64"
        case 62: return "x86_64"
        case 183: return "aarch64"
        case 243: return "RISC-V"
        case 247: return "BPF"
        case 258: return "LoongArch"
        default: return "unknown"
        }
    }

    /// The kvmdbg architecture of an `e_machine` value, if it is one kvmdbg debugs.
    public static func arch(machine: UInt16) -> Arch? {
        switch machine {
        case machineX86_64: return .x86_64
        case machineAArch64: return .arm64
        default: return nil
        }
    }

    /// Parses an ELF64 little-endian file for x86_64 or aarch64.
    public init(bytes: [UInt8]) throws(DebugError) {
        let r = ByteReader(bytes: bytes)
        try ELFFile.checkIdentification(bytes)
        type = try r.u16(16, "e_type")
        machine = try r.u16(18, "e_machine")
        guard ELFFile.arch(machine: machine) != nil else {
            throw .badImage(reason: "ELF e_machine \(machine) (\(ELFFile.machineName(machine))) is not supported; kvmdbg loads x86_64 (62) or aarch64 (183) images")
        }
        entry = try r.u64(24, "e_entry")
        let t = try ELFFile.tables(r)
        programHeaders = try ELFFile.programHeaders(r, t.programs)
        sections = try ELFFile.sectionHeaders(r, t.sections)
        if let (index, tableName) = ELFFile.symbolTableIndex(sections) {
            symbols = try ELFFile.symbols(r, sections: sections, table: index, tableName: tableName)
            symbolTable = tableName
        } else {
            symbols = []
            symbolTable = nil
        }
    }

    /// `e_ident`: the magic, ELFCLASS64, little-endian, version 1, and a whole file header.
    private static func checkIdentification(_ bytes: [UInt8]) throws(DebugError) {
        guard hasMagic(bytes) else { throw .badImage(reason: "not an ELF file (no \\x7fELF magic)") }
        guard bytes.count >= 16 else {
            throw .badImage(reason: "truncated ELF identification (\(bytes.count) bytes, need 16)")
        }
        switch bytes[4] {
        case 2: break
        case 1: throw .badImage(reason: "32-bit ELF (ELFCLASS32) is not supported; build a 64-bit ELF (x86_64 or aarch64)")
        default: throw .badImage(reason: "invalid ELF class \(bytes[4]) in e_ident[EI_CLASS] (expected 2, ELFCLASS64)")
        }
        switch bytes[5] {
        case 1: break
        case 2: throw .badImage(reason: "big-endian ELF (ELFDATA2MSB) is not supported; x86_64 and arm64 guests are little-endian")
        default: throw .badImage(reason: "invalid ELF data encoding \(bytes[5]) in e_ident[EI_DATA] (expected 1, little-endian)")
        }
        guard bytes[6] == 1 else { throw .badImage(reason: "unsupported ELF version \(bytes[6]) in e_ident[EI_VERSION] (expected 1)") }
        guard bytes.count >= headerSize else {
            throw .badImage(reason: "truncated ELF header (\(bytes.count) bytes, need \(headerSize))")
        }
    }

    /// Where a header table lies: `e_phoff`/`e_phentsize`/`e_phnum` or the `e_sh*` trio.
    private struct Table {
        var offset: UInt64
        var entrySize: UInt64
        var count: UInt64
    }

    /// The program and section header tables the file header names. With extended numbering,
    /// section 0 holds the real counts when they overflow 16 bits.
    private static func tables(_ r: ByteReader) throws(DebugError) -> (programs: Table, sections: Table) {
        var programs = Table(offset: try r.u64(32, "e_phoff"), entrySize: UInt64(try r.u16(54, "e_phentsize")),
                             count: UInt64(try r.u16(56, "e_phnum")))
        var sections = Table(offset: try r.u64(40, "e_shoff"), entrySize: UInt64(try r.u16(58, "e_shentsize")),
                             count: UInt64(try r.u16(60, "e_shnum")))
        if sections.offset != 0 && (sections.count == 0 || programs.count == 0xFFFF) {
            try checkSectionEntrySize(sections.entrySize)
            let s0 = try sectionHeader(r, at: sections.offset, index: 0)
            if sections.count == 0 { sections.count = s0.size }
            if programs.count == 0xFFFF { programs.count = UInt64(s0.info) }
        }
        if sections.offset == 0 { sections.count = 0 }
        return (programs, sections)
    }

    private static func checkSectionEntrySize(_ size: UInt64) throws(DebugError) {
        guard size >= sectionHeaderSize else {
            throw .badImage(reason: "ELF e_shentsize \(size) is smaller than an ELF64 section header (64)")
        }
    }

    /// Every program header; PT_LOAD ones checked (file bytes inside the file, 1 GiB in all, no wrap).
    private static func programHeaders(_ r: ByteReader, _ t: Table) throws(DebugError) -> [ProgramHeader] {
        if t.count == 0 { return [] }
        guard t.entrySize >= programHeaderSize else {
            throw .badImage(reason: "ELF e_phentsize \(t.entrySize) is smaller than an ELF64 program header (56)")
        }
        try r.checkTable(offset: t.offset, count: t.count, entrySize: t.entrySize, what: "program header table")
        var out: [ProgramHeader] = []
        var totalLoad: UInt64 = 0
        for i in 0..<t.count {
            let o = t.offset + i * t.entrySize
            let p = ProgramHeader(
                type: try r.u32(o, "p_type"), flags: try r.u32(o + 4, "p_flags"),
                offset: try r.u64(o + 8, "p_offset"), virtualAddress: try r.u64(o + 16, "p_vaddr"),
                physicalAddress: try r.u64(o + 24, "p_paddr"), fileSize: try r.u64(o + 32, "p_filesz"),
                memorySize: try r.u64(o + 40, "p_memsz"), align: try r.u64(o + 48, "p_align"))
            if p.type == ptLoad { try checkLoad(p, index: i, file: r, totalLoad: &totalLoad) }
            out.append(p)
        }
        return out
    }

    /// One PT_LOAD segment: its file bytes present, the running total within `maxLoadBytes`,
    /// its guest range not wrapping.
    private static func checkLoad(_ p: ProgramHeader, index i: UInt64, file r: ByteReader,
                                  totalLoad: inout UInt64) throws(DebugError) {
        guard p.fileSize <= p.memorySize else {
            throw .badImage(reason: "ELF program header \(i): p_filesz \(hex(p.fileSize)) exceeds p_memsz \(hex(p.memorySize))")
        }
        guard r.contains(offset: p.offset, count: p.fileSize) else {
            throw .badImage(reason: "ELF program header \(i): file bytes \(hex(p.offset))+\(hex(p.fileSize)) lie outside the \(r.bytes.count)-byte file (truncated?)")
        }
        guard p.memorySize <= maxLoadBytes, p.memorySize <= maxLoadBytes - totalLoad else {
            throw .badImage(reason: "ELF PT_LOAD segments total more than 1 GiB (program header \(i): p_memsz \(hex(p.memorySize)))")
        }
        totalLoad += p.memorySize
        guard p.loadAddress <= UInt64.max - p.memorySize else {
            throw .badImage(reason: "ELF program header \(i): segment at \(hex(p.loadAddress)) + \(hex(p.memorySize)) wraps the address space")
        }
    }

    private static func sectionHeaders(_ r: ByteReader, _ t: Table) throws(DebugError) -> [SectionHeader] {
        if t.count == 0 { return [] }
        try checkSectionEntrySize(t.entrySize)
        try r.checkTable(offset: t.offset, count: t.count, entrySize: t.entrySize, what: "section header table")
        var out: [SectionHeader] = []
        for i in 0..<t.count {
            out.append(try sectionHeader(r, at: t.offset + i * t.entrySize, index: i))
        }
        return out
    }

    /// The symbol table to read: `.symtab`, else `.dynsym`, else none.
    private static func symbolTableIndex(_ sections: [SectionHeader]) -> (index: Int, name: String)? {
        if let i = sections.firstIndex(where: { $0.type == shtSymtab }) { return (i, ".symtab") }
        if let i = sections.firstIndex(where: { $0.type == shtDynsym }) { return (i, ".dynsym") }
        return nil
    }

    private static func sectionHeader(_ r: ByteReader, at o: UInt64, index: UInt64) throws(DebugError) -> SectionHeader {
        guard r.contains(offset: o, count: sectionHeaderSize) else {
            throw .badImage(reason: "ELF section header \(index) at \(hex(o)) lies outside the \(r.bytes.count)-byte file (truncated?)")
        }
        return SectionHeader(
            nameOffset: try r.u32(o, "sh_name"), type: try r.u32(o + 4, "sh_type"),
            flags: try r.u64(o + 8, "sh_flags"), address: try r.u64(o + 16, "sh_addr"),
            offset: try r.u64(o + 24, "sh_offset"), size: try r.u64(o + 32, "sh_size"),
            link: try r.u32(o + 40, "sh_link"), info: try r.u32(o + 44, "sh_info"),
            entrySize: try r.u64(o + 56, "sh_entsize"))
    }

    private static func symbols(_ r: ByteReader, sections: [SectionHeader], table: Int,
                                tableName: String) throws(DebugError) -> [Symbol] {
        let s = sections[table]
        let entSize = s.entrySize == 0 ? symbolSize : s.entrySize
        guard entSize >= symbolSize else {
            throw .badImage(reason: "ELF \(tableName) sh_entsize \(s.entrySize) is smaller than an ELF64 symbol (24)")
        }
        guard r.contains(offset: s.offset, count: s.size) else {
            throw .badImage(reason: "ELF \(tableName) at \(hex(s.offset))+\(hex(s.size)) lies outside the \(r.bytes.count)-byte file (truncated?)")
        }
        guard Int(exactly: s.link).map({ $0 < sections.count }) == true else {
            throw .badImage(reason: "ELF \(tableName) sh_link \(s.link) names no section (there are \(sections.count))")
        }
        let str = sections[Int(s.link)]
        guard str.type == shtStrtab else {
            throw .badImage(reason: "ELF \(tableName) sh_link \(s.link) is not a string table (sh_type \(str.type))")
        }
        guard r.contains(offset: str.offset, count: str.size) else {
            throw .badImage(reason: "ELF string table of \(tableName) at \(hex(str.offset))+\(hex(str.size)) lies outside the \(r.bytes.count)-byte file (truncated?)")
        }
        let count = s.size / entSize
        var out: [Symbol] = []
        if count < 2 { return out }
        out.reserveCapacity(Int(count - 1))
        for i in 1..<count {
            let o = s.offset + i * entSize
            let nameOffset = UInt64(try r.u32(o, "st_name"))
            let info = try r.u8(o + 4, "st_info")
            let shndx = try r.u16(o + 6, "st_shndx")
            let value = try r.u64(o + 8, "st_value")
            let size = try r.u64(o + 16, "st_size")
            let name = try r.cString(base: str.offset, size: str.size, at: nameOffset,
                                     what: "name of \(tableName) symbol \(i)")
            out.append(Symbol(name: name, value: value, size: size, type: info & 0xF, binding: info >> 4,
                              sectionIndex: shndx))
        }
        return out
    }
}

/// Bounds-checked little-endian reads from a byte array; offsets are file-supplied `UInt64`s.
struct ByteReader {
    let bytes: [UInt8]

    /// True if `[offset, offset+count)` lies inside the bytes (no overflow possible).
    func contains(offset: UInt64, count: UInt64) -> Bool {
        let n = UInt64(bytes.count)
        return offset <= n && count <= n - offset
    }

    func checkTable(offset: UInt64, count: UInt64, entrySize: UInt64, what: String) throws(DebugError) {
        let (total, overflow) = count.multipliedReportingOverflow(by: entrySize)
        guard !overflow, contains(offset: offset, count: total) else {
            throw .badImage(reason: "ELF \(what) (\(count) entries of \(entrySize) bytes at \(hex(offset))) lies outside the \(bytes.count)-byte file (truncated?)")
        }
    }

    private func value(_ offset: UInt64, _ width: UInt64, _ what: String) throws(DebugError) -> UInt64 {
        guard contains(offset: offset, count: width) else {
            throw .badImage(reason: "ELF field \(what) at \(hex(offset)) lies outside the \(bytes.count)-byte file (truncated?)")
        }
        let start = Int(offset)
        var v: UInt64 = 0
        for i in 0..<Int(width) { v |= UInt64(bytes[start + i]) << (8 * UInt64(i)) }
        return v
    }

    func u8(_ o: UInt64, _ what: String) throws(DebugError) -> UInt8 { UInt8(try value(o, 1, what)) }
    func u16(_ o: UInt64, _ what: String) throws(DebugError) -> UInt16 { UInt16(try value(o, 2, what)) }
    func u32(_ o: UInt64, _ what: String) throws(DebugError) -> UInt32 { UInt32(try value(o, 4, what)) }
    func u64(_ o: UInt64, _ what: String) throws(DebugError) -> UInt64 { try value(o, 8, what) }

    /// The NUL-terminated string at `at` inside the table `[base, base+size)` (already bounds-checked).
    func cString(base: UInt64, size: UInt64, at: UInt64, what: String) throws(DebugError) -> String {
        guard at < size else {
            if at == 0 && size == 0 { return "" }
            throw .badImage(reason: "ELF \(what): offset \(at) is outside its \(size)-byte string table")
        }
        let start = Int(base + at), end = Int(base + size)
        var i = start
        while i < end && bytes[i] != 0 { i += 1 }
        guard i < end else {
            throw .badImage(reason: "ELF \(what): string at offset \(at) is not NUL-terminated inside its string table")
        }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }
}
