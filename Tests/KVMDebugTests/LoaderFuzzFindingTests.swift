import Testing
import KVMDebugCLI
import KVMDebugCore
import KVMTestSupport

/// What the `loader` fuzz target found (its input is Fuzz/corpus/loader/crash-arm64-load-near-top).
@Suite struct LoaderFuzzFindingTests {
    /// An arm64 raw image loaded just below 2^64 overflowed the RAM layout's rounding up (a
    /// trap); it is refused as too large, like any span over 1 GiB.
    @Test func anArm64ImageNearTheTopOfTheAddressSpaceIsRefused() throws {
        let image = try ImageLoader.load(bytes: [0, 0, 0x80, 0xD2], arch: .arm64, loadAddress: 0xFFFF_FFFF_FFFF_0000)
        let error = thrownError { () throws(DebugError) in try ImageLoader.guest(from: image, name: "top", mode: nil, entry: nil) }
        guard case .badImage(let reason)? = error else { Issue.record("not refused: \(String(describing: error))"); return }
        #expect(reason.hasPrefix("image too large: it spans 0x10000..0xffffffffffff0004"))
        #expect(Arm64GuestRAM.layout(lowest: 0xFFFF_FFFF_FFFF_0000, highestEnd: .max).size == .max)
        #expect(Arm64GuestRAM.layout(lowest: 0x10000, highestEnd: 0x10008) == (0x10000, 0x20000))
    }
}
