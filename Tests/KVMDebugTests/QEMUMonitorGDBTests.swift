import Foundation
import Testing
import KVMDebugCore

// The real gdb against `kvmdbg gdbserver --guest paged-counter`, on the fake and on this host's
// KVM: QEMU's `monitor info mem` and `monitor gva2gpa`, gdb's `find` served by one
// `qSearch:memory` packet instead of reading the range through `m` packets, and stepping with
// QEMU's NOIRQ step flag off and on (KVM accepts the control word with BLOCKIRQ and without).

enum QEMUMonitorScenarios {
    /// Stops at `inner` (the guest's own CR3 loaded), then asks for the map, two translations and a search.
    static func infoMemGva2gpaAndFind(_ t: GDBGuest) throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-qemu-\(getpid())-\(t.backend).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let (_, r) = try gdbSession(t, guest: "paged-counter", extraServerArgs: ["--log-packets", log], commands: [
            "hbreak *0xffffffff8000004d", "continue", "monitor info mem",
            "monitor gva2gpa 0xffffffff80001008", "monitor gva2gpa 0xffffffff80003000",
            "find /g 0xffffffff80001000, +0x2000, 0x1122334455667788",
            "find /b 0xffffffff80000000, +0x1000, 0x48, 0xff, 0x05",
            // QEMU's step flags: NOIRQ (KVM_GUESTDBG_BLOCKIRQ) off for one step, on for the next.
            "maint packet Qqemu.sstepbits", "maint packet Qqemu.sstep=1", "stepi", "maint packet qqemu.sstep",
            "maint packet Qqemu.sstep=3", "stepi", "maint packet qqemu.sstep", "p/x $pc", "kill"])
        // Batch gdb prints monitor output on stderr, gdb's own reports on stdout.
        let expected = [
            "0000000000000000-0000000000200000 0000000000200000 -rw",
            "ffffffff80000000-ffffffff80001000 0000000000001000 -r-",
            "ffffffff80001000-ffffffff80002000 0000000000001000 -rw",
            "ffffffff80002000-ffffffff80003000 0000000000001000 urw",
            "ffffffffc0000000-ffffffffc0200000 0000000000200000 -rw",
        ].joined(separator: "\n") + "\n"
        #expect(r.stderr.contains(expected), "monitor info mem in QEMU's format: \(r)")
        #expect(r.stderr.contains("gpa: 0x3008\n") && r.stderr.contains("Unmapped (PTE not present)\n"), "\(r)")
        #expect(r.stdout.contains("0xffffffff80001008\n1 pattern found."), "find /g: \(r)")
        #expect(r.stdout.contains("0xffffffff8000004d\n1 pattern found."), "find /b (inc qword [rip+..] at inner): \(r)")
        #expect(!r.stderr.contains("Protocol error") && !r.stderr.contains("Cannot access memory"), "\(r)")
        // The fake models this host's SET_GUEST_DEBUG2 mask (0x1F0003, with BLOCKIRQ); a kernel
        // without BLOCKIRQ offers ENABLE alone and refuses NOIRQ with the reason.
        let offered = r.stdout.contains("received: \"ENABLE=1,NOIRQ=2\"")
        #expect(offered || t.backend == "kvm", "\(r)")
        if offered {
            #expect(r.stdout.contains("received: \"0x1\"") && r.stdout.contains("received: \"0x3\""), "\(r)")
        } else {
            #expect(r.stdout.contains("received: \"ENABLE=1\"") && r.stdout.contains("KVM_GUESTDBG_BLOCKIRQ"), "\(r)")
        }
        #expect(r.printedHex == [0xFFFF_FFFF_8000_005B], "two steps from inner, with and without BLOCKIRQ: \(r)")
        // The searches went to the server: a qSearch each, and not one page of m packets for them.
        let packets = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let searches = packets.components(separatedBy: "\n").filter { $0.hasPrefix("<- qSearch:memory:") }
        #expect(searches.count >= 2, "gdb used qSearch:memory: \(searches)")
        let reads = packets.components(separatedBy: "\n").filter { $0.hasPrefix("<- m") }
        #expect(reads.count < 20, "\(reads.count) m packets for a session with two finds over 12 KiB")
    }

    /// `--memory-map`: gdb reads the map and lists it as the target's; without it, gdb has none.
    static func memoryMap(_ t: GDBGuest) throws {
        let (_, with) = try gdbSession(t, guest: "counter", extraServerArgs: ["--memory-map"], commands: ["info mem", "x/xg 0x2008"])
        #expect(with.stdout.contains("Using memory regions provided by the target."), "\(with)")
        // The long-mode counter runs on kvmdbg's boot tables: the first GiB, identity-mapped.
        #expect(with.matches(#"(?m)^0\s+y\s+0x0000000000000000 0x0000000040000000 rw nocache\s*$"#), "\(with)")
        #expect(with.stdout.contains("0x1122334455667788"), "memory inside the map reads: \(with)")
        let (_, without) = try gdbSession(t, guest: "counter", commands: ["info mem"])
        #expect(without.stdout.contains("There are no memory regions defined."), "\(without)")
        // paged-counter loads its own tables after gdb read the map: the stop says so, and gdb
        // reads outside the old map once told to.
        let (_, stale) = try gdbSession(t, guest: "paged-counter", extraServerArgs: ["--memory-map"], commands: [
            "hbreak *0xffffffff8000004d", "continue", "x/xg 0xffffffff80001008",
            "set mem inaccessible-by-default off", "x/xg 0xffffffff80001008"])
        #expect(stale.stdout.contains("kvmdbg: vCPU 0's address space changed since gdb read the memory map")
                || stale.stderr.contains("kvmdbg: vCPU 0's address space changed since gdb read the memory map"), "\(stale)")
        #expect(stale.stderr.contains("Cannot access memory at address 0xffffffff80001008"), "\(stale)")
        #expect(stale.stdout.contains("0xffffffff80001008:\t0x1122334455667788"), "\(stale)")
    }
}

@Suite(.serialized) struct QEMUMonitorGDBTests {
    @Suite(.serialized, GDBClient.gdb.required)
    struct OnTheFake {
        @Test func infoMemGva2gpaAndFind() throws { try QEMUMonitorScenarios.infoMemGva2gpaAndFind(GDBGuest.x86("fake")) }
        @Test func memoryMap() throws { try QEMUMonitorScenarios.memoryMap(GDBGuest.x86("fake")) }
    }

    @Suite(.serialized, KVMHost.required, GDBClient.gdb.required)
    struct OnKVM {
        @Test func infoMemGva2gpaAndFind() throws { try QEMUMonitorScenarios.infoMemGva2gpaAndFind(GDBGuest.x86("kvm")) }
    }
}
