import CKVM

/// The real backend: guest debugging through `/dev/kvm`.
///
/// Either creates its own VM (a built-in guest or a user image), or adopts the
/// vCPU fds and guest memory a host VMM already owns (`init(adopting:)`).
public final class KVMBackend: DebugBackend {
    public let arch: Arch
    public let capabilities: Capabilities
    public let system: KVMSystem?
    public let vm: KVMVM?
    public let vcpus: [KVMVCPU]
    private let memory: GuestMemory
    private let ownedMapping: (UnsafeMutableRawPointer, Int)?

    public var vcpuCount: Int { vcpus.count }

    /// Creates a VM with `vcpus` vCPUs, loads `guest` and puts every vCPU at its entry
    /// (x86: real or long mode as the guest says; arm64: EL1, MMU off).
    public init(guest: Guest, vcpus count: Int = 1, path: String = "/dev/kvm") throws(DebugError) {
        try guest.validate()
        guard let host = Arch.host, host == guest.arch else {
            throw .unsupported(reason: "an \(guest.arch.name) guest cannot run on KVM on this \(Arch.host?.name ?? "unknown") host; use --backend fake")
        }
        _ = ckvm_install_kick_handler()
        let sys = try KVMSystem(path: path)
        if sys.check(.setGuestDebug) == 0 {
            throw .capabilityMissing(capability: "KVM_CAP_SET_GUEST_DEBUG", detail: "this kernel cannot debug guests")
        }
        let vm = try sys.createVM()
        let caps = KVMBackend.probe(system: sys, vm: vm, arch: host)
        if count < 1 || count > caps.maxVCPUs {
            throw .unsupported(reason: "--vcpus \(count) is outside 1...\(caps.maxVCPUs) (KVM_CAP_MAX_VCPUS)")
        }
        let size = Int(guest.memorySize)
        let mem = try Sys.mapShared(fd: -1, length: size)
        var built: [KVMVCPU] = []
        do {
            try vm.setUserMemoryRegion(slot: 0, guestAddress: guest.memoryBase, size: guest.memorySize, host: mem)
            let memory = GuestMemory(regions: [GuestMemoryRegion(guestAddress: guest.memoryBase, size: guest.memorySize, host: mem)])
            try memory.write(guest.loadAddress, guest.image)
            for d in guest.data { try memory.write(d.address, d.bytes) }
            let mmapSize = try sys.vcpuMmapSize()
            for i in 0..<count {
                let v = try vm.createVCPU(id: i, mmapSize: mmapSize)
                built.append(v)
                try KVMBackend.boot(v, index: i, guest: guest, vm: vm, memory: memory)
            }
            self.memory = memory
        } catch {
            built.removeAll()
            Sys.unmap(mem, length: size)
            throw error
        }
        arch = host
        capabilities = caps
        system = sys
        self.vm = vm
        vcpus = built
        ownedMapping = (mem, size)
    }

    /// Adopts a host VMM's vCPU fds and guest memory. kvmdbg never closes those fds or
    /// unmaps that memory; the VMM must keep them alive while this object lives.
    /// `vmFD` (optional) lets capabilities be probed on the VM fd.
    public init(adopting vcpuFDs: [Int32], memory regions: [GuestMemoryRegion], vmFD: Int32? = nil,
                path: String = "/dev/kvm") throws(DebugError) {
        guard let host = Arch.host else { throw .unsupported(reason: "KVM guest debug needs an x86_64 or arm64 host") }
        _ = ckvm_install_kick_handler()
        let sys = try KVMSystem(path: path)
        let vm = vmFD.map { KVMVM(borrowing: $0) }
        arch = host
        capabilities = KVMBackend.probe(system: sys, vm: vm, arch: host)
        let mmapSize = try sys.vcpuMmapSize()
        var built: [KVMVCPU] = []
        for fd in vcpuFDs { built.append(try KVMVCPU(borrowing: fd, mmapSize: mmapSize)) }
        vcpus = built
        memory = GuestMemory(regions: regions)
        system = sys
        self.vm = vm
        ownedMapping = nil
    }

    deinit {
        if let (p, n) = ownedMapping { Sys.unmap(p, length: n) }
    }

    /// Probes capabilities on the VM fd where the kernel allows it, else /dev/kvm.
    public static func probe(system: KVMSystem, vm: KVMVM?, arch: Arch) -> Capabilities {
        func ask(_ c: Capability) -> Int { vm?.check(c) ?? system.check(c) }
        let debug2 = ask(.setGuestDebug2)
        let bps = ask(.guestDebugHardwareBreakpoints)
        let wps = ask(.guestDebugHardwareWatchpoints)
        var maxV = ask(.maxVCPUs)
        if maxV == 0 { maxV = ask(.recommendedVCPUs) }
        if maxV == 0 { maxV = 4 }  // api.rst: assume 4 when neither cap is there
        let slots: SlotCapacity = arch == .x86_64 ? .x86 : SlotCapacity(breakpoints: min(bps, 16), watchpoints: min(wps, 16))
        return Capabilities(
            arch: arch, setGuestDebug: ask(.setGuestDebug) > 0,
            supportedControl: debug2 > 0 ? GuestDebugControl(rawValue: UInt32(truncatingIfNeeded: debug2)) : nil,
            slots: slots, reportedHardwareBreakpoints: bps, reportedHardwareWatchpoints: wps,
            maxVCPUs: maxV, backend: "kvm")
    }

