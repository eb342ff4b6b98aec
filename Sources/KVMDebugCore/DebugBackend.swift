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
    /// Reads the vCPU's whole register file. x86: `KVM_GET_REGS` + `KVM_GET_SREGS`;
    /// arm64: `KVM_GET_ONE_REG` per register.
    func registers(vcpu: Int) throws(DebugError) -> RegisterFile
    /// Writes the vCPU's register file back. x86: `KVM_SET_REGS`, plus `KVM_SET_SREGS`
    /// when a special register changed; arm64: `KVM_SET_ONE_REG` per changed register.
    func setRegisters(_ file: RegisterFile, vcpu: Int) throws(DebugError)
    /// Reads the program counter alone, the one register every arm64 debug exit needs
    /// (one `KVM_GET_ONE_REG` instead of the whole file). Default: `registers(vcpu:).pc`.
    func programCounter(vcpu: Int) throws(DebugError) -> UInt64
    /// Reads guest memory.
    func readMemory(_ address: UInt64, count: Int) throws(DebugError) -> [UInt8]
    /// Writes guest memory (and makes it visible to the guest's instruction fetch).
    func writeMemory(_ address: UInt64, _ bytes: [UInt8]) throws(DebugError)
    /// Tells the guest it was held stopped (x86 KVM_KVMCLOCK_CTRL); errors are ignored.
    func guestPaused(vcpu: Int)
    /// Brings the vCPU out of `run` soon (immediate_exit + the backend's kick); safe from any thread.
    func kick(vcpu: Int)
    /// A `run` may wait inside the kernel however short the step (a halt or WFI the kernel
    /// itself waits out): then only a kick ends it, and the session must not run it on a
    /// thread that has to stay free (`DebugSession.stepsOnCallingThread` starts off).
    var runMayWaitInKernel: Bool { get }
    /// Guest-physical RAM, lowest first; nil when the backend does not know it (`RAMRegion.swift`).
    var ramRegions: [RAMRegion]? { get }
}

extension DebugBackend {
    /// Interpreters and most adapters return from every step: false unless overridden.
    public var runMayWaitInKernel: Bool { false }

    /// Tells the guest on `vcpu` it was held stopped; a no-op unless the backend overrides it.
    public func guestPaused(vcpu: Int) {}

    public func programCounter(vcpu: Int) throws(DebugError) -> UInt64 {
        try registers(vcpu: vcpu).pc
    }

    /// Writes the program counter: the register file read, changed and written back.
    public func setProgramCounter(_ pc: UInt64, vcpu: Int) throws(DebugError) {
        var file = try registers(vcpu: vcpu)
        file.pc = pc
        try setRegisters(file, vcpu: vcpu)
    }

    /// The register file of an arm64 backend; `.unsupported` on x86.
    public func arm64Registers(vcpu: Int) throws(DebugError) -> Arm64RegisterFile {
        guard case .arm64(let r) = try registers(vcpu: vcpu) else {
            throw .unsupported(reason: "arm64 registers asked of an \(arch.name) vCPU")
        }
        return r
    }
}
