import Foundation
import Synchronization
import Testing
import KVMDebugCLI
import KVMDebugConformance
import KVMDebugCore
import KVMDebugFake

/// Protection watchpoints (memory slots instead of debug registers) on the fake and on this
/// host's KVM, where PVM never fires a DR7 data watchpoint: the same stops on both, and a
/// guest that checks its own data never sees a difference.
enum ProtectionGuests {
    static let good: UInt64 = 0x1062
    static let bad: UInt64 = 0x1063

    /// Stores of 1, 2, 4 and 8 bytes into 0x3100.., one of 8 bytes at 0x2ffc straddling into
    /// page 0x3000, then loads them back and compares: `hlt` at `good` (0x1061) when every
    /// value is right, at `bad` (0x1062) otherwise (the halt exit's pc is after the hlt).
    static var dataCheck: Guest {
        let code: [UInt8] = [
            0x48, 0xB8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, // 1000 mov rax, 0x1122334455667788
            0x88, 0x04, 0x25, 0x00, 0x31, 0x00, 0x00,                   // 100a mov [0x3100], al
            0x66, 0x89, 0x04, 0x25, 0x02, 0x31, 0x00, 0x00,             // 1011 mov [0x3102], ax
            0x89, 0x04, 0x25, 0x04, 0x31, 0x00, 0x00,                   // 1019 mov [0x3104], eax
            0x48, 0x89, 0x04, 0x25, 0x08, 0x31, 0x00, 0x00,             // 1020 mov [0x3108], rax
            0x48, 0x89, 0x04, 0x25, 0xFC, 0x2F, 0x00, 0x00,             // 1028 mov [0x2ffc], rax (straddles)
            0x48, 0x8B, 0x1C, 0x25, 0x00, 0x31, 0x00, 0x00,             // 1030 mov rbx, [0x3100]
            0x48, 0xB9, 0x88, 0x00, 0x88, 0x77, 0x88, 0x77, 0x66, 0x55, // 1038 mov rcx, 0x5566778877880088
            0x48, 0x39, 0xCB,                                           // 1042 cmp rbx, rcx
            0x75, 0x1B,                                                 // 1045 jne bad
            0x48, 0x8B, 0x1C, 0x25, 0x08, 0x31, 0x00, 0x00,             // 1047 mov rbx, [0x3108]
            0x48, 0x39, 0xC3,                                           // 104f cmp rbx, rax
            0x75, 0x0E,                                                 // 1052 jne bad
            0x48, 0x8B, 0x1C, 0x25, 0xFC, 0x2F, 0x00, 0x00,             // 1054 mov rbx, [0x2ffc]
            0x48, 0x39, 0xC3,                                           // 105c cmp rbx, rax
            0x75, 0x01,                                                 // 105f jne bad
            0xF4,                                                       // 1061 good: hlt
            0xF4,                                                       // 1062 bad: hlt
        ]
        return Guest(name: "data-check", arch: .x86_64, mode: .long, memoryBase: 0, memorySize: 0x20_0000,
                     loadAddress: 0x1000, image: code, entry: 0x1000,
                     symbols: [GuestSymbol(name: "words", address: 0x3100, size: 16)], summary: "stores, loads back, checks")
    }

    /// The stops (signature, old, new) and the end of a run of `g` with `points` by protection.
    static func run<B: DebugBackend>(_ backend: B, points: [DebugPoint], maxStops: Int = 20) throws -> (stops: [String], end: RunEnd) {
        let d = Debugger(backend: backend)
        d.watchMechanism = .protection
        let runner = GuestRunner(debugger: d)
        var plan = RunPlan()
        plan.points = points.map { PointSpec(point: $0, target: .all, text: "\($0)") }
        plan.maxStops = maxStops
        plan.timeout = 20
        var stops: [String] = []
        let end = try runner.run(plan) { rec in
            guard case .stop(let s) = rec else { return }
            let h = s.stop.primary
            stops.append("\(StopSignature(s.stop)) old=\(hex(littleEndianValue(h.oldValue ?? []))) new=\(hex(littleEndianValue(h.newValue ?? [])))")
        }
        return (stops, end)
    }
}

