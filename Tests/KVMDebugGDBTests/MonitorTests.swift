import Testing
import KVMDebugCore
import KVMDebugFake
@testable import KVMDebugGDB

@Suite struct MonitorTests {
    @Test func helpListsEveryCommand() throws {
        let h = try Harness()
        let text = try monitorOutput(h, "help")
        for c in ["monitor help", "monitor break ADDR vcpu N", "monitor watch ADDR LEN r|w|rw vcpu N", "monitor points",
                  "monitor delete ID", "monitor caps", "monitor probe", "monitor stats",
                  "monitor info mem", "monitor info registers", "monitor info tlb", "monitor gva2gpa ADDR", "monitor xp /Nfu ADDR"] {
            #expect(text.contains(c), "help lacks \(c)")
        }
    }

    /// A software breakpoint on a word the guest stores to (Z0 on `counter`): after the store,
    /// `m` shows the guest's value and `monitor points` says the breakpoint is gone from memory.
    @Test func aSoftwareBreakpointTheGuestStoredOverIsSaidSo() throws {
        let h = try Harness()
        #expect(try h.reply("Z0,2000,1") == "OK")
        #expect(!(try monitorOutput(h, "points")).contains("stored over"))
        h.backend.maxInstructionsPerRun = 40
        _ = try h.backend.run(vcpu: 0)
        let stored = try h.backend.readMemory(0x2000, count: 8)
        #expect(stored[0] != 0xCC)
        #expect(try h.reply("m2000,8") == String(decoding: GDBHex.encode(stored), as: UTF8.self))
        let line = try monitorOutput(h, "points").split(separator: "\n").first { $0.contains("software breakpoint at 0x2000") }
        #expect(line?.hasSuffix("; the guest stored over its breakpoint instruction: it will not trap until inserted again") == true, "\(String(describing: line))")
        #expect(try h.reply("z0,2000,1") == "OK")
        #expect(try h.backend.readMemory(0x2000, count: 8) == stored)
    }

    @Test func perVCPUPointsShowOnTheirVCPUOnlyAndDeleteByID() throws {
        let h = try Harness(vcpus: 2)
        let b = try monitorOutput(h, "break 0x1006 vcpu 1")
        #expect(b == "point 1: hardware breakpoint at 0x1006 on vCPU 1\n")
        #expect(h.session.tables.local[1] == [.hardware(address: 0x1006)])
        #expect(h.session.tables.local[0].isEmpty && h.session.tables.global.isEmpty)
        #expect(try monitorOutput(h, "watch 0x2000 8 w vcpu 0") == "point 2: w watchpoint on 8 bytes at 0x2000 on vCPU 0\n")
        #expect(try h.reply("Z1,1003,1") == "OK")
        let points = try monitorOutput(h, "points")
        let lines = points.split(separator: "\n").map(String.init)
        let v0 = lines.firstIndex { $0.hasPrefix("vCPU 0:") }!, v1 = lines.firstIndex { $0.hasPrefix("vCPU 1:") }!
        #expect(lines[v0] == "vCPU 0: 2 points, 2/4 debug registers in use")
        #expect(lines[v0 + 1 ..< v1].contains { $0.contains("[3] hardware breakpoint at 0x1003 (all vCPUs, gdb Z1) slot") })
        #expect(lines[v0 + 1 ..< v1].contains { $0.contains("[2] w watchpoint on 8 bytes at 0x2000 (vCPU 0 only)") })
        #expect(lines[(v1 + 1)...].contains { $0.contains("[1] hardware breakpoint at 0x1006 (vCPU 1 only)") })
        #expect(!lines[(v1 + 1)...].contains { $0.contains("0x2000") })
        // The vCPU-1 breakpoint stops vCPU 1 only: a continue of both reports thread 2 at 0x1006 first
        // or vCPU 0 at its global 0x1003; either way vCPU 0 never reports 0x1006.
        #expect(try monitorOutput(h, "delete 1").hasPrefix("deleted point 1"))
        #expect(h.session.tables.local[1].isEmpty)
        #expect(try monitorFailure(h, "delete 1") == "kvmdbg: no point with ID 1; 'monitor points' lists them\n")
    }

    @Test func perVCPUBreakpointStopsOnlyItsVCPU() throws {
        let h = try Harness(vcpus: 2)
        _ = try monitorOutput(h, "break 0x1006 vcpu 1")
        // vCPU 0 steps (from 0x1000 to 0x1003, 0x1006, 0x100e...) and never reports the vCPU-1 point.
        _ = try h.reply("Hc1")
        for _ in 0..<3 { #expect(!(try h.reply("s")).contains("hwbreak")) }
        let r = try h.reply("vCont;c:2")
        // No hwbreak: for a point GDB did not set (gdb would resume silently); a plain T05 is SIGTRAP.
        #expect(r.hasPrefix("T05thread:2;reason:signal;10:" + leHex(0x1006)))
    }

    @Test func capsProbeAndStats() throws {
        let h = try Harness(options: GDBEngineOptions(probe: { ["sw-breakpoint: traps"] }, backendDescription: "backend chosen: fake (test)"))
        let caps = try monitorOutput(h, "caps")
        #expect(caps.contains("backend: fake, arch x86_64, 1 vCPU"))
        #expect(caps.contains("backend chosen: fake (test)"))
        #expect(caps.contains("hardware slots per vCPU: 4 breakpoints, 4 watchpoints"))
        #expect(try monitorOutput(h, "probe") == "sw-breakpoint: traps\n")
        _ = try h.reply("Z1,1006,1")
        _ = try h.reply("c")
        let stats = try monitorOutput(h, "stats")
        #expect(stats.contains("KVM_SET_GUEST_DEBUG calls: 1"))
        #expect(stats.contains("stops: 1"))
        #expect(stats.contains("rounds: 1"))
        #expect(try monitorFailure(h, "frobnicate") == "kvmdbg: unknown monitor command 'frobnicate'; try 'monitor help'\n")
    }

    /// Every failure reaches the user as text, never as an `E.text` reply gdb cannot decode.
    @Test func everyFailureIsConsoleTextThenE01() throws {
        let h = try Harness(vcpus: 2)
        let cases: [(String, String)] = [
            ("delete 99", "no point with ID 99; 'monitor points' lists them"),
            ("break 0x1003 vcpu 9", "vCPU 9"),
            ("phys maybe", "usage: monitor phys on|off"),
            ("watch 0x2000 8 x vcpu 0", "usage: monitor watch ADDR LEN r|w|rw vcpu N"),
        ]
        for (command, text) in cases {
            let said = try monitorFailure(h, command)
            #expect(said.hasPrefix("kvmdbg: ") && said.contains(text), "monitor \(command): \(said)")
        }
        // lldb's error strings change nothing here: the text still goes as console output.
        #expect(try h.reply("QEnableErrorStrings") == "OK")
        #expect(try monitorFailure(h, "delete 99").contains("no point with ID 99"))
    }

    @Test func unprobedSays() throws {
        let h = try Harness()
        #expect(try monitorOutput(h, "probe").hasPrefix("not probed"))
    }
}
