import Testing
import Foundation
import Glibc
import KVMDebugCore
import KVMDebugFake
@testable import KVMDebugGDB

/// Fatal exits through the engine: the signal each becomes, `monitor why`, the refused resume.
@Suite struct FatalStopTests {
    /// The reply the engine sends for one exit of vCPU `vcpu`.
    private func replyFor(_ e: VCPUExit, _ h: Harness, vcpu: Int = 0) -> String {
        let actions = h.engine.finish(StopRound(events: [VCPUEvent(vcpu: vcpu, event: .exit(e))], interrupted: false))
        return Sent(actions.flatMap { a -> [UInt8] in if case .send(let b) = a { return b }; return [] }).packets.first ?? ""
    }

    @Test(arguments: [
        (VCPUExit.shutdown, "T0b"), (.mmio(address: 0xFEE0_0000, isWrite: true, length: 4, pc: 0x1006), "T0b"),
        (.io(port: 0x3F8, isWrite: true, size: 1, pc: 0x1006), "T0b"), (.internalError(suberror: 1), "T06"),
        (.failEntry(reason: 0x8000_0021, cpu: 1), "T06"), (.systemEvent(type: 3), "T06"), (.systemEvent(type: 1), "T03"),
        (.systemEvent(type: 2), "T03"), (.unknown(reason: 99), "T06"), (.halt(pc: 0x1005), "T05"),
    ])
    func eachExitBecomesItsSignal(_ exit: VCPUExit, _ prefix: String) throws {
        let h = try Harness()
        let r = replyFor(exit, h)
        // lldb's reason (a signal), then the registers expedited: still inspectable.
        #expect(r.hasPrefix(prefix + "thread:1;reason:signal;10:"), "\(exit): \(r)")
    }

    @Test func aFatalExitIsReportedBeforeAnotherVCPUsBreakpoint() throws {
        let h = try Harness(vcpus: 2)
        let stop = Stop(vcpu: 0, pc: 0x1003, hits: [StopHit(reason: .hardwareBreakpoint)], exit: .x86(exception: 1, pc: 0x1003, dr6: 1, dr7: 0))
        let actions = h.engine.finish(StopRound(events: [VCPUEvent(vcpu: 0, event: .stop(stop)), VCPUEvent(vcpu: 1, event: .exit(.shutdown))], interrupted: false))
        let r = Sent(actions.flatMap { a -> [UInt8] in if case .send(let b) = a { return b }; return [] }).packets.first ?? ""
        #expect(r.hasPrefix("T0bthread:2;"), "\(r)")
    }

    @Test func tripleFaultGuestStopsWithSIGSEGVAndRegistersAndMemoryStayReadable() throws {
        let h = try Harness(guest: BuiltinGuests.tripleFaultX86())
        let r = try h.reply("c")
        #expect(r.hasPrefix("T0bthread:1;"), "\(r)")
        // RIP at the ud2, RAX the guest's marker: the fake keeps the state, as PVM and VMX do.
        #expect(try h.reply("p10") == leHex(0x1012))
        #expect(try h.reply("p0") == leHex(BuiltinGuests.tripleFaultMarker))
        #expect(try h.reply("m1012,2") == "0f0b")
        #expect(try h.reply("?").hasPrefix("T0bthread:1;"))
    }

    @Test func everyResumeIsRefusedWithTheReasonAndNothingRuns() throws {
        let h = try Harness(guest: BuiltinGuests.tripleFaultX86())
        _ = try h.reply("c")
        let rounds = h.resumes.count
        for packet in ["c", "s", "vCont;c", "vCont;s:1", "C0b", "S0b"] {
            let r = try h.reply(packet)
            #expect(r.hasPrefix("E.vCPU 0 stopped on KVM_EXIT_SHUTDOWN") && r.contains("kill"), "\(packet): \(r)")
        }
        #expect(h.resumes.count == rounds, "no round started")
        // The session refuses too (a library user, or a client after a reconnect).
        #expect(throws: DebugError.fatalExit(vcpu: 0, exit: .shutdown)) { try h.session.start([.continue]) }
        // kill still ends the guest.
        _ = try h.ask("vKill;1")
        #expect(h.killed)
    }

    @Test func lldbGetsTheReasonAsOutputAndTheSameStopAgain() throws {
        let h = try Harness(guest: BuiltinGuests.tripleFaultX86())
        #expect(try h.reply("QEnableErrorStrings") == "OK")
        let stop = try h.reply("c")
        let r = try h.ask("vCont;c:1")
        #expect(r.count == 2, "\(r)")
        let text = String(decoding: GDBHex.decode(Array(r[0].utf8).dropFirst()) ?? [], as: UTF8.self)
        #expect(r[0].first == "O" && text.contains("cannot be resumed"), "\(text)")
        #expect(r[1] == stop)
    }

