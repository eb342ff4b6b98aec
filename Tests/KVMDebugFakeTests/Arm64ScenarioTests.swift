import KVMDebugConformance
import KVMDebugCore
import KVMTestSupport
import KVMDebugFake
import Testing

/// The arm64 lane's scenarios on the fake backend, run by `GuestRunner` as the lane runs
/// them on real KVM: a few lines worked out by hand from the guests' code. (Every
/// scenario's exact line is pinned in Tests/Fixtures/fake-stops.golden.)
@Suite struct Arm64ScenarioTests {
    func line(_ name: String) throws -> String {
        let s = try #require(DebugScenarios.arm64.first { $0.name == name }, "no scenario \(name)")
        return s.canonicalLine(try s.record(make: { (g, n) throws(DebugError) in try boundedFake(g, vcpus: n) }))
    }

    func hw(_ pc: String, vcpu: Int = 0) -> String { "(\(vcpu), hw-breakpoint, \(pc))" }
    func step(_ pc: String) -> String { "(0, single-step, \(pc))" }
    func watch(_ pc: String, _ far: String, vcpu: Int = 0) -> String { "(\(vcpu), watchpoint, \(pc), \(far))" }
    func brk(_ pc: String) -> String { "(0, sw-breakpoint, \(pc))" }
    func stops(_ s: [String]) -> String { s.joined(separator: ";") }

    @Test func listIsWellFormed() {
        let all = DebugScenarios.arm64
        #expect(Set(all.map(\.name)).count == all.count, "scenario names are unique")
        #expect(all.allSatisfy { $0.arch == .arm64 && !$0.name.contains(" ") })
        #expect(all.filter { $0.name.hasPrefix("bas/") }.count == 3 * (8 + 7 + 5 + 1))
        #expect(all.contains { $0.vcpus >= 2 && $0.points.contains { $0.target == .vcpu(1) } })
        // SMP scenarios run one vCPU at a time: the same stop order on every backend.
        #expect(all.filter { $0.vcpus > 1 }.allSatisfy { $0.order == [1, 0] })
    }

    @Test func breakFour() throws {
        let four = [hw("0x1000c"), hw("0x10010"), hw("0x10014"), hw("0x10018")]
        #expect(try line("arm64/break-four") == "scenario arm64/break-four end=max-stops stops=" + stops(four + four))
    }

    @Test func twoByteWatchAtOffset3() throws {
        // Bytes 3-4 of 0x11000 (BAS 0x18): strb @3, strb @4, strh @2, strh @4, str w @0,
        // str w @4, str x; FAR = max(access, first watched byte) (QEMU's model).
        #expect(try line("bas/w/len2@3") == "scenario bas/w/len2@3 end=max-stops stops=" + stops([
            watch("0x1001c", "0x11003"), watch("0x10020", "0x11004"), watch("0x10034", "0x11003"),
            watch("0x10038", "0x11004"), watch("0x10040", "0x11003"), watch("0x10044", "0x11004"),
            watch("0x10048", "0x11003"), watch("0x1001c", "0x11003"),
        ]))
    }

    @Test func branchesTakenAndNotTaken() throws {
        #expect(try line("step/branches-from-entry") == "scenario step/branches-from-entry end=steps-done stops=" + stops([
            step("0x10004"), step("0x10008"), step("0x1000c"),
            step("0x10014"),  // b.ne taken (x0 = 1)
            step("0x10018"),  // cbz not taken
            step("0x10020"),  // cbnz taken
            step("0x10004"), step("0x10008"), step("0x1000c"),
            step("0x10010"),  // b.ne not taken (x0 = 2)
            step("0x10014"), step("0x10018"), step("0x10020"), step("0x10004"),
        ]))
    }

    @Test func guestBRKHandedBack() throws {
        #expect(try line("brk/guest-own-handed-back") == "scenario brk/guest-own-handed-back end=max-stops stops="
            + stops([brk("0x10018"), hw("0x10a00"), brk("0x10018"), hw("0x10a00"), brk("0x10018")])
            + " x0=0x3 x5=0x2 x6=0x2 esr_el1=0xf2000042 elr_el1=0x1001c spsr_el1=0x3c5 vbar_el1=0x10800 pstate=0x3c5")
    }

    @Test func breakpointOnVCPU1Only() throws {
        // One vCPU at a time, vCPU 1 first: 1 at store, 0 at jump, 1 at jump, 0 at jump, again.
        let round = [hw("0x10010", vcpu: 1), hw("0x10018", vcpu: 0), hw("0x10018", vcpu: 1), hw("0x10018", vcpu: 0)]
        #expect(try line("smp/break-vcpu1-only") == "scenario smp/break-vcpu1-only end=max-stops stops=" + stops(round + round) + " stopped=0,1")
    }

    @Test func capabilities() throws {
        #expect(try line("probe/capabilities") == "scenario probe/capabilities caps set-guest-debug=1 hw-bps=6 hw-wps=4 debug2=0x30003")
    }

    @Test func highestSlotsAreFilledFirst() throws {
        // Five fillers (0x1f000..) take breakpoint slots 0-4, `load` slot 5: it still fires.
        let s = try #require(DebugScenarios.arm64.first { $0.name == "slots/break-highest" })
        let g = try s.makeGuest()
        let plan = try s.plan(for: g, capabilities: try boundedFake(g).capabilities)
        #expect(plan.points.map(\.text) == ["filler", "filler", "filler", "filler", "filler", "load"])
        #expect(try line("slots/break-highest") == "scenario slots/break-highest end=max-stops stops=" + stops([hw("0x10014"), hw("0x10014"), hw("0x10014")]))
    }
}

extension Arm64ScenarioTests {
    @Test func anOrderNamingAMissingVCPUIsRefusedBeforeAnythingRuns() throws {
        let g = try DebugScenarios.arm64[0].makeGuest()
        let b = try boundedFake(g, vcpus: 2)
        let runner = GuestRunner(debugger: Debugger(backend: b))
        var plan = RunPlan()
        plan.points = [PointSpec(point: .hardware(address: 0x1000c), target: .all, text: "loop")]
        plan.vcpuOrder = [0, 2]
        #expect(thrownError { () throws(DebugError) in try runner.run(plan, emit: { _ in }) } == .noSuchVCPU(index: 2, count: 2))
        #expect(b.trace.isEmpty, "nothing armed, nothing run: \(b.trace)")
    }

    @Test func oneAtATimeResumesOnlyTheVCPUWhoseTurnItIs() throws {
        // smp-counter, a breakpoint at `store` on both vCPUs, order [1, 0]: 1 stops first,
        // then 0, alternately, every stop with both vCPUs held.
        let g = try ScenarioGuest.smpCounter.make(arch: .arm64, mode: nil)
        let store = try #require(g.symbol("store")).address
        let runner = GuestRunner(debugger: Debugger(backend: try boundedFake(g, vcpus: 2)))
        var plan = RunPlan()
        plan.points = [PointSpec(point: .hardware(address: store), target: .all, text: "store")]
        plan.vcpuOrder = [1, 0]
        plan.maxStops = 5
        var stops: [ReportedStop] = []
        let end = try runner.run(plan) { if case .stop(let s) = $0 { stops.append(s) } }
        #expect(end.reason == "max-stops")
        #expect(stops.map(\.stop.vcpu) == [1, 0, 1, 0, 1])
        #expect(stops.allSatisfy { $0.stop.pc == store && $0.stopped == [0, 1] })
    }
}
