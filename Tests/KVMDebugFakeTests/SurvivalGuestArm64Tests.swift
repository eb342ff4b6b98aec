import Testing
import KVMDebugConformance
import KVMDebugCore
import KVMDebugFake

/// The arm64 survival guest (SurvivalGuest.arm64) on the fake: what kvmdbg reads after the
/// guest's setup is what it wrote, the `survive/own-state` scenario comes back intact, and a
/// register changed behind the guest's back is named by the guest (the check can fail).
@Suite struct SurvivalGuestArm64Tests {
    static let guest = SurvivalGuest.arm64()

    static func address(_ name: String) throws -> UInt64 { try #require(guest.symbol(name)).address }

    /// A session stopped at `work` after the guest's setup.
    static func atWork() throws -> DebugSession<FakeBackend> {
        let session = DebugSession(backend: try FakeBackend(guest: guest))
        try session.insert(.hardware(address: try address("work")))
        _ = try session.resume([.continue])
        return session
    }

    /// Releases the loop, runs to `done`, returns `result`.
    static func verdict(_ session: DebugSession<FakeBackend>) throws -> UInt64 {
        try session.writeMemory(try address("release"), littleEndianBytes(1), vcpu: 0)
        session.removeAllPoints()
        try session.insert(.hardware(address: try address("done")))
        _ = try session.resume([.continue])
        return littleEndianValue(try session.readMemory(try address("result"), count: 8, vcpu: 0))
    }

    static func onFake(_ s: DebugScenario) throws(DebugError) -> ScenarioResult {
        try s.record(make: { (g, n) throws(DebugError) in try FakeBackend(guest: g, vcpus: n) })
    }

    static func bit(_ name: String) -> UInt64 {
        SurvivalGuest.arm64Bits.firstIndex(of: name).map { 1 << UInt64($0) } ?? 0
    }

    @Test func kvmdbgReadsWhatTheGuestWrote() throws {
        let session = try Self.atWork()
        defer { session.close() }
        guard case .arm64(let fp) = try session.floatingPointRegisters(vcpu: 0),
              case .arm64(let g) = try session.guestDebugRegisters(vcpu: 0) else { Issue.record("not arm64 state"); return }
        for n in 0..<32 {
            let p = SurvivalGuest.arm64Pattern(n).enumerated().reduce(UInt128(0)) { $0 | UInt128($1.element) << UInt128(8 * $1.offset) }
            #expect(fp.v[n] == p, "v\(n)")
        }
        var want: [String: UInt64] = [:]
        for c in SurvivalGuest.arm64ControlRegisters { want[c.name] = c.value }
        #expect(UInt64(fp.fpcr) == want["fpcr"] && UInt64(fp.fpsr) == want["fpsr"])
        #expect(g.bvr[0] == want["dbgbvr0"] && g.bcr[0] == want["dbgbcr0"] && g.bvr[1] == want["dbgbvr1"] && g.bcr[1] == want["dbgbcr1"])
        #expect(g.wvr[0] == want["dbgwvr0"] && g.wcr[0] == want["dbgwcr0"] && g.wvr[1] == want["dbgwvr1"] && g.wcr[1] == want["dbgwcr1"])
        #expect(g.mdscr == want["mdscr_el1"])
        #expect(littleEndianValue(try session.readMemory(try Self.address("result"), count: 8, vcpu: 0)) == SurvivalGuest.resultUnchecked)
    }

    /// The scenario's rounds (breakpoints, watches, steps, the v31 write, detaches, thread
    /// moves): every register intact, the write stored, one stop per planned point.
    @Test func theScenarioComesBackIntact() throws {
        let s = try #require(DebugScenarios.arm64Survival.first)
        let r = try #require(try Self.onFake(s).survival)
        #expect(r.end == "checked")
        #expect(r.result == 0, "differs: \(SurvivalGuest.mismatches(r.result ?? ~0, arch: .arm64))")
        #expect(r.probe == DebugScenarios.arm64SurvivalWrite.value)
        #expect(r.stops.count == 2 + s.survival.rounds * (3 + s.survival.steps))
        #expect(r.detachedEvents.isEmpty)
    }

    /// The check can fail: v5 (scenario clobber) and DBGBCR1, FPCR (written through kvmdbg while
    /// the guest spins) are named.
    @Test func aRegisterChangedBehindTheGuestsBackIsNamed() throws {
        var s = try #require(DebugScenarios.arm64Survival.first)
        s.survival.clobber = FPWrite(register: 5, value: 0xDEAD)
        let r = try Self.onFake(s)
        #expect(r.survival?.result == Self.bit("v5"))
        #expect(s.canonicalLine(r).hasSuffix(" result=0x20 probe=match differs=v5"), "\(s.canonicalLine(r))")

        let session = try Self.atWork()
        defer { session.close() }
        guard case .arm64(var fp) = try session.floatingPointRegisters(vcpu: 0),
              case .arm64(var g) = try session.guestDebugRegisters(vcpu: 0) else { Issue.record("not arm64 state"); return }
        fp.fpcr ^= 1 << 22
        g.bcr[1] ^= 1 << 1
        try session.setFloatingPointRegisters(.arm64(fp), vcpu: 0)
        try session.setGuestDebugRegisters(.arm64(g), vcpu: 0)
        let result = try Self.verdict(session)
        #expect(SurvivalGuest.mismatches(result, arch: .arm64) == ["fpcr", "dbgbcr1"])
    }
}
