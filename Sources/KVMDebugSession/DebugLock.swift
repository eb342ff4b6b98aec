import CPosix

/// A mutual-exclusion lock over a pthread mutex.
///
/// Not `Synchronization.Mutex`: on Linux that locks with raw futex calls that
/// ThreadSanitizer cannot see, so every guarded access would be reported as a race
/// in the `-sanitize=thread` runs of the SMP tests.
public final class DebugLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        // SAFETY: freshly allocated storage, initialised once here and destroyed in deinit.
        unsafe mutex.initialize(to: pthread_mutex_t())
        _ = unsafe pthread_mutex_init(mutex, nil)
    }

    deinit {
        _ = unsafe pthread_mutex_destroy(mutex)
        unsafe mutex.deallocate()
    }

    /// Runs `body` with the lock held.
    @inline(__always)
    public func withLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        _ = unsafe pthread_mutex_lock(mutex)
        defer { _ = unsafe pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// A value behind a `DebugLock`: the value is reachable only with the lock held.
public final class DebugLocked<Value>: @unchecked Sendable {
    private let lock = DebugLock()
    private var value: Value

    public init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` on the value with the lock held.
    @inline(__always)
    public func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        try lock.withLock { () throws(E) -> R in try body(&value) }
    }
}
