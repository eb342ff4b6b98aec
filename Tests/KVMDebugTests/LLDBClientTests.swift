import Foundation
import Testing
import KVMDebugCore
import KVMTestSupport

// Debian's lldb-19 against `kvmdbg gdbserver` (`gdb-remote HOST:PORT`), asserting on what lldb
// prints: x86_64 on the fake and on this host's KVM, aarch64 on the fake, and the C fixture
// (Tests/Fixtures/gdb-prog) at source level on KVM. Helpers: LLDBHarness.swift, GDBHarness.swift.

/// lldb prints register values and frame addresses as 0x%016x.
func lldbHex(_ v: UInt64) -> String { frameAddress(v) }

/// Starts a server for `target`, runs lldb with `commands` after `gdb-remote`, ends the server.
@discardableResult
func lldbSession(_ target: GDBGuest, vcpus: Int = 1, before: [String] = [], commands: [String],
                 sourceLocation: SourceLocation = #_sourceLocation) throws -> (server: GDBServerProcess, lldb: LLDBRun) {
    _ = try GDBClient.lldb.require(sourceLocation: sourceLocation)
    let server = try GDBServerProcess(target.serverArguments(vcpus: vcpus), sourceLocation: sourceLocation)
    defer { server.stop() }
    let run = try runLLDB(before + ["gdb-remote \(server.address)"] + commands, sourceLocation: sourceLocation)
    return (server, run)
}

enum LLDBScenarios {
    /// The handshake, `register read pc`, `thread list`, `thread select 2` + `thread step-inst`
    /// (only vCPU 1 moves: the `;thread:N;` suffixes reach the right vCPU), `memory read`, `detach`.
    static func registersThreadsStepMemoryDetach(_ t: GDBGuest) throws {
        let data = "0x1122334455667788"  // the built-in guests' data word
        let (server, r) = try lldbSession(t, vcpus: 2, commands: [
            "register read pc", "thread list", "thread select 2", "thread step-inst", "register read pc",
            "thread select 1", "register read pc",
            "memory read --format x --size 8 --count 2 \(hx(t.counter))", "detach",
        ])
        #expect(r.status == 0 && !r.timedOut, "\(r)")
        #expect(r.stdout.contains("Process 1 stopped\n* thread #1, stop reason = signal SIGTRAP"), "attach stops thread 1: \(r)")
        let pcs = r.captures(#"(?m)^ +(?:rip|pc) = (0x[0-9a-f]{16})$"#)
        #expect(pcs == [lldbHex(t.entry), lldbHex(t.entry + t.firstLengths.0), lldbHex(t.entry)],
                "pc of thread 1, of thread 2 after its step, of thread 1 unmoved: \(r)")
        #expect(r.matches(#"(?m)^\* thread #1: tid = 0x0001, \#(lldbHex(t.entry))"#), "\(r)")
        #expect(r.matches(#"(?m)^  thread #2: tid = 0x0002, \#(lldbHex(t.entry))"#), "\(r)")
        // lldb keeps the attach stop's reason on thread 1, which did not run, and may list it first.
        #expect(r.matches(#"(?m)^[* ] thread #2, stop reason = instruction step into$"#), "\(r)")
        let counter = String(format: "0x%08llx", t.counter)
        #expect(r.stdout.contains("\n\(counter): 0x0000000000000000 \(data)\n"), "counter still 0, then the data word: \(r)")
        #expect(r.output(of: "detach")?.contains("Process 1 detached") == true, "\(r)")
        #expect(server.waitForLine("client detached; guest running"), "\(server.description)")
    }

    /// `breakpoint set --hardware --address loop`, `continue` twice: two hits, the counter stored once.
    static func hardwareBreakpointContinue(_ t: GDBGuest) throws {
        let (_, r) = try lldbSession(t, commands: [
            "breakpoint set --hardware --address \(hx(t.loop))", "continue", "register read pc", "continue",
            "memory read --format x --size 8 --count 1 \(hx(t.counter))", "breakpoint list", "detach",
        ])
        #expect(r.status == 0 && !r.timedOut, "\(r)")
        #expect(r.stdout.contains("Breakpoint 1: address = \(lldbHex(t.loop))"), "\(r)")
        let stops = r.stdout.components(separatedBy: "* thread #1, stop reason = breakpoint 1.1\n    frame #0: \(lldbHex(t.loop))").count - 1
        #expect(stops == 2, "both continues stop at loop: \(r)")
        #expect(r.captures(#"(?m)^ +(?:rip|pc) = (0x[0-9a-f]{16})$"#) == [lldbHex(t.loop)], "\(r)")
        #expect(r.stdout.contains(": 0x0000000000000001\n"), "one store between the two hits: \(r)")
        #expect(r.stdout.contains("hit count = 2"), "breakpoint list counts 2 hits: \(r)")
    }

