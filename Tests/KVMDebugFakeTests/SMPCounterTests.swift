import KVMDebugCore
import KVMTestSupport
import KVMDebugFake
import Testing

/// The built-in `smp-counter` guests: every vCPU counts in its own word
/// `counters + 8 * index`, and the fake interpreter rows they brought.
///
/// Long mode: 1000 xor rax,rax / 1003 loop: inc rax / 1006 store: mov [rdi*8+0x3000],rax
/// / 100e load: mov rbx,[0x2008] / 1016 jmp loop. Real mode: 1000 xor ax,ax / 1002
/// shl di,3 / 1005 loop: inc ax / 1006 store: mov [di+0x3000],ax / 100a load / 100e jmp.
/// arm64: 10000 movz x1 / 10004 movk x1 (0x11000) / 10008 add x4,x1,x0,lsl #3 /
/// 1000c loop: add x5,x5,#1 / 10010 store: str x5,[x4,#0x1000] / 10014 load / 10018 b loop.
@Suite struct SMPCounterTests {
    static let variants = [BuiltinGuests.smpCounterX86(.long), BuiltinGuests.smpCounterX86(.real),
                           BuiltinGuests.smpCounterArm64()]

    let esrStep: UInt64 = 0xCB00_0022
    let esrWatchWrite: UInt64 = 0xD200_0062
    let dr6Fixed: UInt64 = 0xFFFF_0FF0
    let bs: UInt64 = 1 << 14

    /// The pcs after each instruction of the entry code (the last one is `loop`).
    static func entryNexts(_ guest: Guest) -> [UInt64] {
        switch (guest.arch, guest.mode) {
        case (.x86_64, .long): return [0x1003]
        case (.x86_64, _): return [0x1002, 0x1005]
        case (.arm64, _): return [0x10004, 0x10008, 0x1000C]
        }
    }

    /// The 8 bytes an x86 unsupportedInstruction error shows for `code` followed by zero RAM.
    func padded(_ code: [UInt8]) -> [UInt8] { code + [UInt8](repeating: 0, count: 8 - code.count) }

    static func address(_ guest: Guest, _ name: String) throws -> UInt64 {
        try #require(guest.symbol(name)).address
    }

    // MARK: Catalogue

