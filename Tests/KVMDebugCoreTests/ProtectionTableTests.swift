import Testing
import KVMDebugCore
@testable import KVMDebugSession

/// The bookkeeping of protection watchpoints: which pages need which protection, and which
/// trapped access matches which watch (byte-exact, by kind, by vCPU).
@Suite struct ProtectionTableTests {
    static func identity(_ a: UInt64, _ n: UInt64, vcpus: [Int] = [0]) -> [Int: [ProtectedRange]] {
        Dictionary(uniqueKeysWithValues: vcpus.map { ($0, [ProtectedRange(physical: a, length: n, virtual: a)]) })
    }

    @Test func pagesNeedHolesForReadsAndReadOnlyForWritesOnly() {
        var t = ProtectionTable()
        let w = DebugPoint.watch(address: 0x2000, length: 8, kind: .write)
        let r = DebugPoint.watch(address: 0x2ff8, length: 16, kind: .read)  // pages 0x2000 and 0x3000
        t.add(w, ranges: Self.identity(0x2000, 8))
        #expect(t.wanted() == [0x2000: .readOnly])
        t.add(r, ranges: Self.identity(0x2ff8, 16))
        #expect(t.wanted() == [0x2000: .hole, 0x3000: .hole])
        t.remove(r, vcpus: nil)
        #expect(t.wanted() == [0x2000: .readOnly], "a hole goes back to read-only when only the write watch is left")
        // A page being stepped through (code fetched from it) is read-only meanwhile.
        t.add(r, ranges: Self.identity(0x2ff8, 16))
        t.filled[0x3000] = 1
        #expect(t.wanted() == [0x2000: .hole, 0x3000: .readOnly])
        t.removeAll()
        t.filled = [:]
        #expect(t.wanted().isEmpty)
    }

    @Test func hitsAreByteExactByKindAndByVCPU() {
        var t = ProtectionTable()
        let w = DebugPoint.watch(address: 0x2004, length: 2, kind: .write)
        let a = DebugPoint.watch(address: 0x2010, length: 4, kind: .access)
        let r = DebugPoint.watch(address: 0x2020, length: 1, kind: .read)
        t.add(w, ranges: Self.identity(0x2004, 2, vcpus: [0, 1]))
        t.add(a, ranges: Self.identity(0x2010, 4, vcpus: [1]))
        t.add(r, ranges: Self.identity(0x2020, 1))
        // An 8-byte store over 0x2000..0x2007 touches the write watch, reported at its start.
        #expect(t.hits(vcpu: 0, address: 0x2000, length: 8, isWrite: true) == [ProtectionHit(point: w, address: 0x2004, physical: 0x2004, count: 2)])
        // The bytes next to it do not.
        #expect(t.hits(vcpu: 0, address: 0x2000, length: 4, isWrite: true).isEmpty)
        #expect(t.hits(vcpu: 0, address: 0x2006, length: 2, isWrite: true).isEmpty)
        // A load never matches a write watch; a store never a read watch.
        #expect(t.hits(vcpu: 0, address: 0x2004, length: 2, isWrite: false).isEmpty)
        #expect(t.hits(vcpu: 0, address: 0x2020, length: 1, isWrite: true).isEmpty)
        #expect(t.hits(vcpu: 0, address: 0x2020, length: 1, isWrite: false) == [ProtectionHit(point: r, address: 0x2020, physical: 0x2020, count: 1)])
        // The access watch is vCPU 1's only; a hit inside it reports the first byte touched.
        #expect(t.hits(vcpu: 0, address: 0x2012, length: 2, isWrite: false).isEmpty)
        #expect(t.hits(vcpu: 1, address: 0x2012, length: 2, isWrite: false) == [ProtectionHit(point: a, address: 0x2012, physical: 0x2012, count: 2)])
        t.remove(w, vcpus: [1])
        #expect(t.hits(vcpu: 1, address: 0x2004, length: 2, isWrite: true).isEmpty)
        #expect(!t.hits(vcpu: 0, address: 0x2004, length: 2, isWrite: true).isEmpty)
    }

    /// A watch's virtual range maps to other physical pages (a paged guest): pages and hits
    /// are physical, the reported address virtual.
    @Test func translatedRanges() {
        var t = ProtectionTable()
        let w = DebugPoint.watch(address: 0x40_0ff8, length: 16, kind: .write)
        t.add(w, ranges: [0: [ProtectedRange(physical: 0x9ff8, length: 8, virtual: 0x40_0ff8),
                              ProtectedRange(physical: 0x5000, length: 8, virtual: 0x40_1000)]])
        #expect(t.wanted() == [0x9000: .readOnly, 0x5000: .readOnly])
        #expect(t.hits(vcpu: 0, address: 0x5002, length: 2, isWrite: true) == [ProtectionHit(point: w, address: 0x40_1002, physical: 0x5002, count: 2)])
    }

    @Test func tablesKeepProtectedWatchesOutOfTheSlots() throws {
        var t = DebugTables(arch: .x86_64, vcpuCount: 2, capacity: .x86)
        for i in 0..<4 { try t.insert(.hardware(address: 0x1000 + UInt64(i)), on: .all) }
        let p = DebugPoint.watch(address: 0x2000, length: 64, kind: .write)
        try t.insert(p, on: .all, mechanism: .protection)
        #expect(t.mechanism(of: p) == .protection && t.encoded[0].slots.count == 4)
        #expect(t.hardwarePoints(on: 1).count == 4 && t.points(on: 1).count == 5)
        #expect(throws: DebugError.alreadyArmed(point: p, target: .vcpu(1))) { try t.insert(p, on: .vcpu(1), mechanism: .protection) }
        try t.remove(.hardware(address: 0x1000), from: .all)
        #expect(t.encoded[0].slots.count == 3, "re-encoding leaves the protected watch out")
        try t.remove(p, from: .all)
        #expect(t.mechanism(of: p) == nil && t.protected.isEmpty)
        #expect(throws: DebugError.self) { try t.insert(.watch(address: 0x2000, length: 0, kind: .write), on: .all, mechanism: .protection) }
    }
}
