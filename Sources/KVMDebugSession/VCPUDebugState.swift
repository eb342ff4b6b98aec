import Synchronization
import KVMDebugModel

/// One vCPU's debugger-side state: touched only by the thread running that vCPU
/// (or by the controller while the vCPU is stopped).
final class VCPUDebugState: @unchecked Sendable {
    /// What the vCPU has installed. KVM starts every vCPU with debugging off.
    var installed: GuestDebugState
    /// What `installed` was built from, so an unchanged vCPU skips even rebuilding it.
    var installedKey: InstalledKey?
    /// The slot layout of `installed`, to decode stops against what really ran.
    var layout: EncodedDebugRegisters
    var lastStop: Stop?
    /// The fatal exit this vCPU stopped on (`VCPUExit.endsVCPU`): it is never run again.
    var fatalExit: VCPUExit?
    /// The register file read since the vCPU last ran (nil: not read yet).
    var registers: RegisterFile?
    /// The FP/SIMD registers read since the vCPU last ran (nil: not read yet).
    var fpRegisters: FPRegisterFile?
    /// The guest's own debug registers read since the vCPU last ran (nil: not read yet).
    var guestDebugRegisters: GuestOwnDebugRegisters?
    /// Where the last step-over started and what it disarmed. If it stopped again at the
    /// same pc without retiring the instruction (one arm64 store hitting two watchpoints:
    /// KVM reports one per exit), the next step-over disarms those too, so every point is
    /// reported once and the vCPU still makes progress.
    var steppedOverAt: UInt64?
    var steppedOver: [DebugPoint] = []
    /// States built from the unchanged table, by key (at most `builtLimit`); emptied when
    /// the table changes. Guarded by the Debugger's lock.
    var built: [BuiltState] = []
    static let builtLimit = 2
    /// arm64: the vCPU stopped at a protected access KVM still has pending (KVM_EXIT_MMIO):
    /// the next KVM_RUN completes it and moves whatever PC is current past it.
    var mmioPending = false
    /// arm64: the pc of a KVM_EXIT_ARM_NISV reported as a watch stop; the same exit there on
    /// the next resume is that access, stepped through without another stop.
    var nisvReportedAt: UInt64?
    /// The pc was written since the last KVM_SET_GUEST_DEBUG (x86 TF rule).
    var pcWritten = false
    /// A step ran an access KVM emulated and exited for (a protected page): the TF KVM planted
    /// for KVM_GUESTDBG_SINGLESTEP may be gone, so the next step re-issues the state.
    var stepTrapStale = false
    let setGuestDebugCalls = Atomic<Int>(0)

    /// Forgets every register read: the vCPU is about to run (or its state changed behind us).
    func forgetRegisters() {
        registers = nil
        fpRegisters = nil
        guestDebugRegisters = nil
    }

    init(arch: Arch, layout: EncodedDebugRegisters) {
        installed = .disabled(arch)
        self.layout = layout
    }
}

/// The inputs a vCPU's installed debug state was built from.
struct InstalledKey: Sendable, Hashable {
    var stepping: Bool
    var without: [DebugPoint]
    var blockIRQ: Bool
}

/// One debug state built from a vCPU's table, with the slot layout it was encoded with.
struct BuiltState: Sendable {
    var key: InstalledKey
    var state: GuestDebugState
    var layout: EncodedDebugRegisters
}
