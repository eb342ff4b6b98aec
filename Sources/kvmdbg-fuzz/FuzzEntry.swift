import KVMDebugFuzz

/// libFuzzer's entry point: one input through the GDB engine (`GDBFuzzHarness`); a malformed
/// reply stream is a finding, so it traps for libFuzzer to save the input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    // Safety: libFuzzer passes `size` readable bytes at `data` for the duration of the call.
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    let outcome = GDBFuzzHarness.run(input)
    if let v = outcome.violation { fatalError("GDB engine sent a malformed reply stream: \(v)") }
    return 0
}
