import KVMDebugModel

/// A user image after parsing: where its bytes go, its entry and its symbols.
public struct LoadedImage: Sendable {
    public var arch: Arch
    public var isELF: Bool
    /// Bytes to place in guest-physical memory (ELF: one per PT_LOAD, zero-filled to p_memsz).
    public var segments: [GuestData]
    /// The entry point (ELF e_entry translated to a load address, raw: the load address); nil if none.
    public var entry: UInt64?
    public var symbols: [GuestSymbol]

    public init(arch: Arch, isELF: Bool, segments: [GuestData], entry: UInt64?, symbols: [GuestSymbol]) {
        self.arch = arch
        self.isELF = isELF
        self.segments = segments
        self.entry = entry
        self.symbols = symbols
    }

    /// The symbol called `name`, if the image has one.
    public func symbol(_ name: String) -> GuestSymbol? {
        symbols.first { $0.name == name }
    }
}

/// Loads `kvmdbg run --image FILE`: a raw flat binary or an ELF64 executable.
public enum ImageLoader {
    /// Where a raw binary is loaded when `--load-addr` is not given.
    public static func defaultLoadAddress(for arch: Arch) -> UInt64 {
        switch arch {
        case .x86_64: return 0x1000
        case .arm64: return 0x10000
        }
    }

    /// The largest guest RAM an image may need.
    public static let maxMemory: UInt64 = 1 << 30
    static let twoMiB: UInt64 = 0x20_0000
    static let sixtyFourKiB: UInt64 = 0x1_0000
    static let oneMiB: UInt64 = 0x10_0000

    /// Parses an image.
    ///
    /// ELF (by the `\x7fELF` magic): ELF64 little-endian x86_64 or aarch64 only; PT_LOAD
    /// segments at `p_paddr` (or `p_vaddr` when `p_paddr` is 0), file bytes plus zero fill
    /// to `p_memsz`; entry `e_entry`; FUNC/OBJECT/NOTYPE symbols of `.symtab` (or `.dynsym`)
    /// with a name and a non-zero value. `arch`, if given, must match `e_machine`;
    /// `loadAddress` must be nil (segments say where they go).
    ///
    /// Anything else is a raw flat binary: loaded at `loadAddress` (default x86_64 0x1000,
    /// arm64 0x10000), entry = load address, symbols `entry` and `image`. `arch` is required.
    public static func load(bytes: [UInt8], arch: Arch?, loadAddress: UInt64?) throws(DebugError) -> LoadedImage {
        if ELFFile.hasMagic(bytes) {
            return try loadELF(bytes: bytes, arch: arch, loadAddress: loadAddress)
        }
        guard let arch else {
            throw .badImage(reason: "a raw binary (no ELF header) needs --arch x86_64 or --arch arm64")
        }
        guard !bytes.isEmpty else { throw .badImage(reason: "the image is empty (0 bytes)") }
        let base = loadAddress ?? defaultLoadAddress(for: arch)
        guard base <= UInt64.max - UInt64(bytes.count) else {
            throw .badImage(reason: "\(bytes.count) bytes at \(hex(base)) wrap the address space")
        }
        return LoadedImage(
            arch: arch, isELF: false,
            segments: [GuestData(address: base, bytes: bytes)],
            entry: base,
            symbols: [GuestSymbol(name: "entry", address: base, size: 0),
                      GuestSymbol(name: "image", address: base, size: UInt64(bytes.count))])
    }

