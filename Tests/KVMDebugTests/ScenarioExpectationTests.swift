import Testing
import KVMDebugCLI
import KVMDebugConformance
import KVMDebugCore

/// Fake-backend runs of every stop kind on both arches, checked against stops
/// worked out by hand from the guests' code (not from another run).
@Suite struct ScenarioExpectationTests {
    func run(_ s: DebugScenario) throws -> [StopSignature] { try s.recordOnFake().stops }
    func sig(_ r: String, _ pc: UInt64, _ a: UInt64? = nil, vcpu: Int = 0) -> StopSignature {
        StopSignature(vcpu: vcpu, reason: r, pc: pc, address: a)
    }

    @Test func x86LongBreakpointsAlternate() throws {
        let s = DebugScenario(name: "t", arch: .x86_64, mode: .long, points: [.hw("loop"), .hw("load")], maxStops: 4)
        #expect(try run(s) == [sig("hw-breakpoint", 0x1003), sig("hw-breakpoint", 0x100e),
                               sig("hw-breakpoint", 0x1003), sig("hw-breakpoint", 0x100e)])
    }

    @Test func x86StepFromEntryVisitsEveryInstruction() throws {
        let s = DebugScenario(name: "t", arch: .x86_64, mode: .real, steps: 6, maxStops: 10)
        #expect(try run(s) == [0x1002, 0x1003, 0x1006, 0x100a, 0x1002, 0x1003].map { sig("single-step", $0) })
    }

    @Test func x86StepLandingOnABreakpointReportsIt() throws {
        // Steps from entry: the step onto `load` is a step stop; the next resume hits
        // the armed breakpoint at load before executing it (what KVM reports), then steps past it.
        let s = DebugScenario(name: "t", arch: .x86_64, mode: .long, points: [.hw("load")], steps: 3, maxStops: 10)
        #expect(try run(s) == [sig("hw-breakpoint", 0x100e), sig("single-step", 0x1016),
                               sig("single-step", 0x1003), sig("single-step", 0x1006)])
    }

    @Test func x86WriteWatchTrapsAfterTheStore() throws {
        let s = DebugScenario(name: "t", arch: .x86_64, mode: .long, points: [.watch("counter", length: 8, .write)], maxStops: 2)
        #expect(try run(s) == [sig("watchpoint", 0x100e, 0x2000), sig("watchpoint", 0x100e, 0x2000)])
    }

    @Test func x86ReadWatchIsEmulatedAndIgnoresWrites() throws {
        // `counter` is only written (value changes: filtered); `data` is only read.
        let s = DebugScenario(name: "t", arch: .x86_64, mode: .long,
                              points: [.watch("counter", length: 8, .read), .watch("data", length: 8, .read)], maxStops: 3)
        #expect(try run(s) == [sig("watchpoint", 0x1016, 0x2008), sig("watchpoint", 0x1016, 0x2008), sig("watchpoint", 0x1016, 0x2008)])
    }

    @Test func x86SoftwareBreakpointContinues() throws {
        let s = DebugScenario(name: "t", arch: .x86_64, mode: .real, points: [.sw("load")], maxStops: 3)
        #expect(try run(s) == [sig("sw-breakpoint", 0x1006), sig("sw-breakpoint", 0x1006), sig("sw-breakpoint", 0x1006)])
    }

    @Test func arm64WatchpointFiresBeforeTheStoreAndContinues() throws {
        let s = DebugScenario(name: "t", arch: .arm64, points: [.hw("loop"), .watch("counter", length: 8, .write)], maxStops: 4)
        #expect(try run(s) == [sig("hw-breakpoint", 0x1000c), sig("watchpoint", 0x10010, 0x11000),
                               sig("hw-breakpoint", 0x1000c), sig("watchpoint", 0x10010, 0x11000)])
    }

    @Test func arm64ReadWatchIsNative() throws {
        let s = DebugScenario(name: "t", arch: .arm64, points: [.watch("counter", length: 8, .read), .watch("data", length: 8, .read)], maxStops: 2)
        #expect(try run(s) == [sig("watchpoint", 0x10014, 0x11008), sig("watchpoint", 0x10014, 0x11008)])
    }

    @Test func arm64PartialWatchReportsTheWatchedByte() throws {
        // BAS selects bytes 2-3 of the doubleword; the 8-byte store overlaps them (FAR = first watched byte, QEMU's model).
        let s = DebugScenario(name: "t", arch: .arm64, points: [.watch("counter", 2, length: 2, .write)], maxStops: 1)
        #expect(try run(s) == [sig("watchpoint", 0x10010, 0x11002)])
    }

    @Test func arm64StepAndSoftwareBreakpoint() throws {
        let s = DebugScenario(name: "t", arch: .arm64, points: [.sw("load")], steps: 3, maxStops: 10)
        #expect(try run(s) == [sig("sw-breakpoint", 0x10014), sig("single-step", 0x10018),
                               sig("single-step", 0x1000c), sig("single-step", 0x10010)])
    }
}

extension DebugScenario: CustomTestStringConvertible {
    public var testDescription: String { name }
}
