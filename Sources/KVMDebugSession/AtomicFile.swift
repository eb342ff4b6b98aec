import CPosix
import KVMDebugModel

/// A file that appears at `path` only once complete: written to `path.kvmdbg-tmp.N` (O_EXCL, in
/// the same directory so the rename is atomic), fsynced, renamed over `path`; `abandon` removes it.
final class AtomicFile {
    let path: String
    let temporary: String
    private var fd: Int32

    init(_ path: String) throws(DebugError) {
        self.path = path
        var n = 0
        while true {
            let t = "\(path).kvmdbg-tmp.\(n)"
            do throws(DebugError) {
                fd = try FileCalls.createExclusive(t)
                temporary = t
                return
            } catch {
                // A stale temporary of an earlier, killed dump: take the next name.
                if case .system(_, let e) = error, e == 17, n < 100 { n += 1; continue }
                throw error
            }
        }
    }

    func write(_ bytes: [UInt8]) throws(DebugError) { try FileCalls.writeAll(fd, bytes, path: temporary) }

    func commit() throws(DebugError) {
        try FileCalls.syncFile(fd, path: temporary)
        FileCalls.closeFile(fd)
        fd = -1
        try FileCalls.renameFile(temporary, path)
    }

    func abandon() {
        if fd >= 0 { FileCalls.closeFile(fd); fd = -1 }
        FileCalls.unlinkFile(temporary)
    }

    deinit { if fd >= 0 { abandon() } }
}

/// The file calls a core file needs (Sources/CPosix): each wraps one call and turns -1/errno
/// into `DebugError.system(call:errno:)` naming the call and the file.
enum FileCalls {
    static func check(_ r: Int32, _ call: String) throws(DebugError) -> Int32 {
        if r < 0 { throw .system(call: call, errno: cposix_errno()) }
        return r
    }

    /// close(2); errors are ignored (the fd is gone either way on Linux).
    static func closeFile(_ fd: Int32) { _ = close(fd) }

    /// open(2) O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC, mode 0644: a new file nobody else holds.
    static func createExclusive(_ path: String) throws(DebugError) -> Int32 {
        let fd = path.withCString { cposix_open_mode($0, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) }
        return try check(fd, "open(\(path))")
    }

    /// write(2) until every byte is out; EINTR is retried here (a signal interrupting a file
    /// write is no reason to give up the file).
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(DebugError) {
        var done = 0
        while done < bytes.count {
            // SAFETY: the pointer and count stay inside `bytes`' buffer for the call.
            let n = unsafe bytes.withUnsafeBytes { raw in unsafe write(fd, raw.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                if cposix_errno() == EINTR { continue }
                throw .system(call: "write(\(path))", errno: cposix_errno())
            }
            done += n
        }
    }

    /// fsync(2).
    static func syncFile(_ fd: Int32, path: String) throws(DebugError) { _ = try check(fsync(fd), "fsync(\(path))") }

    /// rename(2): atomic within one filesystem.
    static func renameFile(_ from: String, _ to: String) throws(DebugError) {
        let r = from.withCString { f in to.withCString { t in rename(f, t) } }
        _ = try check(r, "rename(\(from), \(to))")
    }

    /// unlink(2); errors are ignored (cleanup of a temporary file).
    static func unlinkFile(_ path: String) { _ = path.withCString { unlink($0) } }
}