    /// Capabilities of `/dev/kvm` on this host, probed on a scratch VM fd.
    public static func capabilities(path: String = "/dev/kvm") throws(DebugError) -> Capabilities {
        guard let host = Arch.host else { throw .unsupported(reason: "KVM guest debug needs an x86_64 or arm64 host") }
        let sys = try KVMSystem(path: path)
        let vm = try? sys.createVM()
        return probe(system: sys, vm: vm, arch: host)
    }

    // MARK: DebugBackend

    public func setGuestDebug(_ state: GuestDebugState, vcpu: Int) throws(DebugError) {
        try vcpus[vcpu].setGuestDebug(state)
    }

    public func run(vcpu: Int) throws(DebugError) -> VCPUExit {
        let v = vcpus[vcpu]
        switch try v.runOnce() {
        case .debugX86(let exception, let pc, let dr6, let dr7):
            return .debug(.x86(exception: exception, pc: pc, dr6: dr6, dr7: dr7))
        case .debugArm64(let esr, let far):
            return .debug(.arm64(esr: esr, far: far, pc: try programCounter(vcpu: vcpu)))
        case .interrupted:
            return .interrupted
        case .other(let e):
            switch e {
            case .halt: return .halt(pc: try programCounter(vcpu: vcpu))
            case .io(let port, let w, let size, _): return .io(port: port, isWrite: w, size: size, pc: try programCounter(vcpu: vcpu))
            case .mmio(let a, let w, let l, _): return .mmio(address: a, isWrite: w, length: l, pc: try programCounter(vcpu: vcpu))
            default: return e
            }
        }
    }

    public func programCounter(vcpu: Int) throws(DebugError) -> UInt64 {
        #if arch(x86_64)
        return try vcpus[vcpu].registers().rip
        #elseif arch(arm64)
        return try vcpus[vcpu].oneRegister(Arm64Registers.pc)
        #else
        throw .unsupported(reason: "unsupported host")
        #endif
    }

    public func setProgramCounter(_ pc: UInt64, vcpu: Int) throws(DebugError) {
        #if arch(x86_64)
        var r = try vcpus[vcpu].registers()
        r.rip = pc
        try vcpus[vcpu].setRegisters(r)
        #elseif arch(arm64)
        try vcpus[vcpu].setOneRegister(Arm64Registers.pc, pc)
        #endif
    }

    /// KVM_GET_ONE_REG with `register.kvmID` (arm64 hosts only).
    public func arm64Register(_ register: Arm64Register, vcpu: Int) throws(DebugError) -> UInt64 {
        #if arch(arm64)
        return try vcpus[vcpu].oneRegister(register.kvmID)
        #else
        throw .unsupported(reason: "arm64 register \(register.name) on a non-arm64 host")
        #endif
    }

    /// KVM_SET_ONE_REG with `register.kvmID` (arm64 hosts only).
    public func setArm64Register(_ register: Arm64Register, _ value: UInt64, vcpu: Int) throws(DebugError) {
        #if arch(arm64)
        try vcpus[vcpu].setOneRegister(register.kvmID, value)
        #else
        throw .unsupported(reason: "arm64 register \(register.name) on a non-arm64 host")
        #endif
    }

    public func readMemory(_ address: UInt64, count: Int) throws(DebugError) -> [UInt8] {
        try memory.read(address, count: count)
    }

    public func writeMemory(_ address: UInt64, _ bytes: [UInt8]) throws(DebugError) {
        try memory.write(address, bytes)
    }

    public func kick(vcpu: Int) { vcpus[vcpu].kick() }

    /// x86: KVM_KVMCLOCK_CTRL, so the guest does not report soft lockups after a long
    /// stop. EINVAL (a guest without kvmclock, like the built-in ones) is ignored.
    public func guestPaused(vcpu: Int) {
        #if arch(x86_64)
        _ = vcpus[vcpu].kvmclockPaused()
        #endif
    }

    // MARK: Boot

    private static func boot(_ v: KVMVCPU, index: Int, guest: Guest, vm: KVMVM, memory: GuestMemory) throws(DebugError) {
        #if arch(x86_64)
        try X86Boot.setUp(v, index: index, guest: guest, memory: memory)
        #elseif arch(arm64)
        try Arm64Boot.setUp(v, index: index, guest: guest, vm: vm)
        #endif
    }
}
