import CKVM

/// The one place kvmdbg calls into the kernel. Each function wraps one CKVM call
/// and turns -1/errno into `DebugError.system(call:errno:)` naming the ioctl.
/// None retries on EINTR: that decision is the caller's (KVM_RUN reports it).
enum Sys {
    /// Turns a C return value into a result or a typed error naming `call`.
    @inline(__always)
    static func check(_ r: Int32, _ call: String) throws(DebugError) -> Int32 {
        if r < 0 { throw .system(call: call, errno: ckvm_errno()) }
        return r
    }

    /// open(2), O_CLOEXEC always. ENOENT and EACCES become the user-facing errors.
    static func open(_ path: String, readWrite: Bool) throws(DebugError) -> Int32 {
        let fd = path.withCString { ckvm_open($0, readWrite ? O_RDWR : O_RDONLY) }
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

    /// mmap(2) MAP_SHARED of `fd` (or anonymous memory with fd -1).
    static func mapShared(fd: Int32, length: Int) throws(DebugError) -> UnsafeMutableRawPointer {
        // SAFETY: the kernel validates fd and length; MAP_FAILED is checked below.
        guard let p = unsafe ckvm_mmap_shared(fd, length), unsafe ckvm_mmap_failed(p) == 0 else {
            throw .system(call: fd < 0 ? "mmap(guest memory)" : "mmap(kvm_run)", errno: ckvm_errno())
        }
        return unsafe p
    }

    /// munmap(2).
    static func unmap(_ p: UnsafeMutableRawPointer, length: Int) {
        // SAFETY: only called with a mapping this process made and owns.
        _ = unsafe ckvm_munmap(p, length)
    }

    static func checkExtension(_ fd: Int32, _ cap: Capability) -> Int32 {
        ckvm_check_extension(fd, Int(cap.rawValue))
    }
}
