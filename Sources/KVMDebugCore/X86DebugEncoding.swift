// STUB: being written by a helper.
public struct WatchPiece: Sendable, Hashable {
    public var address: UInt64
    public var length: UInt64
    public init(address: UInt64, length: UInt64) { self.address = address; self.length = length }
}

public enum X86DebugEncoding {
    public static func pieces(of point: DebugPoint) throws(DebugError) -> [WatchPiece] { throw .unsupported(reason: "stub") }
    public static func encode(_ points: [DebugPoint], capacity: SlotCapacity, vcpu: Int) throws(DebugError) -> EncodedDebugRegisters { throw .unsupported(reason: "stub") }
    public static func decode(exception: UInt32, pc: UInt64, dr6: UInt64, slots: [SlotUse]) -> [StopHit] { [] }
}
