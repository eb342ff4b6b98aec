import CPosix
import KVMDebugModel

/// A joinable pthread running one closure (a vCPU thread).
final class DebugThread: @unchecked Sendable {
    private var thread = pthread_t()

    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// Starts `body` on a new thread with a 1 MiB stack (vCPU threads need little).
    init(_ body: @escaping () -> Void) throws(DebugError) {
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        var attr = pthread_attr_t()
        _ = unsafe pthread_attr_init(&attr)
        _ = unsafe pthread_attr_setstacksize(&attr, 1 << 20)
        let r = unsafe pthread_create(&thread, &attr, { arg in
            // SAFETY: `arg` is the retained Body passed below; taken back exactly once.
            let body = unsafe Unmanaged<Body>.fromOpaque(arg!).takeRetainedValue()
            body.run()
            return nil
        }, box)
        _ = unsafe pthread_attr_destroy(&attr)
        if r != 0 {
            unsafe Unmanaged<Body>.fromOpaque(box).release()
            throw .system(call: "pthread_create", errno: r)
        }
    }

    /// Waits for the thread to end.
    func join() { _ = unsafe pthread_join(thread, nil) }
}

/// The host CPUs this thread may run on (one sched_getaffinity), in order; at least one.
public func allowedHostCPUs() -> [Int] {
    var cpus = [Int32](repeating: 0, count: 1024)
    let n = unsafe cpus.withUnsafeMutableBufferPointer { unsafe cposix_allowed_cpus($0.baseAddress, 1024) }
    return n > 0 ? cpus[..<Int(n)].map(Int.init) : [0]
}

/// The host CPU the calling thread runs on now (getcpu); -1 when unknown.
public func currentHostCPU() -> Int { Int(cposix_current_cpu()) }

/// CLOCK_MONOTONIC in nanoseconds: the clock of session deadlines and latencies.
public func monotonicNanoseconds() -> UInt64 {
    var t = timespec()
    _ = unsafe clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
}
