/// Per-vCPU debug tables with a global layer that fans out to every vCPU.
///
/// This is the answer to "how does this work for SMP?": each vCPU owns its table
/// and its hardware slots; a global point is checked against *every* vCPU's
/// slots before anything changes (all-or-nothing), and a change only marks the
/// affected vCPUs dirty. The debug state a vCPU gets is always rebuilt in full
/// from its own table, because KVM_SET_GUEST_DEBUG replaces the whole state.
public struct DebugTables: Sendable {
    public let arch: Arch
    /// Points armed on every vCPU, in insertion order.
    public private(set) var global: [DebugPoint] = []
    /// Points armed on one vCPU only, per vCPU, in insertion order.
    public private(set) var local: [[DebugPoint]]
    /// Hardware comparators per vCPU (vCPUs may differ, e.g. a VM type that reports fewer).
    public private(set) var capacity: [SlotCapacity]
    /// The encoded hardware registers per vCPU, always in step with the tables.
    public private(set) var encoded: [EncodedDebugRegisters]
    /// vCPUs whose tables changed since they last took their state (`markSynced`).
    public private(set) var dirty: [Bool]
    /// Watchpoints served by memory protection rather than a comparator (by value: every
    /// vCPU that arms the same point is served the same way). They take no slot.
    public private(set) var protected: [DebugPoint] = []

    /// Empty tables for `vcpuCount` vCPUs, each with `capacity` comparators.
    public init(arch: Arch, vcpuCount: Int, capacity: SlotCapacity) {
        self.arch = arch
        local = [[DebugPoint]](repeating: [], count: vcpuCount)
        self.capacity = [SlotCapacity](repeating: capacity, count: vcpuCount)
        let empty: EncodedDebugRegisters
        switch arch {
        case .x86_64: empty = EncodedDebugRegisters(registers: .x86(X86DebugRegisters()), slots: [])
        case .arm64: empty = EncodedDebugRegisters(registers: .arm64(Arm64DebugRegisters()), slots: [])
        }
        encoded = [EncodedDebugRegisters](repeating: empty, count: vcpuCount)
        dirty = [Bool](repeating: false, count: vcpuCount)
    }

    public var vcpuCount: Int { local.count }

    /// Every point armed on `vcpu`: the global layer first, then its own.
    public func points(on vcpu: Int) -> [DebugPoint] { global + local[vcpu] }

    /// The points on `vcpu` that hardware comparators serve (all but the protected ones).
    public func hardwarePoints(on vcpu: Int) -> [DebugPoint] {
        protected.isEmpty ? points(on: vcpu) : points(on: vcpu).filter { !protected.contains($0) }
    }

    /// What serves `point`: nil for a software breakpoint or a point not armed anywhere.
    public func mechanism(of point: DebugPoint) -> WatchMechanism? {
        guard point.usesHardwareSlot, global.contains(point) || local.contains(where: { $0.contains(point) }) else { return nil }
        return protected.contains(point) ? .protection : .hardware
    }

    /// True if `point` is armed on `vcpu` (globally or locally).
    public func isArmed(_ point: DebugPoint, on vcpu: Int) -> Bool {
        global.contains(point) || local[vcpu].contains(point)
    }

    /// All software breakpoint addresses armed anywhere (memory is shared, so one patch serves all).
    public var softwareBreakpoints: [UInt64] {
        var out: [UInt64] = []
        for p in global { if case .software(let a) = p, !out.contains(a) { out.append(a) } }
        for t in local { for p in t { if case .software(let a) = p, !out.contains(a) { out.append(a) } } }
        return out
    }

    /// True if any software breakpoint is armed anywhere (`softwareBreakpoints` without building it).
    public var hasSoftwareBreakpoints: Bool {
        func soft(_ p: DebugPoint) -> Bool { if case .software = p { return true } else { return false } }
        return global.contains(where: soft) || local.contains { $0.contains(where: soft) }
    }

    /// Changes one vCPU's comparator count (re-checks its current points; all-or-nothing).
    public mutating func setCapacity(_ c: SlotCapacity, vcpu: Int) throws(DebugError) {
        try checkVCPU(vcpu)
        let enc = try DebugEncoder.encode(hardwarePoints(on: vcpu), arch: arch, capacity: c, vcpu: vcpu)
        capacity[vcpu] = c
        commit(vcpu, enc)
    }

