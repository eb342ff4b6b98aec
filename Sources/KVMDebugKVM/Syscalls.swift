import CKVM
import KVMDebugModel

/// The one place the KVM backend calls into the kernel: every `ckvm_*` call of the backend is
/// here. Each function wraps one call; ioctls that can fail turn -1/errno into
/// `DebugError.system(call:errno:)` naming the ioctl. None retries on EINTR: that
/// decision is the caller's (KVM_RUN reports it). The choices (O_CLOEXEC, MAP_ANONYMOUS,
/// no SA_RESTART) are made here, in Swift, not in C; which signal kicks is `KVMKick`'s.
/// `git grep ckvm_ -- '*.swift'` also finds the poll driver's serial line
/// (Sources/KVMDebugGDBPoll, lanes/arm64/LaneGDB.swift) and a test pinning vCPU threads to
/// host CPUs; the session's threads and core-file writes use CPosix, not CKVM.
enum Sys {
    /// Turns a C return value into a result or a typed error naming `call`.
    @inline(__always)
    static func check(_ r: Int32, _ call: String) throws(DebugError) -> Int32 {
        if r < 0 { throw .system(call: call, errno: ckvm_errno()) }
        return r
    }

    static var errno: Int32 { ckvm_errno() }

    // MARK: fds and mappings

    /// open(2) with O_CLOEXEC always (no fd of ours leaks into a child). ENOENT and
    /// EACCES become the user-facing errors.
    static func open(_ path: String, readWrite: Bool) throws(DebugError) -> Int32 {
        let fd = path.withCString { ckvm_open($0, (readWrite ? O_RDWR : O_RDONLY) | O_CLOEXEC) }
        if fd < 0 {
            let e = ckvm_errno()
            if e == ENOENT || e == ENODEV || e == ENXIO { throw .deviceMissing(path: path) }
            if e == EACCES || e == EPERM { throw .permissionDenied(path: path) }
            throw .system(call: "open(\(path))", errno: e)
        }
        return fd
    }

    /// close(2); errors are ignored (the fd is gone either way on Linux).
    static func close(_ fd: Int32) { _ = ckvm_close(fd) }

    /// mmap(2) MAP_SHARED read/write of `fd`, or of anonymous memory when fd is -1.
    static func mapShared(fd: Int32, length: Int) throws(DebugError) -> UnsafeMutableRawPointer {
        let flags = MAP_SHARED | (fd < 0 ? MAP_ANONYMOUS : 0)
        // SAFETY: the kernel validates fd and length; MAP_FAILED is checked below.
        guard let p = unsafe ckvm_mmap(nil, length, PROT_READ | PROT_WRITE, flags, fd, 0), unsafe ckvm_mmap_failed(p) == 0 else {
            throw .system(call: fd < 0 ? "mmap(guest memory)" : "mmap(kvm_run)", errno: ckvm_errno())
        }
        return unsafe p
    }

    /// munmap(2).
    static func unmap(_ p: UnsafeMutableRawPointer, length: Int) {
        // SAFETY: only called with a mapping this process made and owns.
        _ = unsafe ckvm_munmap(p, length)
    }

    /// Makes code patched through the host mapping visible to the guest's instruction
    /// fetch (arm64 I-cache; a no-op on x86).
    static func clearInstructionCache(_ p: UnsafeMutableRawPointer, count: Int) {
        // SAFETY: [p, p+count) lies inside a live guest-memory mapping (checked by the caller).
        unsafe ckvm_clear_cache(p, p + count)
    }

    // MARK: threads and the kick signal

    /// pthread_self(3) as an integer, for `kick`.
    static func currentThread() -> UInt { UInt(ckvm_thread_self()) }

    /// pthread_kill(3): interrupts `thread` if it is blocked in KVM_RUN.
    static func signal(thread: UInt, _ signal: Int32) { _ = ckvm_thread_kill(thread, signal) }

    /// Installs a no-op handler for `signal` *without* SA_RESTART, so a KVM_RUN it
    /// interrupts returns EINTR instead of being restarted. The corresponding call is sigaction(2).
    static func installKickHandler(_ signal: Int32) -> Bool {
        var sa = sigaction()
        sa.__sigaction_handler.sa_handler = { _ in }
        sa.sa_flags = 0  // no SA_RESTART: KVM_RUN must return EINTR
        _ = unsafe sigemptyset(&sa.sa_mask)
        return unsafe sigaction(signal, &sa, nil) == 0
    }

    /// sigtimedwait(2) with a zero timeout on `signal`: takes one pending kick off the
    /// thread (a kick that arrived while the thread had it blocked would otherwise make
    /// every later KVM_RUN return EINTR at once). True when one was taken.
    static func takePendingSignal(_ signal: Int32) -> Bool {
        var set = sigset_t()
        _ = unsafe sigemptyset(&set)
        _ = unsafe sigaddset(&set, signal)
        var zero = timespec(tv_sec: 0, tv_nsec: 0)
        return unsafe sigtimedwait(&set, nil, &zero) == signal
    }

