/// Every way a kvmdbg request can fail, each with a message that says what to do.
///
/// Typed throws carry this through the Embedded-clean core; errno stays a plain `Int32`,
/// named (`errnoName`: EPERM, ENOENT, ...) with a hint of what to do in `description`.
public enum DebugError: Error, Sendable, Equatable {
    /// The address is not aligned as the hardware needs (arm64 DBGBVR[1:0] are RES0).
    case misaligned(address: UInt64, alignment: UInt64, what: String)
    /// A watch length or range that the debug registers cannot express, even split over slots.
    case unencodableWatch(address: UInt64, length: UInt64, arch: Arch, reason: String)
    /// The vCPU has no free hardware slot of this kind; nothing was changed.
    case noFreeSlot(vcpu: Int, kind: SlotKind, capacity: Int, needed: Int)
    /// The exact point (address, length, kind) is not armed on that vCPU or globally.
    case notArmed(point: DebugPoint, target: VCPUTarget)
    /// The exact point is already armed there.
    case alreadyArmed(point: DebugPoint, target: VCPUTarget)
    /// A vCPU index outside 0..<count.
    case noSuchVCPU(index: Int, count: Int)
    /// The kernel (or the fake backend) lacks a capability this request needs.
    case capabilityMissing(capability: String, detail: String)
    /// `/dev/kvm` (or another path) does not exist.
    case deviceMissing(path: String)
    /// `/dev/kvm` exists but this user may not open it.
    case permissionDenied(path: String)
    /// A system call or ioctl failed with errno.
    case system(call: String, errno: Int32)
    /// The fake backend met an instruction its interpreter does not model.
    case unsupportedInstruction(pc: UInt64, arch: Arch, bytes: [UInt8])
    /// A guest address outside guest memory.
    case badGuestAddress(address: UInt64, length: UInt64)
    /// A guest-virtual address the vCPU's page tables do not map (Intel SDM vol. 3 ch. 4; Arm ARM D8).
    case unmapped(address: UInt64, reason: String)
    /// A debug register cannot hold the address: outside the architecture's virtual-address width.
    case addressBeyondWidth(address: UInt64, arch: Arch, reason: String)
    /// The guest image does not fit or is malformed.
    case badImage(reason: String)
    /// The request is not valid for this architecture.
    case unsupported(reason: String)
    /// The vCPU stopped on a fatal exit (`VCPUExit.endsVCPU`, or for the GDB server and
    /// `kvmdbg run` any `isFatalStop` exit): it cannot be resumed, only inspected or killed.
    case fatalExit(vcpu: Int, exit: VCPUExit)

    /// One line that says what went wrong and what to do.
    public var message: String {
        switch self {
        case .misaligned(let a, let al, let what):
            return "\(what) address \(hex(a)) is not \(al)-byte aligned; use an address that is a multiple of \(al)"
        case .unencodableWatch(let a, let l, let arch, let reason):
            return "cannot watch \(l) bytes at \(hex(a)) on \(arch.name): \(reason)"
        case .noFreeSlot(let v, let kind, let cap, let needed):
            return "no free \(kind.name) slot on vCPU \(v): it has \(cap), this change needs \(needed); remove a breakpoint or watchpoint first (nothing was changed)"
        case .notArmed(let p, let t):
            return "\(describe(p)) is not armed on \(describe(t)); removal must match address, length and kind exactly"
        case .alreadyArmed(let p, let t):
            return "\(describe(p)) is already armed on \(describe(t))"
        case .noSuchVCPU(let i, let n):
            return "no vCPU \(i): this guest has \(n) vCPU\(n == 1 ? "" : "s") (0...\(n - 1))"
        case .capabilityMissing(let cap, let detail):
            return "the kernel lacks \(cap): \(detail)"
        case .deviceMissing(let path):
            return "\(path) does not exist: load the kvm module (kvm_intel, kvm_amd or kvm_pvm) or use --backend fake"
        case .permissionDenied(let path):
            return "permission denied opening \(path): add this user to the 'kvm' group or run as root, or use --backend fake"
        case .system(let call, let e):
            return "\(call) failed: \(errnoName(e)) (errno \(e))" + systemHint(call: call, errno: e)
        case .unsupportedInstruction(let pc, let arch, let bytes):
            var b = ""
            for x in bytes { b += (b.isEmpty ? "" : " ") + hex2(x) }
            return "unsupported instruction at pc \(hex(pc)) (\(arch.name) bytes: \(b)): the fake backend only interprets the built-in guests' instructions; run this image on --backend kvm"
        case .addressBeyondWidth(let a, let arch, let reason):
            return "\(arch.name) address \(hex(a)) is outside the virtual-address width: \(reason)"
        case .unmapped(let a, let reason):
            return "cannot access memory at address \(hex(a)): it does not translate (\(reason)); 'monitor translate \(hex(a))' shows the walk, 'monitor phys on' switches to physical addresses"
        case .badGuestAddress(let a, let l):
            return "guest address range \(hex(a))+\(l) is outside guest memory"
        case .badImage(let r):
            return "bad guest image: \(r)"
        case .unsupported(let r):
            return r
        case .fatalExit(let v, let exit):
            return "vCPU \(v) stopped on \(exit.kvmName) (\(exit.meaning)) and cannot be resumed; inspect its registers and memory, write a core file (monitor dump-guest-memory FILE), see 'monitor why', or kill the guest"
        }
    }
}

