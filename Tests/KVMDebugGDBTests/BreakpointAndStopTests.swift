import Testing
import KVMDebugCore
import KVMDebugFake
@testable import KVMDebugGDB

@Suite struct BreakpointAndStopTests {
    @Test func zInsertsOnEveryVCPUAndZRemovesExactlyThat() throws {
        let h = try Harness(vcpus: 2)
        #expect(try h.reply("Z1,1006,1") == "OK")
        #expect(h.session.tables.global == [.hardware(address: 0x1006)])
        #expect(try h.reply("Z2,2000,8") == "OK")
        #expect(try h.reply("Z3,2008,8") == "OK")
        #expect(h.session.tables.points(on: 1).contains(.watch(address: 0x2008, length: 8, kind: .read)))
        #expect(try h.reply("z3,2008,8") == "OK")
        #expect(!h.session.tables.points(on: 0).contains(.watch(address: 0x2008, length: 8, kind: .read)))
        #expect(try h.reply("z2,2000,8") == "OK")
        #expect(try h.reply("z1,1006,1") == "OK")
        #expect(h.session.tables.points(on: 0).isEmpty && h.session.tables.points(on: 1).isEmpty)
        // Removing what was never inserted is an error, not a silent OK.
        #expect(try h.reply("z1,1006,1").hasPrefix("E."))
    }

    @Test func breakpointKindsAreChecked() throws {
        let h = try Harness()
        #expect(try h.reply("Z1,1006,4").hasPrefix("E."))
        #expect(try h.reply("Z0,1006,2").hasPrefix("E."))
        let a = try Harness(guest: BuiltinGuests.counterArm64())
        #expect(try a.reply("Z1,1000c,1").hasPrefix("E."))
        #expect(try a.reply("Z1,1000c,4") == "OK")
    }

    @Test func softwareBreakpointsUseHardwareSlotsWhereInt3DoesNotTrap() throws {
        let h = try Harness(options: GDBEngineOptions(softwareBreakpointsTrap: false))
        #expect(try h.reply("vMustReplyEmpty") == "")  // gdb: it prints console text at a resume
        #expect(try h.reply("Z0,1003,1") == "OK")
        #expect(h.session.tables.global == [.hardware(address: 0x1003)])
        #expect(try h.session.readMemory(0x1003, count: 1, vcpu: 0) == [0x48])
        #expect(try h.reply("Z0,1006,1") == "OK")
        #expect(try h.reply("Z0,100e,1") == "OK")
        #expect(try h.reply("Z0,1016,1") == "OK")
        // No slot left: an E reply, never the empty one (GDB would patch int3 itself).
        let full = try h.reply("Z0,1000,1")
        #expect(full.hasPrefix("E.software breakpoints do not trap"))
        // The stop of such a breakpoint is a software breakpoint to GDB. Before it, as console text
        // gdb prints: the slot hint (once per client) and why the fifth was not inserted.
        let r = try h.ask("vCont;c")
        #expect(r.count == 3 && r.last?.hasPrefix("T05thread:1;swbreak:;") == true, "\(r)")
        let said = r.dropLast().map { String(decoding: GDBHex.decode(Array($0.utf8).dropFirst()) ?? [], as: UTF8.self) }
        #expect(said.first?.hasPrefix("kvmdbg: int3/brk does not trap on this host, so each gdb breakpoint") == true, "\(said)")
        #expect(said.first?.contains("4 debug registers per vCPU; 4 in use now. Keep one free, or next over a call becomes a step") == true, "\(said)")
        #expect(said.last?.hasPrefix("kvmdbg: hardware breakpoint at 0x1000 not inserted: software breakpoints do not trap on this host and no hardware slot is free") == true, "\(said)")
        #expect(try h.ask("vCont;c").count == 1, "the hint is said once per client")
    }