    /// The kernel sigset (bit n-1 = signal n) that blocks everything but `signal`.
    static func onlyDeliverable(_ signal: Int32) -> UInt64 { ~(UInt64(1) << UInt64(signal - 1)) }

    // MARK: /dev/kvm

    static func apiVersion(_ kvm: Int32) -> Int32 { ckvm_get_api_version(kvm) }

    static func checkExtension(_ fd: Int32, _ cap: Capability) -> Int32 {
        ckvm_check_extension(fd, Int(cap.rawValue))
    }

    static func createVM(_ kvm: Int32) throws(DebugError) -> Int32 {
        try check(ckvm_create_vm(kvm, 0), "KVM_CREATE_VM")
    }

    static func vcpuMmapSize(_ kvm: Int32) throws(DebugError) -> Int {
        Int(try check(ckvm_get_vcpu_mmap_size(kvm), "KVM_GET_VCPU_MMAP_SIZE"))
    }

    // MARK: VM fd

    static func setUserMemoryRegion(_ vm: Int32, _ r: inout kvm_userspace_memory_region) throws(DebugError) {
        _ = try check(ckvm_set_user_memory_region(vm, &r), "KVM_SET_USER_MEMORY_REGION")
    }

    static func enableCapability(_ vm: Int32, _ cap: Capability) throws(DebugError) {
        _ = try check(ckvm_enable_cap(vm, UInt32(cap.rawValue)), "KVM_ENABLE_CAP(\(cap.name))")
    }

    static func createVCPU(_ vm: Int32, id: Int) throws(DebugError) -> Int32 {
        try check(ckvm_create_vcpu(vm, UInt(id)), "KVM_CREATE_VCPU")
    }

    // MARK: vCPU fd

    /// KVM_RUN: returns the raw result; the caller reads errno (EINTR is a kick).
    static func run(_ vcpu: Int32) -> (result: Int32, errno: Int32) {
        let r = ckvm_run(vcpu)
        return (r, ckvm_errno())
    }

    /// kvm_run.immediate_exit, stored atomically (KVM reads it at entry, a kicking thread writes it).
    static func setImmediateExit(_ run: UnsafeMutablePointer<kvm_run>, _ value: UInt8) {
        // SAFETY: a single atomic byte store into a live kvm_run mapping.
        unsafe ckvm_set_immediate_exit(run, value)
    }

    static func setSignalMask(_ vcpu: Int32, blocked: UInt64) throws(DebugError) {
        _ = try check(ckvm_set_signal_mask(vcpu, blocked), "KVM_SET_SIGNAL_MASK")
    }

    static func setGuestDebug(_ vcpu: Int32, _ d: inout kvm_guest_debug) throws(DebugError) {
        _ = try check(ckvm_set_guest_debug(vcpu, &d), "KVM_SET_GUEST_DEBUG")
    }

    #if arch(x86_64)
    static func getRegs(_ vcpu: Int32) throws(DebugError) -> kvm_regs {
        var r = kvm_regs()
        _ = try check(ckvm_get_regs(vcpu, &r), "KVM_GET_REGS")
        return r
    }

    static func setRegs(_ vcpu: Int32, _ r: kvm_regs) throws(DebugError) {
        var r = r
        _ = try check(ckvm_set_regs(vcpu, &r), "KVM_SET_REGS")
    }

    static func getSregs(_ vcpu: Int32) throws(DebugError) -> kvm_sregs {
        var s = kvm_sregs()
        _ = try check(ckvm_get_sregs(vcpu, &s), "KVM_GET_SREGS")
        return s
    }

    static func setSregs(_ vcpu: Int32, _ s: kvm_sregs) throws(DebugError) {
        var s = s
        _ = try check(ckvm_set_sregs(vcpu, &s), "KVM_SET_SREGS")
    }

    /// KVM_KVMCLOCK_CTRL; EINVAL (a guest without kvmclock) is not an error for a debugger.
    static func kvmclockCtrl(_ vcpu: Int32) -> Bool { ckvm_kvmclock_ctrl(vcpu) == 0 }

    static func translate(_ vcpu: Int32, _ address: UInt64) throws(DebugError) -> kvm_translation {
        var t = kvm_translation()
        t.linear_address = address
        _ = try check(ckvm_translate(vcpu, &t), "KVM_TRANSLATE")
        return t
    }

    /// KVM_GET_XSAVE (4096 bytes) or, with `size` > 4096 (KVM_CAP_XSAVE2), KVM_GET_XSAVE2.
    static func getXSAVE(_ vcpu: Int32, size: Int) throws(DebugError) -> [UInt8] {
        var area = [UInt8](repeating: 0, count: max(size, 4096))
        let two = size > 4096
        let r = unsafe area.withUnsafeMutableBytes { unsafe two ? ckvm_get_xsave2(vcpu, $0.baseAddress) : ckvm_get_xsave(vcpu, $0.baseAddress) }
        _ = try check(r, two ? "KVM_GET_XSAVE2" : "KVM_GET_XSAVE")
        return area
    }

