import Foundation
import Testing
import KVMDebugCLI
import KVMDebugCore
import KVMTestSupport

// MARK: - A tiny ELF64 little-endian writer

/// One symbol for `TestELF`.
struct TestSymbol {
    var name: String
    var value: UInt64
    var size: UInt64 = 0
    /// STT_*: 0 NOTYPE, 1 OBJECT, 2 FUNC, 3 SECTION, 4 FILE.
    var type: UInt8 = 2
    /// STB_*: 0 LOCAL, 1 GLOBAL, 2 WEAK.
    var bind: UInt8 = 1
    var section: UInt16 = 1
}

/// Writes an ELF64 LE executable: one PT_LOAD (the `code` bytes, zero-filled to `memsz`),
/// and sections null, .text, .symtab (or .dynsym), .strtab, .shstrtab.
struct TestELF {
    var machine: UInt16 = 62
    var entry: UInt64 = 0x1000
    var vaddr: UInt64 = 0x1000
    var paddr: UInt64 = 0x1000
    var code: [UInt8] = [0x90, 0x90, 0xEB, 0xFE]
    var memsz: UInt64? = nil
    var symbols: [TestSymbol] = []
    /// 2 = SHT_SYMTAB, 11 = SHT_DYNSYM.
    var symbolTableType: UInt32 = 2

    static let codeOffset = 0x100

    func bytes() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: TestELF.codeOffset)
        out += code
        // .strtab
        let strtabOffset = out.count
        var strtab: [UInt8] = [0]
        var nameOffsets: [UInt32] = []
        for s in symbols {
            nameOffsets.append(UInt32(strtab.count))
            strtab += Array(s.name.utf8) + [0]
        }
        out += strtab
        // .shstrtab
        let shstrtabOffset = out.count
        let shnames = ["", ".text", symbolTableType == 2 ? ".symtab" : ".dynsym", ".strtab", ".shstrtab"]
        var shstrtab: [UInt8] = []
        var shnameOffsets: [UInt32] = []
        for n in shnames {
            shnameOffsets.append(UInt32(shstrtab.count))
            shstrtab += Array(n.utf8) + [0]
        }
        out += shstrtab
        pad(&out, to: 8)
        // .symtab: null symbol then ours
        let symtabOffset = out.count
        out += [UInt8](repeating: 0, count: 24)
        for (i, s) in symbols.enumerated() {
            out += le(UInt64(nameOffsets[i]), 4)
            out += [(s.bind << 4) | s.type, 0]
            out += le(UInt64(s.section), 2)
            out += le(s.value, 8)
            out += le(s.size, 8)
        }
        let symtabSize = out.count - symtabOffset
        pad(&out, to: 8)
        // Section headers.
        let shoff = out.count
        func shdr(_ name: UInt32, _ type: UInt32, flags: UInt64 = 0, addr: UInt64 = 0, offset: Int, size: Int,
                  link: UInt32 = 0, info: UInt32 = 0, align: UInt64 = 1, entsize: UInt64 = 0) -> [UInt8] {
            le(UInt64(name), 4) + le(UInt64(type), 4) + le(flags, 8) + le(addr, 8) + le(UInt64(offset), 8)
                + le(UInt64(size), 8) + le(UInt64(link), 4) + le(UInt64(info), 4) + le(align, 8) + le(entsize, 8)
        }
        out += [UInt8](repeating: 0, count: 64)
        out += shdr(shnameOffsets[1], 1, flags: 6, addr: vaddr, offset: TestELF.codeOffset, size: code.count)
        out += shdr(shnameOffsets[2], symbolTableType, offset: symtabOffset, size: symtabSize, link: 3, info: 1,
                    align: 8, entsize: 24)
        out += shdr(shnameOffsets[3], 3, offset: strtabOffset, size: strtab.count)
        out += shdr(shnameOffsets[4], 3, offset: shstrtabOffset, size: shstrtab.count)

        // ELF header.
        var h: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        h += le(2, 2)                      // e_type EXEC
        h += le(UInt64(machine), 2)        // e_machine
        h += le(1, 4)                      // e_version
        h += le(entry, 8)                  // e_entry
        h += le(64, 8)                     // e_phoff
        h += le(UInt64(shoff), 8)          // e_shoff
        h += le(0, 4)                      // e_flags
        h += le(64, 2) + le(56, 2) + le(1, 2)   // e_ehsize, e_phentsize, e_phnum
        h += le(64, 2) + le(5, 2) + le(4, 2)    // e_shentsize, e_shnum, e_shstrndx
        // Program header: PT_LOAD R+X.
        var p: [UInt8] = le(1, 4) + le(5, 4) + le(UInt64(TestELF.codeOffset), 8)
        p += le(vaddr, 8) + le(paddr, 8) + le(UInt64(code.count), 8) + le(memsz ?? UInt64(code.count), 8)
        p += le(0x1000, 8)
        out.replaceSubrange(0..<h.count, with: h)
        out.replaceSubrange(64..<(64 + p.count), with: p)
        return out
    }

    private func le(_ v: UInt64, _ n: Int) -> [UInt8] { littleEndianBytes(v, count: n) }
    private func pad(_ b: inout [UInt8], to a: Int) { while b.count % a != 0 { b.append(0) } }
}