    /// Arms `point` on `target`. Fails whole, changing nothing, if it does not fit on any
    /// one targeted vCPU (the error names that vCPU and its limit). With `.protection` (a
    /// watch only) no comparator is used: the `Debugger` protects its pages instead.
    public mutating func insert(_ point: DebugPoint, on target: VCPUTarget,
                                mechanism: WatchMechanism = .hardware) throws(DebugError) {
        if mechanism == .protection || protected.contains(point) {
            return try insertProtected(point, on: target)
        }
        try DebugEncoder.validate(point, arch: arch)
        // Only a software point can switch the software layer on or off.
        let hadSoftware = point.usesHardwareSlot ? nil : hasSoftwareBreakpoints
        let targets = try vcpus(of: target)
        switch target {
        case .all:
            if global.contains(point) { throw .alreadyArmed(point: point, target: target) }
        case .vcpu(let v):
            if local[v].contains(point) || global.contains(point) { throw .alreadyArmed(point: point, target: target) }
        }
        // Trial-encode every target first: nothing is committed unless all fit.
        var staged: [(Int, EncodedDebugRegisters)] = []
        staged.reserveCapacity(targets.count)
        var globalPlus: [DebugPoint]? = nil
        var memo: EncodingMemo? = nil
        for v in targets {
            var pts: [DebugPoint]
            if local[v].isEmpty {
                // The common case: one shared buffer, so the memo matches at once.
                if globalPlus == nil { globalPlus = hardwareOnly(global) + [point] }
                pts = globalPlus ?? []
            } else {
                pts = hardwarePoints(on: v)
                // A global insert subsumes an identical local point on that vCPU.
                if case .all = target, let i = pts.lastIndex(of: point) { pts.remove(at: i) }
                pts.append(point)
            }
            staged.append((v, try encode(pts, vcpu: v, memo: &memo)))
        }
        switch target {
        case .all:
            for v in 0..<vcpuCount { local[v].removeAll { $0 == point } }
            global.append(point)
        case .vcpu(let v):
            local[v].append(point)
        }
        for (v, enc) in staged { commit(v, enc) }
        softwareLayerChanged(from: hadSoftware)
    }

    /// A protected watch: the same checks and layers as any point, no encoding.
    private mutating func insertProtected(_ point: DebugPoint, on target: VCPUTarget) throws(DebugError) {
        switch point {
        case .watch(let a, let l, _): try WatchPiece.checkRange(address: a, length: l, arch: arch)
        case .hardware: break  // an execute breakpoint by a code-page hole
        case .software: throw .unsupported(reason: "a software breakpoint cannot be served by memory protection")
        }
        switch target {
        case .all:
            if global.contains(point) { throw .alreadyArmed(point: point, target: target) }
            for v in 0..<vcpuCount { local[v].removeAll { $0 == point } }
            global.append(point)
        case .vcpu(let v):
            try checkVCPU(v)
            if local[v].contains(point) || global.contains(point) { throw .alreadyArmed(point: point, target: target) }
            local[v].append(point)
        }
        if !protected.contains(point) { protected.append(point) }
    }

    private func hardwareOnly(_ pts: [DebugPoint]) -> [DebugPoint] {
        protected.isEmpty ? pts : pts.filter { !protected.contains($0) }
    }

    /// Removes exactly `point` (same address, length and kind) from `target`.
    public mutating func remove(_ point: DebugPoint, from target: VCPUTarget) throws(DebugError) {
        let hadSoftware = point.usesHardwareSlot ? nil : hasSoftwareBreakpoints
        switch target {
        case .all:
            guard let i = global.firstIndex(of: point) else { throw .notArmed(point: point, target: target) }
            global.remove(at: i)
        case .vcpu(let v):
            try checkVCPU(v)
            guard let i = local[v].firstIndex(of: point) else { throw .notArmed(point: point, target: target) }
            local[v].remove(at: i)
        }
        if let i = protected.firstIndex(of: point) {
            // No slot to give back; forget the mechanism once no vCPU arms the point.
            if !global.contains(point) && !local.contains(where: { $0.contains(point) }) { protected.remove(at: i) }
            return
        }
        var memo: EncodingMemo? = nil
        for v in try vcpus(of: target) {
            // Removing never needs more slots, so re-encoding cannot fail.
            if let enc = try? encode(local[v].isEmpty ? hardwareOnly(global) : hardwarePoints(on: v), vcpu: v, memo: &memo) {
                commit(v, enc)
            }
        }
        softwareLayerChanged(from: hadSoftware)
    }

    /// Removes every point from every vCPU.
    public mutating func removeAll() {
        let hadSoftware = hasSoftwareBreakpoints
        global.removeAll()
        protected.removeAll()
        var memo: EncodingMemo? = nil
        for v in 0..<vcpuCount {
            local[v].removeAll()
            if let enc = try? encode([], vcpu: v, memo: &memo) { commit(v, enc) }
        }
        softwareLayerChanged(from: hadSoftware)
    }