    /// A client that has not shown it is gdb or lldb gets no `O` packet before a stop reply (one
    /// such client took it for the stop reply); the E reply still says why.
    @Test func noConsoleTextAtAResumeForOtherClients() throws {
        let h = try Harness(options: GDBEngineOptions(softwareBreakpointsTrap: false))
        for a in ["1003", "1006", "100e", "1016"] { #expect(try h.reply("Z0,\(a),1") == "OK") }
        #expect(try h.reply("Z0,1000,1").hasPrefix("E.software breakpoints do not trap on this host and no hardware slot is free"))
        let r = try h.ask("vCont;c")
        #expect(r.count == 1 && r[0].hasPrefix("T05thread:1;"), "\(r)")
        #expect(try h.reply("z0,1003,1") == "OK")
        #expect(!h.session.tables.global.contains(.hardware(address: 0x1003)))
        let points = try monitorOutput(h, "points")
        #expect(points.contains("software breakpoints do not trap on this host"))
        #expect(points.contains("gdb Z0 served by a hardware slot"))
    }

    @Test func softwareBreakpointStop() throws {
        let h = try Harness()
        #expect(try h.reply("Z0,100e,1") == "OK")
        #expect(h.session.tables.global == [.software(address: 0x100e)])
        #expect(try h.reply("m100e,1") == "48")  // hidden from reads
        let r = try h.reply("c")
        #expect(r.hasPrefix("T05thread:1;swbreak:;reason:breakpoint;10:" + leHex(0x100e) + ";"))
    }

    @Test func hardwareBreakpointStopExpeditesRegisters() throws {
        let h = try Harness()
        #expect(try h.reply("Z1,1006,1") == "OK")
        let rsp = try h.session.registers(vcpu: 0).sp
        let r = try h.reply("vCont;c")
        #expect(r == "T05thread:1;hwbreak:;reason:breakpoint;10:\(leHex(0x1006));7:\(leHex(rsp));6:\(leHex(0));11:02000000;")
        #expect(try h.reply("?") == r)
        #expect(h.resumes == [[.continue]])
    }

    @Test func watchpointStopsNameTheirKind() throws {
        let h = try Harness()
        #expect(try h.reply("Z2,2000,8") == "OK")
        #expect(try h.reply("c").hasPrefix("T05thread:1;watch:2000;"))
        #expect(try h.reply("z2,2000,8") == "OK")
        #expect(try h.reply("Z3,2008,8") == "OK")
        #expect(try h.reply("c").hasPrefix("T05thread:1;rwatch:2008;"))
        #expect(try h.reply("z3,2008,8") == "OK")
        #expect(try h.reply("Z4,2008,8") == "OK")
        #expect(try h.reply("c").hasPrefix("T05thread:1;awatch:2008;"))
    }

    /// lldb reads lldb-server's `reason:watchpoint;description:HEX("ASKED INDEX HIT")` (lldb-13 knows
    /// no `watch:` key); it takes the last of the two, so `reason:` comes after gdb's key.
    @Test func watchpointStopsCarryLLDBsReasonAndDescription() throws {
        let h = try Harness()
        #expect(try h.reply("Z2,2000,8") == "OK")
        let r = try h.reply("c")
        let description = String(decoding: GDBHex.encode(Array("8192 4294967295 8192".utf8)), as: UTF8.self)
        #expect(r.hasPrefix("T05thread:1;watch:2000;reason:watchpoint;description:\(description);"), "\(r)")
    }

    @Test func stepStopsHaveOnlyLLDBsTraceReason() throws {
        let h = try Harness(vcpus: 2)
        #expect(try h.reply("vCont;s:2;c:1") .hasPrefix("T05thread:2;reason:trace;10:" + leHex(0x1003) + ";"))
        #expect(h.resumes.last! == [.continue, .step])
        #expect(try h.reply("qC") == "QC2")  // the stopped vCPU became current
        #expect(try h.reply("s").hasPrefix("T05thread:2;reason:trace;10:" + leHex(0x1006) + ";"))
        #expect(h.resumes.last! == [nil, .step])
    }

    @Test func interruptedRoundReportsSIGINT() throws {
        let h = try Harness(vcpus: 2)
        _ = try h.reply("Hg2")
        let r = Sent(try h.engine.finish(StopRound(events: [], interrupted: true)).flatMap { a -> [UInt8] in
            if case .send(let b) = a { return b }
            return []
        })
        #expect(r.packets.count == 1)
        #expect(r.packets[0].hasPrefix("T02thread:2;reason:signal;10:"))
    }

    @Test func guestExitsReportAStopOrAnExit() throws {
        let h = try Harness()
        func replyFor(_ e: VCPUExit) -> String {
            let actions = h.engine.finish(StopRound(events: [VCPUEvent(vcpu: 0, event: .exit(e))], interrupted: false))
            return Sent(actions.flatMap { a -> [UInt8] in if case .send(let b) = a { return b }; return [] }).packets.first ?? ""
        }
        #expect(replyFor(.halt(pc: 0x1005)).hasPrefix("T05thread:1;reason:signal;10:"))
        #expect(replyFor(.internalError(suberror: 1)).hasPrefix("T05thread:1;"))
        #expect(replyFor(.shutdown) == "W00")
    }

    @Test func vContParsing() throws {
        let h = try Harness(vcpus: 3)
        #expect(try h.reply("vCont?") == "vCont;c;C;s;S")
        #expect(h.engine.parseVCont(Array("s:2;c".utf8)[...]) == [.continue, .step, .continue])
        #expect(h.engine.parseVCont(Array("c:1".utf8)[...]) == [.continue, nil, nil])
        #expect(h.engine.parseVCont(Array("S05:3;C05".utf8)[...]) == [.continue, .continue, .step])
        #expect(h.engine.parseVCont(Array("s:-1".utf8)[...]) == [.step, .step, .step])
        #expect(h.engine.parseVCont(Array("t:1;c".utf8)[...]) == [nil, .continue, .continue])
        #expect(h.engine.parseVCont(Array("c:9".utf8)[...]) == nil)
        #expect(h.engine.parseVCont(Array("r1000,2000".utf8)[...]) == nil)
        #expect(try h.reply("vCont;x").hasPrefix("E."))
    }

    @Test func detachRemovesEveryPoint() throws {
        let h = try Harness()
        #expect(try h.reply("Z0,100e,1") == "OK")
        #expect(try h.reply("D") == "OK")
        #expect(h.detached)
        #expect(h.session.tables.global.isEmpty)
        #expect(try h.backend.readMemory(0x100e, count: 1) == [0x48])  // int3 gone
    }
}

/// The text a `monitor` command printed (its O packets), checking it ended in OK.
func monitorOutput(_ h: Harness, _ command: String) throws -> String {
    let r = try h.ask("qRcmd," + String(decoding: GDBHex.encode(Array(command.utf8)), as: UTF8.self))
    #expect(r.last == "OK", "monitor \(command) ended with \(r.last ?? "nothing")")
    var text = ""
    for p in r.dropLast() {
        #expect(p.first == "O")
        text += String(decoding: GDBHex.decode(Array(p.utf8).dropFirst()) ?? [], as: UTF8.self)
    }
    return text
}

/// A failing `monitor COMMAND`: its text (the `O` packets, as gdb and lldb print them), checking
/// that the reply ends `E01` as gdbserver's does (gdb 13 reads any other qRcmd reply as hex output).
func monitorFailure(_ h: Harness, _ command: String) throws -> String {
    let r = try h.ask("qRcmd," + String(decoding: GDBHex.encode(Array(command.utf8)), as: UTF8.self))
    #expect(r.last == "E01", "monitor \(command) ended with \(r.last ?? "nothing")")
    var text = ""
    for p in r.dropLast() {
        #expect(p.first == "O")
        text += String(decoding: GDBHex.decode(Array(p.utf8).dropFirst()) ?? [], as: UTF8.self)
    }
    return text
}

@Suite struct PendingStopTests {
    /// Two vCPUs hit breakpoints in one round: GDB hears of one; the next continue reports the
    /// other at once, without running the guest (it would step past it and the hit would be lost).
    @Test func aSecondStopOfTheSameRoundIsReportedOnTheNextContinue() throws {
        let h = try Harness(vcpus: 2)
        #expect(try h.reply("Z1,1003,1") == "OK")
        #expect(try h.reply("Z1,1006,1") == "OK")
        func hit(_ v: Int, _ pc: UInt64) -> VCPUEvent {
            VCPUEvent(vcpu: v, event: .stop(Stop(vcpu: v, pc: pc,
                hits: [StopHit(reason: .hardwareBreakpoint, point: .hardware(address: pc), slot: 0)],
                exit: .x86(exception: 1, pc: pc, dr6: 0xFFFF0FF1, dr7: 0))))
        }
        let first = h.engine.finish(StopRound(events: [hit(0, 0x1003), hit(1, 0x1006)], interrupted: false))
        let firstReply = Sent(first.flatMap { a -> [UInt8] in if case .send(let b) = a { return b }; return [] })
        #expect(firstReply.packets.first?.hasPrefix("T05thread:1;hwbreak:;") == true)
        let second = try h.reply("vCont;c")
        #expect(second.hasPrefix("T05thread:2;hwbreak:;"))
        #expect(h.resumes.isEmpty)  // reported without a round
        #expect(try h.reply("qC") == "QC2")
    }