/// The reason of a `badImage`, or nil for any other outcome.
func badImageReason(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        if case .badImage(let r)? = error as? DebugError { return r }
        return nil
    }
}

func sampleX86ELF() -> TestELF {
    var e = TestELF()
    e.code = [0x48, 0x31, 0xC0, 0x48, 0xFF, 0xC0, 0xEB, 0xFB, 0, 0, 0, 0, 0, 0, 0, 0]
    e.memsz = 0x20   // 16 bytes of .bss-style zero fill
    e.symbols = [
        TestSymbol(name: "_start", value: 0x1000, size: 3, type: 2),
        TestSymbol(name: "loop", value: 0x1003, size: 5, type: 2),
        TestSymbol(name: "counter", value: 0x1010, size: 8, type: 1),
        TestSymbol(name: "label", value: 0x1006, size: 0, type: 0, bind: 0),
        TestSymbol(name: "x.S", value: 0, type: 4, bind: 0, section: 0xFFF1),       // FILE: skipped
        TestSymbol(name: ".text", value: 0x1000, type: 3, bind: 0),                   // SECTION: skipped
        TestSymbol(name: "undefined", value: 0, type: 0, section: 0),                 // value 0: skipped
        TestSymbol(name: "", value: 0x1004, type: 2),                                 // no name: skipped
    ]
    return e
}

// MARK: - Tests

@Suite("ImageLoader")
struct ImageLoaderTests {
    @Test func x86ELFSegmentsEntryAndSymbols() throws {
        let e = sampleX86ELF()
        let img = try ImageLoader.load(bytes: e.bytes(), arch: nil, loadAddress: nil)
        #expect(img.arch == .x86_64)
        #expect(img.isELF)
        #expect(img.entry == 0x1000)
        #expect(img.segments.count == 1)
        #expect(img.segments[0].address == 0x1000)
        #expect(img.segments[0].bytes == e.code + [UInt8](repeating: 0, count: 16))
        let byName = Dictionary(uniqueKeysWithValues: img.symbols.map { ($0.name, $0) })
        #expect(Set(byName.keys) == ["_start", "loop", "counter", "label"])
        #expect(byName["_start"] == GuestSymbol(name: "_start", address: 0x1000, size: 3))
        #expect(byName["loop"] == GuestSymbol(name: "loop", address: 0x1003, size: 5))
        #expect(byName["counter"] == GuestSymbol(name: "counter", address: 0x1010, size: 8))
        #expect(byName["label"] == GuestSymbol(name: "label", address: 0x1006, size: 0))
        // Sorted by address.
        #expect(img.symbols.map(\.address) == img.symbols.map(\.address).sorted())

        // Same result when --arch agrees.
        let again = try ImageLoader.load(bytes: e.bytes(), arch: .x86_64, loadAddress: nil)
        #expect(again.symbols == img.symbols)

        let g = try ImageLoader.guest(from: img, name: "prog.elf", mode: nil, entry: nil)
        #expect(g.name == "prog.elf")
        #expect(g.arch == .x86_64)
        #expect(g.mode == .long)
        #expect(g.memoryBase == 0)
        #expect(g.memorySize == 0x20_0000)
        #expect(g.loadAddress == 0x1000)
        #expect(g.image == img.segments[0].bytes)
        #expect(g.data.isEmpty)
        #expect(g.entry == 0x1000)
        #expect(g.symbol("loop")?.address == 0x1003)
        try g.validate()
        #expect(X86Boot.tablesBase(for: g) >= 0x1020)
    }

