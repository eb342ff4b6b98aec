// STUB: being written by a helper.
public enum Arm64DebugEncoding {
    public static func pieces(of point: DebugPoint) throws(DebugError) -> [WatchPiece] { throw .unsupported(reason: "stub") }
    public static func encode(_ points: [DebugPoint], capacity: SlotCapacity, vcpu: Int) throws(DebugError) -> EncodedDebugRegisters { throw .unsupported(reason: "stub") }
    public static func decode(esr: UInt64, far: UInt64, pc: UInt64, slots: [SlotUse]) -> [StopHit] { [] }
}
