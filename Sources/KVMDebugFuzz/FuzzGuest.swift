import KVMDebugCore
import KVMDebugFake

/// The guest and engine options a GDB fuzz input runs against, from its first byte.
///
/// Bits 0-2 the guest, bits 3-4 the vCPU count (1, 2, 4, 3), bit 5 set: software breakpoints
/// do not trap (Z0 served by hardware slots, as on PVM), bit 6: the engine as
/// `kvmdbg gdbserver --log-packets` runs it (packets logged; the session's
/// `continuesOnCallingThread` set too, though the fuzzer's sessions run every round on the
/// calling thread anyway, `GDBFuzzDriver`); bit 7 is left to the input format (the wire
/// harness's chunking).
public struct FuzzGuest: Sendable, Hashable {
    public enum Kind: Int, Sendable, CaseIterable {
        case counterX86, counterArm64, pagedX86, pagedArm64, smpX86, smpArm64, counterX86Real, smpX86Real
    }
    public var kind: Kind
    public var vcpus: Int
    public var softwareBreakpointsTrap: Bool
    /// Packets logged and lone continues run on the calling thread (bit 6).
    public var serverMode: Bool

    public init(kind: Kind, vcpus: Int, softwareBreakpointsTrap: Bool = true, serverMode: Bool = false) {
        self.kind = kind
        self.vcpus = vcpus
        self.softwareBreakpointsTrap = softwareBreakpointsTrap
        self.serverMode = serverMode
    }

    public init(byte b: UInt8) {
        kind = Kind(rawValue: Int(b & 7))!
        vcpus = [1, 2, 4, 3][Int(b >> 3) & 3]
        softwareBreakpointsTrap = b & 0x20 == 0
        serverMode = b & 0x40 != 0
    }

    /// The byte `init(byte:)` reads this from (bit 7 clear).
    public var byte: UInt8 {
        UInt8(kind.rawValue) | UInt8([1: 0, 2: 1, 4: 2, 3: 3][vcpus] ?? 0) << 3
            | (softwareBreakpointsTrap ? 0 : 0x20) | (serverMode ? 0x40 : 0)
    }

    var guest: Guest {
        switch kind {
        case .counterX86: return BuiltinGuests.counterX86(.long)
        case .counterArm64: return BuiltinGuests.counterArm64()
        case .pagedX86: return BuiltinGuests.pagedCounterX86()
        case .pagedArm64: return BuiltinGuests.pagedCounterArm64()
        case .smpX86: return BuiltinGuests.smpCounterX86(.long)
        case .smpArm64: return BuiltinGuests.smpCounterArm64()
        case .counterX86Real: return BuiltinGuests.counterX86(.real)
        case .smpX86Real: return BuiltinGuests.smpCounterX86(.real)
        }
    }

    /// Instructions each vCPU runs before the input (the paged guests turn their MMU on in
    /// their first few dozen), so every input starts with paging already on.
    var warmUp: Int {
        switch kind {
        case .pagedX86, .pagedArm64: return 64
        default: return 0
        }
    }
}

/// Fake VMs kept across inputs, one per guest and vCPU count, reset (`FakeBackend.reset`)
/// instead of rebuilt: an input costs no guest RAM allocation. Safe from several threads
/// (the corpus tests run in parallel): a VM is taken out while an input uses it.
enum FuzzVMs {
    private struct Key: Hashable {
        var kind: FuzzGuest.Kind
        var vcpus: Int
    }
    private static let idle = DebugLocked<[Key: [FakeBackend]]>([:])

    /// Instructions a vCPU runs per KVM_RUN: the bound on a fuzzed round (see `GDBFuzzDriver`).
    static let runBudget = 8

    /// A VM for `g` in its initial state (warmed up), built only if none is idle.
    static func take(_ g: FuzzGuest) throws(DebugError) -> FakeBackend {
        let key = Key(kind: g.kind, vcpus: g.vcpus)
        let vm: FakeBackend
        if let reused = idle.withLock({ $0[key]?.popLast() }) {
            vm = reused
            vm.reset()
        } else {
            vm = try FakeBackend(guest: g.guest, vcpus: g.vcpus)
        }
        if g.warmUp > 0 {
            vm.maxInstructionsPerRun = g.warmUp
            for v in 0..<g.vcpus { _ = try vm.run(vcpu: v) }
            vm.clearTrace()
        }
        vm.maxInstructionsPerRun = runBudget
        return vm
    }

    /// Hands a VM back for the next input.
    static func give(_ vm: FakeBackend, _ g: FuzzGuest) {
        idle.withLock { $0[Key(kind: g.kind, vcpus: g.vcpus), default: []].append(vm) }
    }
}
