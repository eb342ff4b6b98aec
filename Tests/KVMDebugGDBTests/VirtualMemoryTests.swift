import Testing
import KVMDebugCore
import KVMDebugFake
@testable import KVMDebugGDB

/// Memory packets by guest-virtual address through the engine: `m`/`M`/`X`/`Z0` translated,
/// unmapped addresses answered with an error (the server stays up), `monitor translate`,
/// `monitor phys` and QEMU's `Qqemu.PhyMemMode`.
@Suite struct VirtualMemoryTests {
    /// The arm64 counter with the MMU on: TTBR1 39-bit, 4 KiB granule, VA 0xffffff8000000000 -> PA 0x11000.
    func arm64Paged() throws -> Harness {
        let h = try Harness(guest: BuiltinGuests.counterArm64())
        let b = h.backend
        try b.writeMemory(0x20000, littleEndianBytes(0x21000 | 3))             // L1[0] -> L2
        try b.writeMemory(0x21000, littleEndianBytes(0x22000 | 3))             // L2[0] -> L3
        try b.writeMemory(0x22000, littleEndianBytes(0x11000 | (1 << 10) | 3)) // L3[0] -> 0x11000
        try b.writeMemory(0x22008, littleEndianBytes(0x10000 | (1 << 10) | 3)) // L3[1] -> 0x10000 (code)
        var r = try b.arm64Registers(vcpu: 0)
        r.sctlrEL1 |= 1
        r.tcrEL1 = 16 | (25 << 16) | (2 << 30)
        r.ttbr1EL1 = 0x20000
        try h.session.setRegisters(.arm64(r), vcpu: 0)
        return h
    }

    @Test func x86ReadsGoThroughTheBootPageTablesAndAnUnmappedAddressIsAnErrorNotAnEnd() throws {
        let h = try Harness()
        #expect(try h.reply("m2008,8") == leHex(BuiltinGuests.dataPattern))
        // 0x40000000 is past the identity-mapped GiB: PDPTE[1] is not present.
        #expect(try h.reply("m40000000,4") == "E0e")
        #expect(try h.reply("M40000000,1:00") == "E0e")
        #expect(try h.reply("m2008,8") == leHex(BuiltinGuests.dataPattern), "the server is still up")
    }

    @Test func monitorTranslatePrintsEveryLevel() throws {
        let h = try Harness()
        let text = try monitorOutput(h, "translate 0x2008")
        #expect(text == """
            vCPU 0: 0x2008: x86_64 4-level paging, root 0x1fc000
              PML4E[0] at 0x1fc000 = 0x1fd003 (table)
              PDPTE[0] at 0x1fd000 = 0x1fe003 (table)
              PDE[0] at 0x1fe000 = 0x83 (2 MiB page, supervisor)
              -> physical 0x2008 (2 MiB page)

            """)
        let miss = try monitorOutput(h, "translate 0x40000000")
        #expect(miss.hasSuffix("  -> does not translate: PDPTE not present\n"))
        #expect(try monitorFailure(h, "translate") == "kvmdbg: usage: monitor translate VADDR [vcpu N]\n")
    }

    @Test func arm64ReadsWritesAndSoftwareBreakpointsByVirtualAddress() throws {
        let h = try arm64Paged()
        #expect(try h.reply("mffffff8000000008,8") == leHex(BuiltinGuests.dataPattern))
        #expect(try h.reply("Mffffff8000000000,4:01020304") == "OK")
        #expect(try h.backend.readMemory(0x11000, count: 4) == [1, 2, 3, 4])
        // Across the page boundary: the end of 0x11000's page, then the start of 0x10000's.
        #expect(try h.reply("Mffffff8000000ffe,2:abcd") == "OK")
        #expect(try h.backend.readMemory(0x11FFE, count: 2) == [0xAB, 0xCD])
        #expect(try h.reply("mffffff8000000ffe,6") == "abcd" + leHex(0xD280_0000, bytes: 4))
        #expect(try h.reply("Z0,ffffff800000100c,4") == "OK")
        #expect(try h.backend.readMemory(0x1000C, count: 4) == [0x00, 0x00, 0x20, 0xD4], "brk #0 at the physical address")
        #expect(try h.reply("mffffff800000100c,4") == leHex(0x9100_0400, bytes: 4), "hidden from reads")
        #expect(try h.reply("z0,ffffff800000100c,4") == "OK")
        #expect(try h.backend.readMemory(0x1000C, count: 4) == littleEndianBytes(0x9100_0400, count: 4))
        #expect(try h.reply("mffffff8000002000,4") == "E0e", "L3[2] is invalid")
        #expect(try h.reply("Z0,ffffff8000002000,4").hasPrefix("E.cannot access memory at address 0xffffff8000002000"))
    }

    @Test func physicalModeByMonitorAndByQEMUsPacket() throws {
        let h = try arm64Paged()
        #expect(try h.reply("m11008,8") == "E0e", "virtual 0x11008 walks TTBR0, which has no tables here")
        #expect(try monitorOutput(h, "phys on") == "physical mode on: memory addresses are guest-physical\n")
        #expect(h.session.physicalMode)
        #expect(try h.reply("m11008,8") == leHex(BuiltinGuests.dataPattern))
        #expect(try h.reply("mffffff8000000008,8") == "E0e")
        // monitor translate still walks in physical mode.
        #expect(try monitorOutput(h, "translate 0xffffff8000000008").contains("-> physical 0x11008 (4 KiB page)"))
        #expect(try h.reply("Qqemu.PhyMemMode:0") == "OK")
        #expect(!h.session.physicalMode)
        #expect(try h.reply("qqemu.PhyMemMode") == "0")
        #expect(try h.reply("mffffff8000000008,8") == leHex(BuiltinGuests.dataPattern))
        #expect(try h.reply("Qqemu.PhyMemMode:1") == "OK")
        #expect(h.session.physicalMode)
        #expect(try h.reply("qqemu.PhyMemMode") == "1")
        #expect(try h.reply("Qqemu.PhyMemMode:2") == "E01")
        #expect(try monitorOutput(h, "phys off").hasPrefix("physical mode off"))
        #expect(try monitorOutput(h, "phys") == "physical mode is off\n")
    }

    @Test func helpListsPhysAndTranslate() throws {
        let text = try monitorOutput(try Harness(), "help")
        #expect(text.contains("monitor phys on|off"))
        #expect(text.contains("monitor translate VADDR [vcpu N]"))
    }
}