    @Test func monitorWhyPrintsEveryFieldKVMGave() throws {
        let h = try Harness(guest: BuiltinGuests.tripleFaultX86())
        #expect(try monitorOutput(h, "why").hasPrefix("no stop to explain"))
        _ = try h.reply("c")
        let why = try monitorOutput(h, "why")
        #expect(why.hasPrefix("vCPU 0: KVM_EXIT_SHUTDOWN (triple fault"), "\(why)")
        #expect(why.contains("SIGSEGV, pc 0x1012") && why.contains("exitReason=8"), "\(why)")

        let data: [UInt64] = [1, 0x0000_0000_000B_0F02, 0, 0x11, 0x22]  // flags, insn_size 2 + 0f 0b, then more
        _ = replyFor(.internalError(suberror: 1, data: data), h)
        let e = try monitorOutput(h, "why")
        #expect(e.contains("KVM_EXIT_INTERNAL_ERROR") && e.contains("SIGABRT"), "\(e)")
        #expect(e.contains("suberror=1 suberrorName=KVM_INTERNAL_ERROR_EMULATION ndata=5 data=[0x1 0xb0f02 0x0 0x11 0x22] insnBytes=0f 0b"), "\(e)")

        _ = replyFor(.failEntry(reason: 0x8000_0021, cpu: 3), h)
        #expect(try monitorOutput(h, "why").contains("VMX invalid guest state") )
        #expect(try monitorOutput(h, "why").contains("hardwareEntryFailureReason=0x80000021 cpu=3"))

        _ = replyFor(.systemEvent(type: 2, data: [0x8400_0009]), h)
        #expect(try monitorOutput(h, "why").contains("systemEventType=2 systemEventTypeName=KVM_SYSTEM_EVENT_RESET ndata=1 data=[0x84000009]"))

        _ = replyFor(.mmio(address: 0xFEE0_0000, isWrite: true, length: 4, pc: 0x1006), h)
        #expect(try monitorOutput(h, "why").contains("address=0xfee00000 size=4 direction=write pc=0x1006"))

        _ = replyFor(.io(port: 0x3F8, isWrite: false, size: 1, pc: 0x1006), h)
        #expect(try monitorOutput(h, "why").contains("port=0x3f8 size=1 direction=in pc=0x1006"))
    }

    @Test func monitorWhyExplainsADebugStopToo() throws {
        let h = try Harness()
        #expect(try h.reply("Z1,1006,1") == "OK")
        _ = try h.reply("c")
        let why = try monitorOutput(h, "why")
        #expect(why.hasPrefix("vCPU 0: KVM_EXIT_DEBUG (hw-breakpoint), pc 0x1006"), "\(why)")
        #expect(why.contains("exception=1 dr6="), "\(why)")
    }
}

/// `monitor dump-guest-memory` through the engine: the summary as console output, errors as `E`.
@Suite struct MonitorDumpTests {
    @Test func writesTheCoreAndRefusesBadInput() throws {
        let h = try Harness(guest: BuiltinGuests.tripleFaultX86())
        _ = try h.reply("c")
        let path = "/tmp/kvmdbg-monitor-dump-\(UInt64.random(in: 0...UInt64.max)).core"
        defer { _ = path.withCString { unlink($0) } }
        let out = try monitorOutput(h, "dump-guest-memory -p \(path)")
        #expect(out.hasPrefix("core written: \(path) (1 vCPU, "), "\(out)")
        for bad in ["dump-guest-memory", "dump-guest-memory -p", "dump-guest-memory -x f"] {
            #expect(try monitorFailure(h, bad) == "kvmdbg: usage: monitor dump-guest-memory [-p] FILE\n", "\(bad)")
        }
        let failed = try monitorFailure(h, "dump-guest-memory /nonexistent-dir/core")
        #expect(failed.hasPrefix("kvmdbg: no core written: open(/nonexistent-dir/core.kvmdbg-tmp.0) failed: ENOENT"), "\(failed)")
        #expect(try monitorOutput(h, "help").contains("monitor dump-guest-memory [-p] FILE"))
        #expect(try monitorOutput(h, "help").contains("monitor why"))
    }

    /// `--core-dir`: a plain name lands in the directory; a path, '.' or '..' is refused with
    /// the reason, and nothing is written outside.
    @Test func aCoreDirectoryKeepsCoresInside() throws {
        let dir = "/tmp/kvmdbg-core-dir-\(UInt64.random(in: 0...UInt64.max))"
        #expect(mkdir(dir, 0o700) == 0)
        defer { _ = try? FileManager.default.removeItem(atPath: dir) }
        var options = GDBEngineOptions()
        options.coreDirectory = dir
        let h = try Harness(guest: BuiltinGuests.tripleFaultX86(), options: options)
        _ = try h.reply("c")
        let out = try monitorOutput(h, "dump-guest-memory guest.core")
        #expect(out.hasPrefix("core written: \(dir)/guest.core (1 vCPU, "), "\(out)")
        #expect(FileManager.default.fileExists(atPath: dir + "/guest.core"))
        let outside = dir + "-outside.core"
        for bad in [outside, "../x.core", "sub/x.core", ".", ".."] {
            let failed = try monitorFailure(h, "dump-guest-memory \(bad)")
            #expect(failed == "kvmdbg: no core written: this server writes cores only into its --core-dir \(dir); give a file name without '/' (got '\(bad)')\n", "\(bad)")
        }
        #expect(!FileManager.default.fileExists(atPath: outside))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["guest.core"])
    }
}
