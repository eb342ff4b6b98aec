/// The result of encoding one vCPU's hardware points: the registers plus which slot serves what.
///
/// The layout is kept with the state that was installed, so a stop is decoded
/// against the slots that were really armed when the vCPU ran.
public struct EncodedDebugRegisters: Sendable, Hashable {
    public var registers: ArchDebugRegisters
    public var slots: [SlotUse]

    public init(registers: ArchDebugRegisters, slots: [SlotUse]) {
        self.registers = registers
        self.slots = slots
    }

    /// The slot uses of one comparator kind, for decoding.
    public func slots(of kind: SlotKind) -> [SlotUse] { slots.filter { $0.kind == kind } }
}
