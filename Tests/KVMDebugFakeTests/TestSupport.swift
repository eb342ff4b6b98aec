import KVMDebugCore
import KVMDebugFake

// Raw control words (KVMTestSupport's flags) and registers are written out by hand
// here, never built with kvmdbg's encoders: the fake must be checked against the architecture.

/// A whole x86 `kvm_guest_debug`.
func x86State(_ control: UInt32, dr: [UInt64] = [0, 0, 0, 0], dr7: UInt64 = 0x400) -> GuestDebugState {
    GuestDebugState(control: GuestDebugControl(rawValue: control),
                    registers: .x86(X86DebugRegisters(address: dr, dr7: dr7)))
}

/// A whole arm64 `kvm_guest_debug`; slots given as [index: value].
func arm64State(_ control: UInt32, bcr: [Int: UInt64] = [:], bvr: [Int: UInt64] = [:],
                wcr: [Int: UInt64] = [:], wvr: [Int: UInt64] = [:]) -> GuestDebugState {
    var r = Arm64DebugRegisters()
    for (i, v) in bcr { r.bcr[i] = v }
    for (i, v) in bvr { r.bvr[i] = v }
    for (i, v) in wcr { r.wcr[i] = v }
    for (i, v) in wvr { r.wvr[i] = v }
    return GuestDebugState(control: GuestDebugControl(rawValue: control), registers: .arm64(r))
}

/// An x86 guest of raw bytes at 0x1000 (RAM 0..2 MiB, like the built-in counter).
func x86Guest(_ mode: CPUMode, _ code: [UInt8], data: [GuestData] = []) -> Guest {
    Guest(name: "test", arch: .x86_64, mode: mode, memoryBase: 0, memorySize: 0x20_0000,
          loadAddress: 0x1000, image: code, data: data, entry: 0x1000, symbols: [], summary: "test")
}

/// An arm64 guest of raw instruction words at 0x10000 (RAM 0x10000..0x30000).
func arm64Guest(_ words: [UInt32], data: [GuestData] = []) -> Guest {
    var code: [UInt8] = []
    for w in words { code += littleEndianBytes(UInt64(w), count: 4) }
    return Guest(name: "test", arch: .arm64, mode: .el1, memoryBase: 0x10000, memorySize: 0x20000,
                 loadAddress: 0x10000, image: code, data: data, entry: 0x10000, symbols: [], summary: "test")
}

extension FakeBackend {
    /// The little-endian 8-byte word at `address`.
    func word(_ address: UInt64) throws -> UInt64 {
        littleEndianValue(try readMemory(address, count: 8))
    }
}

/// The x86 exit fields, or nil for any other exit.
func x86Debug(_ exit: VCPUExit) -> (exception: UInt32, pc: UInt64, dr6: UInt64, dr7: UInt64)? {
    if case .debug(.x86(let e, let pc, let dr6, let dr7)) = exit { return (e, pc, dr6, dr7) }
    return nil
}

/// The arm64 exit fields, or nil for any other exit.
func arm64Debug(_ exit: VCPUExit) -> (esr: UInt64, far: UInt64, pc: UInt64)? {
    if case .debug(.arm64(let esr, let far, let pc)) = exit { return (esr, far, pc) }
    return nil
}

