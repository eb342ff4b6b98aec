/// A debug point for a run (`RunPlan.points`) with the vCPUs it is armed on and the
/// text it was written as (`--break store@1`), for messages. The command line's forms are
/// parsed by `PointSpec.parse` (KVMDebug).
public struct PointSpec: Sendable, Hashable {
    public var point: DebugPoint
    public var target: VCPUTarget
    /// The text the user wrote, for messages.
    public var text: String

    public init(point: DebugPoint, target: VCPUTarget, text: String) {
        self.point = point
        self.target = target
        self.text = text
    }
}
