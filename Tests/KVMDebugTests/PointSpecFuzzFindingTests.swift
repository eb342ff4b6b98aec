import Testing
import KVMDebugCLI
import KVMDebugCore
import KVMTestSupport

/// What the `pointspec` fuzz target's properties caught (inputs in Fuzz/corpus/pointspec/wrap-*).
@Suite struct PointSpecFuzzFindingTests {
    let symbols = BuiltinGuests.counterX86(.long).symbols

    /// `counter+0xffffffffffffffff` silently named 0x1fff; it is refused.
    @Test func aSymbolOffsetPastTheTopIsRefused() throws {
        let e = thrownError { () throws(DebugError) in try PointSpec.parse("counter+0xffffffffffffffff", kind: .hardware, symbols: symbols) }
        #expect(e == .unsupported(reason: "bad offset in 'counter+0xffffffffffffffff': counter at 0x2000 plus 0xffffffffffffffff runs past the top of the address space"))
        #expect(try PointSpec.parse("counter+0x8", kind: .hardware, symbols: symbols).point == .hardware(address: 0x2008))
    }

    /// A watch whose range runs past 2^64 is refused when parsed, before any VM is built.
    @Test func aWatchPastTheTopIsRefused() throws {
        let e = thrownError { () throws(DebugError) in try PointSpec.parse("counter:0xffffffffffffffff:w", kind: .watch, symbols: symbols) }
        #expect(e == .unsupported(reason: "bad watch 'counter:0xffffffffffffffff:w': 18446744073709551615 bytes at 0x2000 run past the top of the address space"))
        #expect(try PointSpec.parse("0xfffffffffffffff8:8:w", kind: .watch, symbols: symbols).point
                == .watch(address: 0xFFFF_FFFF_FFFF_FFF8, length: 8, kind: .write))
    }
}
