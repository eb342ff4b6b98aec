import Foundation
import Testing
import KVMDebugCore

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
}