    @Test func namesLookupAndListing() throws {
        #expect(BuiltinGuests.names == ["counter", "smp-counter"])
        #expect(try BuiltinGuests.guest(named: "smp-counter", arch: .x86_64) == BuiltinGuests.smpCounterX86(.long))
        #expect(try BuiltinGuests.guest(named: "smp-counter", arch: .x86_64, mode: .real) == BuiltinGuests.smpCounterX86(.real))
        #expect(try BuiltinGuests.guest(named: "smp-counter", arch: .arm64) == BuiltinGuests.smpCounterArm64())
        #expect(try BuiltinGuests.guest(named: "smp-counter", arch: .arm64, mode: .el1) == BuiltinGuests.smpCounterArm64())
        #expect(try BuiltinGuests.guest(named: "counter", arch: .x86_64, mode: .real) == BuiltinGuests.counterX86(.real))
        #expect(thrownError { () throws(DebugError) in try BuiltinGuests.guest(named: "smp-counter", arch: .x86_64, mode: .el1) } != nil)
        #expect(thrownError { () throws(DebugError) in try BuiltinGuests.guest(named: "smp-counter", arch: .arm64, mode: .long) } != nil)
        let unknown = thrownError { () throws(DebugError) in try BuiltinGuests.guest(named: "smp", arch: .arm64) }
        #expect(unknown?.message.contains("counter, smp-counter") == true)
        let listed = BuiltinGuests.all.map { "\($0.name)/\($0.arch.name)/\($0.mode.name)" }
        #expect(listed == ["counter/x86_64/long", "counter/x86_64/real", "counter/arm64/el1",
                           "smp-counter/x86_64/long", "smp-counter/x86_64/real", "smp-counter/arm64/el1"])
        for g in BuiltinGuests.all { try g.validate() }
    }

    @Test func counterIsUnchanged() throws {
        // The single-vCPU guest keeps its words and symbols.
        for g in [BuiltinGuests.counterX86(.long), BuiltinGuests.counterX86(.real), BuiltinGuests.counterArm64()] {
            let counter: UInt64 = g.arch == .x86_64 ? 0x2000 : 0x11000
            #expect(g.symbol("counter") == GuestSymbol(name: "counter", address: counter, size: 8))
            #expect(g.symbol("data") == GuestSymbol(name: "data", address: counter + 8, size: 8))
            #expect(g.symbol("counters") == nil)
            #expect(BuiltinGuests.counterAddress(of: 0, in: g) == nil)
        }
        #expect(BuiltinGuests.counterX86(.long).image.count == 24)
        #expect(BuiltinGuests.counterX86(.real).image == [0x31, 0xC0, 0x40, 0xA3, 0x00, 0x20, 0x8B, 0x1E, 0x08, 0x20, 0xEB, 0xF6])
    }

    @Test(arguments: variants)
    func layoutAndSymbols(guest: Guest) throws {
        let counters = try #require(guest.symbol("counters"))
        let counter = try #require(guest.symbol("counter"))
        let data = try #require(guest.symbol("data"))
        #expect(counters.size == 8 * 1024 && BuiltinGuests.smpCounterMaxVCPUs == 1024)
        #expect(counter.address == counters.address && counter.size == 8)
        #expect(counters.address == (guest.arch == .x86_64 ? 0x3000 : 0x12000))
        #expect(data.address == (guest.arch == .x86_64 ? 0x2008 : 0x11008) && data.size == 8)
        // Inside RAM, clear of the image and `data`, and below x86's long-mode tables.
        let end = counters.address + counters.size
        #expect(counters.address >= guest.memoryBase && end <= guest.memoryBase + guest.memorySize)
        if guest.arch == .x86_64 { #expect(end <= X86Boot.tablesBase(for: guest)) }
        #expect(guest.loadAddress + UInt64(guest.image.count) <= data.address)
        #expect(data.address + 8 <= counters.address)
        // counterAddress(of:in:).
        #expect(BuiltinGuests.counterAddress(of: 0, in: guest) == counter.address)
        #expect(BuiltinGuests.counterAddress(of: 3, in: guest) == counters.address + 24)
        #expect(BuiltinGuests.counterAddress(of: 1023, in: guest) == counters.address + 8 * 1023)
        #expect(BuiltinGuests.counterAddress(of: 1024, in: guest) == nil)
        #expect(BuiltinGuests.counterAddress(of: -1, in: guest) == nil)
        // Code symbols: the same pcs as `counter` except in real mode.
        let names = ["entry", "loop", "store", "load", "jump"]
        if guest.mode == .real {
            #expect(names.map { guest.symbol($0)?.address } == [0x1000, 0x1005, 0x1006, 0x100A, 0x100E])
            #expect(names.map { guest.symbol($0)?.size } == [5, 1, 4, 4, 2])
        } else {
            let single = guest.arch == .x86_64 ? BuiltinGuests.counterX86(.long) : BuiltinGuests.counterArm64()
            #expect(names.map { guest.symbol($0) } == names.map { single.symbol($0) })
        }
        #expect(guest.name == "smp-counter" && guest.entry == guest.loadAddress)
        let b = try FakeBackend(guest: guest)
        #expect(try b.word(data.address) == BuiltinGuests.dataPattern)
    }

    // MARK: Per-vCPU words on the fake

    /// Each of 4 vCPUs single-steps (ENABLE | SINGLESTEP | USE_HW, no slots armed) through
    /// its own number of laps: its word reaches the count, the others' words do not move.
    @Test(arguments: variants)
    func eachVCPUCountsInItsOwnWord(guest: Guest) throws {
        let b = try FakeBackend(guest: guest, vcpus: 4)
        let loop = try Self.address(guest, "loop"), store = try Self.address(guest, "store")
        let load = try Self.address(guest, "load"), jump = try Self.address(guest, "jump")
        let words = try (0..<5).map { try #require(BuiltinGuests.counterAddress(of: $0, in: guest)) }
        let expectedCounts = [3, 5, 2, 4]
        let entry = Self.entryNexts(guest)
        for (i, count) in expectedCounts.enumerated() {
            let state = guest.arch == .x86_64
                ? x86State(ENABLE | SINGLESTEP | X86_USE_HW_BP)
                : arm64State(ENABLE | SINGLESTEP | ARM64_USE_HW)
            try b.setGuestDebug(state, vcpu: i)
            // Through the store of lap `count`: the entry code, count-1 laps, inc + store.
            let steps = entry.count + 4 * (count - 1) + 2
            var expected = entry
            while expected.count < steps { expected += [store, load, jump, loop] }
            var pcs: [UInt64] = []
            for _ in 0..<steps {
                let exit = try b.run(vcpu: i)
                if guest.arch == .x86_64 {
                    let e = try #require(x86Debug(exit))
                    #expect(e.exception == 1 && e.dr6 == dr6Fixed | bs)
                    pcs.append(e.pc)
                } else {
                    let e = try #require(arm64Debug(exit))
                    #expect(e.esr == esrStep)
                    pcs.append(e.pc)
                }
            }
            #expect(pcs == Array(expected.prefix(steps)))
            #expect(try b.programCounter(vcpu: i) == load)
            for j in 0..<4 {
                let want = j <= i ? UInt64(expectedCounts[j]) : 0
                #expect(try b.word(words[j]) == want, "vCPU \(j)'s word after vCPU \(i) ran")
            }
            if guest.arch == .x86_64 {
                #expect(b.register("rax", vcpu: i) == UInt64(count))
                #expect(b.register("rdi", vcpu: i) == UInt64(guest.mode == .real ? i * 8 : i))
            } else {
                #expect(b.register("x5", vcpu: i) == UInt64(count))
                #expect(b.register("x4", vcpu: i) == 0x11000 + 8 * UInt64(i))
            }
        }
        // Nothing past the last vCPU, nothing in the single-vCPU guest's old word, `data` intact.
        #expect(try b.word(words[4]) == 0)
        #expect(try b.word(guest.arch == .x86_64 ? 0x2000 : 0x11000) == 0)
        #expect(try b.word(try Self.address(guest, "data")) == BuiltinGuests.dataPattern)
    }

    /// A write watch on vCPU 2's word, armed on every vCPU, fires only on vCPU 2.
    @Test(arguments: variants)
    func watchOnOneVCPUsWordFiresOnlyThere(guest: Guest) throws {
        let b = try FakeBackend(guest: guest, vcpus: 4)
        let watched = try #require(BuiltinGuests.counterAddress(of: 2, in: guest))
        for i in 0..<4 {
            if guest.arch == .x86_64 {
                // DR0 = the word, G0, R/W0 = 01 (write), LEN0 = 11 (4 bytes).
                try b.setGuestDebug(x86State(ENABLE | X86_USE_HW_BP, dr: [watched, 0, 0, 0], dr7: 0xD_0402), vcpu: i)
            } else {
                // WCR 0x1ff7: E, PAC = 0b11, LSC = 0b10 (store), BAS = 0xFF.
                try b.setGuestDebug(arm64State(ENABLE | ARM64_USE_HW, wcr: [0: 0x1FF7], wvr: [0: watched]), vcpu: i)
            }
        }
        b.maxInstructionsPerRun = 200
        for i in [0, 1, 3] {
            #expect(try b.run(vcpu: i) == .interrupted)
            #expect(try b.word(try #require(BuiltinGuests.counterAddress(of: i, in: guest))) > 0)
        }
        #expect(try b.word(watched) == 0)
        let store = try Self.address(guest, "store"), load = try Self.address(guest, "load")
        let exit = try b.run(vcpu: 2)
        if guest.arch == .x86_64 {
            // A trap after the store.
            let e = try #require(x86Debug(exit))
            #expect(e.pc == load && e.dr6 == dr6Fixed | 0x1)
            #expect(try b.word(watched) == 1)
        } else {
            // Before the store; FAR is the word.
            let e = try #require(arm64Debug(exit))
            #expect(e.esr == esrWatchWrite && e.far == watched && e.pc == store)
            #expect(try b.word(watched) == 0)
        }
    }

    // MARK: Interpreter rows

    @Test func x86ShiftLeftLongMode() throws {
        let code: [UInt8] = [
            0xB8, 0x01, 0x00, 0x00, 0x00, // 1000 mov eax, 1
            0x48, 0xC1, 0xE0, 0x3F,       // 1005 shl rax, 63
            0xF4,                         // 1009 hlt
            0x48, 0xC1, 0xE0, 0x01,       // 100a shl rax, 1      → 0, ZF
            0x48, 0xC1, 0xE3, 0x00,       // 100e shl rbx, 0      → no change, ZF kept
            0xF4,                         // 1012 hlt
            0xC1, 0xE1, 0x21,             // 1013 shl ecx, 33     → count 1, zero-extends
            0x48, 0xC1, 0xE2, 0x41,       // 1016 shl rdx, 65     → count 1
            0x66, 0x41, 0xC1, 0xE1, 0x04, // 101a shl r9w, 4
            0xF4,                         // 101f hlt
            0xC1, 0xE6, 0x01,             // 1020 shl esi, 1      → 0 in 32 bits, ZF
            0xF4,                         // 1023 hlt
        ]
        let b = try FakeBackend(guest: x86Guest(.long, code))
        b.setRegister("rbx", 5, vcpu: 0)
        b.setRegister("rcx", 0xFFFF_FFFF_8000_0003, vcpu: 0)
        b.setRegister("rdx", 3, vcpu: 0)
        b.setRegister("r9", 0x1234_5678_9ABC_DEF1, vcpu: 0)
        b.setRegister("rsi", 0x1_8000_0000, vcpu: 0)
        let zf: UInt64 = 0x40
        func flags() -> UInt64 { b.register("rflags", vcpu: 0)! & zf }
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x100A))
        #expect(b.register("rax", vcpu: 0) == 0x8000_0000_0000_0000)
        #expect(flags() == 0)
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x1013))
        #expect(b.register("rax", vcpu: 0) == 0)
        #expect(b.register("rbx", vcpu: 0) == 5)
        #expect(flags() == zf)
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x1020))
        #expect(b.register("rcx", vcpu: 0) == 6)
        #expect(b.register("rdx", vcpu: 0) == 6)
        #expect(b.register("r9", vcpu: 0) == 0x1234_5678_9ABC_EF10)
        #expect(flags() == 0)
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x1024))
        #expect(b.register("rsi", vcpu: 0) == 0)
        #expect(flags() == zf)
    }

    @Test func x86ShiftLeftRealMode() throws {
        let code: [UInt8] = [
            0xC1, 0xE7, 0x03,             // 1000 shl di, 3
            0xF4,                         // 1003 hlt
            0xC1, 0xE7, 0x11,             // 1004 shl di, 17 (a 16-bit operand: all out)
            0xF4,                         // 1007 hlt
            0x66, 0xC1, 0xE6, 0x04,       // 1008 shl esi, 4
            0xF4,                         // 100c hlt
        ]
        let b = try FakeBackend(guest: x86Guest(.real, code))
        b.setRegister("rdi", 0xABCD_0005, vcpu: 0)
        b.setRegister("rsi", 0x1234_5678_0800_0001, vcpu: 0)
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x1004))
        #expect(b.register("rdi", vcpu: 0) == 0xABCD_0028)
        #expect(b.register("rflags", vcpu: 0)! & 0x40 == 0)
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x1008))
        #expect(b.register("rdi", vcpu: 0) == 0xABCD_0000)
        #expect(b.register("rflags", vcpu: 0)! & 0x40 == 0x40)
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x100D))
        // A 32-bit write in real mode keeps the upper half.
        #expect(b.register("rsi", vcpu: 0) == 0x1234_5678_8000_0010)
        #expect(b.register("rflags", vcpu: 0)! & 0x40 == 0)
    }

    @Test func x86SIBIndexScaleAddressing() throws {
        let code: [UInt8] = [
            0x48, 0x89, 0x04, 0xFD, 0x00, 0x30, 0x00, 0x00, // mov [rdi*8+0x3000], rax
            0x48, 0x89, 0x04, 0x4D, 0x00, 0x30, 0x00, 0x00, // mov [rcx*2+0x3000], rax
            0x4A, 0x89, 0x04, 0x8D, 0x00, 0x30, 0x00, 0x00, // mov [r9*4+0x3000], rax (REX.X)
            0x48, 0x8B, 0x14, 0x0D, 0x00, 0x20, 0x00, 0x00, // mov rdx, [rcx*1+0x2000]
            0x89, 0x04, 0xFD, 0xF0, 0xFF, 0xFF, 0xFF,       // mov [rdi*8-0x10], eax
            0x48, 0x89, 0x04, 0xE5, 0x00, 0x31, 0x00, 0x00, // mov [0x3100], rax (index 100: none, scale ignored)
            0x4A, 0x89, 0x04, 0xE5, 0x00, 0x32, 0x00, 0x00, // mov [r12*8+0x3200], rax (REX.X: index 12)
            0xF4,
        ]
        let table = GuestData(address: 0x2000, bytes: (0..<16).map { 0x10 + UInt8($0) })
        let b = try FakeBackend(guest: x86Guest(.long, code, data: [table]))
        let v: UInt64 = 0x1122_3344_5566_7788
        b.setRegister("rax", v, vcpu: 0)
        b.setRegister("rdi", 3, vcpu: 0)
        b.setRegister("rcx", 5, vcpu: 0)
        b.setRegister("r9", 16, vcpu: 0)
        b.setRegister("r12", 2, vcpu: 0)
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x1000 + UInt64(code.count)))
        #expect(try b.word(0x3018) == v)
        #expect(try b.word(0x300A) == v)
        #expect(try b.word(0x3040) == v)
        #expect(b.register("rdx", vcpu: 0) == 0x1C1B_1A19_1817_1615)
        #expect(try b.word(0x8) == 0x5566_7788)
        #expect(try b.word(0x3100) == v)
        #expect(try b.word(0x3210) == v)
        // A base register, and base + index*scale + disp8 (mod 01), as gcc's frame code uses them.
        let based = try FakeBackend(guest: x86Guest(.long, [0x48, 0x89, 0x04, 0x24,          // mov [rsp], rax
                                                             0x48, 0x89, 0x44, 0x48, 0x10,    // mov [rax+rcx*2+0x10], rax
                                                             0xF4]))
        based.setRegister("rax", 0x3000, vcpu: 0)
        based.setRegister("rcx", 4, vcpu: 0)
        based.setRegister("rsp", 0x3100, vcpu: 0)
        #expect(try based.run(vcpu: 0) == .halt(pc: 0x100A))
        #expect(try based.word(0x3100) == 0x3000)
        #expect(try based.word(0x3018) == 0x3000)
    }

    @Test func x86RealModeSixteenBitAddressing() throws {
        let code: [UInt8] = [
            0x89, 0x85, 0x00, 0x30, // mov [di+0x3000], ax   → 0x3008
            0x89, 0x45, 0xFE,       // mov [di-2], ax        → 0x0006
            0x89, 0x07,             // mov [bx], ax          → 0x3100
            0x89, 0x00,             // mov [bx+si], ax       → 0x3120
            0x8B, 0x4E, 0x04,       // mov cx, [bp+4]        ← 0x3204
            0x89, 0x43, 0x10,       // mov [bp+di+0x10], ax  → 0x3218
            0x89, 0x85, 0xFC, 0xFF, // mov [di+0xfffc], ax   → 0x0004 (wraps at 64 KiB)
            0xF4,
        ]
        let b = try FakeBackend(guest: x86Guest(.real, code, data: [GuestData(address: 0x3204, bytes: [0x5A, 0xA5])]))
        b.setRegister("rax", 0xBEEF, vcpu: 0)
        b.setRegister("rdi", 0xFFFF_0008, vcpu: 0)   // only DI takes part
        b.setRegister("rbx", 0x3100, vcpu: 0)
        b.setRegister("rsi", 0x20, vcpu: 0)
        b.setRegister("rbp", 0x3200, vcpu: 0)
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x1000 + UInt64(code.count)))
        for a: UInt64 in [0x3008, 0x0006, 0x3100, 0x3120, 0x3218, 0x0004] {
            #expect(try b.readMemory(a, count: 2) == [0xEF, 0xBE], "at \(hex(a))")
        }
        #expect(b.register("rcx", vcpu: 0) == 0xA55A)
    }

    @Test func x86UnsupportedShiftsStayUnsupported() throws {
        // shl rax, 1 (D1 /4), shr rax, 1 (C1 /5), shl dword [rax], 1 (memory operand).
        for bytes: [UInt8] in [[0x48, 0xD1, 0xE0], [0x48, 0xC1, 0xE8, 0x01], [0xC1, 0x20, 0x01]] {
            let b = try FakeBackend(guest: x86Guest(.long, bytes))
            let error = thrownError { () throws(DebugError) in try b.run(vcpu: 0) }
            #expect(error == .unsupportedInstruction(pc: 0x1000, arch: .x86_64, bytes: padded(bytes)))
        }
    }

    @Test func arm64AddSubShiftedRegister() throws {
        let words: [UInt32] = [
            0xD280_00A0, // movz x0, #5
            0xD280_0063, // movz x3, #3
            0x8B03_0806, // add x6, x0, x3, lsl #2      → 17
            0xCB03_0407, // sub x7, x0, x3, lsl #1      → -1
            0xCB03_03EA, // neg x10, x3 (sub x10, xzr, x3)
            0x9280_000B, // movn x11, #0                → all ones
            0x0B03_7D69, // add w9, w11, w3, lsl #31    → 0x7fffffff
            0xAB00_016C, // adds x12, x11, x0           → 4, C
            0xD503_207F, // wfi
            0xEB00_000D, // subs x13, x0, x0            → 0, Z C
            0xD503_207F, // wfi
            0xEB03_001F, // cmp x0, x3                  → C only; XZR not written
            0x8B03_FC0E, // add x14, x0, x3, lsl #63
            0xD503_207F, // wfi
        ]
        let b = try FakeBackend(guest: arm64Guest(words))
        b.setRegister("sp", 0x1234, vcpu: 0)
        func nzcv() -> UInt64 { b.register("pstate", vcpu: 0)! >> 28 }
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x10024))
        #expect(b.register("x6", vcpu: 0) == 17)
        #expect(b.register("x7", vcpu: 0) == ~0)
        #expect(b.register("x10", vcpu: 0) == UInt64(bitPattern: -3))
        #expect(b.register("x9", vcpu: 0) == 0x7FFF_FFFF)
        #expect(b.register("x12", vcpu: 0) == 4)
        #expect(nzcv() == 0b0010)
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x1002C))
        #expect(b.register("x13", vcpu: 0) == 0)
        #expect(nzcv() == 0b0110)
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x10038))
        #expect(nzcv() == 0b0010)
        #expect(b.register("sp", vcpu: 0) == 0x1234)
        #expect(b.register("x14", vcpu: 0) == 0x8000_0000_0000_0005)
    }

    @Test func arm64OtherShiftsAndExtendedRegisterStayUnsupported() throws {
        // add x9, x5, x3, lsr #1; add x9, sp, x3 (extended register); add w9, w5, w3, lsl #32
        // (unallocated); shift = 11 (reserved).
        for w: UInt32 in [0x8B43_04A9, 0x8B23_63E9, 0x0B03_80A9, 0x8BC3_04A9] {
            let b = try FakeBackend(guest: arm64Guest([w]))
            let error = thrownError { () throws(DebugError) in try b.run(vcpu: 0) }
            #expect(error == .unsupportedInstruction(pc: 0x10000, arch: .arm64, bytes: littleEndianBytes(UInt64(w), count: 4)))
        }
    }

    // MARK: Real KVM

    /// The same per-vCPU stepping on this host's KVM (x86 only: guests run on the host arch).
    @Test(.enabled(if: Arch.host == .x86_64 && (try? KVMSystem()) != nil, "no usable /dev/kvm on an x86_64 host"),
          arguments: [CPUMode.long, .real])
    func realKVMEachVCPUCountsInItsOwnWord(mode: CPUMode) throws {
        let guest = BuiltinGuests.smpCounterX86(mode)
        let b = try KVMBackend(guest: guest, vcpus: 4)
        let load = try Self.address(guest, "load")
        let words = try (0..<4).map { try #require(BuiltinGuests.counterAddress(of: $0, in: guest)) }
        let expectedCounts = [3, 5, 2, 4]
        let entry = Self.entryNexts(guest).count
        for (i, count) in expectedCounts.enumerated() {
            try b.setGuestDebug(x86State(ENABLE | SINGLESTEP), vcpu: i)
            for _ in 0..<(entry + 4 * (count - 1) + 2) {
                let e = try #require(x86Debug(try b.run(vcpu: i)))
                #expect(e.exception == 1 && e.dr6 & bs != 0)
            }
            #expect(try b.programCounter(vcpu: i) == load)
            for j in 0..<4 {
                let want = j <= i ? UInt64(expectedCounts[j]) : 0
                #expect(littleEndianValue(try b.readMemory(words[j], count: 8)) == want, "vCPU \(j)'s word after vCPU \(i) ran")
            }
        }
    }
}
