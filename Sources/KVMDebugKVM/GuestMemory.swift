import CKVM
import KVMDebugModel

/// One range of guest-physical memory and where the host has it mapped.
///
/// For a host VMM the mapping is the VMM's: kvmdbg reads and writes through it and
/// never unmaps it.
public struct GuestMemoryRegion: @unchecked Sendable {
    public var guestAddress: UInt64
    public var size: UInt64
    public var host: UnsafeMutableRawPointer

    public init(guestAddress: UInt64, size: UInt64, host: UnsafeMutableRawPointer) {
        self.guestAddress = guestAddress
        self.size = size
        unsafe self.host = host
    }

    /// The host pointer for `[address, address+count)` if it lies inside this region.
    func pointer(_ address: UInt64, _ count: Int) -> UnsafeMutableRawPointer? {
        guard address >= guestAddress, count >= 0,
              address &- guestAddress <= size, UInt64(count) <= size &- (address &- guestAddress) else { return nil }
        return unsafe host + Int(address &- guestAddress)
    }
}

/// Reads and writes guest memory through host mappings.
struct GuestMemory {
    var regions: [GuestMemoryRegion]

    func read(_ address: UInt64, count: Int) throws(DebugError) -> [UInt8] {
        for r in regions {
            if let p = r.pointer(address, count) {
                var out = [UInt8](repeating: 0, count: count)
                for i in 0..<count { out[i] = unsafe p.load(fromByteOffset: i, as: UInt8.self) }
                return out
            }
        }
        throw .badGuestAddress(address: address, length: UInt64(count))
    }

    func write(_ address: UInt64, _ bytes: [UInt8]) throws(DebugError) {
        for r in regions {
            if let p = r.pointer(address, bytes.count) {
                for (i, b) in bytes.enumerated() { unsafe p.storeBytes(of: b, toByteOffset: i, as: UInt8.self) }
                // Patched code must reach the guest's instruction fetch (arm64 I-cache).
                unsafe Sys.clearInstructionCache(p, count: bytes.count)
                return
            }
        }
        throw .badGuestAddress(address: address, length: UInt64(bytes.count))
    }
}
