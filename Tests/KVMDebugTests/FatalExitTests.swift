import Foundation
import Testing
import KVMDebugCLI
import KVMDebugCore
import KVMDebugFake
import KVMTestSupport

/// A guest that triple-faults stops in the debugger instead of vanishing: on this host's KVM
/// and on the fake (which models the same exit), through the library, `kvmdbg run`, gdb and lldb.
@Suite struct FatalExitTests {
    static let guest = BuiltinGuests.tripleFaultX86()
    static let crash: UInt64 = 0x1012

    /// The session's view right after the triple fault: the exit, then the registers it left.
    private func tripleFault<B: DebugBackend>(_ b: B) throws {
        let s = DebugSession(backend: b)
        defer { s.close() }
        let r = try s.resumeAll()
        #expect(r.events.count == 1)
        guard case .exit(let x)? = r.events.first?.event else { Issue.record("no exit: \(r.events)"); return }
        #expect(x == .shutdown && x.signal == .segv && x.isFatalStop)
        let regs = try s.registers(vcpu: 0)
        // PVM and VMX keep the guest state at the shutdown: RIP on the ud2, RAX the marker.
        #expect(regs.pc == Self.crash)
        guard case .x86_64(let f) = regs else { return }
        #expect(f.rax == BuiltinGuests.tripleFaultMarker)
        #expect(try s.readMemory(Self.crash, count: 2, vcpu: 0) == [0x0F, 0x0B])
        // Resuming is refused with the reason; nothing ran.
        #expect(throws: DebugError.fatalExit(vcpu: 0, exit: .shutdown)) { try s.resumeAll() }
        #expect(throws: DebugError.fatalExit(vcpu: 0, exit: .shutdown)) { try s.debugger.resume(vcpu: 0, mode: .step) }
        #expect(try s.registers(vcpu: 0).pc == Self.crash)
    }

    /// The panic guest dies inside `panic`: the stop shows where, the argument it stored, and the
    /// caller's return address on the stack (a backtrace's first step).
    private func panicsInPanic<B: DebugBackend>(_ b: B) throws {
        let g = BuiltinGuests.panicX86()
        let s = DebugSession(backend: b)
        defer { s.close() }
        #expect(try s.resumeAll().events.first.map { "\($0.event)" } == "\(RunEvent.exit(.shutdown))")
        let regs = try s.registers(vcpu: 0)
        #expect(regs.pc == 0x101F, "at the ud2 inside panic")
        let code = try #require(g.symbol("panic_code")).address
        #expect(try s.readMemory(code, count: 8, vcpu: 0) == littleEndianBytes(BuiltinGuests.panicCode))
        let frame = try s.readMemory(regs.sp, count: 16, vcpu: 0)
        #expect(littleEndianValue(Array(frame[8..<16])) == 0x1012, "return address into main")
    }

    @Test func fakePanicsInPanic() throws { try panicsInPanic(FakeBackend(guest: BuiltinGuests.panicX86())) }

    @Test(KVMHost.required) func kvmPanicsInPanic() throws { try panicsInPanic(KVMBackend(guest: BuiltinGuests.panicX86())) }

    @Test func fakeModelsTheTripleFault() throws {
        try tripleFault(FakeBackend(guest: Self.guest))
    }

    @Test(KVMHost.required) func kvmTripleFaultKeepsRegistersAndMemory() throws {
        try tripleFault(KVMBackend(guest: Self.guest))
    }

    /// The fake delivers through a valid IDT gate (the handler runs with the frame pushed), and
    /// ends in the triple fault only when no gate is valid.
    @Test func fakeDeliversThroughAValidGateAndFaultsWithoutOne() throws {
        // ud2 at 0x1000 with a #UD gate (vector 6) at IDT 0x3000 -> handler 0x1100 (hlt).
        let gate: UInt64 = 0x1100 | (8 << 16) | (0x8E << 40)  // offset 15:0, selector 8, P|DPL0|type 0xE
        let code: [UInt8] = [0x0F, 0x01, 0x1C, 0x25, 0x00, 0x20, 0x00, 0x00, 0x0F, 0x0B]
        let g = Guest(name: "ud-handler", arch: .x86_64, mode: .long, memoryBase: 0, memorySize: 0x20_0000,
                      loadAddress: 0x1000, image: code + [UInt8](repeating: 0x90, count: 0x100 - code.count) + [0xF4],
                      data: [GuestData(address: 0x2000, bytes: littleEndianBytes(0xFF, count: 2) + littleEndianBytes(0x3000)),
                             GuestData(address: 0x3000 + 6 * 16, bytes: littleEndianBytes(gate) + littleEndianBytes(0))],
                      entry: 0x1000, symbols: [], summary: "")
        let b = try FakeBackend(guest: g)
        let sp = try b.registers(vcpu: 0).sp
        #expect(try b.run(vcpu: 0) == .halt(pc: 0x1101))
        let r = try b.registers(vcpu: 0)
        let frameTop = (sp & ~0xF) - 40
        #expect(r.sp == frameTop, "five words pushed (no error code for #UD)")
        #expect(try b.readMemory(frameTop, count: 8) == littleEndianBytes(0x1008), "the saved RIP is the ud2")
        #expect(try b.readMemory(frameTop + 8, count: 8) == littleEndianBytes(8), "then CS")
    }

