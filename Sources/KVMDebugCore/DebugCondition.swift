import CKVM

/// A pthread mutex with one condition variable: the all-stop session's rendezvous.
///
/// pthread, not `Synchronization.Mutex` and not Foundation: ThreadSanitizer sees pthread
/// calls (it does not see raw futexes), and the core stays Foundation-free for Embedded Swift.
final class DebugCondition: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let cond: UnsafeMutablePointer<pthread_cond_t>

    init() {
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        // SAFETY: freshly allocated storage, initialised once here and destroyed in deinit.
        unsafe mutex.initialize(to: pthread_mutex_t())
        unsafe cond.initialize(to: pthread_cond_t())
        _ = unsafe pthread_mutex_init(mutex, nil)
        _ = unsafe pthread_cond_init(cond, nil)
    }

    deinit {
        _ = unsafe pthread_cond_destroy(cond)
        _ = unsafe pthread_mutex_destroy(mutex)
        unsafe cond.deallocate()
        unsafe mutex.deallocate()
    }

    func lock() { _ = unsafe pthread_mutex_lock(mutex) }
    func unlock() { _ = unsafe pthread_mutex_unlock(mutex) }
    /// Waits for a broadcast; the caller holds the lock and re-checks its predicate.
    func wait() { _ = unsafe pthread_cond_wait(cond, mutex) }
    func broadcast() { _ = unsafe pthread_cond_broadcast(cond) }

    @inline(__always)
    func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}

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

/// CLOCK_MONOTONIC in nanoseconds.
func monotonicNanoseconds() -> UInt64 {
    var t = timespec()
    _ = unsafe clock_gettime(CLOCK_MONOTONIC, &t)
    return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
}
