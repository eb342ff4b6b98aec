// The library a VMM tool or a test imports: the model, the session, the KVM backend and the
// built-in guests under one name, so `import KVMDebugCore` keeps giving all four.
@_exported import KVMDebugModel
@_exported import KVMDebugSession
@_exported import KVMDebugKVM
@_exported import KVMDebugGuests
