import Foundation
import Testing
import KVMDebugCore
import KVMTestSupport

// The real clients (gdb, gdb-multiarch) against `kvmdbg gdbserver`, asserting on what the
// clients print. x86_64 on this host's KVM (named skip when /dev/kvm is not usable) and on the
// fake backend; aarch64 on the fake through gdb-multiarch. Helpers: GDBHarness.swift.

/// One guest under one backend, with the built-in `counter` guest's addresses for its arch.
struct GDBGuest: Sendable, CustomTestStringConvertible {
    var arch: Arch
    var backend: String
    var client: GDBClient
    var entry: UInt64
    var loop: UInt64
    var store: UInt64
    var load: UInt64
    var counter: UInt64
    var data: UInt64
    /// Lengths of the first two instructions from `entry`.
    var firstLengths: (UInt64, UInt64)
    /// The bytes at `loop` (the original code, never 0xcc / brk).
    var loopBytes: [UInt8]
    /// gdb's name of the program counter in `info registers`.
    var pcName: String
    /// The end of the guest's code (after the jump back).
    var codeEnd: UInt64 { entry + UInt64(arch == .x86_64 ? 0x18 : 0x1c) }

    var testDescription: String { "\(arch.name) on \(backend)" }

    static func x86(_ backend: String) -> GDBGuest {
        let g = BuiltinGuests.counterX86(.long)
        return GDBGuest(arch: .x86_64, backend: backend, client: .gdb, entry: g.entry,
                         loop: g.symbol("loop")!.address, store: g.symbol("store")!.address,
                         load: g.symbol("load")!.address, counter: g.symbol("counter")!.address,
                         data: g.symbol("data")!.address, firstLengths: (3, 3),
                         loopBytes: Array(g.image[3..<5]), pcName: "rip")
    }

    static var arm64Fake: GDBGuest {
        let g = BuiltinGuests.counterArm64()
        return GDBGuest(arch: .arm64, backend: "fake", client: .gdbMultiarch, entry: g.entry,
                         loop: g.symbol("loop")!.address, store: g.symbol("store")!.address,
                         load: g.symbol("load")!.address, counter: g.symbol("counter")!.address,
                         data: g.symbol("data")!.address, firstLengths: (4, 4),
                         loopBytes: Array(g.image[0xC..<0xE]), pcName: "pc")
    }

    /// `kvmdbg gdbserver` options for this target.
    func serverArguments(guest: String = "counter", vcpus: Int = 1) -> [String] {
        ["--guest", guest, "--arch", arch.name, "--backend", backend, "--vcpus", "\(vcpus)"]
    }

    /// gdb commands before `target remote` (the contract's attach line).
    var preamble: [String] { arch == .arm64 ? ["set architecture aarch64"] : [] }
}

func hx(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

/// gdb prints code addresses in frames as 0x%016x.
func frameAddress(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 16 - s.count)) + s
}

/// Starts a server for `target`, runs gdb with `commands` after `target remote`, and ends the
/// server; returns both (the server already stopped, its output kept).
@discardableResult
func gdbSession(_ target: GDBGuest, guest: String = "counter", vcpus: Int = 1, extraServerArgs: [String] = [],
                commands: [String], options: GDBRunOptions = GDBRunOptions(),
                sourceLocation: SourceLocation = #_sourceLocation) throws -> (server: GDBServerProcess, gdb: GDBRun) {
    _ = try target.client.require(sourceLocation: sourceLocation)
    let server = try GDBServerProcess(target.serverArguments(guest: guest, vcpus: vcpus) + extraServerArgs, sourceLocation: sourceLocation)
    defer { server.stop() }
    let run = try runGDB(target.client, preamble: target.preamble + ["target remote \(server.address)"],
                         commands: commands, options: options, sourceLocation: sourceLocation)
    return (server, run)
}

// MARK: - Scenarios (each called per target below)

enum GDBScenarios {
    /// Connect; `info registers` shows the entry pc; the server's lines follow the contract.
    static func connect(_ t: GDBGuest) throws {
        let (server, r) = try gdbSession(t, commands: ["info registers \(t.pcName)", "p/x $pc"])
        #expect(r.matches(#"(?m)^\#(frameAddress(t.entry)) in \?\? \(\)$"#), "attached at the entry: \(r)")
        #expect(r.stderrErrors.isEmpty, "\(r)")
        #expect(r.matches(#"(?m)^\#(t.pcName)\s+0x\#(String(t.entry, radix: 16))\s"#), "info registers shows the entry \(hx(t.entry)): \(r)")
        #expect(r.printedHex == [t.entry], "\(r)")
        let lines = server.lines
        #expect(lines.first?.hasPrefix("backend: \(t.backend) (") == true, "\(server.description)")
        #expect(lines.count > 1 && lines[1].hasPrefix("guest:   counter \(t.arch.name) mode ") && lines[1].hasSuffix(", entry \(hx(t.entry)), 1 vCPU"), "\(server.description)")
        let attach = t.arch == .arm64 ? "gdb-multiarch -ex 'set architecture aarch64' -ex 'target remote \(server.address)'"
                                      : "gdb -ex 'target remote \(server.address)'"
        #expect(server.listeningLine == "listening on \(server.address); attach with: \(attach)", "\(server.description)")
        #expect(lines.contains("client connected"), "\(server.description)")
    }

