import Testing
import Foundation
import KVMDebugCore
import KVMDebugFake
import KVMDebugFuzz
import KVMDebugGDB
import KVMTestSupport

/// Every fuzz target's committed corpus (Fuzz/corpus/TARGET/, crashes included once fixed)
/// replayed through the same harnesses on every `swift test`, plus seeded mutations of the
/// GDB ones: no input may crash, hang or break a target's properties.
@Suite struct FuzzCorpusTests {
    static var root: URL {
        var dir = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { dir.deleteLastPathComponent() }
        return dir
    }

    static func corpus(_ t: FuzzTarget) -> [(String, [UInt8])] {
        let dir = root.appendingPathComponent("Fuzz/corpus/\(t.rawValue)")
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
        return names.compactMap { n in
            (try? Data(contentsOf: dir.appendingPathComponent(n))).map { (n, Array($0)) }
        }
    }

    @Test(arguments: FuzzTarget.allCases)
    func everyCorpusInputKeepsItsProperties(_ t: FuzzTarget) {
        let all = Self.corpus(t)
        #expect(all.count >= 5, "Fuzz/corpus/\(t.rawValue) has \(all.count) inputs")
        for (name, input) in all {
            let v = t.run(input)
            #expect(v == nil, "\(t.rawValue)/\(name): \(v ?? "")")
        }
    }

    /// The hand-written seeds (named; the fuzzer's additions are named by their SHA-1).
    static func seeds(_ t: FuzzTarget) -> [(String, [UInt8])] {
        corpus(t).filter { name, _ in !(name.count == 40 && name.allSatisfy(\.isHexDigit)) }
    }

    @Test func theGDBSeedsGetReplies() {
        for (name, input) in Self.seeds(.gdb) where name != "kill" {
            #expect(!GDBFuzzHarness.run(input).sent.isEmpty, "\(name): no reply at all")
        }
        for (name, input) in Self.seeds(.packets) where !name.hasPrefix("guest-stores") && !name.hasPrefix("crash-") {
            let o = PacketFuzzHarness.run(input)
            #expect(o.sent.count > 100, "\(name): \(o.sent.count) bytes of replies")
        }
    }

    /// The text of every `O` console packet in a reply stream.
    static func console(_ sent: [UInt8]) -> String {
        var text = ""
        var i = 0
        while let start = sent[i...].firstIndex(of: UInt8(ascii: "$")), let end = sent[start...].firstIndex(of: UInt8(ascii: "#")) {
            let payload = Array(sent[(start + 1)..<end])
            if payload.first == UInt8(ascii: "O"), payload.count > 2, payload.count % 2 == 1 {
                var bytes: [UInt8] = []
                var j = 1
                while j + 1 < payload.count {
                    bytes.append(UInt8(String(decoding: payload[j...j + 1], as: UTF8.self), radix: 16) ?? 0)
                    j += 2
                }
                text += String(decoding: bytes, as: UTF8.self)
            }
            i = end + 1
        }
        return text
    }

