import Testing
import KVMDebugCore
import KVMDebugFake
import KVMTestSupport

/// `DebugSession.insertAll` (what `kvmdbg run` arms its points with) treats a software
/// breakpoint as `insert` does: its virtual address is translated through the guest's page
/// tables and the instruction patched at the physical address, not at the virtual one.
@Suite struct InsertAllTests {
    /// paged-counter on the fake, stopped at `inner` (its own page tables are loaded by then),
    /// with the hardware breakpoint that stopped it removed.
    static func stoppedAtInner() throws -> DebugSession<FakeBackend> {
        let s = try PagedGuestKVMTests.stoppedAtInner(FakeBackend(guest: BuiltinGuests.pagedCounterX86()))
        try s.remove(.hardware(address: try #require(BuiltinGuests.pagedCounterX86().symbol("inner")).address))
        return s
    }

    @Test func aSoftwareBreakpointIsPatchedAtItsPhysicalAddress() throws {
        let s = try Self.stoppedAtInner()
        let load = BuiltinGuests.pagedBase + 0x54
        let physical = try s.translate(load, vcpu: 0)
        #expect(physical != load)
        let original = try s.backend.readMemory(physical, count: 1)
        try s.insertAll([(.software(address: load), .all)])
        #expect(try s.backend.readMemory(physical, count: 1) == [0xCC], "patched where the guest fetches it")
        #expect(try s.readMemory(load, count: 1, vcpu: 0) == original, "and hidden from readers")
        let round = try s.resume([.continue], deadline: monotonicNanoseconds() + 30_000_000_000)
        #expect(round.stops.first?.pc == load && round.stops.first?.reason == .softwareBreakpoint, "\(round.events)")
        try s.remove(.software(address: load))
        #expect(try s.backend.readMemory(physical, count: 1) == original)
    }

    @Test func aFailureUnarmsWhatWasArmed() throws {
        let s = try Self.stoppedAtInner()
        let load = BuiltinGuests.pagedBase + 0x54
        let physical = try s.translate(load, vcpu: 0)
        let original = try s.backend.readMemory(physical, count: 1)
        let thrown = thrownError { () throws(DebugError) in
            try s.insertAll([(.software(address: load), .all), (.software(address: BuiltinGuests.pagedBase + 0x3000), .all)])
        }
        #expect(thrown != nil, "an unmapped address is refused")
        #expect(try s.backend.readMemory(physical, count: 1) == original, "the first one is unpatched again")
        #expect(s.tables.global.isEmpty && s.tables.local.allSatisfy(\.isEmpty), "\(s.tables)")
    }
}