    /// `hbreak *loop` + continue stops at loop in the thread gdb names, twice (continue steps past).
    static func hardwareBreakpoint(_ t: GDBGuest) throws {
        let (_, r) = try gdbSession(t, guest: "smp-counter", vcpus: 2, commands: [
            "hbreak *\(hx(t.loop))", "continue", "p/x $pc", "thread", "continue", "p/x $pc",
        ])
        #expect(r.stdout.contains("Hardware assisted breakpoint 1 at \(hx(t.loop))"), "\(r)")
        let hits = r.captures(#"Thread ([0-9]+) hit Breakpoint 1, \#(frameAddress(t.loop)) in \?\? \(\)"#)
        #expect(hits.count == 2, "two stops reported at \(hx(t.loop)): \(r)")
        let current = r.captures(#"\[Current thread is ([0-9]+) "#)
        #expect(!hits.isEmpty && current.first == hits.first, "the current thread is the one that hit: \(r)")
        #expect(r.printedHex == [t.loop, t.loop], "\(r)")
    }

    /// `break *loop` stops (on PVM KVM the server serves it with a hardware slot) and memory
    /// shows the original bytes; continuing stops there again.
    static func softwareBreakpoint(_ t: GDBGuest) throws {
        let bytes = t.loopBytes.map { "0x" + (($0 < 16) ? "0" : "") + String($0, radix: 16) }.joined(separator: "\t")
        let (_, r) = try gdbSession(t, commands: [
            "break *\(hx(t.loop))", "continue", "p/x $pc", "x/2xb \(hx(t.loop))", "continue", "p/x $pc", "monitor points",
        ])
        #expect(r.stdout.contains("Breakpoint 1 at \(hx(t.loop))"), "\(r)")
        let stops = r.stdout.components(separatedBy: "Breakpoint 1, \(frameAddress(t.loop)) in ?? ()").count - 1
        #expect(stops == 2, "two stops at \(hx(t.loop)): \(r)")
        #expect(r.printedHex == [t.loop, t.loop], "\(r)")
        #expect(r.stdout.contains("\(hx(t.loop)):\t\(bytes)"), "x/2xb shows the original bytes \(bytes): \(r)")
        // Where int3 does not trap (this host's PVM), the server says it serves Z0 with hardware slots.
        let servedByHardware = t.backend == "kvm" && !KVMHost.works([.softwareBreakpoint])
        #expect(r.stderr.contains("GDB's breakpoints (Z0) use hardware slots") == servedByHardware, "monitor points (software breakpoints trap here: \(!servedByHardware)): \(r)")
    }

    /// `watch *(long*)counter`: gdb's own Old/New report, twice.
    static func writeWatchpoint(_ t: GDBGuest) throws {
        let expr = "*(long*)\(hx(t.counter))"
        let (_, r) = try gdbSession(t, commands: ["watch \(expr)", "continue", "continue", "x/1gx \(hx(t.counter))"])
        #expect(r.stdout.contains("Hardware watchpoint 1: \(expr)"), "\(r)")
        #expect(r.matches(#"Hardware watchpoint 1: \*\(long\*\)\#(hx(t.counter))\s+Old value = 0\s+New value = 1\s"#), "\(r)")
        #expect(r.matches(#"Hardware watchpoint 1: \*\(long\*\)\#(hx(t.counter))\s+Old value = 1\s+New value = 2\s"#), "\(r)")
        #expect(r.stdout.contains("\(hx(t.counter)):\t0x0000000000000002"), "the word holds 2 after two stores: \(r)")
    }

    /// `rwatch` on `data` (the loop reads it each pass; `counter` is only written, and a read
    /// watchpoint reports only accesses that did not change the value): gdb prints `Value = `.
    static func readWatchpoint(_ t: GDBGuest) throws {
        let expr = "*(long*)\(hx(t.data))"
        let (_, r) = try gdbSession(t, commands: ["rwatch \(expr)", "continue", "continue", "x/1gx \(hx(t.counter))"])
        #expect(r.stdout.contains("Hardware read watchpoint 1: \(expr)"), "\(r)")
        let values = r.captures(#"Hardware read watchpoint 1: \*\(long\*\)0x[0-9a-f]+\s+Value = ([0-9-]+)\s"#)
        #expect(values == ["\(BuiltinGuests.dataPattern)", "\(BuiltinGuests.dataPattern)"], "two reads of data: \(r)")
        #expect(r.stdout.contains("\(hx(t.counter)):\t0x0000000000000002"), "one pass of the loop per read: \(r)")
    }

    /// `awatch *(long*)counter`: the store that changes it is reported with Old/New.
    static func accessWatchpoint(_ t: GDBGuest) throws {
        let expr = "*(long*)\(hx(t.counter))"
        let (_, r) = try gdbSession(t, commands: ["awatch \(expr)", "continue", "continue"])
        #expect(r.stdout.contains("Hardware access (read/write) watchpoint 1: \(expr)"), "\(r)")
        #expect(r.matches(#"Hardware access \(read/write\) watchpoint 1: \*\(long\*\)0x[0-9a-f]+\s+Old value = 0\s+New value = 1\s"#), "\(r)")
        #expect(r.matches(#"Hardware access \(read/write\) watchpoint 1: \*\(long\*\)0x[0-9a-f]+\s+Old value = 1\s+New value = 2\s"#), "\(r)")
    }

    /// `monitor watch ... vcpu 0`: `monitor points` says which mechanism serves it (memory
    /// protection where data watchpoints do not trap here). Not continued: gdb resumes on a
    /// watch stop it did not ask for.
    static func monitorWatchMechanism(_ t: GDBGuest, protection: Bool) throws {
        let (_, r) = try gdbSession(t, commands: ["monitor watch \(hx(t.counter)) 8 w vcpu 0", "monitor points"])
        #expect(r.stderr.contains("served by memory protection (no slot)") == protection, "monitor points: \(r)")
        #expect(r.stderr.contains(protection ? "0/4 debug registers in use" : "1/4 debug registers in use"), "\(r)")
    }

    /// `monitor break-mode auto` where int3 does not trap (this host's PVM): five `break`s, one
    /// more than DR0-DR3 hold, and the fifth (a code-page hole) stops too.
    static func fiveBreakpoints(_ t: GDBGuest) throws {
        let addresses: [UInt64] = [t.entry, t.loop, t.store, t.load, t.codeEnd - 2]  // the jmp back is the last instruction
        let (_, r) = try gdbSession(t, commands: ["monitor break-mode auto"] + addresses.map { "break *\(hx($0))" }
            + [String](repeating: "continue", count: 5) + ["monitor break-mode"])
        #expect(r.stderr.contains("break-mode auto: hardware slots, then a code-page hole"), "\(r)")
        let hits = r.captures(#"Breakpoint ([0-9]+), 0x[0-9a-f]+ in \?\? \(\)"#)
        #expect(hits == ["2", "3", "4", "5", "2"], "every breakpoint, the fifth too: \(r)")
        #expect(!r.stderr.contains("Could not insert") && !r.stdout.contains("Could not insert"), "\(r)")
    }

    /// A 64-byte write watch from 32 bytes below `counter`: the store into its middle fires it,
    /// and the stop is after the store (at `load`).
    static func wideWatch(_ t: GDBGuest) throws {
        let start = t.counter - 32
        let expr = "*(char(*)[64])\(hx(start))"
        let (_, r) = try gdbSession(t, commands: ["watch \(expr)", "continue", "p/x $pc", "continue", "p/x $pc", "x/1gx \(hx(t.counter))"])
        #expect(r.stdout.contains("Hardware watchpoint 1: \(expr)"), "\(r)")
        let stops = r.stdout.components(separatedBy: "Hardware watchpoint 1: \(expr)\n\nOld value = ").count - 1
        #expect(stops == 2, "two stops of the 64-byte watch: \(r)")
        #expect(r.printedHex == [t.load, t.load], "\(r)")
        #expect(r.stdout.contains("\(hx(t.counter)):\t0x0000000000000002"), "\(r)")
    }

    /// `stepi` advances exactly one instruction each time.
    static func stepi(_ t: GDBGuest) throws {
        let (_, r) = try gdbSession(t, commands: ["p/x $pc", "stepi", "p/x $pc", "stepi", "p/x $pc"])
        let a = t.entry, b = a + t.firstLengths.0, c = b + t.firstLengths.1
        #expect(r.printedHex == [a, b, c], "pc \(hx(a)) -> \(hx(b)) -> \(hx(c)): \(r)")
        #expect(r.stdout.contains("\(frameAddress(b)) in ?? ()"), "\(r)")
    }

    /// `info threads` with --vcpus 2 lists two threads, vCPU 0 and vCPU 1.
    static func infoThreads(_ t: GDBGuest) throws {
        let (_, r) = try gdbSession(t, vcpus: 2, commands: ["info threads"])
        let rows = r.captures(#"(?m)^[* ] +([0-9]+) +Thread [^\n]*\(vCPU [0-9]+\)"#)
        #expect(rows == ["1", "2"], "\(r)")
        #expect(r.matches(#"(?m)^\* 1 +Thread [^\n]*\(vCPU 0\)"#), "\(r)")
        #expect(r.matches(#"(?m)^  2 +Thread [^\n]*\(vCPU 1\)"#), "\(r)")
    }

    /// `thread 2` + `stepi` (scheduler-locking step: the others stay put) moves only vCPU 1's pc.
    static func stepOtherThread(_ t: GDBGuest) throws {
        let (_, r) = try gdbSession(t, vcpus: 2, commands: [
            "set scheduler-locking step", "thread 2", "stepi", "thread 1", "p/x $pc", "thread 2", "p/x $pc",
            "stepi", "thread 1", "p/x $pc", "thread 2", "p/x $pc",
        ])
        let a = t.entry, b = a + t.firstLengths.0, c = b + t.firstLengths.1
        #expect(r.printedHex == [a, b, a, c], "thread 1 stays at \(hx(a)), thread 2 steps to \(hx(b)) then \(hx(c)): \(r)")
    }

    /// `x/4xw` reads guest memory; `set *(int*)ADDR = V` writes it (read back).
    static func memory(_ t: GDBGuest) throws {
        let p = BuiltinGuests.dataPattern
        let lo = String(p & 0xffff_ffff, radix: 16), hi = String(p >> 32, radix: 16)
        let (_, r) = try gdbSession(t, commands: [
            "x/4xw \(hx(t.data))", "set *(int*)\(hx(t.data + 8)) = 0x12345678", "x/1xw \(hx(t.data + 8))",
            "set *(long*)\(hx(t.counter)) = 41", "p *(long*)\(hx(t.counter))",
        ])
        #expect(r.stdout.contains("\(hx(t.data)):\t0x\(lo)\t0x\(hi)\t0x00000000\t0x00000000"), "\(r)")
        #expect(r.stdout.contains("\(hx(t.data + 8)):\t0x12345678"), "\(r)")
        #expect(r.matches(#"\$1 = 41\s"#), "\(r)")
        #expect(r.stderrErrors.isEmpty, "\(r)")
    }

    /// `monitor break ADDR vcpu 1` with smp-counter: every stop is in thread 2.
    static func monitorBreakOneVCPU(_ t: GDBGuest) throws {
        let (_, r) = try gdbSession(t, guest: "smp-counter", vcpus: 2, commands: [
            "monitor break \(hx(t.store)) vcpu 1", "continue", "p/x $pc", "continue", "continue", "p/x $pc", "monitor points",
        ])
        let stops = r.captures(#"Thread ([0-9]+) received signal SIGTRAP"#)
        #expect(stops == ["2", "2", "2"], "three stops, all in thread 2 (vCPU 1): \(r)")
        #expect(r.printedHex == [t.store, t.store], "\(r)")
    }

    /// `detach` lets the guest run; the next `target remote` finds it stopped, the counter grew.
    static func detachAndReattach(_ t: GDBGuest) throws {
        _ = try t.client.require()
        let server = try GDBServerProcess(t.serverArguments())
        defer { server.stop() }
        let attach = t.preamble + ["target remote \(server.address)"]
        let read = "p/x *(long*)\(hx(t.counter))"
        let first = try runGDB(t.client, preamble: attach, commands: [read, "detach"])
        #expect(first.printedHex == [0], "the guest starts halted at its entry: \(first)")
        #expect(first.stdout.contains("Detaching from program") || first.stdout.contains("[Inferior 1 (Remote target) detached]"), "\(first)")
        #expect(server.waitForLine("client detached; guest running"), "\(server.description)")
        // Holds, not waits: the guest runs free meanwhile; any run at all grows the counter (a
        // loop iteration takes microseconds), so their length decides nothing.
        usleep(500_000)
        let second = try runGDB(t.client, preamble: attach, commands: [read, "detach"])
        #expect(server.waitForLine("client detached; guest running", count: 2), "\(server.description)")
        usleep(500_000)  // a hold, as above
        let third = try runGDB(t.client, preamble: attach, commands: [read, "p/x $pc", "kill"])
        let a = second.printedHex.first ?? 0, b = third.printedHex.first ?? 0
        #expect(a > 0, "the counter grew while detached: \(second)")
        #expect(b > a, "and kept growing after the second detach: \(third)")
        if let pc = third.printedHex.dropFirst().first {
            #expect(pc >= t.entry && pc < t.codeEnd, "stopped inside the guest's code: \(third)")
        } else {
            Issue.record("no pc printed: \(third)")
        }
        #expect(server.lines.filter { $0 == "client connected" }.count == 3, "\(server.description)")
        #expect(server.waitForExit() == 0, "`kill` ends the server with status 0: \(server.description)")
    }

    /// Ctrl-C (SIGINT to gdb during `continue`): gdb sends 0x03; every thread is stopped.
    static func interrupt(_ t: GDBGuest) throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-gdb-packets-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let resumed = { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("<- vCont;c") }
        let (_, r) = try gdbSession(t, vcpus: 2, extraServerArgs: ["--log-packets", log], commands: ["continue", "info threads", "p/x $pc"],
                                    options: GDBRunOptions(interruptWhen: ("gdb's vCont;c in the packet log", resumed, 1.0)))
        #expect(r.matches(#"Thread [0-9]+ received signal SIGINT, Interrupt\."#), "\(r)")
        let rows = r.captures(#"(?m)^[* ] +([0-9]+) +Thread [^\n]*\(vCPU [0-9]+\) +0x[0-9a-f]+ in"#)
        #expect(rows == ["1", "2"], "both threads listed with a frame (stopped): \(r)")
        #expect(!r.stdout.contains("(running)"), "\(r)")
        if let pc = r.printedHex.first {
            #expect(pc >= t.entry && pc < t.codeEnd, "interrupted inside the guest's code: \(r)")
        } else {
            Issue.record("no pc printed: \(r)")
        }
    }

    /// `monitor help` lists the server's commands; `monitor caps` names the backend.
    static func monitorHelpAndCaps(_ t: GDBGuest) throws {
        let (_, r) = try gdbSession(t, commands: ["monitor help", "monitor caps", "monitor stats"])
        for word in ["help", "break", "watch", "points", "delete", "caps", "probe", "stats"] {
            #expect(r.stderr.contains(try Regex(#"(?m)^\s*monitor \#(word)\b"#)), "monitor help lists `monitor \(word)` (batch gdb prints monitor output on stderr): \(r)")
        }
        #expect(r.stderr.contains("backend: \(t.backend), arch \(t.arch.name), 1 vCPU\n"), "monitor caps names the backend \(t.backend): \(r)")
        #expect(r.stderr.contains("KVM_SET_GUEST_DEBUG calls: "), "monitor stats: \(r)")
        #expect(!r.stderr.contains("unknown monitor command") && !r.stderr.contains("Protocol error"), "\(r)")
    }

    /// A failing `monitor` command's text is what gdb prints (it once printed `Invalid hex digit 46`
    /// for the `E.text` reply), and the session goes on.
    static func monitorErrorsReadable(_ t: GDBGuest) throws {
        let (_, r) = try gdbSession(t, vcpus: 2, commands: [
            "monitor delete 99", "monitor break 0x1003 vcpu 9", "monitor phys maybe", "monitor frobnicate",
            "monitor info nosuchthing", "p/x $pc"])
        for text in ["kvmdbg: no point with ID 99; 'monitor points' lists them", "kvmdbg: no vCPU 9",
                     "kvmdbg: usage: monitor phys on|off", "kvmdbg: unknown monitor command 'frobnicate'; try 'monitor help'"] {
            #expect(r.stderr.contains(text) || r.stdout.contains(text), "gdb shows '\(text)': \(r)")
        }
        #expect(!r.stderr.contains("Invalid hex digit"), "\(r)")
        #expect(r.printedHex == [t.entry], "the session goes on after the errors: \(r)")
    }

    /// Where int3 does not trap, gdb's breakpoints share the four debug registers: gdb hears so at
    /// its first resume, and a fifth breakpoint's failure (gdb 13 prints only `Cannot insert
    /// breakpoint 5`) is explained as console text at the next resume.
    static func slotShortageIsSaid(_ t: GDBGuest) throws {
        // Five at once (gdb lifts them all at a stop and inserts them all at the next resume, but
        // the one at the pc): the fifth, past the code, is never reached.
        let fifth = t.entry + 0x100
        let (_, r) = try gdbSession(t, commands: [
            "break *\(hx(t.loop))", "break *\(hx(t.store))", "break *\(hx(t.load))", "break *\(hx(t.codeEnd - 2))",
            "break *\(hx(fifth))", "continue", "delete 5", "continue", "p/x $pc"])
        let both = r.stdout + r.stderr
        #expect(both.contains("kvmdbg: int3/brk does not trap on this host, so each gdb breakpoint"), "\(r)")
        #expect(both.contains("Cannot insert breakpoint 5"), "\(r)")
        #expect(both.contains("kvmdbg: hardware breakpoint at \(hx(fifth)) not inserted: software breakpoints do not trap on this host and no hardware slot is free"), "\(r)")
        #expect(r.printedHex == [t.loop], "after deleting the fifth, the continue stops at the first: \(r)")
        #expect(both.components(separatedBy: "int3/brk does not trap on this host, so").count == 2, "the hint once: \(r)")
    }

    /// A second client while one is attached gets the server's error (run from the first
    /// gdb's `shell`, so both are connected at once).
    static func secondClientRefused(_ t: GDBGuest) throws {
        let path = try t.client.require()
        let inner = ([path, "-nx", "-batch", "-q"] + (t.preamble + ["target remote ADDR"]).flatMap { ["-ex", "'\($0)'"] }).joined(separator: " ")
        _ = try t.client.require()
        let server = try GDBServerProcess(t.serverArguments())
        defer { server.stop() }
        let r = try runGDB(t.client, preamble: t.preamble + ["target remote \(server.address)"],
                           commands: ["shell \(inner.replacingOccurrences(of: "ADDR", with: server.address)) 2>&1", "p/x $pc"])
        #expect(r.stdout.contains("another GDB client is attached"), "\(r)")
        #expect(r.printedHex == [t.entry], "the first client still works: \(r)")
    }

    /// SIGTERM ends the server with status 0 and its `server stopped (signal)` line, also after
    /// a client left a breakpoint planted (gdb disconnected without removing it).
    static func sigterm(_ t: GDBGuest) throws {
        _ = try t.client.require()
        let server = try GDBServerProcess(t.serverArguments())
        defer { server.stop() }
        let r = try runGDB(t.client, preamble: t.preamble + ["target remote \(server.address)"],
                           commands: ["break *\(hx(t.loop))", "continue", "p/x $pc", "detach"])
        #expect(r.printedHex == [t.loop], "\(r)")
        #expect(server.waitForLine("client detached; guest running"), "\(server.description)")
        kill(server.process.processIdentifier, SIGTERM)
        #expect(server.waitForExit() == 0, "\(server.description)")
        #expect(server.lines.last == "server stopped (signal)", "\(server.description)")
    }

    /// `--listen unix:PATH`: the attach line says `target remote PATH`, gdb attaches there, and
    /// `kill` ends the server, which removes the socket.
    static func unixSocket(_ t: GDBGuest) throws {
        _ = try t.client.require()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-gdb-\(UUID().uuidString.prefix(8)).sock").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let server = try GDBServerProcess(t.serverArguments(), listen: "unix:\(path)")
        defer { server.stop() }
        let client = t.arch == .arm64 ? "gdb-multiarch -ex 'set architecture aarch64'" : "gdb"
        #expect(server.listeningLine == "listening on \(path); attach with: \(client) -ex 'target remote \(path)'", "\(server.description)")
        let r = try runGDB(t.client, preamble: t.preamble + ["target remote \(path)"], commands: ["p/x $pc", "kill"])
        #expect(r.printedHex == [t.entry], "\(r)")
        #expect(server.waitForExit() == 0, "\(server.description)")
        #expect(!FileManager.default.fileExists(atPath: path), "the socket file is removed at exit")
    }
}

// MARK: - Fake backend: x86_64 (gdb) and aarch64 (gdb-multiarch)

@Suite(.serialized) struct GDBClientTests {
    /// x86_64 guests on the fake backend, through gdb.
    @Suite(.serialized, GDBClient.gdb.required)
    struct OnTheFakeX86 {
        static let t = GDBGuest.x86("fake")
        @Test func connect() throws { try GDBScenarios.connect(Self.t) }
        @Test func hbreak() throws { try GDBScenarios.hardwareBreakpoint(Self.t) }
        @Test func breakSoftware() throws { try GDBScenarios.softwareBreakpoint(Self.t) }
        @Test func watch() throws { try GDBScenarios.writeWatchpoint(Self.t) }
        @Test func rwatch() throws { try GDBScenarios.readWatchpoint(Self.t) }
        @Test func awatch() throws { try GDBScenarios.accessWatchpoint(Self.t) }
        @Test func wideWatch() throws { try GDBScenarios.wideWatch(Self.t) }
        @Test func monitorWatch() throws { try GDBScenarios.monitorWatchMechanism(Self.t, protection: false) }
        @Test func stepi() throws { try GDBScenarios.stepi(Self.t) }
        @Test func infoThreads() throws { try GDBScenarios.infoThreads(Self.t) }
        @Test func thread2Stepi() throws { try GDBScenarios.stepOtherThread(Self.t) }
        @Test func memory() throws { try GDBScenarios.memory(Self.t) }
        @Test func monitorBreakVCPU1() throws { try GDBScenarios.monitorBreakOneVCPU(Self.t) }
        @Test func detachReattach() throws { try GDBScenarios.detachAndReattach(Self.t) }
        @Test func ctrlC() throws { try GDBScenarios.interrupt(Self.t) }
        @Test func monitorHelp() throws { try GDBScenarios.monitorHelpAndCaps(Self.t) }
        @Test func monitorErrors() throws { try GDBScenarios.monitorErrorsReadable(Self.t) }
        @Test func secondClient() throws { try GDBScenarios.secondClientRefused(Self.t) }
        @Test func sigterm() throws { try GDBScenarios.sigterm(Self.t) }
        @Test func unixSocket() throws { try GDBScenarios.unixSocket(Self.t) }
    }

    /// aarch64 guests on the fake backend, through gdb-multiarch (`set architecture aarch64`).
    @Suite(.serialized, GDBClient.gdbMultiarch.required)
    struct OnTheFakeArm64 {
        static let t = GDBGuest.arm64Fake
        @Test func connect() throws { try GDBScenarios.connect(Self.t) }
        @Test func hbreak() throws { try GDBScenarios.hardwareBreakpoint(Self.t) }
        @Test func breakSoftware() throws { try GDBScenarios.softwareBreakpoint(Self.t) }
        @Test func watch() throws { try GDBScenarios.writeWatchpoint(Self.t) }
        @Test func rwatch() throws { try GDBScenarios.readWatchpoint(Self.t) }
        @Test func awatch() throws { try GDBScenarios.accessWatchpoint(Self.t) }
        @Test func stepi() throws { try GDBScenarios.stepi(Self.t) }
        @Test func infoThreads() throws { try GDBScenarios.infoThreads(Self.t) }
        @Test func thread2Stepi() throws { try GDBScenarios.stepOtherThread(Self.t) }
        @Test func memory() throws { try GDBScenarios.memory(Self.t) }
        @Test func monitorBreakVCPU1() throws { try GDBScenarios.monitorBreakOneVCPU(Self.t) }
        @Test func detachReattach() throws { try GDBScenarios.detachAndReattach(Self.t) }
        @Test func ctrlC() throws { try GDBScenarios.interrupt(Self.t) }
        @Test func monitorHelp() throws { try GDBScenarios.monitorHelpAndCaps(Self.t) }
        @Test func monitorErrors() throws { try GDBScenarios.monitorErrorsReadable(Self.t) }
        @Test func secondClient() throws { try GDBScenarios.secondClientRefused(Self.t) }
        @Test func sigterm() throws { try GDBScenarios.sigterm(Self.t) }
        @Test func unixSocket() throws { try GDBScenarios.unixSocket(Self.t) }
    }

    // MARK: - This host's KVM (x86_64, gdb)

    @Suite(.serialized, KVMHost.required, GDBClient.gdb.required)
    struct OnKVM {
        static let t = GDBGuest.x86("kvm")
        @Test func connect() throws { try GDBScenarios.connect(Self.t) }
        @Test func hbreak() throws { try GDBScenarios.hardwareBreakpoint(Self.t) }
        /// On PVM int3 does not trap: the server serves Z0 with a hardware slot; the stop is expected.
        @Test func breakSoftware() throws { try GDBScenarios.softwareBreakpoint(Self.t) }
        @Test(.enabled(if: KVMHost.usable && !KVMHost.works([.softwareBreakpoint]), "int3 traps on this host's KVM: gdb's breakpoints take no hardware slot"))
        func slotShortage() throws { try GDBScenarios.slotShortageIsSaid(Self.t) }
        // Data watchpoints never trap under PVM: memory protection serves them (the server's probe decides).
        @Test func watch() throws { try GDBScenarios.writeWatchpoint(Self.t) }
        @Test func rwatch() throws { try GDBScenarios.readWatchpoint(Self.t) }
        @Test func awatch() throws { try GDBScenarios.accessWatchpoint(Self.t) }
        @Test func wideWatch() throws { try GDBScenarios.wideWatch(Self.t) }
        @Test func monitorWatch() throws { try GDBScenarios.monitorWatchMechanism(Self.t, protection: !KVMHost.works([.writeWatchpoint])) }
        /// Where int3 does not trap, `break` takes a slot; a fifth takes a code-page hole.
        @Test(.enabled(if: !KVMHost.works([.softwareBreakpoint]), "int3 traps here: break uses int3, no slots"))
        func fiveBreakpoints() throws { try GDBScenarios.fiveBreakpoints(Self.t) }
        @Test func stepi() throws { try GDBScenarios.stepi(Self.t) }
        @Test func infoThreads() throws { try GDBScenarios.infoThreads(Self.t) }
        @Test func thread2Stepi() throws { try GDBScenarios.stepOtherThread(Self.t) }
        @Test func memory() throws { try GDBScenarios.memory(Self.t) }
        @Test func monitorBreakVCPU1() throws { try GDBScenarios.monitorBreakOneVCPU(Self.t) }
        @Test func detachReattach() throws { try GDBScenarios.detachAndReattach(Self.t) }
        @Test func ctrlC() throws { try GDBScenarios.interrupt(Self.t) }
        @Test func monitorHelp() throws { try GDBScenarios.monitorHelpAndCaps(Self.t) }
        @Test func monitorErrors() throws { try GDBScenarios.monitorErrorsReadable(Self.t) }
        @Test func secondClient() throws { try GDBScenarios.secondClientRefused(Self.t) }
        @Test func sigterm() throws { try GDBScenarios.sigterm(Self.t) }
    }
}

// MARK: - Source-level debugging of a C program (Tests/Fixtures/gdb-prog) on this host's KVM

/// The freestanding C fixture, built by the test with the host's gcc.
enum GDBProgram {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/gdb-prog")
    static var source: String { directory.appendingPathComponent("prog.c").path }

    /// The 1-based line holding `@marker`, and its text.
    static func line(_ marker: String) throws -> (number: Int, text: String) {
        let lines = try String(contentsOfFile: source, encoding: .utf8).components(separatedBy: "\n")
        let hits = lines.indices.filter { lines[$0].contains("@\(marker) ") || lines[$0].hasSuffix("@\(marker)") }
        let i = try #require(hits.count == 1 ? hits.first : nil, "exactly one line of prog.c carries @\(marker)")
        return (i + 1, lines[i])
    }

    /// Compiles prog.c into `dir`/prog.elf with the fixture's own recipe (`build x86_64`, which
    /// the GDB lanes use too); the command and its output on failure.
    static func build(into dir: URL) throws -> String {
        _ = try #require(["/usr/bin/gcc", "/usr/local/bin/gcc"].first { FileManager.default.isExecutableFile(atPath: $0) },
                         "gcc is not installed (apt-get install gcc)")
        let out = dir.appendingPathComponent("prog.elf").path
        let script = directory.appendingPathComponent("build").path
        let r = try runProcess(script, ["x86_64", out], timeout: 60)
        #expect(r.status == 0 && FileManager.default.fileExists(atPath: out), "\(script) x86_64 \(out): \(r)")
        return out
    }
}

extension GDBClientTests {
    @Suite(.serialized, KVMHost.required, GDBClient.gdb.required)
    struct SourceLevelOnKVM {
        @Test func breakContinueNextStepPrintBacktraceFinish() throws {
            try GDBProgram.breakContinueNextStepPrintBacktraceFinish(backend: "kvm")
        }
    }

    /// The fake's interpreter runs the fixture's `gcc -O0` code (frames, calls, the loop), so
    /// the same session runs on every host (the x86 GDB lane compares the two).
    @Suite(.serialized, GDBClient.gdb.required)
    struct SourceLevelOnTheFake {
        @Test func breakContinueNextStepPrintBacktraceFinish() throws {
            try GDBProgram.breakContinueNextStepPrintBacktraceFinish(backend: "fake")
        }
    }
}

extension GDBProgram {
    /// break FILE:LINE, continue, print, step into square, bt, next, finish, next, continue
    /// again: what gdb prints at each, on `backend`.
    static func breakContinueNextStepPrintBacktraceFinish(backend: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-gdb-prog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let elf = try GDBProgram.build(into: dir)
        let call = try GDBProgram.line("call"), after = try GDBProgram.line("after-call")
        let body = try GDBProgram.line("square-body"), ret = try GDBProgram.line("square-return")

        _ = try GDBClient.gdb.require()
        let server = try GDBServerProcess(["--image", elf, "--backend", backend])
        defer { server.stop() }
        let r = try runGDB(.gdb, file: elf, preamble: ["target remote \(server.address)"], commands: [
            "break prog.c:\(call.number)", "continue", "print i",
            "step", "bt", "next", "print r", "finish", "next", "print total",
            "continue", "print i", "next", "print total", "print iterations",
        ])
        /// gdb echoes a source line as "NUMBER\tTEXT".
        func shows(_ l: (number: Int, text: String)) -> String { "\n\(l.number)\t\(l.text)\n" }
        let file = #"\S*prog\.c"#
        #expect(r.matches(#"Breakpoint 1 at 0x[0-9a-f]+: file \#(file), line \#(call.number)\."#), "\(r)")
        #expect(r.matches(#"Breakpoint 1, kmain \(\) at \#(file):\#(call.number)\n"#), "the breakpoint stops in kmain at line \(call.number): \(r)")
        #expect(r.stdout.contains(shows(call)), "\(r)")
        #expect(r.matches(#"square \(x=1\) at \#(file):\#(body.number)\n"#), "`step` enters square(1): \(r)")
        #expect(r.stdout.contains(shows(body)), "\(r)")
        #expect(r.matches(#"(?m)^#0  square \(x=1\) at \#(file):\#(body.number)\n#1  0x[0-9a-f]+ in kmain \(\) at \#(file):\#(call.number)\n#2  0x[0-9a-f]+ in _start \(\)"#), "bt: square <- kmain <- _start: \(r)")
        #expect(r.stdout.contains(shows(ret)), "`next` reaches the return line: \(r)")
        #expect(r.matches(#"\n0x[0-9a-f]+ in kmain \(\) at \#(file):\#(call.number)\n\#(call.number)\t[^\n]*\nValue returned is \$[0-9]+ = 1\n"#), "finish returns to kmain's line \(call.number) with square(1) = 1: \(r)")
        #expect(r.stdout.contains(shows(after)), "`next` after finish reaches line \(after.number): \(r)")
        let values = r.captures(#"(?m)^\$[0-9]+ = (-?[0-9]+)$"#)
        // print i, print r, print total, print i, print total, print iterations
        #expect(values == ["1", "1", "1", "2", "5", "1"], "i=1, r=1, square=1, total=1; then i=2, total=1+4, iterations=1: \(r)")
        let stops = r.stdout.components(separatedBy: "Breakpoint 1, kmain () at ").count - 1
        #expect(stops == 2, "the breakpoint is hit on the first two passes: \(r)")
    }
}
