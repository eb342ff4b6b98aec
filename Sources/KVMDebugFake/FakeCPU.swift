import KVMDebugModel

/// One vCPU's architectural state plus the KVM debug state installed on it.
///
/// Only the thread that owns the vCPU calls these (KVM's vCPU ioctls are per-thread
/// too); shared guest memory is passed in and locks itself.
protocol FakeCPU: AnyObject {
    /// The program counter as KVM_GET_REGS / KVM_GET_ONE_REG returns it (RIP or PC).
    var programCounter: UInt64 { get }
    /// KVM_SET_REGS / KVM_SET_ONE_REG of the program counter, with KVM's side effects.
    func setProgramCounter(_ pc: UInt64)
    /// A register by its lowercase name, nil for names this arch lacks.
    func register(_ name: String) -> UInt64?
    /// Writes a register (a KVM_SET_REGS / KVM_SET_ONE_REG); false for unknown names.
    func setRegister(_ name: String, _ value: UInt64) -> Bool
    /// KVM_GET_REGS + KVM_GET_SREGS / KVM_GET_ONE_REG of every register.
    var registerFile: RegisterFile { get }
    /// KVM_SET_REGS (+ SREGS) / KVM_SET_ONE_REG, with KVM's side effects.
    func setRegisterFile(_ file: RegisterFile) throws(DebugError)
    /// KVM_SET_GUEST_DEBUG: KVM's checks, then the whole state replaced.
    func install(_ state: GuestDebugState) throws(DebugError)
    /// The guest's own debug registers (KVM_GET/SET_DEBUGREGS on x86, the debug system
    /// register ids on arm64), as the guest's own instructions left them.
    var guestDebug: FakeGuestDebugRegisters { get set }
    /// `kvm_run.mmio.data` (8 bytes): a store's bytes at its exit; what a load gets on re-entry.
    var mmioData: [UInt8] { get set }
    /// KVM_RUN: interprets until an exit, the budget runs out, or a kick.
    func run(memory: FakeMemory, budget: inout FakeRunBudget) throws(DebugError) -> VCPUExit
}

/// `DebugError` for a KVM ioctl failing with errno.
func kvmError(_ call: String, _ errno: Int32) -> DebugError {
    .system(call: call, errno: errno)
}

/// The errno values KVM_SET_GUEST_DEBUG returns (no Glibc import needed for two numbers).
enum FakeErrno {
    static let einval: Int32 = 22
    static let ebusy: Int32 = 16
    static let eintr: Int32 = 4
    static let eagain: Int32 = 11
    static let enoent: Int32 = 2
    static let eperm: Int32 = 1
    static let enosys: Int32 = 38
}