    /// The hardware registers for `vcpu` with one point left out: used to step over
    /// the breakpoint the vCPU is sitting on while every other point stays armed.
    public func encoded(for vcpu: Int, without left: [DebugPoint]) -> EncodedDebugRegisters {
        guard left.contains(where: { $0.usesHardwareSlot && !protected.contains($0) }) else { return encoded[vcpu] }
        var pts = hardwarePoints(on: vcpu)
        pts.removeAll { left.contains($0) }
        return (try? DebugEncoder.encode(pts, arch: arch, capacity: capacity[vcpu], vcpu: vcpu)) ?? encoded[vcpu]
    }

    /// Records that `vcpu` took its current state.
    public mutating func markSynced(_ vcpu: Int) { dirty[vcpu] = false }

    /// Forces `vcpu` to take its state again before it next runs.
    public mutating func markDirty(_ vcpu: Int) { dirty[vcpu] = true }

    /// The whole `struct kvm_guest_debug` for `vcpu`, rebuilt from its table.
    ///
    /// - `stepping`: add SINGLESTEP (every other point stays armed).
    /// - `without`: leave these points out (stepping over what the vCPU sits on).
    /// - `blockIRQ`: add x86 BLOCKIRQ while stepping (only when SET_GUEST_DEBUG2 advertises it).
    public func guestDebugState(for vcpu: Int, stepping: Bool, without left: [DebugPoint] = [],
                                blockIRQ: Bool = false) -> GuestDebugState {
        guestDebugState(for: vcpu, stepping: stepping, encoded: encoded(for: vcpu, without: left), blockIRQ: blockIRQ)
    }

    /// The whole `struct kvm_guest_debug` for `vcpu` around registers already encoded
    /// (`encoded(for:without:)`), so a caller that keeps the layout encodes once.
    public func guestDebugState(for vcpu: Int, stepping: Bool, encoded enc: EncodedDebugRegisters,
                                blockIRQ: Bool = false) -> GuestDebugState {
        let software = hasSoftwareBreakpoints
        if !stepping && !software && enc.slots.isEmpty { return .disabled(arch) }
        var control: GuestDebugControl = [.enable]
        if stepping { control.insert(.singleStep) }
        switch arch {
        case .x86_64:
            // USE_HW_BP even with no slot in use: the host DR7 then fully replaces the
            // guest's, so the guest's own DRs cannot produce exits we would misread.
            control.insert(.x86UseHardwareBreakpoints)
            if software { control.insert(.x86UseSoftwareBreakpoints) }
            if stepping && blockIRQ { control.insert(.x86BlockIRQ) }
        case .arm64:
            control.insert(.arm64UseHardware)
            if software { control.insert(.arm64UseSoftwareBreakpoints) }
        }
        return GuestDebugState(control: control, registers: enc.registers)
    }

    /// The last encoding made in one table change, for the next vCPU with the same inputs.
    private struct EncodingMemo {
        var points: [DebugPoint]
        var capacity: SlotCapacity
        var encoded: EncodedDebugRegisters
    }

    /// Encodes `points` for `vcpu`, reusing the previous vCPU's result when its points and
    /// capacity were the same: a global change over N alike vCPUs encodes once, and they
    /// share one copy-on-write layout. (`vcpu` only names the vCPU in a no-free-slot error,
    /// and the first vCPU with given inputs is always encoded, so errors are unchanged.)
    private func encode(_ points: [DebugPoint], vcpu v: Int, memo: inout EncodingMemo?) throws(DebugError) -> EncodedDebugRegisters {
        if let m = memo, m.capacity == capacity[v], m.points == points { return m.encoded }
        let enc = try DebugEncoder.encode(points, arch: arch, capacity: capacity[v], vcpu: v)
        memo = EncodingMemo(points: points, capacity: capacity[v], encoded: enc)
        return enc
    }

    private mutating func commit(_ v: Int, _ enc: EncodedDebugRegisters) {
        dirty[v] = true
        encoded[v] = enc
    }

    /// Software breakpoints live in shared memory, so every vCPU must intercept
    /// #BP / BRK once the first one is patched in, and stop when the last goes.
    private mutating func softwareLayerChanged(from had: Bool?) {
        if let had, had != hasSoftwareBreakpoints {
            for v in 0..<vcpuCount { dirty[v] = true }
        }
    }

    private func checkVCPU(_ v: Int) throws(DebugError) {
        if v < 0 || v >= vcpuCount { throw .noSuchVCPU(index: v, count: vcpuCount) }
    }

    private func vcpus(of target: VCPUTarget) throws(DebugError) -> [Int] {
        switch target {
        case .all: return Array(0..<vcpuCount)
        case .vcpu(let v):
            try checkVCPU(v)
            return [v]
        }
    }
}
