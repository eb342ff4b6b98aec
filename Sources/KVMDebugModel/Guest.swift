/// The CPU mode a guest starts in.
public enum CPUMode: Sendable, Hashable {
    /// x86 16-bit real mode, CS = 0.
    case real
    /// x86 64-bit long mode: GDT, identity-mapped 2 MiB page, CS.L = 1 (set up by the backend).
    case long
    /// arm64 EL1h with the MMU off (KVM_ARM_VCPU_INIT's reset state).
    case el1

    public var name: String {
        switch self {
        case .real: return "real"
        case .long: return "long"
        case .el1: return "el1"
        }
    }

    public init?(name: String) {
        switch name {
        case "real": self = .real
        case "long": self = .long
        case "el1": self = .el1
        default: return nil
        }
    }
}

/// A named guest address (`--break store`).
public struct GuestSymbol: Sendable, Hashable {
    public var name: String
    public var address: UInt64
    /// Bytes the symbol covers (8 for a data word, the instruction length for code; 0 if unknown).
    public var size: UInt64

    public init(name: String, address: UInt64, size: UInt64 = 0) {
        self.name = name
        self.address = address
        self.size = size
    }
}

/// A guest program: bytes loaded at one guest-physical address, an entry point and symbols.
public struct Guest: Sendable, Hashable {
    public var name: String
    public var arch: Arch
    public var mode: CPUMode
    /// Guest-physical base of RAM (x86 0; arm64 0x10000).
    public var memoryBase: UInt64
    /// Bytes of guest RAM.
    public var memorySize: UInt64
    /// Where `image` is loaded.
    public var loadAddress: UInt64
    public var image: [UInt8]
    /// Extra bytes to place (data words), as (address, bytes).
    public var data: [GuestData]
    public var entry: UInt64
    public var symbols: [GuestSymbol]
    public var summary: String

    public init(name: String, arch: Arch, mode: CPUMode, memoryBase: UInt64, memorySize: UInt64,
                loadAddress: UInt64, image: [UInt8], data: [GuestData] = [], entry: UInt64,
                symbols: [GuestSymbol], summary: String) {
        self.name = name
        self.arch = arch
        self.mode = mode
        self.memoryBase = memoryBase
        self.memorySize = memorySize
        self.loadAddress = loadAddress
        self.image = image
        self.data = data
        self.entry = entry
        self.symbols = symbols
        self.summary = summary
    }

    /// The address of a symbol, if the guest has it.
    public func symbol(_ name: String) -> GuestSymbol? {
        for s in symbols where s.name == name { return s }
        return nil
    }

    /// Checks that image and data fit in guest RAM.
    public func validate() throws(DebugError) {
        let end = memoryBase &+ memorySize
        if loadAddress < memoryBase || loadAddress &+ UInt64(image.count) > end {
            throw .badImage(reason: "image of \(image.count) bytes at \(hex(loadAddress)) does not fit guest RAM \(hex(memoryBase))..\(hex(end))")
        }
        for d in data where d.address < memoryBase || d.address &+ UInt64(d.bytes.count) > end {
            throw .badImage(reason: "data at \(hex(d.address)) outside guest RAM")
        }
        if entry < memoryBase || entry >= end {
            throw .badImage(reason: "entry \(hex(entry)) outside guest RAM")
        }
    }
}

/// Initial bytes at a guest address.
public struct GuestData: Sendable, Hashable {
    public var address: UInt64
    public var bytes: [UInt8]
    public init(address: UInt64, bytes: [UInt8]) {
        self.address = address
        self.bytes = bytes
    }
}

/// Little-endian bytes of a 64-bit value.
public func littleEndianBytes(_ v: UInt64, count: Int = 8) -> [UInt8] {
    var out: [UInt8] = []
    var x = v
    for _ in 0..<count {
        out.append(UInt8(truncatingIfNeeded: x))
        x >>= 8
    }
    return out
}

/// The value of little-endian bytes.
public func littleEndianValue(_ bytes: [UInt8]) -> UInt64 {
    var v: UInt64 = 0
    var shift: UInt64 = 0
    for b in bytes {
        v |= UInt64(b) << shift
        shift += 8
    }
    return v
}
