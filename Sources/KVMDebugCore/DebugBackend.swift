/// The small "debuggable" protocol every backend implements, per vCPU.
///
/// The KVM backend, the fake backend and a host VMM's adapter all conform, so one
/// `Debugger` core serves them all. Breakpoint tables never live here: the backend
/// only installs whole debug states, runs, and reads/writes registers and memory.
/// Guest addresses are guest-physical; the built-in guests identity-map them.
public protocol DebugBackend: AnyObject {
    /// The guest architecture.
    var arch: Arch { get }
    /// Number of vCPUs; indices are 0..<vcpuCount.
    var vcpuCount: Int { get }
    /// What the kernel (or fake) supports.
    var capabilities: Capabilities { get }

    /// Installs a vCPU's whole debug state. The corresponding ioctl is `KVM_SET_GUEST_DEBUG`.
    func setGuestDebug(_ state: GuestDebugState, vcpu: Int) throws(DebugError)
    /// Enters the guest until the next exit. The corresponding ioctl is `KVM_RUN`;
    /// EINTR is returned as `.interrupted`, never retried.
    func run(vcpu: Int) throws(DebugError) -> VCPUExit
    /// Reads the vCPU's program counter (RIP, or PC via KVM_GET_ONE_REG).
    func programCounter(vcpu: Int) throws(DebugError) -> UInt64
    /// Writes the vCPU's program counter (KVM_SET_REGS / KVM_SET_ONE_REG).
    func setProgramCounter(_ pc: UInt64, vcpu: Int) throws(DebugError)
    /// Reads guest memory.
    func readMemory(_ address: UInt64, count: Int) throws(DebugError) -> [UInt8]
    /// Writes guest memory (and makes it visible to the guest's instruction fetch).
    func writeMemory(_ address: UInt64, _ bytes: [UInt8]) throws(DebugError)
    /// Tells the guest it was held stopped (x86 KVM_KVMCLOCK_CTRL); errors are ignored.
    func guestPaused(vcpu: Int)
    /// Brings the vCPU out of `run` soon (immediate_exit + signal); safe from any thread.
    func kick(vcpu: Int)
    /// Reads an arm64 register beyond the pc (KVM_GET_ONE_REG). Default: `.unsupported`
    /// (see `Arm64RegisterAccess.swift`); needed to hand a guest's own BRK back to it.
    func arm64Register(_ register: Arm64Register, vcpu: Int) throws(DebugError) -> UInt64
    /// Writes an arm64 register beyond the pc (KVM_SET_ONE_REG). Default: `.unsupported`.
    func setArm64Register(_ register: Arm64Register, _ value: UInt64, vcpu: Int) throws(DebugError)
}

extension DebugBackend {
    /// Tells the guest on `vcpu` it was held stopped; a no-op unless the backend overrides it.
    public func guestPaused(vcpu: Int) {}
}
