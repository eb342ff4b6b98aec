import Foundation
import Testing
import KVMDebugCLI
import KVMDebugCore
import KVMDebugFake

/// The arm64 side on the fake backend: a PSCI SYSTEM_OFF stops with SIGQUIT, a data abort into
/// the guest's own vector table is caught with ESR/ELR/FAR, and an aarch64 core reads in gdb.
/// (Real arm64 KVM runs in the arm64 lane, which does not run these guests yet.)
@Suite struct Arm64PostMortemTests {
    @Test func systemOffIsAFatalStopWithItsFields() throws {
        let s = DebugSession(backend: try FakeBackend(guest: BuiltinGuests.systemOffArm64()))
        defer { s.close() }
        let r = try s.resumeAll()
        guard case .exit(let x)? = r.events.first?.event else { Issue.record("\(r.events)"); return }
        #expect(x == .systemEvent(type: 1, data: [0]) && x.signal == .quit && x.endsVCPU)
        #expect(try s.registers(vcpu: 0).pc == 0x1000C, "PC past the HVC")
        #expect(throws: DebugError.fatalExit(vcpu: 0, exit: x)) { try s.resumeAll() }
        let report = ExitReport(vcpu: 0, exit: x, pc: 0x1000C)
        #expect(report.lines[1] == "  exitReason=24 systemEventType=1 systemEventTypeName=KVM_SYSTEM_EVENT_SHUTDOWN ndata=1 data=[0x0]")
    }

    @Test func dataAbortIntoTheGuestsVectorTableIsCaught() throws {
        let g = BuiltinGuests.dataAbortArm64()
        let s = DebugSession(backend: try FakeBackend(guest: g))
        defer { s.close() }
        let c = try ExceptionCatch(vectors: [])
        #expect(throws: DebugError.self, "VBAR_EL1 is still 0") { try c.refresh(s) }
        for _ in 0..<3 { _ = try s.resume([.step]) }  // movz, movk, msr vbar_el1
        let armed = try c.refresh(s)
        #expect(Set(armed.keys) == [0x11200, 0x11380, 0x11400, 0x11580])
        let stop = try #require(try s.resumeAll().stops.first)
        let caught = try #require(c.caught(stop, on: s))
        #expect(caught.line == "vCPU 0 caught synchronous exception (current EL, SP_ELx) at handler 0x11200: ESR_EL1 0x96000021, faulting pc 0x10018, FAR_EL1 0x11801")
        c.disarm(s)
        // Without the catch the guest's handler runs and waits in wfi.
        #expect(try s.resumeAll().events.first.map { "\($0.event)" }?.contains("halt") == true)
    }

    /// gdb-multiarch: continue into SYSTEM_OFF stops with SIGQUIT; a core of it reads back.
    @Test func gdbMultiarchStopsOnSystemOffAndReadsTheCore() throws {
        _ = try GDBClient.gdbMultiarch.require()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-arm64-core-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let core = dir.appendingPathComponent("off.core").path
        let (_, r) = try gdbSession(GDBGuest.arm64Fake, guest: "system-off", commands: [
            "continue", "p/x $pc", "p/x $x0", "monitor why", "monitor dump-guest-memory \(core)", "continue",
        ])
        #expect(r.stdout.contains("Program received signal SIGQUIT"), "\(r)")
        // KVM preloads x0 with PSCI_RET_INTERNAL_FAILURE (-6) before it reports SYSTEM_OFF.
        #expect(r.printedHex == [0x1000C, 0xFFFF_FFFF_FFFF_FFFA], "\(r)")
        #expect(r.output.contains("KVM_EXIT_SYSTEM_EVENT") && r.output.contains("cannot be resumed"), "\(r)")
        let dead = try runGDB(.gdbMultiarch, preamble: ["set architecture aarch64"], commands: ["core-file \(core)", "p/x $pc", "p/x $x0"])
        #expect(dead.stdout.contains("Program terminated with signal SIGQUIT"), "\(dead)")
        #expect(dead.printedHex == [0x1000C, 0xFFFF_FFFF_FFFF_FFFA], "\(dead)")
        let n = try runProcess("/usr/bin/readelf", ["-h", "-n", core])
        #expect(n.stdout.contains("AArch64") && n.stdout.contains("0x00000188\tNT_PRSTATUS"), "392-byte aarch64 prstatus: \(n)")
    }
}
