import Testing
import KVMDebugConformance
import KVMDebugCore
import KVMDebugFake

/// A64 encodings the arm64 protection guest is written with (Arm ARM C6: MOVZ/MOVK, STR/LDR
/// unsigned offset, STP/LDP signed offset, SUBS shifted register, B.cond, WFI).
enum A64 {
    static func movz(_ d: UInt32, _ imm: UInt32, hw: UInt32 = 0) -> UInt32 { 0xD280_0000 | hw << 21 | imm << 5 | d }
    static func movk(_ d: UInt32, _ imm: UInt32, hw: UInt32) -> UInt32 { 0xF280_0000 | hw << 21 | imm << 5 | d }
    static func strb(_ t: UInt32, _ n: UInt32, _ off: UInt32) -> UInt32 { 0x3900_0000 | off << 10 | n << 5 | t }
    static func strh(_ t: UInt32, _ n: UInt32, _ off: UInt32) -> UInt32 { 0x7900_0000 | (off / 2) << 10 | n << 5 | t }
    static func strw(_ t: UInt32, _ n: UInt32, _ off: UInt32) -> UInt32 { 0xB900_0000 | (off / 4) << 10 | n << 5 | t }
    static func strx(_ t: UInt32, _ n: UInt32, _ off: UInt32) -> UInt32 { 0xF900_0000 | (off / 8) << 10 | n << 5 | t }
    static func ldrx(_ t: UInt32, _ n: UInt32, _ off: UInt32) -> UInt32 { 0xF940_0000 | (off / 8) << 10 | n << 5 | t }
    static func stp(_ t1: UInt32, _ t2: UInt32, _ n: UInt32, _ off: UInt32) -> UInt32 { 0xA900_0000 | (off / 8) << 15 | t2 << 10 | n << 5 | t1 }
    static func ldp(_ t1: UInt32, _ t2: UInt32, _ n: UInt32, _ off: UInt32) -> UInt32 { 0xA940_0000 | (off / 8) << 15 | t2 << 10 | n << 5 | t1 }
    static func cmp(_ n: UInt32, _ m: UInt32) -> UInt32 { 0xEB00_001F | m << 16 | n << 5 }
    static func bne(_ words: UInt32) -> UInt32 { 0x5400_0001 | words << 5 }
    static let wfi: UInt32 = 0xD503_207F
}

/// An arm64 guest that stores 1, 2, 4 and 8 bytes into `words` (0x12000) with single-register
/// stores (a valid syndrome: KVM_EXIT_MMIO), 16 bytes at +0x10 with `stp` (no valid syndrome:
/// KVM_EXIT_ARM_NISV), loads them back with `ldr` and `ldp`, and compares: `wfi` at `good`
/// when every value is right, at `bad` otherwise (the fake's halt exit is past the wfi).
enum Arm64ProtectionGuest {
    static let words: UInt64 = 0x12000
    static let good: UInt64 = 0x1006C, bad: UInt64 = 0x10070
    static var guest: Guest {
        var w: [UInt32] = [
            A64.movz(0, 0x7788), A64.movk(0, 0x5566, hw: 1), A64.movk(0, 0x3344, hw: 2), A64.movk(0, 0x1122, hw: 3),
            A64.movz(1, 0x2000), A64.movk(1, 0x1, hw: 1),                     // x1 = 0x12000
            A64.strb(0, 1, 0), A64.strh(0, 1, 2), A64.strw(0, 1, 4), A64.strx(0, 1, 8),  // 0x10018..
            A64.stp(0, 0, 1, 16),                                              // 0x10028
            A64.ldrx(2, 1, 8),                                                 // 0x1002c
            A64.ldp(3, 4, 1, 16),                                              // 0x10030
        ]
        for r: UInt32 in [2, 3, 4] {
            w.append(A64.cmp(r, 0))
            w.append(A64.bne(UInt32(27 - w.count)))
        }
        w += [A64.ldrx(5, 1, 0),                                               // 0x1004c
              A64.movz(6, 0x0088), A64.movk(6, 0x7788, hw: 1), A64.movk(6, 0x7788, hw: 2), A64.movk(6, 0x5566, hw: 3)]
        w.append(A64.cmp(5, 6))
        w.append(A64.bne(UInt32(27 - w.count)))
        w += [A64.wfi, A64.wfi]                                                // good 0x10068, bad 0x1006c
        let image = w.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        return Guest(name: "arm64-data-check", arch: .arm64, mode: .el1, memoryBase: 0x10000, memorySize: 0x20000,
                     loadAddress: 0x10000, image: image, entry: 0x10000,
                     symbols: [GuestSymbol(name: "words", address: words, size: 32)], summary: "stores, stp, loads, ldp, checks")
    }

