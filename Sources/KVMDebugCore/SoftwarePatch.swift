/// Original bytes under a software breakpoint.
struct SoftwarePatch: Sendable {
    var address: UInt64
    var original: [UInt8]
}
