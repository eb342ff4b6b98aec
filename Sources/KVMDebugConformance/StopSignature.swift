import KVMDebugCore

/// What a differential comparison looks at in a stop: (vCPU, reason, pc, address).
public struct StopSignature: Sendable, Hashable, CustomStringConvertible {
    public var vcpu: Int
    public var reason: String
    public var pc: UInt64
    public var address: UInt64?

    public init(vcpu: Int, reason: String, pc: UInt64, address: UInt64?) {
        self.vcpu = vcpu
        self.reason = reason
        self.pc = pc
        self.address = address
    }

    public init(_ s: Stop) {
        self.init(vcpu: s.vcpu, reason: s.reason.name, pc: s.pc, address: s.dataAddress)
    }

    /// `(vcpu, reason, pc[, address])`: the form of one stop in `kvmdbg scenarios`' lines.
    public var description: String {
        "(\(vcpu), \(reason), \(hex(pc))\(address.map { ", " + hex($0) } ?? ""))"
    }
}
