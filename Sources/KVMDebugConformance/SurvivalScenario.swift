import KVMDebugCore

/// A `.survive` scenario's run and line words. The guest keeps the survival contract
/// (`SurvivalGuest`); the host's rounds are `GuestRunner.survive`.
extension DebugScenario {
    /// The survival plan for `g`: the contract's symbols resolved, `survival`'s settings.
    public func survivalPlan(for g: Guest) throws(DebugError) -> SurvivalPlan {
        func at(_ name: String) throws(DebugError) -> UInt64 {
            guard let s = g.symbol(name) else {
                throw .unsupported(reason: "guest \(g.name) lacks the survival contract's symbol '\(name)'")
            }
            return s.address
        }
        var p = SurvivalPlan(work: try at("work"), tick: try at("tick"), release: try at("release"), done: try at("done"),
                             result: try at("result"), probe: try at("probe"), expect: try at("expect"))
        p.rounds = survival.rounds
        p.steps = survival.steps
        p.entrySteps = survival.entrySteps
        p.hostWrite = survival.hostWrite
        p.clobber = survival.clobber
        p.timeout = max(timeout, 20)
        return p
    }

    func recordSurvival<B: DebugBackend>(_ runner: GuestRunner<B>, guest g: Guest) throws(DebugError) -> ScenarioResult {
        let report = try runner.survive(survivalPlan(for: g))
        var r = ScenarioResult(stops: report.stops.map(StopSignature.init), stoppedSets: [[0]], end: report.end,
                               setGuestDebugCalls: runner.debugger.totalSetGuestDebugCalls)
        r.survival = report
        return r
    }

    /// `result=0x0 probe=match` (every register as the guest wrote it, the host's write seen),
    /// plus `differs=NAME,...` naming the registers of a non-zero result and `detached=...` for
    /// anything a detached run reported.
    func survivalWords(_ s: SurvivalReport) -> String {
        var w = "result=" + (s.result.map { hex($0) } ?? "-")
        var probe = "-"
        if let p = s.probe, let want = survival.hostWrite?.value { probe = p == want ? "match" : "0x" + String(p, radix: 16) }
        w += " probe=" + probe
        if let res = s.result, res != 0 { w += " differs=" + SurvivalGuest.mismatches(res, arch: arch).joined(separator: ",") }
        if !s.detachedEvents.isEmpty { w += " detached=" + s.detachedEvents.joined(separator: ",") }
        return w
    }
}
