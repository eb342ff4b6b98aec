import KVMDebugModel

/// Last seen bytes under an x86 read watchpoint (emulated with R/W=11).
struct ReadWatchValue: Sendable {
    var point: DebugPoint
    var value: [UInt8]
}
