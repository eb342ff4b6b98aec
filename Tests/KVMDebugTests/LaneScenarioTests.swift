import KVMDebugConformance
import Testing
import KVMDebugCLI
import KVMDebugCore

/// The x86 lane's scenario list (DebugScenarios.x86Lane) on the fake backend: the prediction
/// scripts/x86-lane compares kvm_amd against, so its shape is pinned here; and, where
/// this host's KVM delivers the features, the same lines on real KVM.
@Suite struct LaneScenarioTests {
    static let names = DebugScenarios.x86Lane.map(\.name)

    func run(_ name: String) throws -> (DebugScenario, ScenarioResult) {
        let s = try #require(DebugScenarios.x86Lane.first { $0.name == name })
        return (s, try s.recordOnFake())
    }

    @Test func namesAreUniqueAndNoSoftwareBreakpoints() {
        #expect(Set(Self.names).count == Self.names.count)
        #expect(!DebugScenarios.x86Lane.contains { $0.needs.contains(.softwareBreakpoint) })
        #expect(!DebugScenarios.x86Lane.contains { $0.points.contains { $0.kind == .software } })
    }

    @Test func watchWidthsReportTheSlotStartAfterTheStore() throws {
        for (name, addr) in [("long/write-watch-1", "0x2000"), ("long/write-watch-2", "0x2002"),
                             ("long/write-watch-4", "0x2004"), ("long/write-watch-8", "0x2000")] {
            let (s, r) = try run(name)
            #expect(r.end == "max-stops")
            #expect(s.canonicalLine(r).hasSuffix(Array(repeating: "(0, watchpoint, 0x100e, \(addr))", count: 4).joined(separator: ";")))
        }
    }

    @Test func watchesThatNeverMatchTimeOut() throws {
        for name in ["long/write-watch-on-load-only", "long/read-watch-store-only"] {
            let (s, r) = try run(name)
            #expect(r.stops.isEmpty)
            #expect(s.canonicalLine(r) == "scenario \(name) end=timeout stops=")
        }
    }

    @Test func perVCPUBreakpointStopsOnlyVCPU1AndHoldsBoth() throws {
        let (s, r) = try run("long/smp2-break-vcpu1")
        #expect(r.stops.count == 4)
        #expect(r.stops.allSatisfy { $0 == StopSignature(vcpu: 1, reason: "hw-breakpoint", pc: 0x1006, address: nil) })
        #expect(r.stoppedSets == [[0, 1]])
        #expect(s.canonicalLine(r).hasSuffix(" stopped=0,1"))
    }

    @Test func allStopLineHidesOnlyTheVCPU() throws {
        let (s, r) = try run("long/smp4-all-stop")
        #expect(r.stoppedSets == [[0, 1, 2, 3]])
        let line = s.canonicalLine(r)
        #expect(line == "scenario long/smp4-all-stop end=max-stops stops="
            + Array(repeating: "(*, hw-breakpoint, 0x1003)", count: 6).joined(separator: ";") + " stopped=0,1,2,3")
    }

    @Test func skipLineNamesTheReason() throws {
        let s = try #require(DebugScenarios.x86Lane.first)
        #expect(s.skipLine("write-watchpoint-broken") == "scenario \(s.name) skip=write-watchpoint-broken")
    }

    /// On this host's KVM: the same line, for the scenarios whose features really trap
    /// here (this host's PVM has no data watchpoints, and emulates CPL0 code: those run in
    /// scripts/x86-lane).
    @Test(KVMHost.required, arguments: DebugScenarios.x86Lane.filter {
        KVMHost.works($0.needs) && !($0.needsNativeCPL0 && KVMHost.availability.isPVM)
    }.map(\.name))
    func sameLineOnKVM(_ name: String) throws {
        let s = try #require(DebugScenarios.x86Lane.first { $0.name == name })
        let fake = try s.recordOnFake()
        let kvm = try s.recordOnKVM()
        #expect(s.canonicalLine(kvm) == s.canonicalLine(fake))
    }
}