    /// The deep states are reached at once: the paged guests start each input with their MMU
    /// on, and the SMP guests run with the vCPU count byte 0 asks for.
    @Test func inputsStartPagedAndWithFourVCPUs() {
        let paged = FuzzGuest(kind: .pagedX86, vcpus: 1)
        let x86 = PacketFuzzHarness.run([paged.byte] + Array("monitor translate 0xffffffff80000040".utf8))
        #expect(Self.console(x86.sent).contains("-> physical 0x1040 (4 KiB page)"), "\(Self.console(x86.sent))")
        let arm = PacketFuzzHarness.run([FuzzGuest(kind: .pagedArm64, vcpus: 2).byte] + Array("monitor translate 0xffffffffc0000000 vcpu 1".utf8))
        #expect(Self.console(arm.sent).contains("arm64 stage 1, TTBR1_EL1"), "\(Self.console(arm.sent))")
        let smp = PacketFuzzHarness.run([FuzzGuest(kind: .smpArm64, vcpus: 4).byte] + Array("qfThreadInfo".utf8))
        #expect(String(decoding: smp.sent, as: UTF8.self).contains("$m1,2,3,4#"))
        #expect(FuzzGuest(byte: FuzzGuest(kind: .smpX86, vcpus: 4, softwareBreakpointsTrap: false, serverMode: true).byte)
                == FuzzGuest(kind: .smpX86, vcpus: 4, softwareBreakpointsTrap: false, serverMode: true))
    }

    @Test func theReplyChecksCanFail() {
        #expect(ReplyProperties.violation(Array("+$OK#9a".utf8)) == nil)
        #expect(ReplyProperties.violation(Array("$OK#9b".utf8)) == "bad checksum on the packet at 0")
        #expect(ReplyProperties.violation(Array("$O$K#00".utf8)) == "unescaped $ inside the packet at 0")
        #expect(ReplyProperties.violation(Array("x".utf8)) == "stray byte 120 at 0")
        #expect(ReplyProperties.violation(framePacket(Array("O6869".utf8))) == nil)
        #expect(ReplyProperties.violation(framePacket(Array("O686".utf8)))
                == "packet at 0 starts with O but is neither OK nor O + hex console output")
        let monitorReplies = ReplyProperties.payloads(Array("+$O6869#00+$OK#9a$E.no#00".utf8))
        #expect(monitorReplies.map { String(decoding: $0, as: UTF8.self) } == ["O6869", "OK", "E.no"])
        #expect(MonitorFuzzHarness.groupViolation(monitorReplies, commands: 2) == nil)
        #expect(MonitorFuzzHarness.groupViolation(monitorReplies, commands: 3) == "3 monitor commands got 2 final replies")
        #expect(MonitorFuzzHarness.groupViolation([Array("O41".utf8), Array("T05".utf8)], commands: 1)
                == "reply 1 to a monitor command ends in 'T05', not OK or an error")
        let big = framePacket([UInt8](repeating: UInt8(ascii: "0"), count: 4097))
        #expect(ReplyProperties.violation(big) == "packet at 0 has a 4097-byte payload, over PacketSize 4096")
    }

    /// A fuzz input's `monitor dump-guest-memory FILE` writes only the harness's scratch file: the
    /// one-hour runs had left cores in / and in the working folder under the names inputs gave.
    @Test func coreFilesStayInTheScratchFile() throws {
        let named = "/tmp/kvmdbg-fuzz-escape.\(getpid())"
        defer { unlink(named) }
        let outcome = MonitorFuzzHarness.run([0] + Array("dump-guest-memory \(named)".utf8))
        #expect(outcome.violation == nil)
        #expect(access(named, F_OK) != 0, "a fuzz input wrote \(named)")
        #expect(String(decoding: outcome.sent, as: UTF8.self).contains("$O"), "the core was written (its summary)")
    }

    /// The memory check flags a hidden byte that is not the breakpoint instruction's (what the
    /// debugger showed before the guest-store fix: the stale original over the guest's byte),
    /// and accepts an intact patch and one the guest stored over.
    @Test func theMemoryCheckCanFail() throws {
        let int3: [UInt8] = [0xCC], brk: [UInt8] = [0, 0, 0x20, 0xD4]
        #expect(SessionProperties.hiddenByteViolation(page: 0x1000, raw: [0x90, 0xCC], seen: [0x90, 0x48], instruction: int3) == nil)
        #expect(SessionProperties.hiddenByteViolation(page: 0x1000, raw: [0x48, 0x90], seen: [0x48, 0x48], instruction: int3)
                == "RAM at 0x1001 is 0x90 while the client sees 0x48: not a breakpoint instruction")
        #expect(SessionProperties.hiddenByteViolation(page: 0x1000, raw: [7, 0, 0x20, 0xD4], seen: [7, 0, 0, 0], instruction: brk) == nil)
        #expect(SessionProperties.hiddenByteViolation(page: 0x1000, raw: [0, 0x20, 0xD4, 0], seen: [0, 0, 0, 0], instruction: brk)
                == "RAM at 0x1001 is 0x20 while the client sees 0x0: not a breakpoint instruction")
        // Through a session: an intact patch passes, and a byte changed under it (as a guest
        // store does) shows and stays after the check removed every point.
        let backend = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        let session = DebugSession(backend: backend)
        defer { session.close() }
        try session.insert(.software(address: 0x1006))
        #expect(SessionProperties.violation(session, backend: backend) == nil)
        #expect(try backend.readMemory(0x1006, count: 1) == [0x48], "the check removes every point afterwards")
        try session.insert(.software(address: 0x1006))
        try backend.writeMemory(0x1006, [0x90])
        #expect(try session.readMemory(0x1006, count: 1, vcpu: 0) == [0x90])
        #expect(SessionProperties.violation(session, backend: backend) == nil)
        #expect(try backend.readMemory(0x1006, count: 1) == [0x90])
    }

    /// `FakeBackend.reset` (what lets the fuzzer reuse one VM) undoes guest stores, client
    /// writes and register changes.
    @Test func aResetVMIsTheVMAsBuilt() throws {
        let guest = BuiltinGuests.counterX86(.long)
        let backend = try FakeBackend(guest: guest, vcpus: 2)
        let before = try backend.registers(vcpu: 1)
        backend.maxInstructionsPerRun = 100
        _ = try backend.run(vcpu: 1)
        try backend.writeMemory(0x1000, [0xCC, 0xCC])
        #expect(try backend.readMemory(0x2000, count: 8) != [UInt8](repeating: 0, count: 8))
        #expect(backend.writtenPages == [0x1000, 0x2000])
        backend.reset()
        #expect(backend.writtenPages.isEmpty && backend.trace.isEmpty)
        #expect(try backend.registers(vcpu: 1) == before)
        #expect(try backend.readMemory(0x1000, count: 2) == Array(guest.image.prefix(2)))
        #expect(try backend.readMemory(0x2000, count: 8) == [UInt8](repeating: 0, count: 8))
    }

    /// Found by the `monitor` target: two arm64 software breakpoints a byte apart overwrote half
    /// of each other's BRK, and removing them left a BRK's bytes in guest memory. A misaligned
    /// one is now refused.
    @Test func misalignedArm64SoftwareBreakpointsAreRefused() throws {
        let backend = try FakeBackend(guest: BuiltinGuests.counterArm64())
        let session = DebugSession(backend: backend)
        defer { session.close() }
        #expect(thrownError { () throws(DebugError) in try session.insert(.software(address: 0x10011)) }
                == .misaligned(address: 0x10011, alignment: 4, what: "arm64 software breakpoint"))
        try session.insert(.software(address: 0x10010))
        #expect(SessionProperties.violation(session, backend: backend) == nil)
        let replay = Self.corpus(.monitor).first { $0.0 == "crash-arm64-overlapping-sw-breaks" }
        #expect(replay.map { FuzzTarget.monitor.run($0.1) } == .some(nil))
    }

    /// Found by the `packets` target after 56 minutes (Fuzz/corpus/packets/guest-stores-over-brk):
    /// a software breakpoint on bytes the guest itself stores to (a data word, self-modifying
    /// code). The guest's store replaces the int3/brk; the debugger used to go on showing the
    /// original saved at insert time, and removing the point wrote that stale original back
    /// over the guest's store. Now a read shows the guest's store and removing keeps it, on
    /// both architectures (arm64's brk is 4 bytes, the store 8).
    @Test(arguments: [Arch.x86_64, .arm64])
    func aGuestStoreOverASoftwareBreakpointIsKept(_ arch: Arch) throws {
        let guest = arch == .x86_64 ? BuiltinGuests.counterX86(.long) : BuiltinGuests.counterArm64()
        let counter = try #require(guest.symbol("counter")).address
        let backend = try FakeBackend(guest: guest)
        let session = DebugSession(backend: backend)
        defer { session.close() }
        try session.insert(.software(address: counter))  // `counter`, which the loop stores to
        backend.maxInstructionsPerRun = 40
        _ = try backend.run(vcpu: 0)
        let stored = try backend.readMemory(counter, count: 8)
        #expect(stored != [0xCC, 0, 0, 0, 0, 0, 0, 0] && stored != [0, 0, 0x20, 0xD4, 0, 0, 0, 0])
        #expect(backend.guestStoredPages == [counter & ~0xFFF])
        #expect(try session.readMemory(counter, count: 8, vcpu: 0) == stored)
        #expect(try session.readMemory(counter + 1, count: 2, vcpu: 0) == Array(stored[1...2]), "a read starting inside the patch")
        #expect(SessionProperties.violation(session, backend: backend) == nil)
        try session.insert(.software(address: counter))
        _ = try backend.run(vcpu: 0)
        let later = try backend.readMemory(counter, count: 8)
        try session.remove(.software(address: counter))
        #expect(try backend.readMemory(counter, count: 8) == later)
        #expect(try session.readMemory(counter, count: 8, vcpu: 0) == later)
    }

    /// The other half of the property: bytes the guest did not store to stay hidden, and a
    /// remove puts back the original (the check of the fix above can fail).
    @Test func anUntouchedSoftwareBreakpointStillHidesAndRestores() throws {
        let backend = try FakeBackend(guest: BuiltinGuests.counterArm64())
        let session = DebugSession(backend: backend)
        defer { session.close() }
        let before = try backend.readMemory(0x11008, count: 8)  // `data`, which the loop only loads
        try session.insert(.software(address: 0x11008))
        backend.maxInstructionsPerRun = 40
        _ = try backend.run(vcpu: 0)
        #expect(try backend.readMemory(0x11008, count: 4) == [0, 0, 0x20, 0xD4])
        #expect(try session.readMemory(0x11008, count: 8, vcpu: 0) == before)
        try session.remove(.software(address: 0x11008))
        #expect(try backend.readMemory(0x11008, count: 8) == before)
    }

    /// Found by the `walk` target: TCR_EL1.T0SZ = 48 with the 64 KiB granule left no level to
    /// walk and trapped on an empty range. Now a fault.
    @Test func aRangeNoWiderThanAPageIsAFault() throws {
        var r = Arm64RegisterFile()
        r.sctlrEL1 = 1
        r.tcrEL1 = 48 | 1 << 14  // T0SZ = 48 (16-bit range), TG0 = 64 KiB
        let walk = try Arm64PageWalk.walk(0x1234, registers: r) { _, _ throws(DebugError) in 0 }
        #expect(walk.physicalAddress == nil)
        #expect(walk.fault?.hasPrefix("T0SZ=48 gives a 16-bit range, outside what this walker models") == true)
        // The whole-table scan (monitor info mem) had the same trap; it now maps nothing there.
        var budget = PageTableBudget(maxTables: 8)
        var leaves = 0
        _ = Arm64PageMap.scan(registers: r, budget: &budget, readTable: { _, n throws(DebugError) in [UInt8](repeating: 3, count: n) },
                              visit: { _ in leaves += 1; return true })
        #expect(leaves == 0 && budget.tables == 0)
    }

    /// Found by the `packets` target in the first smoke run of the faster harness
    /// (Fuzz/corpus/packets/crash-write-length-past-int-max): an `X` or `M` packet whose length
    /// field is past Int.max trapped converting it to Int. Now it is a length mismatch (E01).
    @Test func aWriteLengthPastIntMaxIsAnError() {
        for body in ["X1000,eeeeeeeeeeeeeeee:A", "M1000,ffffffffffffffff:00", "X1000,1:A"] {
            let o = PacketFuzzHarness.run([0] + Array(body.utf8))
            #expect(o.violation == nil, "\(body): \(o.violation ?? "")")
            let replies = ReplyProperties.payloads(o.sent).map { String(decoding: $0, as: UTF8.self) }
            #expect(replies == [body.hasSuffix(",1:A") ? "OK" : "E01"], "\(body): \(replies)")
        }
        let replay = Self.corpus(.packets).first { $0.0 == "crash-write-length-past-int-max" }
        #expect(replay.map { FuzzTarget.packets.run($0.1) } == .some(nil))
    }

    /// Inputs share reused VMs (`FuzzVMs`, `FakeBackend.reset`) and their rounds run in turn on
    /// the harness's thread (`runsRoundsOnCallingThread`): what an input gets back depends on
    /// its bytes alone, not on what ran before it, even on four vCPUs. Each input here changes
    /// what the other reads (memory, registers, points, a continue past a breakpoint).
    @Test func repliesDoNotDependOnTheInputBefore() {
        let smp = FuzzGuest(kind: .smpX86, vcpus: 4).byte
        let paged = FuzzGuest(kind: .pagedArm64, vcpus: 4).byte
        let a = "Z0,1006,1\nM2008,8:1122334455667788\nP0=0100000000000000\nvCont;c\nvCont;c\nZ2,3000,8\nvCont;c\n?"
        let b = "m1000,20\nm2008,8\ng\nvCont;c\nvCont;s:2\nm3000,20\nqfThreadInfo\n?"
        let c = "monitor translate 0xffffffffc0000000 vcpu 3\nZ1,ffffffffc0000000,4\nvCont;c\nm11000,10\nvCont;c\n?"
        let inputs = [[smp] + Array(a.utf8), [smp] + Array(b.utf8), [paged] + Array(c.utf8), [paged] + Array(b.utf8)]
            + Self.corpus(.packets).prefix(12).map(\.1)
        let alone = inputs.map { PacketFuzzHarness.run($0) }
        for (i, o) in alone.enumerated() { #expect(o.violation == nil, "input \(i): \(o.violation ?? "")") }
        // a's first continue is one round in which every vCPU took its turn to the breakpoint:
        // its next continues are answered with the other vCPUs' stops of that round.
        #expect(alone[0].rounds >= 1 && alone[1].rounds >= 2, "the continues ran: \(alone[0].rounds), \(alone[1].rounds)")
        #expect(String(decoding: alone[0].sent, as: UTF8.self).contains("T05thread:2;swbreak:"))
        for (i, input) in inputs.enumerated().reversed() {
            #expect(PacketFuzzHarness.run(input).sent == alone[i].sent, "input \(i) run after input \(i + 1)")
            #expect(PacketFuzzHarness.run(input).sent == alone[i].sent, "input \(i) run after itself")
        }
    }

    /// A few hundred deterministic mutations (byte flips, inserts, splices) of each GDB corpus.
    @Test(arguments: [FuzzTarget.gdb, .packets, .monitor])
    func seededMutationsKeepTheProperties(_ t: FuzzTarget) {
        var rng = SplitMix64(state: 12)
        let all = Self.corpus(t).map(\.1)
        guard !all.isEmpty else { Issue.record("no corpus"); return }
        for round in 0..<150 {
            var input = all[rng.below(all.count)]
            for _ in 0..<(1 + rng.next() % 4) {
                let at = input.isEmpty ? 0 : rng.below(input.count)
                switch rng.next() % 4 {
                case 0 where !input.isEmpty: input[at] ^= rng.byte() | 1
                case 1: input.insert(rng.byte(), at: at)
                case 2 where at < input.count: input.remove(at: at)
                default:
                    let other = all[rng.below(all.count)]
                    input.insert(contentsOf: other.dropFirst(), at: at)
                }
            }
            let v = t.run(input)
            #expect(v == nil, "\(t.rawValue) mutation \(round): \(v ?? "")")
        }
    }

    /// Fuzz/gdb.dict lists every packet name, qXfer object, vCont action, monitor command and
    /// Qqemu extension the engine dispatches on (scripts/fuzz-dict --check), and the check
    /// fails for a dictionary missing one.
    @Test func theDictionaryIsCurrent() throws {
        let script = Self.root.appendingPathComponent("scripts/fuzz-dict").path
        #expect(try Self.exitStatus(script, ["--check"]) == 0, "run scripts/fuzz-dict and commit Fuzz/gdb.dict")
        let full = try String(contentsOf: Self.root.appendingPathComponent("Fuzz/gdb.dict"), encoding: .utf8)
        let stale = FileManager.default.temporaryDirectory.appendingPathComponent("stale-\(UUID()).dict")
        try full.split(separator: "\n").filter { $0 != "\"vCont;s\"" }.joined(separator: "\n").write(to: stale, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: stale) }
        #expect(try Self.exitStatus(script, ["--check", "--dict", stale.path]) == 1)
    }

    static func exitStatus(_ path: String, _ args: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }
}
