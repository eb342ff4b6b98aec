import KVMDebugCore
import KVMDebugFake

/// One row of section 2: inserting and removing a global breakpoint over `vcpus` vCPUs.
struct TableRow: Codable {
    var backend: String
    var vcpus: Int
    /// Time per update (one insert or one remove of a global breakpoint), per repetition.
    var updateMicroseconds: Summary
    /// KVM_SET_GUEST_DEBUG calls per update before any vCPU runs (lazy sync: 0).
    var setGuestDebugPerUpdate: Double
    /// Calls when every vCPU then runs once: one per vCPU whose state changed.
    var setGuestDebugAtNextRun: Int
    /// Estimated bytes of debug-table state per vCPU with one global breakpoint (see `stateBytes`).
    var tableBytesPerVCPU: Int
    /// The Debugger's own per-vCPU record (installed state, last stop, register cache).
    var debuggerBytesPerVCPU: Int
}

/// Swift's array buffer header on 64-bit Linux (isa/refcount + count + capacity).
let arrayHeader = 32

/// Heap bytes an array holds: header plus its capacity (0 for the shared empty array).
func heapBytes<T>(_ a: [T]) -> Int { a.capacity == 0 ? 0 : arrayHeader + a.capacity * MemoryLayout<T>.stride }

func heapBytes(_ r: ArchDebugRegisters) -> Int {
    switch r {
    case .x86(let x): return heapBytes(x.address)
    case .arm64(let a): return heapBytes(a.bcr) + heapBytes(a.bvr) + heapBytes(a.wcr) + heapBytes(a.wvr)
    }
}

/// The address of an array's buffer, to see whether two vCPUs share one (copy-on-write).
func bufferAddress<T>(_ a: [T]) -> UInt { a.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } }

/// Per-vCPU bytes of `DebugTables` for `vcpu`: the inline element of each per-vCPU array
/// (`local`, `capacity`, `encoded`, `dirty`: MemoryLayout strides) plus the heap buffers
/// it owns alone (array capacity × stride + header); a buffer shared with vCPU 0 (same
/// address: one copy-on-write encoding) is not counted again.
func tableBytes(_ t: DebugTables, vcpu v: Int) -> Int {
    var b = MemoryLayout<[DebugPoint]>.stride + heapBytes(t.local[v])
    b += MemoryLayout<SlotCapacity>.stride
    b += MemoryLayout<EncodedDebugRegisters>.stride
    let e = t.encoded[v], e0 = t.encoded[0]
    let shared: Bool
    switch (e.registers, e0.registers) {
    case (.x86(let a), .x86(let z)): shared = v != 0 && bufferAddress(a.address) == bufferAddress(z.address)
    case (.arm64(let a), .arm64(let z)): shared = v != 0 && bufferAddress(a.bcr) == bufferAddress(z.bcr)
    default: shared = false
    }
    if !shared { b += heapBytes(e.registers) }
    if !(v != 0 && bufferAddress(e.slots) == bufferAddress(e0.slots)) { b += heapBytes(e.slots) }
    b += MemoryLayout<Bool>.stride
    return b
}

/// The Debugger's per-vCPU `VCPUDebugState` (internal), estimated from its fields' public
/// types: object header (16) + installed state + installed key (2 Bools and an array) +
/// layout + last stop + register cache + steppedOverAt + steppedOver + pcWritten + the
/// call counter, plus the reference in the Debugger's array.
func debuggerBytesPerVCPU(_ t: DebugTables, vcpu v: Int) -> Int {
    16 + MemoryLayout<GuestDebugState>.stride + MemoryLayout<(Bool, [DebugPoint], Bool)?>.stride
        + MemoryLayout<EncodedDebugRegisters>.stride + MemoryLayout<Stop?>.stride
        + MemoryLayout<RegisterFile?>.stride + MemoryLayout<UInt64?>.stride + MemoryLayout<[DebugPoint]>.stride
        + MemoryLayout<Bool>.stride + MemoryLayout<Int>.stride + 8
        // The layout the vCPU ran with shares the table's buffer after a sync: not counted again.
}

/// Section 2 for one backend and vCPU count.
func tableScale<B: DebugBackend>(_ name: String, backend: B, reps: Int, updates: Int) throws(DebugError) -> TableRow {
    let d = Debugger(backend: backend)
    let bp = DebugPoint.hardware(address: BuiltinGuests.smpCounterX86(.long).symbol("loop")!.address)
    var perRep: [Double] = []
    let before = d.totalSetGuestDebugCalls
    for _ in 0..<reps {
        let t0 = nowNanoseconds()
        for _ in 0..<updates {
            try d.insert(bp)
            try d.remove(bp)
        }
        perRep.append(Double(nowNanoseconds() - t0) / Double(2 * updates) / 1000)
    }
    let lazyCalls = d.totalSetGuestDebugCalls - before
    try d.insert(bp)
    let t = d.tables
    let bytes = tableBytes(t, vcpu: backend.vcpuCount - 1)
    let dbgBytes = debuggerBytesPerVCPU(t, vcpu: backend.vcpuCount - 1)
    let atRun0 = d.totalSetGuestDebugCalls
    for v in 0..<backend.vcpuCount { _ = try d.resume(vcpu: v, mode: .continue) }
    return TableRow(backend: name, vcpus: backend.vcpuCount, updateMicroseconds: Summary(perRep),
                    setGuestDebugPerUpdate: Double(lazyCalls) / Double(2 * updates * reps),
                    setGuestDebugAtNextRun: d.totalSetGuestDebugCalls - atRun0,
                    tableBytesPerVCPU: bytes, debuggerBytesPerVCPU: dbgBytes)
}