    /// KVM_SET_XSAVE with an area of the size the matching get returned.
    static func setXSAVE(_ vcpu: Int32, _ area: [UInt8]) throws(DebugError) {
        let r = unsafe area.withUnsafeBytes { unsafe ckvm_set_xsave(vcpu, $0.baseAddress) }
        _ = try check(r, "KVM_SET_XSAVE")
    }

    /// KVM_GET_CPUID2 with room for `room` entries: (function, index, eax, ebx, ecx, edx) each.
    static func getCPUID2(_ vcpu: Int32, room: Int = 256) throws(DebugError) -> [(UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)] {
        var buffer = [UInt8](repeating: 0, count: 8 + 40 * room)
        buffer[0] = UInt8(truncatingIfNeeded: room); buffer[1] = UInt8(truncatingIfNeeded: room >> 8)
        let r = unsafe buffer.withUnsafeMutableBytes { unsafe ckvm_get_cpuid2(vcpu, $0.baseAddress) }
        _ = try check(r, "KVM_GET_CPUID2")
        func word(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(buffer[at + $1]) << UInt32(8 * $1) } }
        let n = min(Int(word(0)), room)
        return (0..<n).map { i in
            let e = 8 + 40 * i
            return (word(e), word(e + 4), word(e + 12), word(e + 16), word(e + 20), word(e + 24))
        }
    }

    static func getFPU(_ vcpu: Int32) throws(DebugError) -> kvm_fpu {
        var f = kvm_fpu()
        _ = try check(ckvm_get_fpu(vcpu, &f), "KVM_GET_FPU")
        return f
    }

    static func setFPU(_ vcpu: Int32, _ f: kvm_fpu) throws(DebugError) {
        var f = f
        _ = try check(ckvm_set_fpu(vcpu, &f), "KVM_SET_FPU")
    }

    static func getDebugRegs(_ vcpu: Int32) throws(DebugError) -> kvm_debugregs {
        var d = kvm_debugregs()
        _ = try check(ckvm_get_debugregs(vcpu, &d), "KVM_GET_DEBUGREGS")
        return d
    }

    static func setDebugRegs(_ vcpu: Int32, _ d: kvm_debugregs) throws(DebugError) {
        var d = d
        _ = try check(ckvm_set_debugregs(vcpu, &d), "KVM_SET_DEBUGREGS")
    }
    #endif

    #if arch(arm64)
    /// KVM_GET_ONE_REG of a register of any size (the id's size field): `bytes` long.
    static func getOneReg(_ vcpu: Int32, _ id: UInt64, bytes: Int) throws(DebugError) -> [UInt8] {
        var value = [UInt8](repeating: 0, count: bytes)
        let rc = unsafe value.withUnsafeMutableBytes { p in
            var r = kvm_one_reg(id: id, addr: UInt64(UInt(bitPattern: p.baseAddress)))
            return ckvm_get_one_reg(vcpu, &r)
        }
        _ = try check(rc, "KVM_GET_ONE_REG")
        return value
    }

    /// KVM_SET_ONE_REG of a register of any size.
    static func setOneReg(_ vcpu: Int32, _ id: UInt64, bytes value: [UInt8]) throws(DebugError) {
        let rc = unsafe value.withUnsafeBytes { p in
            var r = kvm_one_reg(id: id, addr: UInt64(UInt(bitPattern: p.baseAddress)))
            return ckvm_set_one_reg(vcpu, &r)
        }
        _ = try check(rc, "KVM_SET_ONE_REG")
    }

    static func getOneReg(_ vcpu: Int32, _ id: UInt64) throws(DebugError) -> UInt64 {
        var value: UInt64 = 0
        try unsafe withUnsafeMutablePointer(to: &value) { (p) throws(DebugError) in
            var r = kvm_one_reg(id: id, addr: UInt64(UInt(bitPattern: p)))
            _ = try check(ckvm_get_one_reg(vcpu, &r), "KVM_GET_ONE_REG")
        }
        return value
    }

    static func setOneReg(_ vcpu: Int32, _ id: UInt64, _ value: UInt64) throws(DebugError) {
        var value = value
        try unsafe withUnsafeMutablePointer(to: &value) { (p) throws(DebugError) in
            var r = kvm_one_reg(id: id, addr: UInt64(UInt(bitPattern: p)))
            _ = try check(ckvm_set_one_reg(vcpu, &r), "KVM_SET_ONE_REG")
        }
    }

    static func armVCPUInit(_ vcpu: Int32, _ i: kvm_vcpu_init) throws(DebugError) {
        var i = i
        _ = try check(ckvm_arm_vcpu_init(vcpu, &i), "KVM_ARM_VCPU_INIT")
    }

    static func armVCPUFinalize(_ vcpu: Int32, feature: Int32) throws(DebugError) {
        var f = feature
        _ = try check(ckvm_arm_vcpu_finalize(vcpu, &f), "KVM_ARM_VCPU_FINALIZE")
    }

    static func armPreferredTarget(_ vm: Int32) throws(DebugError) -> kvm_vcpu_init {
        var i = kvm_vcpu_init()
        _ = try check(ckvm_arm_preferred_target(vm, &i), "KVM_ARM_PREFERRED_TARGET")
        return i
    }
    #endif
}