    @Test(arguments: ["fake", "kvm"]) func runJSONEndEventCarriesTheExit(_ backend: String) throws {
        try #require(backend == "fake" || KVMHost.usable, Comment(rawValue: KVMHost.skipReason))
        let r = try runTool("kvmdbg", ["run", "--guest", "triple-fault", "--backend", backend, "--json"])
        #expect(r.status == 0, "\(r)")
        let end = try #require(r.json().last)
        #expect(end["event"] as? String == "end" && end["reason"] as? String == "shutdown", "\(r)")
        #expect((end["detail"] as? String)?.contains("last pc 0x1012") == true, "the old field stays: \(r)")
        #expect(end["vcpu"] as? Int == 0)
        let x = try #require(end["exit"] as? [String: Any], "\(r)")
        #expect(x["kvmExit"] as? String == "KVM_EXIT_SHUTDOWN" && x["exitReason"] as? Int == 8, "\(r)")
        #expect(x["signal"] as? String == "SIGSEGV" && x["registersPC"] as? String == "0x1012" && x["symbol"] as? String == "crash", "\(r)")
        let text = try runTool("kvmdbg", ["run", "--guest", "triple-fault", "--backend", backend])
        #expect(text.lines.contains("vCPU 0: KVM_EXIT_SHUTDOWN (triple fault: an exception while delivering a double fault (x86 shutdown)), reported as SIGSEGV, pc 0x1012"), "\(text)")
    }

    /// gdb: `continue` into the triple fault stops with SIGSEGV, `info registers` works, `monitor
    /// why` explains it, a second `continue` is refused with the reason, `kill` ends the guest.
    @Test(arguments: ["fake", "kvm"]) func gdbStopsOnTheTripleFault(_ backend: String) throws {
        try #require(backend == "fake" || KVMHost.usable, Comment(rawValue: KVMHost.skipReason))
        let t = GDBGuest.x86(backend)
        let (server, r) = try gdbSession(t, guest: "triple-fault", commands: [
            "continue", "info registers rip rax", "x/2xb $pc", "monitor why", "continue", "p/x $pc", "kill",
        ])
        #expect(r.stdout.contains("Program received signal SIGSEGV, Segmentation fault.\n0x0000000000001012 in ?? ()"), "\(r)")
        #expect(r.matches(#"(?m)^rip\s+0x1012\s"#) && r.matches(#"(?m)^rax\s+0x747269706c65fa17\s"#), "\(r)")
        #expect(r.matches(#"0x1012:\s+0x0f\s+0x0b"#), "\(r)")
        #expect(r.output.contains("vCPU 0: KVM_EXIT_SHUTDOWN (triple fault"), "\(r)")
        #expect(r.output.contains("Remote failure reply: E.vCPU 0 stopped on KVM_EXIT_SHUTDOWN") && r.output.contains("cannot be resumed"), "\(r)")
        #expect(r.printedHex == [Self.crash], "still at the ud2 after the refused continue: \(r)")
        #expect(r.stdout.contains("[Inferior 1 (Remote target) killed]"), "\(r)")
        #expect(server.waitForExit(timeout: 15) != nil, "kill ends the server: \(server.description)")
    }

    /// lldb-19: the stop is `signal SIGSEGV`, registers read, and a refused continue leaves it
    /// stopped (not "lost connection": lldb ends the process on an E reply to a continue).
    @Test(arguments: ["fake", "kvm"]) func lldbStopsOnTheTripleFault(_ backend: String) throws {
        try #require(backend == "fake" || KVMHost.usable, Comment(rawValue: KVMHost.skipReason))
        _ = try GDBClient.lldb.require()
        let server = try GDBServerProcess(GDBGuest.x86(backend).serverArguments(guest: "triple-fault"))
        defer { server.stop() }
        // Batch lldb stops at a crash stop unless the next commands come after it in the same file.
        let r = try runLLDB(["gdb-remote \(server.address)", "continue", "register read rip rax",
                             "process plugin packet monitor why", "continue", "register read rip"])
        #expect(r.stdout.contains("stop reason = signal SIGSEGV"), "\(r)")
        let rips = r.stdout.matches(of: #/(?m)^ +rip = (0x[0-9a-f]{16})$/#).map { String($0.output.1) }
        #expect(rips == [lldbHex(Self.crash), lldbHex(Self.crash)], "\(r)")
        #expect(r.matches(#"(?m)^ +rax = 0x747269706c65fa17$"#), "\(r)")
        let all = r.stdout + r.stderr
        #expect(all.contains("KVM_EXIT_SHUTDOWN"), "\(r)")
        #expect(all.contains("cannot be resumed") && !all.contains("lost connection"), "\(r)")
    }
}
