import Testing
import KVMDebugCore
import KVMDebugFake
@testable import KVMDebugGDB

/// QEMU's monitor commands and packets as kvmdbg serves them: `monitor info mem|tlb|registers`,
/// `gva2gpa`, `xp`, `qqemu.sstepbits`/`qqemu.sstep`, `qSearch:memory`, `qXfer:memory-map:read`.
@Suite struct QEMUMonitorTests {
    /// x86 `paged-counter` on the fake, stopped at `inner` (its own CR3 loaded, code linked high).
    static func pagedX86() throws -> Harness {
        let h = try Harness(guest: BuiltinGuests.pagedCounterX86())
        #expect(try h.reply("Z1,ffffffff8000004d,1") == "OK")
        #expect(try h.reply("c").hasPrefix("T05"))
        return h
    }

    /// What QEMU would print for paged-counter's tables (BuiltinGuests.pagedCounterX86): the 2 MiB
    /// identity page (P|RW), code (read-only, supervisor), data (RW), stack (user), the 2 MiB alias.
    static let pagedInfoMem = """
        0000000000000000-0000000000200000 0000000000200000 -rw
        ffffffff80000000-ffffffff80001000 0000000000001000 -r-
        ffffffff80001000-ffffffff80002000 0000000000001000 -rw
        ffffffff80002000-ffffffff80003000 0000000000001000 urw
        ffffffffc0000000-ffffffffc0200000 0000000000200000 -rw

        """

    @Test func infoMemIsQEMUsFormatFromThePageTables() throws {
        let h = try Self.pagedX86()
        #expect(try monitorOutput(h, "info mem") == Self.pagedInfoMem)
        // With paging off every address is physical: the guest's RAM, identity.
        let real = try Harness(guest: BuiltinGuests.counterX86(.real))
        #expect(try monitorOutput(real, "info mem") == "0000000000000000-0000000000200000 0000000000200000 urw\n")
        // monitor phys on: the memory packets are physical, and so is the map.
        _ = try monitorOutput(h, "phys on")
        #expect(try monitorOutput(h, "info mem") == "0000000000000000-0000000000200000 0000000000200000 urw\n")
        #expect(try monitorFailure(h, "info") == "kvmdbg: usage: monitor info mem|registers|tlb\n")
        #expect(try monitorFailure(h, "info mtree").contains("usage: monitor info mem|registers|tlb"))
    }

