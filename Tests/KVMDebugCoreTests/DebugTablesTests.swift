import Testing
import KVMDebugCore
@testable import KVMDebugModel

/// Per-vCPU capacity, the global layer and all-or-nothing updates.
@Suite struct DebugTablesTests {
    let x = DebugPoint.hardware(address: 0x1000)

    @Test func globalPointFansOutToEveryVCPU() throws {
        var t = DebugTables(arch: .x86_64, vcpuCount: 4, capacity: .x86)
        try t.insert(x, on: .all)
        for v in 0..<4 {
            #expect(t.points(on: v) == [x])
            #expect(t.encoded[v].slots.count == 1)
            #expect(t.dirty[v])
        }
    }

    @Test func localPointStaysOnItsVCPU() throws {
        var t = DebugTables(arch: .x86_64, vcpuCount: 3, capacity: .x86)
        try t.insert(x, on: .vcpu(2))
        #expect(t.points(on: 2) == [x])
        #expect(t.points(on: 0).isEmpty)
        #expect(t.dirty == [false, false, true])
        #expect(t.encoded[0].slots.isEmpty)
    }

    /// (capacity per vCPU, local points already on vCPU 1, global insert succeeds?)
    @Test(arguments: [
        (4, 0, true), (4, 3, true), (4, 4, false), (2, 1, true), (2, 2, false), (1, 1, false),
    ])
    func globalInsertChecksEachVCPUsSlots(capacity: Int, localOnVCPU1: Int, fits: Bool) throws {
        var t = DebugTables(arch: .x86_64, vcpuCount: 3, capacity: SlotCapacity(breakpoints: capacity, watchpoints: capacity))
        for i in 0..<localOnVCPU1 { try t.insert(.hardware(address: 0x2000 + UInt64(i)), on: .vcpu(1)) }
        let before = (t.global, t.local, t.encoded)
        for v in 0..<3 { t.markSynced(v) }
        do {
            try t.insert(x, on: .all)
            #expect(fits)
            #expect(t.points(on: 0) == [x] && t.points(on: 2) == [x])
        } catch let e {
            #expect(!fits)
            #expect(e == .noFreeSlot(vcpu: 1, kind: .debugRegister, capacity: capacity, needed: localOnVCPU1 + 1))
            #expect(e.message.contains("vCPU 1"))
            // All-or-nothing: no vCPU changed, none marked dirty.
            #expect(t.global == before.0 && t.local == before.1 && t.encoded == before.2)
            #expect(t.dirty == [false, false, false])
        }
    }

    @Test func vcpusMayHaveDifferentCapacities() throws {
        var t = DebugTables(arch: .arm64, vcpuCount: 2, capacity: SlotCapacity(breakpoints: 6, watchpoints: 4))
        try t.setCapacity(SlotCapacity(breakpoints: 2, watchpoints: 1), vcpu: 1)
        try t.insert(.watch(address: 0x11000, length: 8, kind: .write), on: .all)
        #expect(throws: DebugError.noFreeSlot(vcpu: 1, kind: .watchpoint, capacity: 1, needed: 2)) {
            try t.insert(.watch(address: 0x11008, length: 8, kind: .read), on: .all)
        }
        // The same point fits on vCPU 0 alone.
        try t.insert(.watch(address: 0x11008, length: 8, kind: .read), on: .vcpu(0))
        #expect(t.points(on: 0).count == 2 && t.points(on: 1).count == 1)
    }

    @Test func removalMatchesExactly() throws {
        var t = DebugTables(arch: .x86_64, vcpuCount: 1, capacity: .x86)
        let w8 = DebugPoint.watch(address: 0x2000, length: 8, kind: .write)
        try t.insert(w8, on: .all)
        #expect(throws: DebugError.notArmed(point: .watch(address: 0x2000, length: 4, kind: .write), target: .all)) {
            try t.remove(.watch(address: 0x2000, length: 4, kind: .write), from: .all)
        }
        #expect(throws: DebugError.notArmed(point: .watch(address: 0x2000, length: 8, kind: .access), target: .all)) {
            try t.remove(.watch(address: 0x2000, length: 8, kind: .access), from: .all)
        }
        #expect(throws: DebugError.notArmed(point: w8, target: .vcpu(0))) { try t.remove(w8, from: .vcpu(0)) }
        try t.remove(w8, from: .all)
        #expect(t.points(on: 0).isEmpty)
    }

    @Test func duplicateAndBadVCPUAreRefused() throws {
        var t = DebugTables(arch: .x86_64, vcpuCount: 2, capacity: .x86)
        try t.insert(x, on: .all)
        #expect(throws: DebugError.alreadyArmed(point: x, target: .vcpu(1))) { try t.insert(x, on: .vcpu(1)) }
        #expect(throws: DebugError.noSuchVCPU(index: 5, count: 2)) { try t.insert(.hardware(address: 1), on: .vcpu(5)) }
    }

    @Test func badPointIsRejectedBeforeAnyChange() throws {
        var t = DebugTables(arch: .arm64, vcpuCount: 2, capacity: .arm64Max)
        #expect(throws: DebugError.misaligned(address: 0x10002, alignment: 4, what: "arm64 breakpoint")) {
            try t.insert(.hardware(address: 0x10002), on: .all)
        }
        #expect(t.global.isEmpty && t.dirty == [false, false])
    }

    @Test func softwareLayerMarksEveryVCPUDirtyOnlyWhenItAppearsOrGoes() throws {
        var t = DebugTables(arch: .x86_64, vcpuCount: 3, capacity: .x86)
        try t.insert(.software(address: 0x1000), on: .vcpu(0))
        #expect(t.dirty == [true, true, true])  // USE_SW_BP now needed on every vCPU
        for v in 0..<3 { t.markSynced(v) }
        try t.insert(.software(address: 0x1004), on: .vcpu(0))
        #expect(t.dirty == [true, false, false])
        #expect(t.guestDebugState(for: 2, stepping: false).control == [.enable, .x86UseHardwareBreakpoints, .x86UseSoftwareBreakpoints])
    }

    @Test func stateIsRebuiltInFullAndStepKeepsOtherPoints() throws {
        var t = DebugTables(arch: .x86_64, vcpuCount: 1, capacity: .x86)
        let a = DebugPoint.hardware(address: 0x1000), w = DebugPoint.watch(address: 0x2000, length: 8, kind: .write)
        try t.insert(a, on: .all)
        try t.insert(w, on: .all)
        let full = t.guestDebugState(for: 0, stepping: true, blockIRQ: true)
        #expect(full.control == [.enable, .singleStep, .x86UseHardwareBreakpoints, .x86BlockIRQ])
        guard case .x86(let r) = full.registers else { Issue.record("not x86"); return }
        #expect(r.dr7 & 0xFF == 0b0101)  // both slots enabled while stepping
        // Stepping over `a` leaves only `w` armed, in a whole new state.
        guard case .x86(let r2) = t.guestDebugState(for: 0, stepping: true, without: [a]).registers else { return }
        #expect(r2.dr7 & 0xFF == 0b0001 && r2.address[0] == 0x2000)
        #expect(t.guestDebugState(for: 0, stepping: false) != full)
        t.removeAll()
        #expect(t.guestDebugState(for: 0, stepping: false) == .disabled(.x86_64))
    }
}