    /// One line per stop: pc, data address, access, and the old and new bytes (hex, little-endian order).
    static func run<B: DebugBackend>(_ b: B, _ points: [DebugPoint], mechanism: WatchMechanismChoice = .protection) throws -> (stops: [String], end: RunEnd) {
        let d = Debugger(backend: b)
        d.watchMechanism = mechanism
        let runner = GuestRunner(debugger: d)
        var plan = RunPlan()
        plan.points = points.map { PointSpec(point: $0, target: .all, text: "\($0)") }
        plan.maxStops = 20
        plan.timeout = 20
        var stops: [String] = []
        let end = try runner.run(plan) { rec in
            guard case .stop(let s) = rec else { return }
            for h in s.stop.hits where h.reason == .watchpoint {
                let bytes = { (v: [UInt8]?) in (v ?? []).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }
                stops.append("pc=\(hex(s.stop.pc)) at=\(hex(h.address ?? 0)) \(h.accessWasWrite == true ? "w" : "r") old=\(bytes(h.oldValue)) new=\(bytes(h.newValue))")
            }
        }
        return (stops, end)
    }
}

@Suite struct Arm64ProtectionWatchTests {
    static func check(_ points: [DebugPoint], _ expected: [String], mechanism: WatchMechanismChoice = .protection) throws {
        let b = try FakeBackend(guest: Arm64ProtectionGuest.guest)
        let (stops, end) = try Arm64ProtectionGuest.run(b, points, mechanism: mechanism)
        #expect(stops == expected, "\(stops)")
        #expect(end.reason == "guest-halted", "\(end)")
        #expect(try b.programCounter(vcpu: 0) == Arm64ProtectionGuest.good, "the guest's own check passed")
        #expect(try b.readMemory(0x12000, count: 8) == [0x88, 0, 0x88, 0x77, 0x88, 0x77, 0x66, 0x55])
        #expect(b.pageProtection(at: 0x12000) == PageProtection.none, "slots back as they were after the run")
    }

    static let x = "8877665544332211", zero8 = "0000000000000000"
    /// The four single-register stores, before the access as an arm64 watchpoint (pc at the
    /// store, which completes on resume), old and new bytes exact.
    static let stores = [
        "pc=0x10018 at=0x12000 w old=00 new=88",
        "pc=0x1001c at=0x12002 w old=0000 new=8877",
        "pc=0x10020 at=0x12004 w old=00000000 new=88776655",
        "pc=0x10024 at=0x12008 w old=\(zero8) new=\(x)",
    ]

    /// Write watches: a read-only slot; the `stp` (KVM_EXIT_ARM_NISV) matched from fault_ipa to
    /// the page's end, so the watch at +0x18 fires (its new value unknown before the store),
    /// then stepped with the slot back on resume.
    @Test func writeWatchesWithSTP() throws {
        try Self.check([.watch(address: 0x12000, length: 16, kind: .write), .watch(address: 0x12018, length: 8, kind: .write)],
                       Self.stores + ["pc=0x10028 at=0x12018 w old=\(Self.zero8) new="])
    }

    /// A read watch: a hole; ldr (KVM_EXIT_MMIO load) reported at the load with the value the
    /// guest gets; stores and the ldp to the page completed without a stop.
    @Test func readWatch() throws {
        try Self.check([.watch(address: 0x12008, length: 8, kind: .read)], ["pc=0x1002c at=0x12008 r old=\(Self.x) new=\(Self.x)"])
    }

