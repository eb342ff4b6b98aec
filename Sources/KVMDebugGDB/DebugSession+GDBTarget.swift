import KVMDebugCore

/// The session is what the engine drives: every requirement of `GDBTarget` is DebugSession API.
extension DebugSession: GDBTarget {}
