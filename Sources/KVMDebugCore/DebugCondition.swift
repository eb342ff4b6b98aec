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
        // Timed waits count on CLOCK_MONOTONIC: a wall-clock jump must not end a deadline early.
        var attr = pthread_condattr_t()
        _ = unsafe pthread_condattr_init(&attr)
        _ = unsafe pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        _ = unsafe pthread_cond_init(cond, &attr)
        _ = unsafe pthread_condattr_destroy(&attr)
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
    /// Waits for a broadcast or until CLOCK_MONOTONIC reaches `deadline` (nanoseconds).
    func wait(until deadline: UInt64) {
        var t = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        _ = unsafe pthread_cond_timedwait(cond, mutex, &t)
    }

    @inline(__always)
    func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}