    /// An access watch over all 32 bytes: every store and load, ldp/stp by NISV.
    @Test func accessWatchOverEverything() throws {
        try Self.check([.watch(address: 0x12000, length: 32, kind: .access)], Self.stores + [
            "pc=0x10028 at=0x12010 w old=\(Self.zero8)\(Self.zero8) new=",
            "pc=0x1002c at=0x12008 r old=\(Self.x) new=\(Self.x)",
            "pc=0x10030 at=0x12010 r old=\(Self.x)\(Self.x) new=\(Self.x)\(Self.x)",
            "pc=0x1004c at=0x12000 r old=8800887788776655 new=8800887788776655",
        ])
    }

    /// A 64-byte watch over two pages fires on a store into its middle (offset 0x10).
    @Test func sixtyFourBytesHitInTheMiddle() throws {
        let b = try FakeBackend(guest: Arm64ProtectionGuest.guest)
        let (stops, _) = try Arm64ProtectionGuest.run(b, [.watch(address: 0x11FF0, length: 64, kind: .write)])
        #expect(stops.first == "pc=0x10018 at=0x12000 w old=00 new=88", "\(stops)")
        #expect(stops.count == 5, "\(stops)")
    }

    /// Eight watches at once on the counter guest (4 watchpoint registers on the fake, as on the
    /// lane's QEMU): four by debug registers, four by protection, every one fires.
    @Test func eightAtOnceAllFire() throws {
        let g = BuiltinGuests.counterArm64()
        let b = try FakeBackend(guest: g)
        let d = Debugger(backend: b)
        let counter = try #require(g.symbol("counter")).address
        let points = (0..<8).map { DebugPoint.watch(address: counter + UInt64($0), length: 1, kind: .write) }
        for p in points { try d.insert(p) }
        #expect(points.map { d.mechanism(of: $0) } == [WatchMechanism](repeating: .hardware, count: 4) + [WatchMechanism](repeating: .protection, count: 4))
        var fired = Set<DebugPoint>()
        var mode = ResumeMode.continue
        for _ in 0..<16 where fired.count < 8 {
            guard case .stop(let s) = try d.resume(vcpu: 0, mode: mode) else { Issue.record("no stop"); return }
            for h in s.hits where h.reason == .watchpoint { if let p = h.point { fired.insert(p) } }
            mode = .continue
        }
        #expect(fired == Set(points), "fired: \(fired.count)")
        d.removeAllPoints()
        #expect(b.pageProtection(at: counter) == PageProtection.none)
    }

    /// The fake's memory model, judged alone (no session): a store to a read-only page exits
    /// MMIO at the store with its bytes and completes on the next KVM_RUN only; the stp exits
    /// ARM_NISV with the first byte and WnR; without KVM_CAP_ARM_NISV_TO_USER, KVM_RUN fails ENOSYS.
    @Test func fakeExitsAsKVM() throws {
        let b = try FakeBackend(guest: Arm64ProtectionGuest.guest)
        try b.setPageProtection(.readOnly, page: 0x12000)
        #expect(try b.run(vcpu: 0) == .mmio(address: 0x12000, isWrite: true, length: 1, pc: 0x10018))
        #expect(b.mmioData(vcpu: 0, length: 1) == [0x88])
        #expect(try b.readMemory(0x12000, count: 1) == [0], "the store has not happened")
        #expect(try b.run(vcpu: 0) == .mmio(address: 0x12002, isWrite: true, length: 2, pc: 0x1001C), "PC moved past the completed store")
        _ = try b.run(vcpu: 0)
        _ = try b.run(vcpu: 0)
        let nisv = try b.run(vcpu: 0)
        guard case .armNISV(let ipa, let iss, let pc) = nisv else { Issue.record("\(nisv)"); return }
        #expect(ipa == 0x12010 && iss & 0x40 != 0 && pc == 0x10028)
        #expect(try b.run(vcpu: 0) == nisv, "the instruction did not run: it faults again")
        b.arm64NISVToUser = false
        let e = try #require(throws: DebugError.self) { try b.run(vcpu: 0) }
        #expect(e == .system(call: "KVM_RUN", errno: 38), "\(e)")
        #expect(b.pageProtectionUnavailable?.contains("KVM_CAP_ARM_NISV_TO_USER") == true)
        // A load from a hole gets kvm_run.mmio.data; a fetch from a hole is a prefetch abort to the guest.
        let h = try FakeBackend(guest: Arm64ProtectionGuest.guest)
        try h.setPageProtection(.hole, page: 0x12000)
        try h.setRegisters({ var f = try h.arm64Registers(vcpu: 0); f.pc = 0x1002C; f.x[1] = 0x12000; return .arm64(f) }(), vcpu: 0)
        #expect(try h.run(vcpu: 0) == .mmio(address: 0x12008, isWrite: false, length: 8, pc: 0x1002C))
        h.setMMIOData([1, 2, 3, 4, 5, 6, 7, 8], vcpu: 0)
        h.kick(vcpu: 0)
        #expect(try h.run(vcpu: 0) == .interrupted)
        let r = try h.arm64Registers(vcpu: 0)
        #expect(r.x[2] == 0x0807_0605_0403_0201 && r.pc == 0x10030)
    }