    @Test func arm64ELF() throws {
        var e = TestELF()
        e.machine = 183
        e.vaddr = 0x40000
        e.paddr = 0x40000
        e.entry = 0x40004
        e.code = [0x1F, 0x20, 0x03, 0xD5, 0x00, 0x00, 0x00, 0x14]   // nop; b .
        e.memsz = 0x1_0008  // spills past one 64 KiB block
        e.symbols = [TestSymbol(name: "start", value: 0x40000, size: 4),
                     TestSymbol(name: "spin", value: 0x40004, size: 4),
                     TestSymbol(name: "buffer", value: 0x40008, size: 0x10000, type: 1)]
        let img = try ImageLoader.load(bytes: e.bytes(), arch: .arm64, loadAddress: nil)
        #expect(img.arch == .arm64)
        #expect(img.entry == 0x40004)
        #expect(img.segments == [GuestData(address: 0x40000, bytes: e.code + [UInt8](repeating: 0, count: 0x1_0000))])
        #expect(img.symbol("spin") == GuestSymbol(name: "spin", address: 0x40004, size: 4))
        #expect(img.symbol("buffer") == GuestSymbol(name: "buffer", address: 0x40008, size: 0x10000))

        let g = try ImageLoader.guest(from: img, name: "a.elf", mode: nil, entry: nil)
        #expect(g.mode == .el1)
        #expect(g.memoryBase == 0x10000)
        // Segments end at 0x50008: span 0x40008 -> 0x50000 rounded, plus 64 KiB spare.
        #expect(g.memorySize == 0x50000 + 0x10000)
        #expect(g.entry == 0x40004)
        try g.validate()

        // A segment below 0x10000 lowers the base to its 64 KiB block.
        var low = TestELF()
        low.machine = 183
        low.vaddr = 0x8000; low.paddr = 0x8000; low.entry = 0x8000
        let lg = try ImageLoader.guest(from: ImageLoader.load(bytes: low.bytes(), arch: nil, loadAddress: nil),
                                       name: "low", mode: nil, entry: nil)
        #expect(lg.memoryBase == 0)
        #expect(lg.memorySize == 0x20000)

        // arm64 refuses x86 modes and misaligned entries.
        #expect(throws: DebugError.self) { try ImageLoader.guest(from: img, name: "a", mode: .long, entry: nil) }
        #expect(throws: DebugError.misaligned(address: 0x40002, alignment: 4, what: "arm64 entry")) {
            try ImageLoader.guest(from: img, name: "a", mode: nil, entry: 0x40002)
        }
    }

    @Test func physicalAddressFallbackAndTranslation() throws {
        // p_paddr 0, p_vaddr set: load at p_vaddr.
        var e = TestELF()
        e.vaddr = 0x40_1000; e.paddr = 0; e.entry = 0x40_1002
        e.symbols = [TestSymbol(name: "f", value: 0x40_1002, size: 2)]
        let img = try ImageLoader.load(bytes: e.bytes(), arch: nil, loadAddress: nil)
        #expect(img.segments.map(\.address) == [0x40_1000])
        #expect(img.entry == 0x40_1002)
        #expect(img.symbol("f")?.address == 0x40_1002)
        let g = try ImageLoader.guest(from: img, name: "hi", mode: .long, entry: nil)
        #expect(g.memorySize == 0x60_0000)

        // Higher-half link address with a low physical load address: entry and symbols follow p_paddr.
        var k = TestELF()
        k.vaddr = 0xFFFF_FFFF_8000_1000; k.paddr = 0x2000; k.entry = 0xFFFF_FFFF_8000_1001
        k.symbols = [TestSymbol(name: "kmain", value: 0xFFFF_FFFF_8000_1002, size: 2),
                     TestSymbol(name: "_end", value: 0xFFFF_FFFF_8000_1004, type: 0)]
        let ki = try ImageLoader.load(bytes: k.bytes(), arch: .x86_64, loadAddress: nil)
        #expect(ki.segments.map(\.address) == [0x2000])
        #expect(ki.entry == 0x2001)
        #expect(ki.symbol("kmain")?.address == 0x2002)
        #expect(ki.symbol("_end")?.address == 0x2004)
    }

    @Test func dynsymFallbackAndGlobalPreference() throws {
        var e = TestELF()
        e.symbolTableType = 11
        e.symbols = [TestSymbol(name: "dup", value: 0x1001, bind: 0),
                     TestSymbol(name: "dup", value: 0x1002, bind: 1),
                     TestSymbol(name: "only", value: 0x1003)]
        let img = try ImageLoader.load(bytes: e.bytes(), arch: nil, loadAddress: nil)
        #expect(img.symbols.filter { $0.name == "dup" }.map(\.address) == [0x1002])
        #expect(img.symbol("only")?.address == 0x1003)
    }

    @Test func archMismatchIsBadImage() throws {
        let x86 = sampleX86ELF().bytes()
        let r1 = badImageReason { _ = try ImageLoader.load(bytes: x86, arch: .arm64, loadAddress: nil) }
        #expect(r1?.contains("contradicts") == true)
        #expect(r1?.contains("x86_64") == true)
        var a = TestELF(); a.machine = 183
        let r2 = badImageReason { _ = try ImageLoader.load(bytes: a.bytes(), arch: .x86_64, loadAddress: nil) }
        #expect(r2?.contains("contradicts") == true)
        #expect(r2?.contains("aarch64") == true)
        // --load-addr is for raw binaries only.
        let r3 = badImageReason { _ = try ImageLoader.load(bytes: x86, arch: nil, loadAddress: 0x2000) }
        #expect(r3?.contains("--load-addr") == true)
    }

    @Test func unsupportedELFVariants() throws {
        let good = sampleX86ELF().bytes()
        var elf32 = good; elf32[4] = 1
        #expect(badImageReason { _ = try ImageLoader.load(bytes: elf32, arch: nil, loadAddress: nil) }?.contains("32-bit") == true)
        var be = good; be[5] = 2
        #expect(badImageReason { _ = try ImageLoader.load(bytes: be, arch: nil, loadAddress: nil) }?.contains("big-endian") == true)
        var riscv = TestELF(); riscv.machine = 243
        let r = badImageReason { _ = try ImageLoader.load(bytes: riscv.bytes(), arch: nil, loadAddress: nil) }
        #expect(r?.contains("243") == true)
        #expect(r?.contains("RISC-V") == true)
        var arm32 = TestELF(); arm32.machine = 40
        #expect(badImageReason { _ = try ImageLoader.load(bytes: arm32.bytes(), arch: .arm64, loadAddress: nil) } != nil)
        // An ELF with no PT_LOAD at all.
        var noLoad = good
        noLoad.replaceSubrange(64..<68, with: [6, 0, 0, 0])   // PT_PHDR
        #expect(badImageReason { _ = try ImageLoader.load(bytes: noLoad, arch: nil, loadAddress: nil) }?.contains("PT_LOAD") == true)
        // p_filesz beyond the file.
        var big = good
        big.replaceSubrange((64 + 32)..<(64 + 48), with: littleEndianBytes(0x10_0000) + littleEndianBytes(0x10_0000))
        #expect(badImageReason { _ = try ImageLoader.load(bytes: big, arch: nil, loadAddress: nil) }?.contains("outside") == true)
        // p_memsz over the 1 GiB cap.
        var huge = good
        huge.replaceSubrange((64 + 40)..<(64 + 48), with: littleEndianBytes(1 << 40))
        #expect(badImageReason { _ = try ImageLoader.load(bytes: huge, arch: nil, loadAddress: nil) } != nil)
    }

    @Test func truncatedELFThrowsBadImage() throws {
        let good = sampleX86ELF().bytes()
        _ = try ImageLoader.load(bytes: good, arch: nil, loadAddress: nil)
        for n in 4..<good.count {
            let r = badImageReason { _ = try ImageLoader.load(bytes: Array(good.prefix(n)), arch: nil, loadAddress: nil) }
            #expect(r != nil, "prefix of \(n) bytes should be refused")
        }
        #expect(badImageReason { _ = try ImageLoader.load(bytes: Array(good.prefix(20)), arch: nil, loadAddress: nil) }?.contains("truncated") == true)
    }

    @Test func garbageELFNeverCrashes() throws {
        var rng = SplitMix64(state: 0x6B76_6D64_6267)
        let magic: [UInt8] = [0x7F, 0x45, 0x4C, 0x46]
        // Random bytes after the magic, with and without a plausible e_ident / e_machine.
        for i in 0..<3000 {
            var b = magic
            for _ in 0..<rng.below(400) { b.append(rng.byte()) }
            if i % 2 == 0 && b.count >= 20 {
                b[4] = 2; b[5] = 1; b[6] = 1
                b[18] = i % 4 == 0 ? 62 : 183; b[19] = 0
            }
            do {
                _ = try ImageLoader.load(bytes: b, arch: nil, loadAddress: nil)
            } catch {
                guard case .badImage = error else {
                    Issue.record("garbage gave \(error), expected badImage")
                    continue
                }
            }
        }
        // Random byte mutations of a valid file: must load or throw badImage, never trap.
        // (p_memsz's upper bytes are left alone so a mutation cannot ask for a 1 GiB zero fill.)
        let good = sampleX86ELF().bytes()
        let memszHigh = (64 + 40 + 3)..<(64 + 48)
        var loaded = 0
        for _ in 0..<3000 {
            var b = good
            for _ in 0..<(1 + rng.below(6)) {
                var at = rng.below(b.count)
                while memszHigh.contains(at) || at < 4 { at = rng.below(b.count) }
                b[at] = rng.byte()
            }
            do {
                _ = try ImageLoader.load(bytes: b, arch: nil, loadAddress: nil)
                loaded += 1
            } catch {
                guard case .badImage = error else {
                    Issue.record("mutation gave \(error), expected badImage")
                    continue
                }
            }
        }
        #expect(loaded > 0)   // harmless mutations (code bytes, names) still load
    }

    @Test func rawBinaryDefaults() throws {
        let code: [UInt8] = [0x31, 0xC0, 0x40, 0xEB, 0xFD]
        let x = try ImageLoader.load(bytes: code, arch: .x86_64, loadAddress: nil)
        #expect(!x.isELF)
        #expect(x.arch == .x86_64)
        #expect(x.segments == [GuestData(address: 0x1000, bytes: code)])
        #expect(x.entry == 0x1000)
        #expect(x.symbols == [GuestSymbol(name: "entry", address: 0x1000, size: 0),
                              GuestSymbol(name: "image", address: 0x1000, size: 5)])
        let g = try ImageLoader.guest(from: x, name: "raw.bin", mode: nil, entry: nil)
        #expect(g.mode == .long)
        #expect(g.memoryBase == 0 && g.memorySize == 0x20_0000)
        #expect(g.loadAddress == 0x1000 && g.image == code && g.entry == 0x1000)
        try g.validate()

        let a = try ImageLoader.load(bytes: [0x1F, 0x20, 0x03, 0xD5], arch: .arm64, loadAddress: nil)
        #expect(a.segments.map(\.address) == [0x10000])
        #expect(a.entry == 0x10000)
        #expect(a.symbol("image")?.address == 0x10000)
        let ag = try ImageLoader.guest(from: a, name: "raw", mode: nil, entry: nil)
        #expect(ag.memoryBase == 0x10000 && ag.memorySize == 0x20000 && ag.mode == .el1)

        // --load-addr and an --entry override (the `entry` symbol follows it).
        let c = try ImageLoader.load(bytes: code, arch: .x86_64, loadAddress: 0x7C00)
        #expect(c.entry == 0x7C00 && c.symbol("image")?.address == 0x7C00)
        let start = try ImageLoader.resolveEntry("0x7c02", in: c)
        let cg = try ImageLoader.guest(from: c, name: "boot", mode: .real, entry: start)
        #expect(cg.entry == 0x7C02 && cg.mode == .real)
        #expect(cg.symbol("entry")?.address == 0x7C02)
        #expect(cg.symbol("image")?.address == 0x7C00)

        // A raw binary needs --arch; an empty one is refused.
        #expect(badImageReason { _ = try ImageLoader.load(bytes: code, arch: nil, loadAddress: nil) }?.contains("--arch") == true)
        #expect(badImageReason { _ = try ImageLoader.load(bytes: [], arch: .x86_64, loadAddress: nil) } != nil)
    }

    @Test func x86MemorySizing() throws {
        // Ends exactly at 2 MiB - reservedTop: still 2 MiB.
        let fits = try ImageLoader.load(bytes: [UInt8](repeating: 0x90, count: 0x1000), arch: .x86_64,
                                        loadAddress: 0x20_0000 - X86Boot.reservedTop - 0x1000)
        let g1 = try ImageLoader.guest(from: fits, name: "f", mode: .long, entry: nil)
        #expect(g1.memorySize == 0x20_0000)
        #expect(g1.loadAddress + UInt64(g1.image.count) <= X86Boot.tablesBase(for: g1))
        // One byte further: next 2 MiB multiple.
        let over = try ImageLoader.load(bytes: [UInt8](repeating: 0x90, count: 0x1001), arch: .x86_64,
                                        loadAddress: 0x20_0000 - X86Boot.reservedTop - 0x1000)
        let g2 = try ImageLoader.guest(from: over, name: "o", mode: .long, entry: nil)
        #expect(g2.memorySize == 0x40_0000)
        // Above 1 GiB: too large.
        let far = try ImageLoader.load(bytes: [0xF4], arch: .x86_64, loadAddress: 0x4000_0000)
        let r = badImageReason { _ = try ImageLoader.guest(from: far, name: "far", mode: .long, entry: nil) }
        #expect(r?.contains("too large") == true)
        // Entry outside guest RAM.
        #expect(throws: DebugError.self) {
            try ImageLoader.guest(from: fits, name: "f", mode: .long, entry: 0x4000_0000)
        }
        // x86 refuses el1.
        #expect(throws: DebugError.self) { try ImageLoader.guest(from: fits, name: "f", mode: .el1, entry: nil) }
    }

    @Test func realModeNeedsEverythingBelowOneMiB() throws {
        let above = try ImageLoader.load(bytes: [0xF4, 0xF4], arch: .x86_64, loadAddress: 0xF_FFFF)
        let r = badImageReason { _ = try ImageLoader.guest(from: above, name: "x", mode: .real, entry: 0x1000) }
        #expect(r?.contains("1 MiB") == true)
        // Fine in long mode.
        _ = try ImageLoader.guest(from: above, name: "x", mode: .long, entry: nil)

        var e = TestELF()
        e.vaddr = 0x10_0000; e.paddr = 0x10_0000; e.entry = 0x10_0000
        let hi = try ImageLoader.load(bytes: e.bytes(), arch: nil, loadAddress: nil)
        #expect(badImageReason { _ = try ImageLoader.guest(from: hi, name: "hi", mode: .real, entry: nil) }?.contains("1 MiB") == true)

        // Real mode runs with CS = 0, so the entry must be below 64 KiB.
        let mid = try ImageLoader.load(bytes: [0xF4], arch: .x86_64, loadAddress: 0x2_0000)
        #expect(badImageReason { _ = try ImageLoader.guest(from: mid, name: "m", mode: .real, entry: nil) }?.contains("0x10000") == true)

        let ok = try ImageLoader.load(bytes: [0xF4], arch: .x86_64, loadAddress: 0x7C00)
        let g = try ImageLoader.guest(from: ok, name: "ok", mode: .real, entry: nil)
        #expect(g.mode == .real && g.entry == 0x7C00)
    }

    @Test func resolveEntry() throws {
        let img = try ImageLoader.load(bytes: sampleX86ELF().bytes(), arch: nil, loadAddress: nil)
        #expect(try ImageLoader.resolveEntry("loop", in: img) == 0x1003)
        #expect(try ImageLoader.resolveEntry("0x1006", in: img) == 0x1006)
        #expect(try ImageLoader.resolveEntry("4096", in: img) == 4096)
        let r = badImageReason { _ = try ImageLoader.resolveEntry("nosuch", in: img) }
        #expect(r?.contains("nosuch") == true)
        #expect(r?.contains("loop") == true)
        let g = try ImageLoader.guest(from: img, name: "p", mode: nil, entry: try ImageLoader.resolveEntry("loop", in: img))
        #expect(g.entry == 0x1003)
    }

    @Test func fileLoading() throws {
        let missing = "/nonexistent/dir/kvmdbg-no-such-image.bin"
        let r = badImageReason { _ = try ImageLoader.load(path: missing, arch: .x86_64, loadAddress: nil) }
        #expect(r?.hasPrefix("cannot read \(missing)") == true)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-img-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("sample.elf")
        try Data(sampleX86ELF().bytes()).write(to: file)
        let g = try ImageLoader.guest(path: file.path, arch: nil, mode: nil, loadAddress: nil, entry: "loop")
        #expect(g.name == "sample.elf")
        #expect(g.entry == 0x1003)
        #expect(g.symbol("counter")?.address == 0x1010)
        #expect(badImageReason { _ = try ImageLoader.load(path: dir.path, arch: .x86_64, loadAddress: nil) }?.contains("directory") == true)
    }

    @Test func compiledWithSystemCC() throws {
        let cc = "/usr/bin/cc"
        guard FileManager.default.isExecutableFile(atPath: cc) else {
            print("ImageLoaderTests.compiledWithSystemCC skipped: \(cc) is missing")
            return
        }
        #if !arch(x86_64)
        print("ImageLoaderTests.compiledWithSystemCC skipped: the host cc does not target x86_64")
        return
        #else
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-cc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = dir.appendingPathComponent("x.S")
        let out = dir.appendingPathComponent("X")
        try """
            .code16
            .globl _start
            _start:
                xor %ax, %ax
            .globl loop
            loop:
                inc %ax
                jmp loop

            """.write(to: src, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: cc)
        p.arguments = ["-nostdlib", "-static", "-Wl,-Ttext=0x1000", "-Wl,--build-id=none", "-o", out.path, src.path]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            print("ImageLoaderTests.compiledWithSystemCC skipped: cc exited with \(p.terminationStatus)")
            return
        }
        let img = try ImageLoader.load(path: out.path, arch: nil, loadAddress: nil)
        #expect(img.isELF && img.arch == .x86_64)
        #expect(img.entry == 0x1000)
        #expect(img.symbol("_start")?.address == 0x1000)
        #expect(img.symbol("loop")?.address == 0x1002)   // after 2-byte `xor ax, ax`
        // The code bytes sit at 0x1000 in some segment.
        let text = img.segments.first { $0.address == 0x1000 }
        #expect(text.map { Array($0.bytes.prefix(5)) } == [0x31, 0xC0, 0x40, 0xEB, 0xFD])

        let g = try ImageLoader.guest(path: out.path, arch: .x86_64, mode: .real, loadAddress: nil, entry: "loop")
        #expect(g.name == "X")
        #expect(g.mode == .real)
        #expect(g.entry == 0x1002)
        try g.validate()
        // Every segment (image + data) is in the guest.
        let placed = [GuestData(address: g.loadAddress, bytes: g.image)] + g.data
        #expect(Set(placed) == Set(img.segments.filter { !$0.bytes.isEmpty }))
        #endif
    }
}
