import KVMDebugCore

/// The fake backend's name for `DebugLocked`, the core's value behind a pthread mutex
/// (visible to ThreadSanitizer). Kept while FakeBackend.swift still says `FakeLock`.
typealias FakeLock<Value> = DebugLocked<Value>
