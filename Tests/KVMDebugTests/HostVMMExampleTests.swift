import Foundation
import Testing
import KVMDebugCore
import KVMTestSupport

/// examples/host-vmm: a VMM that owns its VM and hands its vCPU fd to kvmdbg.
/// Exit 0 = the stops matched, 1 = failure, 77 = skipped (no usable /dev/kvm).
@Suite(.serialized) struct HostVMMExampleTests {
    @Test(KVMHost.required) func adoptsTheVMMsVCPUAndCatchesThreeStops() throws {
        let r = try runTool("host-vmm", [], timeout: 20)
        if r.status == 77 {
            Issue.record("host-vmm skipped itself (exit 77) although /dev/kvm is usable here (\(KVMHost.availability.detail)): \(r)")
            return
        }
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("host-vmm: OK"), "\(r)")
        // Its slot table handed over: a protection watch stops, and the slots are as the VMM made them.
        #expect(r.stdout.contains("host-vmm: protection OK"), "\(r)")
        #expect(r.stdout.contains("kvmdbg asks to hold page 0x2000 of slot 0 read-only: yes"), "\(r)")
        let hits = r.lines.filter { $0.hasPrefix("host-vmm: hit ") }
        #expect(hits.count == 3, "\(r)")
        for (i, line) in hits.enumerated() {
            #expect(line.hasPrefix("host-vmm: hit \(i + 1): vCPU 0 hw-breakpoint at 0x1001 slot 0, counter in guest memory = "), "\(line)")
        }
        #expect(r.lines.contains { $0.hasPrefix("host-vmm: interrupted the running guest through SIGUSR2 at pc 0x100") }, "\(r)")
        #expect(!r.stdout.contains("FAIL"), "\(r)")
    }

    @Test(.enabled(if: !KVMHost.usable, "/dev/kvm is usable here, so host-vmm runs instead of skipping; the exit-77 path needs a host without KVM"))
    func skipsWithExit77WithoutKVM() throws {
        let r = try runTool("host-vmm", [], timeout: 20)
        #expect(r.status == 77, "\(r)")
        #expect(r.stdout.contains("host-vmm: skip"), "\(r)")
    }

    /// `host-vmm --gdb`: the VMM's own vCPU fd served to the real gdb through KVMDebugGDB.
    @Test(KVMHost.required) func servesItsVCPUToGDB() throws {
        let path = try #require(BuiltTool.path("host-vmm"), BuiltTool.missing("host-vmm"))
        let c = try startCollected(path, ["--gdb", "127.0.0.1:0"])
        let (p, out, err) = (c.process, c.stdout, c.stderr)
        defer { endProcess(p) }
        let text = try #require(out.wait(timeout: 20) { $0.contains("host-vmm: gdb server on ") }, "no listen line: \(out.text) \(err.text)")
        let address = try #require(text.split(separator: "\n").first { $0.hasPrefix("host-vmm: gdb server on ") }?
            .dropFirst("host-vmm: gdb server on ".count))
        let r = try runGDB(.gdb, commands: ["target remote \(address)", "hbreak *0x1001", "continue", "continue",
                                            "x/1xh 0x2000", "p/x $pc", "kill"])
        #expect(r.captures(#"Breakpoint 1, (0x[0-9a-f]+) in"#) == ["0x0000000000001001", "0x0000000000001001"], "\(r)")
        // Two stores happened in guest memory the VMM owns: the counter read through gdb is 1.
        #expect(r.matches(#"0x2000:\s+0x0001"#), "\(r)")
        #expect(r.printedHex == [0x1001], "\(r)")
        // Served through `serve(session:options:driver:)`, as `kvmdbg gdbserver` is: the guest's own
        // int3 is handed back on continue (host-vmm's own assembly once left it re-reported).
        #expect(out.wait(timeout: 10) { $0.contains("host-vmm: gdb server ended (killed); guest's own breakpoints: handBackToGuest") } != nil,
                "\(out.text)")
    }
}

