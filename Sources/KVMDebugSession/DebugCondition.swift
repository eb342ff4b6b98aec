import CPosix

/// A pthread mutex with condition variables on it: the all-stop session's rendezvous.
///
/// Condition 0 is the main one (`wait()`, `broadcast()`); `slots` more let each waiter that
/// waits for its own event (a vCPU thread for its command) be woken alone, so waking one
/// vCPU thread does not wake the others (N vCPUs: one wake-up, not N).
///
/// pthread, not `Synchronization.Mutex` and not Foundation: ThreadSanitizer sees pthread
/// calls (it does not see raw futexes), and the core stays Foundation-free for Embedded Swift.
final class DebugCondition: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let cond: UnsafeMutablePointer<pthread_cond_t>
    private let count: Int

    init(slots: Int = 0) {
        count = 1 + slots
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: count)
        // SAFETY: freshly allocated storage, initialised once here and destroyed in deinit.
        unsafe mutex.initialize(to: pthread_mutex_t())
        unsafe cond.initialize(repeating: pthread_cond_t(), count: count)
        _ = unsafe pthread_mutex_init(mutex, nil)
        // Timed waits count on CLOCK_MONOTONIC: a wall-clock jump must not end a deadline early.
        var attr = pthread_condattr_t()
        _ = unsafe pthread_condattr_init(&attr)
        _ = unsafe pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        // SAFETY: i < count, inside the allocation.
        for i in 0..<count { _ = unsafe pthread_cond_init(cond + i, &attr) }
        _ = unsafe pthread_condattr_destroy(&attr)
    }

    deinit {
        for i in 0..<count { _ = unsafe pthread_cond_destroy(cond + i) }
        _ = unsafe pthread_mutex_destroy(mutex)
        unsafe cond.deallocate()
        unsafe mutex.deallocate()
    }

    func lock() { _ = unsafe pthread_mutex_lock(mutex) }
    func unlock() { _ = unsafe pthread_mutex_unlock(mutex) }
    /// Waits for a broadcast; the caller holds the lock and re-checks its predicate.
    func wait() { _ = unsafe pthread_cond_wait(cond, mutex) }
    func broadcast() { _ = unsafe pthread_cond_broadcast(cond) }
    /// Waits on slot `i`'s condition (0 ..< slots); the caller holds the lock and re-checks.
    func wait(slot i: Int) {
        precondition(i >= 0 && i + 1 < count, "no condition slot \(i)")
        _ = unsafe pthread_cond_wait(cond + (1 + i), mutex)
    }
    /// Wakes slot `i`'s waiter; may be called without the lock (after changing what it waits for under it).
    func signal(slot i: Int) {
        precondition(i >= 0 && i + 1 < count, "no condition slot \(i)")
        _ = unsafe pthread_cond_signal(cond + (1 + i))
    }
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