    /// `watchpoint set expression -w write` on the counter: stops after the store (x86 traps after
    /// it; on arm64 lldb steps over the access it was told traps before), the value written.
    static func watchpoint(_ t: GDBGuest) throws {
        let (_, r) = try lldbSession(t, commands: [
            "watchpoint set expression -w write -s 8 -- \(hx(t.counter))", "continue", "register read pc", "continue",
            "memory read --format x --size 8 --count 1 \(hx(t.counter))", "detach",
        ])
        #expect(r.status == 0 && !r.timedOut, "\(r)")
        let counter = String(format: "0x%08llx", t.counter)
        #expect(r.stdout.contains("Watchpoint created: Watchpoint 1: addr = \(counter) size = 8 state = enabled type = w"), "\(r)")
        let stops = r.stdout.components(separatedBy: "* thread #1, stop reason = watchpoint 1\n    frame #0: \(lldbHex(t.load))").count - 1
        #expect(stops == 2, "both continues stop after the store, at load: \(r)")
        #expect(r.captures(#"(?m)^ +(?:rip|pc) = (0x[0-9a-f]{16})$"#) == [lldbHex(t.load)], "\(r)")
        #expect(r.stdout.contains("\n\(counter): 0x0000000000000002\n"), "two stores seen: \(r)")
    }
}

@Suite(.serialized, GDBClient.lldb.required) struct LLDBClientTests {
    @Suite(.serialized) struct OnTheFake {
        @Test(arguments: [GDBGuest.x86("fake"), .arm64Fake]) func registersThreadsStepMemoryDetach(_ t: GDBGuest) throws { try LLDBScenarios.registersThreadsStepMemoryDetach(t) }
        @Test(arguments: [GDBGuest.x86("fake"), .arm64Fake]) func hardwareBreakpoint(_ t: GDBGuest) throws { try LLDBScenarios.hardwareBreakpointContinue(t) }
        /// Data watchpoints do not trap on this host's PVM: the fake shows lldb's side of them.
        @Test(arguments: [GDBGuest.x86("fake"), .arm64Fake]) func watchpoint(_ t: GDBGuest) throws { try LLDBScenarios.watchpoint(t) }
    }

    @Suite(.serialized, KVMHost.required) struct OnKVM {
        static let t = GDBGuest.x86("kvm")
        @Test func registersThreadsStepMemoryDetach() throws { try LLDBScenarios.registersThreadsStepMemoryDetach(Self.t) }
        @Test func hardwareBreakpoint() throws { try LLDBScenarios.hardwareBreakpointContinue(Self.t) }
        /// Served by memory protection where data watchpoints do not trap (PVM).
        @Test func watchpoint() throws { try LLDBScenarios.watchpoint(Self.t) }

        /// The C fixture: a source-line breakpoint (software to lldb; a hardware slot where int3
        /// does not trap), the stop in square(x=1), the backtrace to _start, a local's value.
        @Test func sourceLevelBreakpointBacktraceVariable() throws { try GDBProgram.withBuilt(Self.sourceLevel) }

        static func sourceLevel(elf: String) throws {
            let ret = try GDBProgram.line("square-return"), call = try GDBProgram.line("call")
            _ = try GDBClient.lldb.require()
            let server = try GDBServerProcess(["--image", elf, "--backend", "kvm"])
            defer { server.stop() }
            let r = try runLLDB(["target create \(elf)", "gdb-remote \(server.address)",
                                 "breakpoint set --file prog.c --line \(ret.number)", "continue", "bt",
                                 "frame variable x r", "continue", "frame variable x r", "detach"])
            #expect(r.status == 0 && !r.timedOut, "\(r)")
            #expect(r.matches(#"Breakpoint 1: where = prog\.elf`square \+ [0-9]+ at prog\.c:\#(ret.number):[0-9]+, address = 0x[0-9a-f]{16}"#), "\(r)")
            #expect(r.matches(#"stop reason = breakpoint 1\.1\n    frame #0: 0x[0-9a-f]{16} prog\.elf`square\(x=1\) at prog\.c:\#(ret.number):[0-9]+\n"#), "\(r)")
            #expect(r.matches(#"(?m)^  \* frame #0: 0x[0-9a-f]{16} prog\.elf`square\(x=1\) at prog\.c:\#(ret.number):[0-9]+\n    frame #1: 0x[0-9a-f]{16} prog\.elf`kmain at prog\.c:\#(call.number):[0-9]+\n    frame #2: 0x[0-9a-f]{16} prog\.elf`_start \+ [0-9]+$"#), "bt: square <- kmain <- _start: \(r)")
            let values = r.captures(#"(?m)^\(long\) [xr] = (-?[0-9]+)$"#)
            #expect(values == ["1", "1", "2", "4"], "x=1 r=1 on the first pass, x=2 r=4 on the second: \(r)")
        }
    }
}

extension LLDBRun {
    /// Every first capture group of `pattern` in stdout, in order.
    func captures(_ pattern: String) -> [String] {
        guard let re = try? Regex(pattern) else { return [] }
        return stdout.matches(of: re).compactMap { m in m.output.count > 1 ? m.output[1].substring.map(String.init) : nil }
    }
}