@Suite(.serialized) struct ProtectionWatchTests {
    static let writeWatches: [DebugPoint] = [.watch(address: 0x3100, length: 16, kind: .write), .watch(address: 0x3000, length: 4, kind: .write)]
    static let expectedWrites = [
        "(0, watchpoint, 0x1011, 0x3100) old=0x0 new=0x88",
        "(0, watchpoint, 0x1019, 0x3102) old=0x0 new=0x7788",
        "(0, watchpoint, 0x1020, 0x3104) old=0x0 new=0x55667788",
        "(0, watchpoint, 0x1028, 0x3108) old=0x0 new=0x1122334455667788",
        // The straddling store: KVM writes the RAM half itself, exits for the protected half.
        "(0, watchpoint, 0x1030, 0x3000) old=0x0 new=0x11223344",
    ]
    static let accessWatches: [DebugPoint] = [.watch(address: 0x3100, length: 16, kind: .access)]
    static let expectedAccesses = [
        "(0, watchpoint, 0x1011, 0x3100) old=0x0 new=0x88",
        "(0, watchpoint, 0x1019, 0x3102) old=0x0 new=0x7788",
        "(0, watchpoint, 0x1020, 0x3104) old=0x0 new=0x55667788",
        "(0, watchpoint, 0x1028, 0x3108) old=0x0 new=0x1122334455667788",
        // Loads from the hole: reported after they retired, with the value the guest got.
        "(0, watchpoint, 0x1038, 0x3100) old=0x5566778877880088 new=0x5566778877880088",
        "(0, watchpoint, 0x104f, 0x3108) old=0x1122334455667788 new=0x1122334455667788",
    ]

    func check<B: DebugBackend>(_ b: B, _ points: [DebugPoint], _ expected: [String]) throws {
        let (stops, end) = try ProtectionGuests.run(b, points: points)
        #expect(stops == expected, "\(stops)")
        #expect(end.reason == "guest-halted", "\(end)")
        let pc = try b.programCounter(vcpu: 0)
        #expect(pc == ProtectionGuests.good, "the guest's own check passed (pc \(hex(pc)), bad is \(hex(ProtectionGuests.bad)))")
        #expect(try b.readMemory(0x3100, count: 16) == [0x88, 0, 0x88, 0x77, 0x88, 0x77, 0x66, 0x55, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11])
        #expect(try b.readMemory(0x2ffc, count: 8) == [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11])
    }

    @Test func writesOfEverySizeOnTheFake() throws {
        try check(FakeBackend(guest: ProtectionGuests.dataCheck), Self.writeWatches, Self.expectedWrites)
    }

    @Test func loadsAndStoresThroughAHoleOnTheFake() throws {
        try check(FakeBackend(guest: ProtectionGuests.dataCheck), Self.accessWatches, Self.expectedAccesses)
    }

    @Test(KVMHost.required) func writesOfEverySizeOnKVM() throws {
        try check(KVMBackend(guest: ProtectionGuests.dataCheck), Self.writeWatches, Self.expectedWrites)
    }

    @Test(KVMHost.required) func loadsAndStoresThroughAHoleOnKVM() throws {
        try check(KVMBackend(guest: ProtectionGuests.dataCheck), Self.accessWatches, Self.expectedAccesses)
    }

    /// Every slot split off is merged back when the points go: the VM's memory map as before.
    @Test(KVMHost.required) func slotsAreRestoredExactly() throws {
        let b = try KVMBackend(guest: BuiltinGuests.counterX86(.long))
        let before = b.memorySlots
        #expect(before.count == 1)
        let s = DebugSession(backend: b)
        s.debugger.watchMechanism = .protection
        try s.insert(.watch(address: 0x2000, length: 8, kind: .write))
        try s.insert(.watch(address: 0x2008, length: 8, kind: .read))
        try s.insert(.watch(address: 0x5ff8, length: 16, kind: .write))  // two pages
        #expect(b.memorySlots.count > 3, "\(b.memorySlots)")
        #expect(!b.memorySlots.contains { $0.guestAddress == 0x2000 }, "page 0x2000 is a hole (a read watch)")
        #expect(b.memorySlots.contains { $0.guestAddress == 0x5000 && $0.size == 0x1000 && $0.flags == KVMMemorySlot.readOnly })
        #expect(b.memorySlots.contains { $0.guestAddress == 0x6000 && $0.size == 0x1000 && $0.flags == KVMMemorySlot.readOnly })
        s.removeAllPoints()
        #expect(b.memorySlots == before)
    }

