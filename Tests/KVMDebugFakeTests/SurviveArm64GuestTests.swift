import Testing
import KVMDebugCore
import KVMDebugFake

/// The arm64 `survive` guest on the fake: what kvmdbg reads after the guest's setup is what it
/// wrote, the guest's own check passes after rounds of hardware points, steps and detaches, and
/// a register kvmdbg clobbers on purpose is reported by the guest (the check can fail).
@Suite struct SurviveArm64GuestTests {
    static let guest = SurviveArm64.guest()

    static func address(_ name: String) throws -> UInt64 { try #require(guest.symbol(name)).address }

    /// A debugger stopped at `survive_loop` after the guest's setup.
    static func atLoop() throws -> Debugger<FakeBackend> {
        let d = Debugger(backend: try FakeBackend(guest: guest))
        try d.insert(.hardware(address: try address("survive_loop")))
        let e = try d.resume(vcpu: 0, mode: .continue)
        guard case .stop(let s) = e, s.pc == (try address("survive_loop")) else {
            Issue.record("expected a stop at survive_loop, got \(e)"); return d
        }
        return d
    }

    /// Sets `check`, runs to `survive_done`, returns `result`.
    static func verdict(_ d: Debugger<FakeBackend>) throws -> UInt64 {
        d.removeAllPoints()
        try d.writeMemory(SurviveArm64.check, littleEndianBytes(1))
        try d.insert(.hardware(address: try address("survive_done")))
        let e = try d.resume(vcpu: 0, mode: .continue)
        guard case .stop(let s) = e, s.pc == (try address("survive_done")) else {
            Issue.record("expected a stop at survive_done, got \(e)"); return SurviveArm64.notChecked
        }
        return littleEndianValue(try d.readMemory(SurviveArm64.result, count: 8))
    }

    @Test func kvmdbgReadsWhatTheGuestWrote() throws {
        let d = try Self.atLoop()
        guard case .arm64(let fp) = try d.floatingPointRegisters(vcpu: 0), case .arm64(let g) = try d.guestDebugRegisters(vcpu: 0) else {
            Issue.record("not arm64 state"); return
        }
        for n in 0..<32 {
            let p = SurviveArm64.pattern(n).enumerated().reduce(UInt128(0)) { $0 | UInt128($1.element) << UInt128(8 * $1.offset) }
            #expect(fp.v[n] == p, "v\(n)")
        }
        let want = Dictionary(uniqueKeysWithValues: SurviveArm64.controlRegisters.map { ($0.name, $0.value) })
        #expect(UInt64(fp.fpcr) == want["fpcr"] && UInt64(fp.fpsr) == want["fpsr"])
        #expect(g.bvr[0] == want["dbgbvr0"] && g.bcr[0] == want["dbgbcr0"] && g.bvr[1] == want["dbgbvr1"] && g.bcr[1] == want["dbgbcr1"])
        #expect(g.wvr[0] == want["dbgwvr0"] && g.wcr[0] == want["dbgwcr0"] && g.wvr[1] == want["dbgwvr1"] && g.wcr[1] == want["dbgwcr1"])
        #expect(g.mdscr == want["mdscr_el1"])
        #expect(littleEndianValue(try d.readMemory(SurviveArm64.result, count: 8)) == SurviveArm64.notChecked)
    }

    @Test func theGuestsStateSurvivesRoundsOfDebugging() throws {
        let d = try Self.atLoop()
        let loop = try Self.address("survive_loop")
        for round in 0..<3 {
            for _ in 0..<3 { _ = try d.resume(vcpu: 0, mode: .step) }
            try d.insert(.watch(address: SurviveArm64.rounds, length: 8, kind: .write))
            let w = try d.resume(vcpu: 0, mode: .continue)
            guard case .stop = w else { Issue.record("round \(round): no watch stop: \(w)"); return }
            try d.remove(.watch(address: SurviveArm64.rounds, length: 8, kind: .write))
            _ = try d.resume(vcpu: 0, mode: .continue)   // back at the breakpoint
            try d.remove(.hardware(address: loop))
            try d.insert(.hardware(address: loop))
        }
        let result = try Self.verdict(d)
        #expect(result == 0, "changed: \(SurviveArm64.changed(result))")
    }

    /// The check can fail: v5 and DBGBCR1 changed by kvmdbg while the guest spins are reported
    /// as bits 5 and 32 + 3.
    @Test func aRegisterKvmdbgClobbersIsReportedByTheGuest() throws {
        let d = try Self.atLoop()
        guard case .arm64(var fp) = try d.floatingPointRegisters(vcpu: 0), case .arm64(var g) = try d.guestDebugRegisters(vcpu: 0) else {
            Issue.record("not arm64 state"); return
        }
        fp.v[5] ^= 1 << 100
        g.bcr[1] ^= 1 << 1
        try d.setFloatingPointRegisters(.arm64(fp), vcpu: 0)
        try d.setGuestDebugRegisters(.arm64(g), vcpu: 0)
        let result = try Self.verdict(d)
        #expect(result == SurviveArm64.bit(vector: 5) | (SurviveArm64.bit(of: "dbgbcr1") ?? 0))
        #expect(SurviveArm64.changed(result) == ["v5", "dbgbcr1"])
    }
}
