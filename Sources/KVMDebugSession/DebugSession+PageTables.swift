import KVMDebugModel

/// The whole of a vCPU's page tables, and the guest's RAM: what `monitor info mem`,
/// `monitor info tlb` and GDB's memory map are built from.
extension DebugSession {
    /// Visits every leaf of `vcpu`'s page tables (its registers of this stop), lowest virtual
    /// address first, until `visit` returns false; tables are read whole from guest-physical
    /// memory (x86: `X86PageMap`, Intel SDM vol. 3 ch. 4; arm64: `Arm64PageMap`, Arm ARM D8).
    /// With translation off or `physicalMode` on, nothing is visited and `paging` is false.
    public func scanPageTables(vcpu: Int, budget: PageTableBudget = PageTableBudget(),
                               _ visit: (PageMapping) -> Bool) throws(DebugError) -> PageTableScan {
        if vcpu < 0 || vcpu >= vcpuCount { throw .noSuchVCPU(index: vcpu, count: vcpuCount) }
        if physicalMode { return PageTableScan(scheme: "physical mode (monitor phys on), identity", paging: false) }
        let b = backend
        // The tables as the guest wrote them: page tables never carry our patches.
        func read(_ pa: UInt64, _ n: Int) throws(DebugError) -> [UInt8] { try b.readMemory(pa, count: n) }
        var spent = budget
        switch try registers(vcpu: vcpu) {
        case .x86_64(let r): return X86PageMap.scan(registers: r, budget: &spent, readTable: read, visit: visit)
        case .arm64(let r): return Arm64PageMap.scan(registers: r, budget: &spent, readTable: read, visit: visit)
        }
    }

    /// Guest-physical RAM as the backend knows it; nil when it does not.
    public var ramRegions: [RAMRegion]? { backend.ramRegions }
}