    @Test func aPendingStopWhosePointWasRemovedIsDropped() throws {
        let h = try Harness(vcpus: 2)
        #expect(try h.reply("Z1,1006,1") == "OK")
        #expect(try h.reply("Z1,1003,1") == "OK")
        let ev = VCPUEvent(vcpu: 1, event: .stop(Stop(vcpu: 1, pc: 0x1006,
            hits: [StopHit(reason: .hardwareBreakpoint, point: .hardware(address: 0x1006), slot: 0)],
            exit: .x86(exception: 1, pc: 0x1006, dr6: 0xFFFF0FF1, dr7: 0))))
        let other = VCPUEvent(vcpu: 0, event: .stop(Stop(vcpu: 0, pc: 0x1003,
            hits: [StopHit(reason: .hardwareBreakpoint, point: .hardware(address: 0x1003), slot: 1)],
            exit: .x86(exception: 1, pc: 0x1003, dr6: 0xFFFF0FF2, dr7: 0))))
        _ = h.engine.finish(StopRound(events: [other, ev], interrupted: false))
        #expect(try h.reply("z1,1006,1") == "OK")
        // The vCPU-1 stop is stale now: the continue really runs (and stops at 0x1003 again).
        let r = try h.reply("vCont;c")
        #expect(h.resumes.count == 1)
        #expect(r.hasPrefix("T05thread:"))
        #expect(!r.contains(leHex(0x1006)))
    }
}