    /// A register write at a stop whose access KVM still has pending completes that access
    /// first (else KVM would move the written PC past it): the file written is the state, so
    /// writing back the stop's pc runs the store again, and it stops again.
    @Test func registerWriteAtAPendingAccess() throws {
        let b = try FakeBackend(guest: Arm64ProtectionGuest.guest)
        let d = Debugger(backend: b)
        d.watchMechanism = .protection
        try d.insert(.watch(address: 0x12000, length: 1, kind: .write))
        guard case .stop(let s) = try d.resume(vcpu: 0, mode: .continue) else { Issue.record("no stop"); return }
        #expect(s.pc == 0x10018)
        guard case .arm64(var f) = try d.registers(vcpu: 0) else { Issue.record("not arm64"); return }
        f.x[5] = 0x42
        try d.setRegisters(.arm64(f), vcpu: 0)
        guard case .arm64(let g) = try b.registers(vcpu: 0) else { return }
        #expect(g.pc == 0x10018 && g.x[5] == 0x42, "pc \(hex(g.pc))")
        guard case .stop(let again) = try d.resume(vcpu: 0, mode: .continue) else { Issue.record("no stop"); return }
        #expect(again.pc == 0x10018 && again.primary.oldValue == [0x88] && again.primary.newValue == [0x88])
        d.removeAllPoints()
        #expect(try d.resume(vcpu: 0, mode: .continue) == .exit(.halt(pc: Arm64ProtectionGuest.good)))
    }

    /// Without KVM_CAP_ARM_NISV_TO_USER protection is refused at the insert, with the reason.
    @Test func refusedWithoutNISV() throws {
        let b = try FakeBackend(guest: Arm64ProtectionGuest.guest)
        b.arm64NISVToUser = false
        let d = Debugger(backend: b)
        d.watchMechanism = .protection
        let e = try #require(throws: DebugError.self) { try d.insert(.watch(address: 0x12000, length: 8, kind: .write)) }
        #expect(e.message.contains("KVM_CAP_ARM_NISV_TO_USER"), "\(e.message)")
        #expect(d.tables.global.isEmpty)
    }

    /// arm64 cannot step code out of a hole (KVM injects a prefetch abort): a read watch on the
    /// page a stopped vCPU executes from is refused; a write watch there is served.
    @Test func readWatchOnTheCodePageRefused() throws {
        let b = try FakeBackend(guest: Arm64ProtectionGuest.guest)
        let d = Debugger(backend: b)
        d.watchMechanism = .protection
        try d.insert(.hardware(address: 0x10018))
        guard case .stop = try d.resume(vcpu: 0, mode: .continue) else { Issue.record("no stop"); return }
        let e = try #require(throws: DebugError.self) { try d.insert(.watch(address: 0x10800, length: 8, kind: .read)) }
        #expect(e.message.contains("prefetch abort"), "\(e.message)")
        try d.insert(.watch(address: 0x10800, length: 8, kind: .write))
        #expect(b.pageProtection(at: 0x10000) == .readOnly)
    }
}