/// `0x` followed by lowercase hex digits.
public func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

func hex2(_ b: UInt8) -> String {
    let s = String(b, radix: 16)
    return s.count == 1 ? "0" + s : s
}

/// A short human description of a debug point.
public func describe(_ p: DebugPoint) -> String {
    switch p {
    case .hardware(let a): return "hardware breakpoint at \(hex(a))"
    case .software(let a): return "software breakpoint at \(hex(a))"
    case .watch(let a, let l, let k): return "\(k.shortName) watchpoint on \(l) bytes at \(hex(a))"
    }
}

/// `all vCPUs` or `vCPU n`.
public func describe(_ t: VCPUTarget) -> String {
    switch t {
    case .all: return "all vCPUs"
    case .vcpu(let i): return "vCPU \(i)"
    }
}

/// The symbolic name of the errno values KVM clients meet.
public func errnoName(_ e: Int32) -> String {
    switch e {
    case 1: return "EPERM"
    case 2: return "ENOENT"
    case 4: return "EINTR"
    case 5: return "EIO"
    case 9: return "EBADF"
    case 11: return "EAGAIN"
    case 12: return "ENOMEM"
    case 13: return "EACCES"
    case 14: return "EFAULT"
    case 16: return "EBUSY"
    case 17: return "EEXIST"
    case 19: return "ENODEV"
    case 22: return "EINVAL"
    case 24: return "EMFILE"
    case 25: return "ENOTTY"
    case 95: return "EOPNOTSUPP"
    default: return "errno \(e)"
    }
}

/// What to do about an ioctl or syscall failing with `e`: the part of a `.system`
/// message after the errno. EFAULT and EBADF from kvmdbg's own calls are kvmdbg bugs.
func systemHint(call: String, errno e: Int32) -> String {
    switch e {
    case 24: return ": too many open files; raise the limit (ulimit -n) or use fewer vCPUs"
    case 12: return ": the host is out of memory for this VM; use fewer vCPUs or less guest RAM"
    case 14, 9: return ": this is a kvmdbg bug (a bad pointer or fd passed to the kernel); please report it"
    case 16: return call == "KVM_SET_GUEST_DEBUG"
        ? ": an exception injection is still pending on this vCPU; run it once and retry"
        : ": the vCPU or VM is busy (another thread may be using it)"
    case 5: return ": the kernel reported an I/O error; the VM may be unusable, restart it"
    case 22 where call == "KVM_SET_GUEST_DEBUG":
        return ": the kernel rejected the debug state (a control bit or debug register value it does not support); run `kvmdbg caps` to see what it supports"
    case 22 where call == "KVM_CREATE_VCPU":
        return ": the kernel refused the vCPU; check --vcpus against `kvmdbg caps` (max vCPUs)"
    case 1, 13: return ": permission denied; run as root or add this user to the 'kvm' group"
    default: return ""
    }
}