    private static func loadELF(bytes: [UInt8], arch: Arch?, loadAddress: UInt64?) throws(DebugError) -> LoadedImage {
        let elf = try ELFFile(bytes: bytes)
        guard let elfArch = ELFFile.arch(machine: elf.machine) else {
            // ELFFile already refuses other machines; kept for exhaustiveness.
            throw .badImage(reason: "ELF e_machine \(elf.machine) is not x86_64 (62) or aarch64 (183)")
        }
        if let arch, arch != elfArch {
            throw .badImage(reason: "--arch \(arch.name) contradicts the ELF file's e_machine \(elf.machine) (\(ELFFile.machineName(elf.machine))); pass --arch \(elfArch.name) or leave --arch out")
        }
        if let loadAddress {
            throw .badImage(reason: "--load-addr \(hex(loadAddress)) applies to raw binaries only; an ELF file's PT_LOAD segments say where they load (p_paddr)")
        }
        let loads = elf.loadSegments
        guard !loads.isEmpty else {
            let hint = elf.type == 1 ? " (this is a relocatable object: link it, e.g. cc -nostdlib -static -Wl,-Ttext=0x1000)" : ""
            throw .badImage(reason: "the ELF file has no PT_LOAD segments\(hint)")
        }
        var segments: [GuestData] = []
        for p in loads {
            let start = Int(p.offset)  // bounds-checked by ELFFile
            var seg = [UInt8](repeating: 0, count: Int(p.memorySize))
            if p.fileSize > 0 {
                seg.replaceSubrange(0..<Int(p.fileSize), with: bytes[start..<(start + Int(p.fileSize))])
            }
            segments.append(GuestData(address: p.loadAddress, bytes: seg))
        }

        /// Virtual address -> load address through the segment that contains it.
        func translate(_ v: UInt64) -> UInt64 {
            for p in loads where v >= p.virtualAddress && v - p.virtualAddress < p.memorySize {
                return p.loadAddress &+ (v - p.virtualAddress)
            }
            for p in loads where v >= p.virtualAddress && v - p.virtualAddress == p.memorySize {
                return p.loadAddress &+ p.memorySize  // end-of-segment symbols such as _end
            }
            return v
        }

        var symbols: [GuestSymbol] = []
        var index: [String: (position: Int, global: Bool)] = [:]
        for s in elf.symbols where s.type <= 2 && !s.name.isEmpty && s.value != 0 {
            let global = s.binding != 0
            let sym = GuestSymbol(name: s.name, address: translate(s.value), size: s.size)
            if let seen = index[s.name] {
                // Keep one symbol per name, preferring a global/weak one over a local one.
                if global && !seen.global {
                    symbols[seen.position] = sym
                    index[s.name] = (seen.position, true)
                }
            } else {
                index[s.name] = (symbols.count, global)
                symbols.append(sym)
            }
        }
        symbols.sort { $0.address != $1.address ? $0.address < $1.address : $0.name < $1.name }

        return LoadedImage(arch: elfArch, isELF: true, segments: segments,
                           entry: elf.entry == 0 ? nil : translate(elf.entry), symbols: symbols)
    }

    /// Builds a runnable guest from a parsed image.
    ///
    /// x86_64: mode `.real` or `.long` (default `.long`); RAM from 0, sized to the next
    /// 2 MiB multiple above the highest segment end plus `X86Boot.reservedTop` (at least
    /// 2 MiB, at most 1 GiB). Real mode needs everything below 1 MiB and an entry below
    /// 64 KiB (CS = 0). arm64: mode `.el1`; RAM from min(0x10000, lowest segment rounded
    /// down to 64 KiB), covering every segment rounded up to 64 KiB plus 64 KiB spare.
    /// `entry` (already resolved with `resolveEntry`) overrides the image's entry; with
    /// neither, the lowest segment's start is used.
    public static func guest(from image: LoadedImage, name: String, mode: CPUMode?, entry: UInt64?) throws(DebugError) -> Guest {
        let (segments, highestEnd) = try orderedSegments(image)
        let first = segments[0]
        let lowest = first.address
        let start = entry ?? image.entry ?? lowest
        let cpuMode = mode ?? image.arch.defaultMode
        try image.arch.validate(mode: cpuMode)
        let ram = try memory(image.arch, mode: cpuMode, lowest: lowest, highestEnd: highestEnd, entry: start)

        // Raw binaries: the `entry` symbol follows an --entry override.
        var symbols = image.symbols
        if !image.isELF, let i = symbols.firstIndex(where: { $0.name == "entry" }) {
            symbols[i].address = start
        }
        let segText = segments.count == 1 ? "\(first.bytes.count) bytes at \(hex(lowest))"
            : "\(segments.count) segments \(hex(lowest))..\(hex(highestEnd))"
        let g = Guest(
            name: name, arch: image.arch, mode: cpuMode,
            memoryBase: ram.base, memorySize: ram.size,
            loadAddress: lowest, image: first.bytes, data: Array(segments.dropFirst()),
            entry: start, symbols: symbols,
            summary: "\(image.isELF ? "ELF" : "raw") \(image.arch.name) image \(name): \(segText), entry \(hex(start)), \(symbols.count) symbol\(symbols.count == 1 ? "" : "s") (\(modeText(cpuMode)))")
        if cpuMode == .long { try checkClearOfBootTables(g, segments) }
        try g.validate()
        return g
    }

