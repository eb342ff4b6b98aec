import Foundation
import Testing
import KVMDebugCLI
import KVMDebugCore
import KVMDebugFake
import KVMTestSupport

/// The bad-input table of the README ("Failure modes"): every row is a typed error with a
/// one-line message that says what to do, and the tables (and guest memory) are exactly as
/// they were before the call. Each row runs on a fresh 4-vCPU fake VM of its architecture.
@Suite struct BadInputTableTests {
    /// One row: what is set up first, the bad call, the error it must be, words its message says.
    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var arch: Arch
        var setup: [(DebugPoint, VCPUTarget)] = []
        var call: Call
        var expect: @Sendable (DebugError) -> Bool
        var words: [String]
        var testDescription: String { name }

        enum Call: Sendable {
            case insert(DebugPoint, VCPUTarget)
            case remove(DebugPoint, VCPUTarget)
        }
    }

    static let x86Counter = BuiltinGuests.counterX86(.long)
    static let armCounter = BuiltinGuests.counterArm64()

    static let rows: [Row] = [
        Row(name: "arm64 breakpoint not 4-byte aligned", arch: .arm64, call: .insert(.hardware(address: 0x10002), .all),
            expect: { if case .misaligned(0x10002, 4, _) = $0 { return true }; return false }, words: ["aligned", "multiple of 4"]),
        Row(name: "watch of length 0 (x86)", arch: .x86_64, call: .insert(.watch(address: 0x2000, length: 0, kind: .write), .all),
            expect: { if case .unencodableWatch(_, 0, .x86_64, _) = $0 { return true }; return false }, words: ["at least 1 byte"]),
        Row(name: "watch of length 0 (arm64)", arch: .arm64, call: .insert(.watch(address: 0x11000, length: 0, kind: .write), .all),
            expect: { if case .unencodableWatch(_, 0, .arm64, _) = $0 { return true }; return false }, words: ["at least 1 byte"]),
        Row(name: "x86 range that needs more than four debug registers", arch: .x86_64,
            call: .insert(.watch(address: 0x2001, length: 30, kind: .write), .all),
            expect: { if case .unencodableWatch(0x2001, 30, .x86_64, _) = $0 { return true }; return false }, words: ["cannot watch 30 bytes"]),
        Row(name: "arm64 range larger than the slots can cover", arch: .arm64,
            call: .insert(.watch(address: 0x11001, length: 1 << 40, kind: .write), .all),
            expect: { if case .unencodableWatch = $0 { return true }; return false }, words: ["watch"]),
        Row(name: "x86 breakpoint at a non-canonical address", arch: .x86_64,
            call: .insert(.hardware(address: 0x0100_0000_0000_1000), .all),
            expect: { if case .addressBeyondWidth(0x0100_0000_0000_1000, .x86_64, _) = $0 { return true }; return false },
            words: ["canonical", "bit 56"]),
        Row(name: "arm64 watchpoint beyond 53-bit addresses", arch: .arm64,
            call: .insert(.watch(address: 0x0010_0000_0000_0000, length: 8, kind: .write), .vcpu(1)),
            expect: { if case .addressBeyondWidth(0x0010_0000_0000_0000, .arm64, _) = $0 { return true }; return false },
            words: ["53-bit", "bit 52"]),
        Row(name: "a fifth hardware point on one x86 vCPU", arch: .x86_64,
            setup: [(.hardware(address: 0x1000), .vcpu(2)), (.hardware(address: 0x1003), .vcpu(2)),
                    (.hardware(address: 0x1006), .vcpu(2)), (.watch(address: 0x2000, length: 8, kind: .write), .vcpu(2))],
            call: .insert(.hardware(address: 0x100E), .vcpu(2)),
            expect: { if case .noFreeSlot(2, _, 4, _) = $0 { return true }; return false }, words: ["vCPU 2", "no free"]),
        Row(name: "a global insert that does not fit vCPU 3 alone", arch: .x86_64,
            setup: [(.hardware(address: 0x1000), .vcpu(3)), (.hardware(address: 0x1003), .vcpu(3)),
                    (.hardware(address: 0x1006), .vcpu(3)), (.hardware(address: 0x1009), .vcpu(3))],
            call: .insert(.hardware(address: 0x100E), .all),
            expect: { if case .noFreeSlot(3, _, _, _) = $0 { return true }; return false }, words: ["vCPU 3"]),
        Row(name: "arm64 seventh breakpoint on vCPU 0", arch: .arm64,
            setup: (0..<6).map { (.hardware(address: 0x10000 + UInt64($0) * 4), .vcpu(0)) },
            call: .insert(.hardware(address: 0x10040), .vcpu(0)),
            expect: { if case .noFreeSlot(0, .breakpoint, 6, _) = $0 { return true }; return false }, words: ["vCPU 0", "breakpoint"]),
        Row(name: "vCPU index out of range", arch: .x86_64, call: .insert(.hardware(address: 0x1003), .vcpu(7)),
            expect: { $0 == .noSuchVCPU(index: 7, count: 4) }, words: ["vCPU 7", "0...3"]),
        Row(name: "removing what was never inserted", arch: .x86_64, call: .remove(.hardware(address: 0x1003), .all),
            expect: { if case .notArmed = $0 { return true }; return false }, words: ["not armed"]),
        Row(name: "removing with another length than inserted", arch: .arm64,
            setup: [(.watch(address: 0x11000, length: 8, kind: .write), .all)],
            call: .remove(.watch(address: 0x11000, length: 4, kind: .write), .all),
            expect: { if case .notArmed = $0 { return true }; return false }, words: ["not armed"]),
        Row(name: "removing a global point from one vCPU", arch: .x86_64,
            setup: [(.hardware(address: 0x1003), .all)], call: .remove(.hardware(address: 0x1003), .vcpu(1)),
            expect: { if case .notArmed = $0 { return true }; return false }, words: ["not armed"]),
        Row(name: "inserting a duplicate (rejected, not counted)", arch: .x86_64,
            setup: [(.hardware(address: 0x1003), .vcpu(1))], call: .insert(.hardware(address: 0x1003), .vcpu(1)),
            expect: { if case .alreadyArmed = $0 { return true }; return false }, words: ["already armed"]),
        Row(name: "a local duplicate of a global point", arch: .arm64,
            setup: [(.hardware(address: 0x1000C), .all)], call: .insert(.hardware(address: 0x1000C), .vcpu(0)),
            expect: { if case .alreadyArmed = $0 { return true }; return false }, words: ["already armed"]),
        // 0x300000 is identity-mapped by the boot tables (the first GiB) but past the 2 MiB of RAM.
        Row(name: "a software breakpoint outside guest memory", arch: .x86_64,
            call: .insert(.software(address: 0x30_0000), .all),
            expect: { if case .badGuestAddress(0x30_0000, _) = $0 { return true }; return false }, words: ["outside guest memory"]),
        Row(name: "a software breakpoint at an address the page tables do not map", arch: .x86_64,
            call: .insert(.software(address: 0x4000_0000), .all),
            expect: { if case .unmapped(0x4000_0000, _) = $0 { return true }; return false },
            words: ["cannot access memory at address 0x40000000", "monitor translate"]),
    ]

    @Test(arguments: rows)
    func rowFailsTypedAndChangesNothing(_ row: Row) throws {
        let guest = row.arch == .x86_64 ? Self.x86Counter : Self.armCounter
        let b = try boundedFake(guest, vcpus: 4)
        let s = DebugSession(backend: b)
        // The rows are about the debug registers' limits: memory protection would serve some.
        s.debugger.watchMechanism = .hardware
        for (p, t) in row.setup { try s.insert(p, on: t) }
        let before = s.tables
        let memory = try b.readMemory(guest.memoryBase, count: Int(guest.memorySize))
        let error = thrownError { () throws(DebugError) in
            switch row.call {
            case .insert(let p, let t): try s.insert(p, on: t)
            case .remove(let p, let t): try s.remove(p, from: t)
            }
        }
        let e = try #require(error, "\(row.name): no error")
        #expect(row.expect(e), "\(row.name): got \(e)")
        let m = e.message
        #expect(!m.contains("\n"), "one line: \(m)")
        for w in row.words { #expect(m.contains(w), "'\(w)' in: \(m)") }
        let after = s.tables
        #expect(after.global == before.global && after.local == before.local, "\(row.name): points changed")
        #expect(after.encoded == before.encoded, "\(row.name): slot use changed")
        #expect(try b.readMemory(guest.memoryBase, count: Int(guest.memorySize)) == memory, "\(row.name): guest memory changed")
        // And the session still works: one step runs.
        let r = try s.resume([.step, nil, nil, nil])
        #expect(r.stops.first?.reason == .singleStep || r.stops.first != nil)
    }

    @Test func elfSegmentsThatOverlapAreRefused() throws {
        let a = GuestData(address: 0x1000, bytes: [UInt8](repeating: 0x90, count: 0x20))
        let b = GuestData(address: 0x1010, bytes: [UInt8](repeating: 0xCC, count: 0x20))
        let img = LoadedImage(arch: .x86_64, isELF: true, segments: [b, a], entry: 0x1000, symbols: [])
        let e = thrownError { () throws(DebugError) in _ = try ImageLoader.guest(from: img, name: "t", mode: .long, entry: nil) }
        guard case .badImage(let reason)? = e else { Issue.record("\(String(describing: e))"); return }
        #expect(reason.contains("overlap") && reason.contains("0x1000..0x1020") && reason.contains("0x1010..0x1030"), "\(reason)")
        // Adjacent is fine.
        let c = GuestData(address: 0x1020, bytes: [0x90])
        _ = try ImageLoader.guest(from: LoadedImage(arch: .x86_64, isELF: true, segments: [a, c], entry: 0x1000, symbols: []),
                                  name: "t", mode: .long, entry: nil)
    }
}
