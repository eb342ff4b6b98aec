import KVMDebugCore
import KVMTestSupport
import KVMDebugFake
import Testing

/// The conformance runner on the fake backend: the lines the arm64 lane compares real
/// KVM against, checked by hand for a few scenarios.
@Suite struct ConformanceRunnerTests {
    func lines(_ name: String) throws -> [String] {
        let s = try #require(ConformanceScenarios.arm64.first { $0.name == name }, "no scenario \(name)")
        var out: [String] = []
        let ok = ConformanceRunner.run(s, emit: { out.append($0) }) { (g, n) throws(DebugError) -> FakeBackend in try boundedFake(g, vcpus: n) }
        #expect(ok)
        return out
    }

    func hw(_ pc: String, vcpu: Int = 0) -> String { "vcpu=\(vcpu) reason=hw-breakpoint pc=\(pc) addr=- ec=0x30" }
    func step(_ pc: String) -> String { "vcpu=0 reason=single-step pc=\(pc) addr=- ec=0x32" }
    func watch(_ pc: String, _ far: String, vcpu: Int = 0) -> String { "vcpu=\(vcpu) reason=watchpoint pc=\(pc) addr=\(far) ec=0x34" }
    func brk(_ pc: String) -> String { "vcpu=0 reason=sw-breakpoint pc=\(pc) addr=- ec=0x3c" }

    @Test func listIsWellFormed() {
        let all = ConformanceScenarios.arm64
        #expect(Set(all.map(\.name)).count == all.count, "scenario names are unique")
        #expect(all.allSatisfy { $0.arch == .arm64 && !$0.name.contains(" ") })
        #expect(all.filter { $0.name.hasPrefix("bas/") }.count == 3 * (8 + 7 + 5 + 1))
        #expect(all.contains { $0.vcpus >= 2 && $0.points.contains { $0.1 == .vcpu(1) } })
    }

    @Test func everyScenarioEndsAsPlannedOnTheFake() {
        var out: [String] = []
        let errors = ConformanceRunner.runAll(ConformanceScenarios.arm64, emit: { out.append($0) }) { (g, n) throws(DebugError) -> FakeBackend in try boundedFake(g, vcpus: n) }
        #expect(errors == 0)
        #expect(out.first == "@@begin \(ConformanceScenarios.arm64.count)")
        #expect(out.last == "@@end \(ConformanceScenarios.arm64.count)")
        let ends = out.filter { $0.contains(" end=") }
        #expect(ends.count == ConformanceScenarios.arm64.count - 1)  // all but probe/capabilities
        #expect(ends.allSatisfy { $0.contains("end=max-stops") || $0.contains("end=steps-done") }, "\(ends.filter { !$0.contains("end=max-stops") && !$0.contains("end=steps-done") })")
    }

    @Test func breakFour() throws {
        #expect(try lines("arm64/break-four") == [
            hw("0x1000c"), hw("0x10010"), hw("0x10014"), hw("0x10018"),
            hw("0x1000c"), hw("0x10010"), hw("0x10014"), hw("0x10018"),
            "end=max-stops stops=8",
        ])
    }

    @Test func twoByteWatchAtOffset3() throws {
        // Bytes 3-4 of 0x11000 (BAS 0x18): strb @3, strb @4, strh @2, strh @4, str w @0,
        // str w @4, str x; FAR = max(access, first watched byte) (QEMU's model).
        #expect(try lines("bas/w/len2@3") == [
            watch("0x1001c", "0x11003"), watch("0x10020", "0x11004"), watch("0x10034", "0x11003"),
            watch("0x10038", "0x11004"), watch("0x10040", "0x11003"), watch("0x10044", "0x11004"),
            watch("0x10048", "0x11003"), watch("0x1001c", "0x11003"),
            "end=max-stops stops=8",
        ])
    }

    @Test func branchesTakenAndNotTaken() throws {
        #expect(try lines("step/branches-from-entry") == [
            step("0x10004"), step("0x10008"), step("0x1000c"),
            step("0x10014"),  // b.ne taken (x0 = 1)
            step("0x10018"),  // cbz not taken
            step("0x10020"),  // cbnz taken
            step("0x10004"), step("0x10008"), step("0x1000c"),
            step("0x10010"),  // b.ne not taken (x0 = 2)
            step("0x10014"), step("0x10018"), step("0x10020"), step("0x10004"),
            "end=steps-done stops=14",
        ])
    }

    @Test func guestBRKHandedBack() throws {
        #expect(try lines("brk/guest-own-handed-back") == [
            brk("0x10018"), hw("0x10a00"), brk("0x10018"), hw("0x10a00"), brk("0x10018"),
            "end=max-stops stops=5 x0=0x3 x5=0x2 x6=0x2 esr_el1=0xf2000042 elr_el1=0x1001c spsr_el1=0x3c5 vbar_el1=0x10800 pstate=0x3c5",
        ])
    }

    @Test func breakpointOnVCPU1Only() throws {
        #expect(try lines("smp/break-vcpu1-only") == [
            hw("0x10010", vcpu: 1), hw("0x10018", vcpu: 0), hw("0x10018", vcpu: 1), hw("0x10018", vcpu: 0),
            hw("0x10010", vcpu: 1), hw("0x10018", vcpu: 0), hw("0x10018", vcpu: 1), hw("0x10018", vcpu: 0),
            "end=max-stops stops=8",
        ])
    }

    @Test func capabilities() throws {
        #expect(try lines("probe/capabilities") == ["caps set-guest-debug=1 hw-bps=6 hw-wps=4 debug2=0x30003"])
    }
}