    /// Nine watches on x86 (four debug registers): the fake's hardware takes four, protection the
    /// rest; all-or-nothing: a watch on no RAM is refused and leaves nothing protected.
    @Test func hardwareFirstThenProtection() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        let d = Debugger(backend: b)
        let points = (0..<9).map { DebugPoint.watch(address: 0x2000 + 8 * UInt64($0), length: 8, kind: .write) }
        for p in points { try d.insert(p) }
        #expect(points.map { d.mechanism(of: $0) } == [WatchMechanism](repeating: .hardware, count: 4) + [WatchMechanism](repeating: .protection, count: 5))
        #expect(d.protectedPages.map(\.page) == [0x2000])
        #expect(b.pageProtection(at: 0x2000) == .readOnly)
        #expect(throws: DebugError.self) { try d.insert(.watch(address: 0x40_0000, length: 8, kind: .write)) }
        #expect(d.protectedPages.map(\.page) == [0x2000])
        for p in points.suffix(5) { try d.remove(p) }
        #expect(d.protectedPages.isEmpty && b.pageProtection(at: 0x2000) == PageProtection.none)
        // Hardware only: the fifth is refused as before.
        d.watchMechanism = .hardware
        #expect(throws: DebugError.self) { try d.insert(points[4]) }
    }

    /// Where the hardware does not trap and protection is unavailable, a watch is refused with the reason.
    @Test func refusedWithTheReasonWhenNothingCanServeIt() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterArm64())
        b.arm64NISVToUser = false
        let d = Debugger(backend: b)
        d.hardwareWatchpointsTrap = false
        let e = try #require(throws: DebugError.self) { try d.insert(.watch(address: 0x11000, length: 8, kind: .write)) }
        #expect(e.message.contains("do not trap") && e.message.contains("KVM_CAP_ARM_NISV_TO_USER"), "\(e.message)")
        #expect(d.tables.global.isEmpty)
    }

    /// Code on a watched page keeps running: an access watch on a word of the code page makes
    /// it a hole, every fetch from it is stepped through with the slot back, and the loop's
    /// stores still stop.
    static func codePageRuns<B: DebugBackend>(_ b: B) throws -> [String] {
        try ProtectionGuests.run(b, points: [.watch(address: 0x1800, length: 8, kind: .access), .watch(address: 0x2000, length: 8, kind: .write)], maxStops: 3).stops
    }

    static let codePageStops = [
        "(0, watchpoint, 0x100e, 0x2000) old=0x0 new=0x1",
        "(0, watchpoint, 0x100e, 0x2000) old=0x1 new=0x2",
        "(0, watchpoint, 0x100e, 0x2000) old=0x2 new=0x3",
    ]

    @Test func codeOnAWatchedPageRunsOnTheFake() throws {
        #expect(try Self.codePageRuns(FakeBackend(guest: BuiltinGuests.counterX86(.long))) == Self.codePageStops)
    }

    @Test(KVMHost.required) func codeOnAWatchedPageRunsOnKVM() throws {
        #expect(try Self.codePageRuns(KVMBackend(guest: BuiltinGuests.counterX86(.long))) == Self.codePageStops)
    }

    /// Eight watchpoints at once, one per vCPU's word of `smp-counter` (four more than DR0-DR3),
    /// automatic mechanism: each vCPU in turn runs alone (the others held, so none starves)
    /// and stops on its own word's watch, twice, with the values one apart.
    static func eightWatches<B: DebugBackend>(_ b: B) throws {
        let g = try BuiltinGuests.guest(named: "smp-counter", arch: .x86_64)
        let words = (0..<8).map { BuiltinGuests.counterAddress(of: $0, in: g)! }
        let s = DebugSession(backend: b)
        defer { s.close() }
        if b.capabilities.backend == "kvm" { s.debugger.hardwareWatchpointsTrap = KVMHost.works([.writeWatchpoint]) }
        for w in words { try s.insert(.watch(address: w, length: 8, kind: .write)) }
        let mechanisms = words.map { s.debugger.mechanism(of: .watch(address: $0, length: 8, kind: .write)) }
        #expect(mechanisms.filter { $0 == .protection }.count >= 4, "\(mechanisms)")
        for v in 0..<8 {
            var actions = [ResumeMode?](repeating: nil, count: 8)
            actions[v] = .continue
            for n: UInt64 in 1...2 {
                let round = try s.resume(actions, deadline: monotonicNanoseconds() + 60_000_000_000)
                let stop = try #require(round.stops.first, "vCPU \(v): \(round.events)")
                #expect(stop.vcpu == v && stop.reason == .watchpoint && stop.dataAddress == words[v], "\(stop)")
                #expect(littleEndianValue(try b.readMemory(words[v], count: 8)) == n, "vCPU \(v)'s store \(n)")
            }
        }
    }

    @Test func eightWatchpointsOnTheFake() throws {
        try Self.eightWatches(FakeBackend(guest: BuiltinGuests.guest(named: "smp-counter", arch: .x86_64), vcpus: 8))
    }

    @Test(KVMHost.required) func eightWatchpointsOnKVM() throws {
        try Self.eightWatches(KVMBackend(guest: BuiltinGuests.guest(named: "smp-counter", arch: .x86_64), vcpus: 8))
    }

    /// A per-vCPU watch filters by the vCPU that exited: vCPU 1's stores to its own word are
    /// trapped (the page is protected for the VM) but armed on vCPU 0 only, they never stop;
    /// armed on vCPU 1, they do. Bounded by vCPU 1's breakpoint stops after its store.
    static func perVCPU<B: DebugBackend>(_ make: () throws -> B) throws {
        let g = try BuiltinGuests.guest(named: "smp-counter", arch: .x86_64)
        let word = BuiltinGuests.counterAddress(of: 1, in: g)!
        let load = g.symbol("load")!.address
        for (armedOn, fires) in [(0, false), (1, true)] {
            let d = Debugger(backend: try make())
            d.watchMechanism = .protection
            let runner = GuestRunner(debugger: d)
            var plan = RunPlan()
            plan.points = [PointSpec(point: .watch(address: word, length: 8, kind: .write), target: .vcpu(armedOn), text: "word"),
                           PointSpec(point: .hardware(address: load), target: .vcpu(1), text: "load@1")]
            plan.maxStops = 6
            plan.timeout = 60
            var reasons: [String] = []
            let end = try runner.run(plan) { rec in
                if case .stop(let s) = rec { reasons.append("\(s.stop.vcpu):\(s.stop.reason.name)") }
            }
            #expect(end.reason == "max-stops", "\(end)")
            #expect(reasons.contains("1:hw-breakpoint"), "vCPU 1 ran its loop: \(reasons)")
            #expect(reasons.contains("1:watchpoint") == fires, "armed on vCPU \(armedOn): \(reasons)")
            #expect(!reasons.contains("0:watchpoint"), "\(reasons)")
        }
    }

    @Test func perVCPUWatchesFilterByTheVCPUOnTheFake() throws {
        try Self.perVCPU { try FakeBackend(guest: BuiltinGuests.guest(named: "smp-counter", arch: .x86_64), vcpus: 2) }
    }

    @Test(KVMHost.required) func perVCPUWatchesFilterByTheVCPUOnKVM() throws {
        try Self.perVCPU { try KVMBackend(guest: BuiltinGuests.guest(named: "smp-counter", arch: .x86_64), vcpus: 2) }
    }

    /// A host VMM's slot table: each change is asked first (a refusal refuses the watch and
    /// changes nothing), and the slots are put back exactly when the watch goes.
    @Test(KVMHost.required) func adoptedSlotsAreAskedForAndRestored() throws {
        let own = try KVMBackend(guest: BuiltinGuests.counterX86(.long))
        let slots = own.memorySlots
        let host = try #require(UnsafeMutableRawPointer(bitPattern: UInt(slots[0].hostAddress)))
        let region = GuestMemoryRegion(guestAddress: slots[0].guestAddress, size: slots[0].size, host: host)
        let allow = Atomic<Bool>(false)
        let asked = Atomic<Int>(0)
        let adopted = try KVMBackend(adopting: [own.vcpus[0].fd], memory: [region], vmFD: own.vm!.fd, kick: .default,
                                     memorySlots: slots, slotConsent: { change in
            asked.add(1, ordering: .relaxed)
            return change.slot == slots[0] && change.page == 0x2000 && allow.load(ordering: .relaxed)
        })
        let d = Debugger(backend: adopted)
        d.watchMechanism = .protection
        let w = DebugPoint.watch(address: 0x2000, length: 8, kind: .write)
        let e = try #require(throws: DebugError.self) { try d.insert(w) }
        #expect(e.message.contains("refused"), "\(e.message)")
        #expect(d.tables.global.isEmpty && adopted.memorySlots == slots && asked.load(ordering: .relaxed) == 1)
        allow.store(true, ordering: .relaxed)
        try d.insert(w)
        #expect(adopted.memorySlots != slots)
        guard case .stop(let s) = try d.resume(vcpu: 0, mode: .continue) else { Issue.record("no stop"); return }
        #expect(s.reason == .watchpoint && s.pc == 0x100e && s.primary.newValue == [1, 0, 0, 0, 0, 0, 0, 0])
        try d.remove(w)
        #expect(adopted.memorySlots == slots, "restored on remove")
        #expect(asked.load(ordering: .relaxed) == 3)
        // Without a slot table an adopted backend refuses, saying why.
        let bare = try KVMBackend(adopting: [own.vcpus[0].fd], memory: [region], kick: .default)
        #expect(bare.pageProtectionUnavailable?.contains("slot table") == true)
    }

    /// A guest with its own page tables (`paged-counter`): watches by virtual address protect
    /// the physical page behind them (0x3000), stops report the virtual address, and the
    /// read-modify-write `inc qword [counter]` on a hole exits twice (load, then store).
    static func paged<B: DebugBackend>(_ b: B, holeAt: (B) -> Bool) throws -> [String] {
        let g = BuiltinGuests.pagedCounterX86()
        let s = DebugSession(backend: b)
        defer { s.close() }
        s.debugger.watchMechanism = .protection
        let main = g.symbol("main")!.address, counter = g.symbol("counter")!.address, data = g.symbol("data")!.address
        // The high addresses exist once the guest runs on its own tables.
        try s.insert(.hardware(address: main))
        var out: [String] = []
        func next() throws {
            let round = try s.resumeAll()
            guard let stop = round.stops.first else { out.append("no stop: \(round.events)"); return }
            let h = stop.primary
            out.append("\(StopSignature(stop)) old=\(hex(littleEndianValue(h.oldValue ?? []))) new=\(hex(littleEndianValue(h.newValue ?? [])))")
        }
        try next()
        try s.remove(.hardware(address: main))
        try s.insert(.watch(address: counter, length: 8, kind: .write))
        try next()
        try s.insert(.watch(address: data, length: 8, kind: .access))
        #expect(holeAt(b), "the physical page behind counter and data is a hole")
        try next()
        try next()
        return out
    }

    /// An access watch on the word `inc qword [counter]` reads and writes: the load's stop
    /// carries the store the same instruction then makes (KVM exits for it while the load
    /// completes), and that store reaches memory.
    static func readModifyWrite<B: DebugBackend>(_ b: B) throws -> [String] {
        let g = BuiltinGuests.pagedCounterX86()
        let s = DebugSession(backend: b)
        defer { s.close() }
        s.debugger.watchMechanism = .protection
        let main = g.symbol("main")!.address, counter = g.symbol("counter")!.address
        try s.insert(.hardware(address: main))
        _ = try s.resumeAll()
        try s.remove(.hardware(address: main))
        try s.insert(.watch(address: counter, length: 8, kind: .access))
        var out: [String] = []
        for _ in 0..<2 {
            let stop = try #require(try s.resumeAll().stops.first)
            out.append(stop.hits.map { "\($0.reason.name) \($0.accessWasWrite == true ? "w" : "r") \(hex(littleEndianValue($0.newValue ?? [])))" }.joined(separator: ", ")
                       + " pc \(hex(stop.pc)) memory \(littleEndianValue(try s.readMemory(counter, count: 8, vcpu: 0)))")
        }
        return out
    }

    static let readModifyWriteStops: [String] = {
        let hi = BuiltinGuests.pagedBase
        return ["watchpoint r 0x0, watchpoint w 0x1 pc \(hex(hi + 0x54)) memory 1",
                "watchpoint r 0x1, watchpoint w 0x2 pc \(hex(hi + 0x54)) memory 2"]
    }()

    @Test func readModifyWriteOnAHoleOnTheFake() throws {
        let stops = try Self.readModifyWrite(FakeBackend(guest: BuiltinGuests.pagedCounterX86()))
        #expect(stops == Self.readModifyWriteStops, "\(stops)")
    }

    @Test(KVMHost.required) func readModifyWriteOnAHoleOnKVM() throws {
        let stops = try Self.readModifyWrite(KVMBackend(guest: BuiltinGuests.pagedCounterX86()))
        #expect(stops == Self.readModifyWriteStops, "\(stops)")
    }

    static let pagedStops: [String] = {
        let hi = BuiltinGuests.pagedBase
        return [
            "(0, hw-breakpoint, \(hex(hi + 0x40))) old=0x0 new=0x0",
            "(0, watchpoint, \(hex(hi + 0x54)), \(hex(hi + 0x1000))) old=0x0 new=0x1",
            "(0, watchpoint, \(hex(hi + 0x5b)), \(hex(hi + 0x1008))) old=0x1122334455667788 new=0x1122334455667788",
            "(0, watchpoint, \(hex(hi + 0x54)), \(hex(hi + 0x1000))) old=0x1 new=0x2",
        ]
    }()

    @Test func pagedGuestByVirtualAddressOnTheFake() throws {
        #expect(try Self.paged(FakeBackend(guest: BuiltinGuests.pagedCounterX86())) { $0.pageProtection(at: 0x3000) == .hole } == Self.pagedStops)
    }

    @Test(KVMHost.required) func pagedGuestByVirtualAddressOnKVM() throws {
        #expect(try Self.paged(KVMBackend(guest: BuiltinGuests.pagedCounterX86())) { b in
            !b.memorySlots.contains { $0.guestAddress <= 0x3000 && 0x3000 < $0.guestAddress + $0.size }
        } == Self.pagedStops)
    }

    /// Execute breakpoints by a code-page hole (`breakMechanism`, GDB's `monitor break-mode`):
    /// five on the loop's four instructions and its entry, where DR0-DR3 hold four, so the
    /// fifth is a hole in `.automatic`; every one stops before its instruction runs, continuing
    /// steps over it, a step from it moves one instruction, and the loop's stores are right.
    static func holeBreakpoints<B: DebugBackend>(_ b: B, choice: WatchMechanismChoice) throws -> [String] {
        let g = BuiltinGuests.counterX86(.long)
        let d = Debugger(backend: b)
        d.breakMechanism = choice
        let names = ["loop", "store", "load", "jump"]
        for n in names { try d.insert(.hardware(address: g.symbol(n)!.address)) }
        var out: [String] = []
        for i in 0..<9 {
            let e = try d.resume(vcpu: 0, mode: i == 6 ? .step : .continue)
            guard case .stop(let s) = e else { out.append("\(e)"); break }
            out.append("\(s.reason.name) \(hex(s.pc))")
        }
        out.append("counter \(littleEndianValue(try b.readMemory(g.symbol("counter")!.address, count: 8)))")
        for n in names { try d.remove(.hardware(address: g.symbol(n)!.address)) }
        #expect(d.protectedPages.isEmpty)
        return out
    }

    static let holeBreakStops = [
        "hw-breakpoint 0x1003", "hw-breakpoint 0x1006", "hw-breakpoint 0x100e", "hw-breakpoint 0x1016",
        "hw-breakpoint 0x1003", "hw-breakpoint 0x1006",
        // A step from the breakpoint at `store` runs the store and lands on `load`, whose
        // breakpoint the next continue meets first (as a debug register's would).
        "single-step 0x100e", "hw-breakpoint 0x100e", "hw-breakpoint 0x1016", "counter 2",
    ]

    @Test(arguments: [WatchMechanismChoice.protection, .automatic])
    func breakpointsByACodePageHoleOnTheFake(_ choice: WatchMechanismChoice) throws {
        // On the fake, .automatic uses the four debug registers: the same stops.
        let stops = try Self.holeBreakpoints(FakeBackend(guest: BuiltinGuests.counterX86(.long)), choice: choice)
        #expect(stops == Self.holeBreakStops, "\(stops)")
    }

    @Test(KVMHost.required) func breakpointsByACodePageHoleOnKVM() throws {
        let stops = try Self.holeBreakpoints(KVMBackend(guest: BuiltinGuests.counterX86(.long)), choice: .protection)
        #expect(stops == Self.holeBreakStops, "\(stops)")
    }

    /// `.automatic`: the fifth execute breakpoint, beyond DR0-DR3, is a hole; the four keep their slots.
    @Test func theFifthBreakpointIsAHole() throws {
        let b = try FakeBackend(guest: BuiltinGuests.counterX86(.long))
        let d = Debugger(backend: b)
        #expect(throws: DebugError.self) {
            for a: UInt64 in [0x1000, 0x1003, 0x1006, 0x100e, 0x1016] { try d.insert(.hardware(address: a)) }
        }
        d.breakMechanism = .automatic
        try d.insert(.hardware(address: 0x1016))
        #expect(d.mechanism(of: .hardware(address: 0x1016)) == .protection && d.mechanism(of: .hardware(address: 0x1000)) == .hardware)
        #expect(b.pageProtection(at: 0x1000) == .hole)
        guard case .stop(let s) = try d.resume(vcpu: 0, mode: .continue) else { Issue.record("no stop"); return }
        #expect(s.reason == .hardwareBreakpoint && s.pc == 0x1000, "the slot at the entry first: \(s)")
    }

    /// The x86 watch scenarios with protection alone, on KVM and on the fake: the same stops.
    static let watching = (DebugScenarios.x86(mode: .long) + DebugScenarios.x86(mode: .real))
        .filter { $0.needs.contains { [.writeWatchpoint, .accessWatchpoint, .readWatchpoint].contains($0) } }.map(\.name)

    @Test(KVMHost.required, arguments: watching)
    func differentialByProtection(_ name: String) throws {
        let s = try #require((DebugScenarios.x86(mode: .long) + DebugScenarios.x86(mode: .real)).first { $0.name == name })
        let fake = try s.recordOnFake(watches: .protection)
        let kvm = try s.recordOnKVM(watches: .protection)
        #expect(!fake.stops.isEmpty, "the fake must stop in \(name)")
        #expect(kvm.stops == fake.stops, "\(name): kvm \(kvm.stops) vs fake \(fake.stops)")
        #expect(kvm.end == fake.end)
    }

    /// `kvmdbg run --watch counter:8:w` on this host's KVM stops at each store, says protection
    /// serves the watch, and reports the values.
    @Test(KVMHost.required) func runWatchStopsOnKVM() throws {
        let r = try runTool("kvmdbg", ["run", "--backend", "kvm", "--guest", "counter", "--watch", "counter:8:w", "--max-stops", "2", "--json"], timeout: 60)
        #expect(r.status == 0, "\(r)")
        let objects = r.allJSON()
        let start = try #require(objects.first)
        let watches = try #require(start["watches"] as? [[String: Any]], "\(r)")
        let expected = KVMHost.works([.writeWatchpoint]) ? "hardware" : "protection"
        #expect(watches.first?["mechanism"] as? String == expected, "\(r)")
        let stops = objects.filter { $0["event"] as? String == "stop" }
        #expect(stops.count == 2, "\(r)")
        #expect(stops.allSatisfy { $0["reason"] as? String == "watchpoint" && $0["pc"] as? String == "0x100e" && $0["address"] as? String == "0x2000" }, "\(r)")
        if expected == "protection" {
            #expect(stops.map { $0["new"] as? String } == ["0x1", "0x2"], "\(r)")
        }
        #expect(!r.stderr.contains("does not work"), "no warning for a watch protection serves: \(r)")
    }
}