    /// The image's non-empty segments, lowest first, and the highest end; throws when it has
    /// none, or one wraps the address space or overlaps another.
    private static func orderedSegments(_ image: LoadedImage) throws(DebugError) -> ([GuestData], highestEnd: UInt64) {
        let segments = image.segments.filter { !$0.bytes.isEmpty }.sorted { $0.address < $1.address }
        guard !segments.isEmpty else { throw .badImage(reason: "the image has no bytes to load") }
        var highestEnd: UInt64 = 0
        var previous: GuestData? = nil
        for s in segments {
            let (end, overflow) = s.address.addingReportingOverflow(UInt64(s.bytes.count))
            guard !overflow else { throw .badImage(reason: "segment at \(hex(s.address)) wraps the address space") }
            // Two segments loading over the same bytes: which one wins would be an accident of order.
            if let p = previous, s.address < p.address &+ UInt64(p.bytes.count) {
                throw .badImage(reason: "segments \(hex(p.address))..\(hex(p.address &+ UInt64(p.bytes.count))) and \(hex(s.address))..\(hex(end)) overlap; relink so each byte loads once")
            }
            previous = s
            highestEnd = max(highestEnd, end)
        }
        return (segments, highestEnd)
    }

    /// Guest RAM for an image spanning `lowest..<highestEnd` (see `guest(from:...)`), after the
    /// arch's own limits: real mode's 1 MiB and 16-bit entry, x86's reserved top, arm64's entry alignment.
    private static func memory(_ arch: Arch, mode: CPUMode, lowest: UInt64, highestEnd: UInt64,
                               entry start: UInt64) throws(DebugError) -> (base: UInt64, size: UInt64) {
        switch arch {
        case .x86_64:
            if mode == .real {
                if highestEnd > oneMiB {
                    throw .badImage(reason: "real mode needs the whole image below 1 MiB (0x100000), but it ends at \(hex(highestEnd)); load it lower or use --mode long")
                }
                if start >= 0x1_0000 {
                    throw .badImage(reason: "real-mode entry \(hex(start)) must be below 0x10000 (CS = 0, 16-bit IP); load the code lower or use --mode long")
                }
            }
            let maxNeed = maxMemory - X86Boot.reservedTop
            guard highestEnd <= maxNeed else {
                throw .badImage(reason: "image too large: it ends at \(hex(highestEnd)), but x86_64 guest RAM is at most 1 GiB with \(hex(X86Boot.reservedTop)) bytes at the top reserved for page tables and GDT (image must end at or below \(hex(maxNeed)))")
            }
            return (0, max(twoMiB, roundUp(highestEnd + X86Boot.reservedTop, to: twoMiB)))
        case .arm64:
            if start % 4 != 0 {
                throw .misaligned(address: start, alignment: 4, what: "arm64 entry")
            }
            let ram = Arm64GuestRAM.layout(lowest: lowest, highestEnd: highestEnd)
            guard highestEnd - ram.base <= maxMemory - sixtyFourKiB else {
                throw .badImage(reason: "image too large: it spans \(hex(ram.base))..\(hex(highestEnd)), but arm64 guest RAM is at most 1 GiB (including 64 KiB spare)")
            }
            return (ram.base, ram.size)
        }
    }

    private static func modeText(_ mode: CPUMode) -> String {
        switch mode {
        case .real: return "16-bit real mode"
        case .long: return "64-bit long mode"
        case .el1: return "EL1, MMU off"
        }
    }

    /// Long mode: no segment may load over the page tables and GDT `X86Boot` builds.
    private static func checkClearOfBootTables(_ g: Guest, _ segments: [GuestData]) throws(DebugError) {
        let tables = X86Boot.tablesBase(for: g)
        let tablesEnd = tables + X86Boot.reservedTop
        for s in segments {
            let end = s.address + UInt64(s.bytes.count)
            if s.address < tablesEnd && end > tables {
                throw .badImage(reason: "segment \(hex(s.address))..\(hex(end)) overlaps the long-mode page tables and GDT at \(hex(tables))..\(hex(tablesEnd)); move it below \(hex(tables))")
            }
        }
    }

    /// The last path component (`/a/b/guest.elf` -> `guest.elf`).
    public static func baseName(of path: String) -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        return parts.last.map(String.init) ?? path
    }

    static func roundUp(_ v: UInt64, to m: UInt64) -> UInt64 {
        (v + m - 1) / m * m
    }
}