    @Test func infoMemOnArm64ComesFromBothTranslationTables() throws {
        let h = try Harness(guest: BuiltinGuests.pagedCounterArm64())
        #expect(try monitorOutput(h, "info mem") == "0000000000010000-0000000000030000 0000000000020000 urw\n")  // MMU off: RAM
        #expect(try h.reply("Z1,10058,4") == "OK")  // main: after the MMU is on
        #expect(try h.reply("c").hasPrefix("T05"))
        #expect(try monitorOutput(h, "info mem") == """
            0000000000000000-0000000000200000 0000000000200000 -rw
            ffffffffc0000000-ffffffffc0001000 0000000000001000 -rw

            """)
        #expect(try monitorOutput(h, "gva2gpa 0xffffffffc0000008") == "gpa: 0x11008\n")
        #expect(try monitorOutput(h, "info tlb") == """
            0000000000000000: 0000000000000000 --GA-W
            ffffffffc0000000: 0000000000011000 --GA-W

            """)
    }

    // MARK: The plugins' parsers, replayed on our output

    struct Section: Equatable { var start: UInt64, end: UInt64, read: Bool, write: Bool }

    /// Mirrors GEF's `GefMemoryManager.parse_monitor_info_mem` and `Permission.from_monitor_info_mem`
    /// (gef.py, hugsy/gef): each line split on whitespace into exactly three fields (others are
    /// skipped), the offset field read as hex, the range split at "-" into two hex numbers; the
    /// permission's second character 'r' is READ, its third 'w' is WRITE (its first, user, ignored).
    static func gefSections(_ text: String) -> [Section] {
        var out: [Section] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 3, UInt64(fields[1], radix: 16) != nil else { continue }
            let ends = fields[0].split(separator: "-", omittingEmptySubsequences: false)
            guard ends.count == 2, let start = UInt64(ends[0], radix: 16), let end = UInt64(ends[1], radix: 16) else { continue }
            let perm = Array(fields[2])
            out.append(Section(start: start, end: end, read: perm.count > 1 && perm[1] == "r", write: perm.count > 2 && perm[2] == "w"))
        }
        return out
    }

    struct Page: Equatable { var start: UInt64, size: UInt64, flags: Int }

    /// Mirrors pwndbg's `kernel_vmmap_via_monitor_info_mem` (pwndbg/gdblib/vmmap.py): a lone
    /// "PG disabled" line gives no pages; otherwise every line must hold a "-" and a space (its
    /// `str.index` raises, failing `vmmap`, when one does not); start is before the first "-",
    /// end between it and the first space, size between that and the last space, perms after it;
    /// end - start != size draws a warning; flags are r=4, w=2, plus x=1 always.
    static func pwndbgPages(_ text: String) -> (pages: [Page], failed: Bool, warned: Bool) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast(text.hasSuffix("\n") ? 1 : 0)
        if lines.count == 1 && lines[0] == "PG disabled" { return ([], false, false) }
        var pages: [Page] = []
        var warned = false
        for l in lines {
            let line = Array(l)
            guard let dash = line.firstIndex(of: "-"), let space = line.firstIndex(of: " "), let rspace = line.lastIndex(of: " "),
                  let start = UInt64(String(line[..<dash]), radix: 16), dash + 1 <= space,
                  let end = UInt64(String(line[(dash + 1)..<space]), radix: 16), space + 1 <= rspace,
                  let size = UInt64(String(line[(space + 1)..<rspace]), radix: 16) else { return (pages, true, warned) }
            if end &- start != size { warned = true }
            let perm = String(line[(rspace + 1)...])
            pages.append(Page(start: start, size: size, flags: (perm.contains("r") ? 4 : 0) | (perm.contains("w") ? 2 : 0) | 1))
        }
        return (pages, false, warned)
    }

    @Test func gefAndPwndbgParseEveryLineOfInfoMem() throws {
        let h = try Self.pagedX86()
        let text = try monitorOutput(h, "info mem")
        #expect(Self.gefSections(text) == [
            Section(start: 0, end: 0x200000, read: true, write: true),
            Section(start: 0xFFFF_FFFF_8000_0000, end: 0xFFFF_FFFF_8000_1000, read: true, write: false),
            Section(start: 0xFFFF_FFFF_8000_1000, end: 0xFFFF_FFFF_8000_2000, read: true, write: true),
            Section(start: 0xFFFF_FFFF_8000_2000, end: 0xFFFF_FFFF_8000_3000, read: true, write: true),
            Section(start: 0xFFFF_FFFF_C000_0000, end: 0xFFFF_FFFF_C020_0000, read: true, write: true),
        ])
        let p = Self.pwndbgPages(text)
        #expect(!p.failed && !p.warned)
        #expect(p.pages == [
            Page(start: 0, size: 0x200000, flags: 7), Page(start: 0xFFFF_FFFF_8000_0000, size: 0x1000, flags: 5),
            Page(start: 0xFFFF_FFFF_8000_1000, size: 0x1000, flags: 7), Page(start: 0xFFFF_FFFF_8000_2000, size: 0x1000, flags: 7),
            Page(start: 0xFFFF_FFFF_C000_0000, size: 0x200000, flags: 7),
        ])
        // Paging off: one RAM section each, where QEMU's "PG disabled" leaves both without a map.
        let real = try monitorOutput(try Harness(guest: BuiltinGuests.counterX86(.real)), "info mem")
        #expect(Self.gefSections(real) == [Section(start: 0, end: 0x200000, read: true, write: true)])
        #expect(Self.pwndbgPages(real).pages == [Page(start: 0, size: 0x200000, flags: 7)])
        // The mirrors can fail: a header line breaks pwndbg, QEMU's own paging-off answer maps nothing.
        #expect(Self.pwndbgPages("Virtual ranges:\n" + text).failed)
        #expect(Self.pwndbgPages("PG disabled\n").pages.isEmpty && Self.gefSections("PG disabled\n").isEmpty)
    }

    // MARK: tlb, gva2gpa, xp, registers

    @Test func infoTLBListsEveryLeafWithQEMUsFlags() throws {
        let h = try Self.pagedX86()
        // The fake's interpreter sets no accessed or dirty bits, so only P, U, W (and PS) show.
        #expect(try monitorOutput(h, "info tlb") == """
            0000000000000000: 0000000000000000 --P-----W
            ffffffff80000000: 0000000000001000 ---------
            ffffffff80001000: 0000000000003000 --------W
            ffffffff80002000: 0000000000005000 -------UW
            ffffffffc0000000: 0000000000000000 --P-----W

            """)
        #expect(try monitorOutput(try Harness(guest: BuiltinGuests.counterX86(.real)), "info tlb") == "PG disabled\n")
        // Every flag letter in its place.
        let all = PageMapping(virtualAddress: 0, size: 1 << 21, physicalAddress: 0, entry: 1 << 63 | 0x1FF,
                              writable: true, user: true, executable: false)
        #expect(GDBEngine<FakeSession>.x86Flags(all) == "XGPDACTUW")
        var small = all
        small.size = 1 << 12  // bit 7 of a PTE is PAT, not PS
        #expect(GDBEngine<FakeSession>.x86Flags(small) == "XG-DACTUW")
    }

    @Test func gva2gpaTranslatesThroughThePageTablesEvenInPhysicalMode() throws {
        let h = try Self.pagedX86()
        #expect(try monitorOutput(h, "gva2gpa 0xffffffff80001008") == "gpa: 0x3008\n")
        #expect(try monitorOutput(h, "gva2gpa 0xffffffffc0000000") == "gpa: 0\n")  // C's %#lx prints zero bare
        #expect(try monitorOutput(h, "gva2gpa 0xffffffff80003000") == "Unmapped (PTE not present)\n")
        _ = try monitorOutput(h, "phys on")
        #expect(try monitorOutput(h, "gva2gpa 0xffffffff80002010") == "gpa: 0x5010\n")
        #expect(h.session.physicalMode)
        #expect(try monitorFailure(h, "gva2gpa") == "kvmdbg: usage: monitor gva2gpa ADDR\n")
        #expect(try monitorFailure(h, "gva2gpa zz") == "kvmdbg: usage: monitor gva2gpa ADDR\n")
    }

    @Test func xpExaminesPhysicalMemoryInQEMUsLayout() throws {
        let h = try Self.pagedX86()
        #expect(try monitorOutput(h, "xp /4xg 0x3000") == """
            0000000000003000: 0x0000000000000000 0x1122334455667788
            0000000000003010: 0x0000000000000000 0x0000000000000000

            """)
        #expect(try monitorOutput(h, "xp /10xb 0x1040") == """
            0000000000001040: 0xe8 0x02 0x00 0x00 0x00 0xeb 0xf9 0xe8
            0000000000001048: 0x01 0x00

            """)
        #expect(try monitorOutput(h, "xp /2xw 0x3008") == "0000000000003008: 0x55667788 0x11223344\n")
        #expect(try monitorOutput(h, "xp 0x3008") == "0000000000003008: 0x55667788\n")  // default: one word, hex
        #expect(try monitorOutput(h, "xp /wx 0x300c") == "000000000000300c: 0x11223344\n")
        #expect(try monitorOutput(h, "xp /2dw 0x3008") == "0000000000003008: 1432778632  287454020\n")
        #expect(try monitorOutput(h, "xp /1dg 0x3008") == "0000000000003008:  1234605616436508552\n")
        #expect(try monitorOutput(h, "xp /2uh 0x3008") == "0000000000003008: 30600 21862\n")
        #expect(try monitorOutput(h, "xp /3c 0x1045") == "0000000000001045: '\\xeb' '\\xf9' '\\xe8'\n")
        #expect(try monitorOutput(h, "xp /1o 0x3008") == "0000000000003008: 012531473610\n")
        // A virtual address is not what xp takes: 0xffffffff80001008 is no physical address here.
        #expect(try monitorFailure(h, "xp /xg 0xffffffff80001008").hasPrefix("kvmdbg: ffffffff80001008: Cannot access memory"))
        #expect(try monitorFailure(h, "xp /4z 0x1000").contains("'z' is not a format or size"))
        #expect(try monitorFailure(h, "xp /0x 0x1000").contains("xp count must be 1"))
        #expect(try monitorFailure(h, "xp /99999xg 0x1000").contains("xp count must be 1"))
        #expect(try monitorFailure(h, "xp").contains("usage: monitor xp"))
        #expect(!h.session.physicalMode)  // xp leaves the memory packets' mode as it was
    }

    @Test func infoRegistersIsTheRegisterFileInQEMUsLayout() throws {
        let h = try Self.pagedX86()
        let lines = try monitorOutput(h, "info registers").split(separator: "\n").map(String.init)
        #expect(lines[0] == "RAX=ffffffff80000040 RBX=0000000000000000 RCX=0000000000000000 RDX=0000000000000000")
        #expect(lines[2].hasPrefix("R8 =0000000000000000 R9 =0000000000000000 R10="))
        #expect(lines[4] == "RIP=ffffffff8000004d RFL=00000002 [-------] CPL=0")
        #expect(lines.contains("CS =0008 0000000000000000 ffffffff"))
        #expect(lines.contains("CR0=80050033 CR2=0000000000000000 CR3=0000000000010000 CR4=00000020"))
        #expect(lines.last == "EFER=0000000000000500")
        let real = try monitorOutput(try Harness(guest: BuiltinGuests.counterX86(.real)), "info registers")
        #expect(real.hasPrefix("EAX=00000000 EBX=00000000") && real.contains("EIP=00001000"))
        let arm = try monitorOutput(try Harness(guest: BuiltinGuests.counterArm64()), "info registers")
        let a = arm.split(separator: "\n").map(String.init)
        #expect(a[0].hasPrefix(" PC=0000000000010000 X00=") && a[0].split(separator: " ").count == 3)
        #expect(a[10].hasPrefix("X29=") && a[10].contains(" X30=") && a[10].contains(" SP="))
        #expect(a.contains { $0.hasPrefix("PSTATE=") && $0.hasSuffix("EL1h") })
    }

    // MARK: qqemu.sstep

    @Test func sstepBitsOfferNOIRQWhereBLOCKIRQIsAndItReachesTheControlWord() throws {
        let h = try Harness()
        #expect(try h.reply("qqemu.sstepbits") == "ENABLE=1,NOIRQ=2")
        #expect(try h.reply("Qqemu.sstepbits") == "ENABLE=1,NOIRQ=2")  // what GEF and pwndbg send
        #expect(try h.reply("qqemu.Supported") == "sstepbits;sstep;PhyMemMode")
        #expect(try h.reply("qqemu.sstep") == "0x3")  // QEMU's default: ENABLE|NOIRQ where offered
        func stepControl() throws -> GuestDebugControl {
            #expect(try h.reply("s").hasPrefix("T05"))
            return try #require(h.backend.installedState(vcpu: 0)).control
        }
        #expect(try stepControl().contains([.singleStep, .x86BlockIRQ]))
        #expect(try h.reply("Qqemu.sstep=1") == "OK")
        #expect(try h.reply("qqemu.sstep") == "0x1")
        let off = try stepControl()
        #expect(off.contains(.singleStep) && !off.contains(.x86BlockIRQ))
        #expect(try h.reply("Qqemu.sstep:3") == "OK")  // QEMU's set-table spelling
        #expect(try stepControl().contains([.singleStep, .x86BlockIRQ]))
        #expect(try h.reply("qqemu.sstep=1") == "OK")
        // Refused, and nothing changes: NOTIMER, no ENABLE, unknown bits, not hex.
        for bad in ["Qqemu.sstep=5", "Qqemu.sstep=0", "Qqemu.sstep=2", "Qqemu.sstep=9", "Qqemu.sstep=zz"] {
            #expect(try h.reply(bad).hasPrefix("E."), "\(bad)")
        }
        #expect(try h.reply("Qqemu.sstep=5").contains("NOTIMER"))
        #expect(try h.reply("qqemu.sstep") == "0x1")
        #expect(!(try stepControl()).contains(.x86BlockIRQ))
    }

    @Test(arguments: [UInt32?.none, 0x3_0003, 0xF_0003])
    func withoutBLOCKIRQTheBitIsRefused(mask: UInt32?) throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        b.capabilities.supportedControl = mask.map { GuestDebugControl(rawValue: $0) }
        let h = Harness(backend: b)
        #expect(try h.reply("Qqemu.sstepbits") == "ENABLE=1")
        #expect(try h.reply("qqemu.sstep") == "0x1")
        let refused = try h.reply("Qqemu.sstep=3")
        #expect(refused.hasPrefix("E.") && refused.contains("KVM_GUESTDBG_BLOCKIRQ"))
        #expect(try h.reply("Qqemu.sstep=1") == "OK")
        #expect(try h.reply("s").hasPrefix("T05"))
        #expect(!(try #require(b.installedState(vcpu: 0)).control.contains(.x86BlockIRQ)))
        // arm64 has no such flag at all.
        let arm = try Harness(guest: BuiltinGuests.counterArm64())
        #expect(try arm.reply("qqemu.sstepbits") == "ENABLE=1")
        #expect(try arm.reply("Qqemu.sstep=3").contains("arm64"))
    }

    // MARK: qSearch:memory

    /// `qSearch:memory:ADDR;LEN;PATTERN` with the pattern escaped as gdb sends it.
    func search(_ h: Harness, _ address: UInt64, _ length: UInt64, _ pattern: [UInt8]) throws -> String {
        var payload = Array("qSearch:memory:\(String(address, radix: 16));\(String(length, radix: 16));".utf8)
        for b in pattern {
            if b == 0x23 || b == 0x24 || b == 0x7D || b == 0x2A { payload += [0x7D, b ^ 0x20] } else { payload.append(b) }
        }
        let sum = payload.reduce(UInt8(0)) { $0 &+ $1 }
        let r = try h.feed([UInt8(ascii: "$")] + payload + Array("#" + paddedHex(UInt64(sum), 2)).map { $0.asciiValue! }).packets
        return r.count == 1 ? r[0] : "<\(r.count) replies: \(r)>"
    }

    @Test func searchFindsThroughVirtualMemoryAcrossChunksAndStopsAtAHole() throws {
        let h = try Self.pagedX86()
        let data = littleEndianBytes(BuiltinGuests.dataPattern)
        #expect(try search(h, 0xFFFF_FFFF_8000_1000, 0x2000, data) == "1,ffffffff80001008")
        #expect(try search(h, 0xFFFF_FFFF_8000_1009, 0x1FF7, data) == "0")
        // Not found before the unmapped page at +0x3000: an error naming it, as gdb's own search gives.
        let hole = try search(h, 0xFFFF_FFFF_8000_1009, 0x4000, data)
        #expect(hole.hasPrefix("E.") && hole.contains("0xffffffff80003000"))
        // Found before the hole: found.
        #expect(try search(h, 0xFFFF_FFFF_8000_1000, 0x4000, data) == "1,ffffffff80001008")
        // A pattern straddling the 64 KiB chunk boundary, with bytes gdb must escape.
        let real = try Harness(guest: BuiltinGuests.counterX86(.real))
        let odd: [UInt8] = [0x23, 0x7D, 0x24, 0x2A, 0x00, 0x99]
        try real.backend.writeMemory(0x1_0000 - 3, odd)
        #expect(try search(real, 0, 0x20_0000, odd) == "1,fffd")
        #expect(try search(real, 0, 0x1_0002, odd) == "0")  // ends inside the pattern
        #expect(try search(real, 0xFFFE, 0x100, [0x7D, 0x24]) == "1,fffe")
        #expect(try search(real, 0, 1 << 31, [1]).contains("exceeds"))
        #expect(try real.reply("qSearch:memory:0;10;") == "E01")
        #expect(try real.reply("qSearch:memory:zz;10;a") == "E01")
    }

    // MARK: qXfer:memory-map:read

    @Test func memoryMapIsOptInAndListsWhatTheMemoryPacketsReach() throws {
        #expect(!(try Harness().reply("qSupported:xmlRegisters=i386")).contains("memory-map"))
        var o = GDBEngineOptions()
        o.advertiseMemoryMap = true
        let real = try Harness(guest: BuiltinGuests.counterX86(.real), options: o)
        #expect(try real.reply("qSupported:xmlRegisters=i386").contains("qXfer:memory-map:read+"))
        let ram = try real.reply("qXfer:memory-map:read::0,fff")
        #expect(ram.hasPrefix("l<?xml version=\"1.0\"?>") && ram.contains("<memory-map>"))
        #expect(ram.contains("<memory type=\"ram\" start=\"0x0\" length=\"0x200000\"/>"))
        // With paging on: the mapped virtual ranges, rights merged.
        let h = try Self.pagedX86()
        let whole = try h.reply("qXfer:memory-map:read::0,fff")
        let starts = ["0x0\" length=\"0x200000", "0xffffffff80000000\" length=\"0x3000", "0xffffffffc0000000\" length=\"0x200000"]
        for s in starts { #expect(whole.contains("<memory type=\"ram\" start=\"" + s + "\"/>"), "\(s)") }
        #expect(whole.components(separatedBy: "<memory ").count == 4)
        // In parts, as gdb reads a long one: the same text.
        var text = "", offset = 0
        while true {
            let part = try h.reply("qXfer:memory-map:read::\(String(offset, radix: 16)),40")
            text += part.dropFirst()
            offset += part.count - 1
            if part.first == "l" { break }
            #expect(part.first == "m" && part.count == 0x41)
        }
        #expect("l" + text == whole)
        #expect(try h.reply("qXfer:memory-map:read::zz") == "E00")
    }
}

extension QEMUMonitorTests {
    /// Tables that loop (every PML4 entry points back at the PML4) are scanned up to the budget,
    /// and the ranges found are not passed off as the whole map.
    @Test func aRunawayScanIsAnErrorNotAShortMap() throws {
        var o = GDBEngineOptions()
        o.maxPageTables = 64
        let h = try Harness(guest: BuiltinGuests.counterX86(.long), options: o)
        guard case .x86_64(var r) = try h.session.registers(vcpu: 0) else { return }
        r.cr3 = 0x100000
        try h.session.setRegisters(.x86_64(r), vcpu: 0)
        for i in 0..<512 { try h.backend.writeMemory(0x100000 + UInt64(i) * 8, littleEndianBytes(0x100000 | 3)) }
        let said = try monitorFailure(h, "info mem")
        #expect(said.contains("kvmdbg: the page-table scan stopped after 64 tables"))
        #expect(said.hasPrefix("0000000000000000-"))
        #expect(try monitorOutput(h, "info tlb").hasSuffix("(stopped after \(61 * 512) pages)\n"))
        #expect(try h.reply("qXfer:memory-map:read::0,fff").hasPrefix("E."))  // no map rather than a short one
    }
}

extension QEMUMonitorTests {
    /// gdb reads the map once: when the guest then loads its own page tables, the next stop says so.
    @Test func aStaleMemoryMapIsSaidOnceAtTheNextStop() throws {
        var o = GDBEngineOptions()
        o.advertiseMemoryMap = true
        let h = try Harness(guest: BuiltinGuests.pagedCounterX86(), options: o)
        #expect(try h.reply("qXfer:memory-map:read::0,fff").contains("length=\"0x40000000\""))  // kvmdbg's boot map
        #expect(try h.reply("Z1,ffffffff8000004d,1") == "OK")
        let stop = try h.ask("c")
        #expect(stop.count == 2 && stop[1].hasPrefix("T05"), "\(stop)")
        let said = String(decoding: GDBHex.decode(Array(stop[0].utf8).dropFirst()) ?? [], as: UTF8.self)
        #expect(said.hasPrefix("kvmdbg: vCPU 0's address space changed since gdb read the memory map"), "\(said)")
        // Once: the same tables at the next stop say nothing.
        let again = try h.ask("c")
        #expect(again.count == 1 && again[0].hasPrefix("T05"), "\(again)")
        // Without a map served, nothing is checked or said.
        let plain = try Harness(guest: BuiltinGuests.pagedCounterX86(), options: o)
        #expect(try plain.reply("Z1,ffffffff8000004d,1") == "OK")
        #expect(try plain.ask("c").count == 1)
    }
}
