import Foundation
import Testing
import KVMDebugCLI
import KVMDebugCore
import KVMDebugFake
import KVMTestSupport

/// `monitor catch exception` / `kvmdbg run --catch`: the page-fault guest stops at its #PF
/// handler with the cause (error code, faulting pc, CR2), on the fake and this host's KVM.
@Suite struct ExceptionCatchTests {
    static let guest = BuiltinGuests.pageFaultX86()
    static let handler: UInt64 = 0x1100, fault: UInt64 = 0x1012

    /// Steps past the guest's lidt, arms the catch, continues to the handler.
    private func catchPageFault<B: DebugBackend>(_ b: B) throws {
        let s = DebugSession(backend: b)
        defer { s.close() }
        let c = try ExceptionCatch(vectors: [14])
        // Before the lidt the IDTR is KVM's reset value and holds no valid gate: refused, with the reason.
        #expect(throws: DebugError.self) { try c.refresh(s) }
        #expect(s.tables.global.isEmpty, "nothing armed")
        _ = try s.resume([.step])
        #expect(try c.refresh(s) == [Self.handler: [14]])
        let r = try s.resumeAll()
        let stop = try #require(r.stops.first, "\(r.events)")
        let caught = try #require(c.caught(stop, on: s))
        #expect(caught == CaughtException(vcpu: 0, vectors: [14], name: "#PF (vector 14)", handler: Self.handler,
                                          errorCode: 0, faultingPC: Self.fault, faultAddress: BuiltinGuests.pageFaultAddress))
        #expect(caught.line == "vCPU 0 caught #PF (vector 14) at handler 0x1100: error code 0x0, faulting pc 0x1012, CR2 0x40000000")
        // The guest moves its handler: the next refresh follows it.
        let moved: UInt64 = 0x1101
        var gate = try s.readMemory(0x3000 + 14 * 16, count: 8, vcpu: 0)
        gate[0] = UInt8(moved & 0xFF)
        try s.writeMemory(0x3000 + 14 * 16, gate, vcpu: 0)
        #expect(try c.refresh(s) == [moved: [14]])
        #expect(s.tables.global == [.hardware(address: moved)])
        c.disarm(s)
        #expect(s.tables.global.isEmpty)
    }

    @Test func fakeCatchesThePageFault() throws { try catchPageFault(FakeBackend(guest: Self.guest)) }

    @Test(KVMHost.required) func kvmCatchesThePageFault() throws { try catchPageFault(KVMBackend(guest: Self.guest)) }

    @Test func tooFewSlotsIsRefusedAndChangesNothing() throws {
        let s = DebugSession(backend: try FakeBackend(guest: Self.guest))
        defer { s.close() }
        _ = try s.resume([.step])
        for a in [0x1000, 0x1008, 0x1012, 0x1015] as [UInt64] { try s.insert(.hardware(address: a)) }
        let c = try ExceptionCatch(vectors: [14])
        let e = thrownError { () throws(DebugError) in try c.refresh(s) }
        #expect(e?.message.contains("needs 1 hardware breakpoints") == true && e?.message.contains("nothing was changed") == true, "\(String(describing: e))")
        #expect(s.tables.global.count == 4)
        #expect(throws: DebugError.self) { _ = try ExceptionCatch(vectors: [32]) }
    }

    @Test(arguments: ["fake", "kvm"]) func runCatchReportsTheCauseInJSON(_ backend: String) throws {
        try #require(backend == "fake" || KVMHost.usable, Comment(rawValue: KVMHost.skipReason))
        let r = try runTool("kvmdbg", ["run", "--guest", "page-fault", "--backend", backend, "--catch", "exception:14", "--max-stops", "1", "--json"])
        let stop = try #require(r.json().first { $0["event"] as? String == "stop" }, "\(r)")
        #expect(stop["pc"] as? String == "0x1100" && stop["symbol"] as? String == "pf_handler", "\(r)")
        let c = try #require(stop["caught"] as? [String: Any], "\(r)")
        #expect(c["vector"] as? Int == 14 && c["errorCode"] as? String == "0x0" && c["faultingPC"] as? String == "0x1012"
                && c["cr2"] as? String == "0x40000000", "\(r)")
        let bad = try runTool("kvmdbg", ["run", "--guest", "page-fault", "--backend", "fake", "--catch", "exception:32"])
        #expect(bad.status != 0 && bad.stderr.contains("--catch takes exception"), "\(bad)")
    }

    /// gdb: `monitor catch exception 14` (after the guest's lidt), `continue` stops at the handler
    /// and the cause is printed; `monitor why` repeats it; $cr2 holds the address.
    @Test(arguments: ["fake", "kvm"]) func gdbMonitorCatchStopsAtTheHandlerWithCR2(_ backend: String) throws {
        try #require(backend == "fake" || KVMHost.usable, Comment(rawValue: KVMHost.skipReason))
        let (_, r) = try gdbSession(GDBGuest.x86(backend), guest: "page-fault", commands: [
            "stepi", "monitor catch exception 14", "continue", "p/x $pc", "monitor why", "p/x $cr2",
        ])
        #expect(r.output.contains("catching #PF (vector 14): hardware breakpoint on the handler at 0x1100"), "\(r)")
        #expect(r.output.contains("kvmdbg: vCPU 0 caught #PF (vector 14) at handler 0x1100: error code 0x0, faulting pc 0x1012, CR2 0x40000000"), "\(r)")
        #expect(r.stdout.contains("Program received signal SIGTRAP"), "\(r)")
        #expect(r.output.contains("errorCode=0x0 faultingPC=0x1012 cr2=0x40000000"), "\(r)")
        #expect(r.printedHex.prefix(1) == [Self.handler], "\(r)")
    }
}
