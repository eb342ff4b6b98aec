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
    /// Reads the vCPU's FP/SIMD registers. x86: `KVM_GET_XSAVE2` / `KVM_GET_XSAVE`
    /// (`KVM_GET_FPU` without XSAVE); arm64: `KVM_GET_ONE_REG` per `fp_regs` id.
    /// Default: `.unsupported` (then a debugger reports them unavailable).
    func floatingPointRegisters(vcpu: Int) throws(DebugError) -> FPRegisterFile
    /// Writes the vCPU's FP/SIMD registers back: x86 `KVM_SET_XSAVE` (or `KVM_SET_FPU`) of the
    /// area just read with the fields replaced; arm64 `KVM_SET_ONE_REG` per changed register.
    func setFloatingPointRegisters(_ file: FPRegisterFile, vcpu: Int) throws(DebugError)
    /// Reads the guest's own debug registers. x86: `KVM_GET_DEBUGREGS`; arm64:
    /// `KVM_GET_ONE_REG` per DBGBCR/DBGBVR/DBGWCR/DBGWVR/MDSCR_EL1. Default: `.unsupported`.
    func guestDebugRegisters(vcpu: Int) throws(DebugError) -> GuestOwnDebugRegisters
    /// Writes the guest's own debug registers: x86 `KVM_SET_DEBUGREGS`; arm64 `KVM_SET_ONE_REG`
    /// per changed register.
    func setGuestDebugRegisters(_ registers: GuestOwnDebugRegisters, vcpu: Int) throws(DebugError)
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

    // MARK: Page protection (protection watchpoints; defaults in PageProtectionBackend.swift)

    /// Why this backend cannot protect guest pages; nil when it can.
    var pageProtectionUnavailable: String? { get }
    /// Holds the guest-physical 4 KiB page at `page` under `protection`. KVM: its own memory
    /// slot, `KVM_SET_USER_MEMORY_REGION` (delete + re-add). Call only while no vCPU runs.
    func setPageProtection(_ protection: PageProtection, page: UInt64) throws(DebugError)
    /// Puts every memory slot back exactly as it was before the first protection.
    func restoreMemorySlots() throws(DebugError)
    /// The first `length` bytes of `kvm_run.mmio.data` of `vcpu`'s last `KVM_EXIT_MMIO`
    /// (what a store wrote).
    func mmioData(vcpu: Int, length: Int) -> [UInt8]
    /// Sets `kvm_run.mmio.data`: what the load `vcpu` exited on returns when it runs again.
    func setMMIOData(_ bytes: [UInt8], vcpu: Int)
}

extension DebugBackend {
    /// Interpreters and most adapters return from every step: false unless overridden.
    public var runMayWaitInKernel: Bool { false }

    /// Tells the guest on `vcpu` it was held stopped; a no-op unless the backend overrides it.
    public func guestPaused(vcpu: Int) {}

    public func programCounter(vcpu: Int) throws(DebugError) -> UInt64 {
        try registers(vcpu: vcpu).pc
    }

    public func floatingPointRegisters(vcpu: Int) throws(DebugError) -> FPRegisterFile {
        throw .unsupported(reason: "this backend does not read FP/SIMD registers")
    }

    public func setFloatingPointRegisters(_ file: FPRegisterFile, vcpu: Int) throws(DebugError) {
        throw .unsupported(reason: "this backend does not write FP/SIMD registers")
    }

    public func guestDebugRegisters(vcpu: Int) throws(DebugError) -> GuestOwnDebugRegisters {
        throw .unsupported(reason: "this backend does not read the guest's own debug registers")
    }

    public func setGuestDebugRegisters(_ registers: GuestOwnDebugRegisters, vcpu: Int) throws(DebugError) {
        throw .unsupported(reason: "this backend does not write the guest's own debug registers")
    }

    /// Writes the program counter on the raw backend: the register file read, changed and
    /// written back, nothing else. A session uses `Debugger.setProgramCounter`, which also
    /// re-issues the debug state (on x86, KVM_SET_REGS moving RIP can drop a pending step).
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
