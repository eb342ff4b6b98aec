import Glibc
import KVMDebugFuzz

/// The target this process fuzzes: `KVMDBG_FUZZ_TARGET` (default `gdb`), read once.
nonisolated(unsafe) var fuzzTarget = FuzzTarget.gdb

/// libFuzzer calls this once before the first input: picks the target.
@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<Int32>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> Int32 {
    if let name = getenv("KVMDBG_FUZZ_TARGET").map({ String(cString: $0) }) {
        guard let t = FuzzTarget(rawValue: name) else {
            let message = "kvmdbg-fuzz: unknown KVMDBG_FUZZ_TARGET '\(name)'; targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n"
            _ = message.withCString { write(2, $0, strlen($0)) }
            exit(2)
        }
        fuzzTarget = t
    }
    return 0
}

/// libFuzzer's entry point: one input through the chosen target (`FuzzTarget`); a broken
/// property is a finding, so it traps for libFuzzer to save the input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    // Safety: libFuzzer passes `size` readable bytes at `data` for the duration of the call.
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    if let v = fuzzTarget.run(input) { fatalError("kvmdbg-fuzz \(fuzzTarget.rawValue): \(v)") }
    return 0
}
