import KVMDebugCLI
import KVMDebugCore

/// The `--image` loader (`ImageLoader`, `ELFFile`): a file a user hands over.
///
/// Byte 0: bits 0-1 the `--arch` given (none, x86_64, arm64), bits 2-3 the `--mode` (none,
/// real, long, el1), bit 4 a `--load-addr` (the next 8 bytes), bit 5 an `--entry` address
/// (the next 8); the rest is the file. Properties: either a typed error with a message, or
/// a guest whose image, data segments and entry all lie inside its RAM, whose RAM is at
/// most 1 GiB (plus arm64's spare), and which `Guest.validate` accepts; x86 long-mode
/// segments keep clear of the boot page tables at the top of RAM.
public enum LoaderFuzzHarness {
    /// Images whose PT_LOAD segments total more than this are only parsed (`ELFFile`), not
    /// loaded: the loader allocates every segment (up to 1 GiB by design), which would make
    /// such inputs take seconds.
    static let loadLimit: UInt64 = 16 << 20

    public static func run(_ input: [UInt8]) -> String? {
        guard let first = input.first else { return nil }
        var at = 1
        func u64() -> UInt64 {
            var v: UInt64 = 0
            for i in 0..<8 where at + i < input.count { v |= UInt64(input[at + i]) << UInt64(8 * i) }
            at += 8
            return v
        }
        let arch: Arch? = [nil, .x86_64, .arm64, nil][Int(first & 3)]
        let mode: CPUMode? = [nil, .real, .long, .el1][Int(first >> 2) & 3]
        let loadAddress = first & 0x10 != 0 ? u64() : nil
        let entry = first & 0x20 != 0 ? u64() : nil
        let bytes = at < input.count ? Array(input[at...]) : []
        if ELFFile.hasMagic(bytes) {
            guard let elf = try? ELFFile(bytes: bytes) else { return checkError(bytes, arch, loadAddress) }
            let total = elf.loadSegments.reduce(UInt64(0)) { $0 &+ $1.memorySize }
            if total > loadLimit { return nil }
        }
        let image: LoadedImage
        let guest: Guest
        do throws(DebugError) {
            image = try ImageLoader.load(bytes: bytes, arch: arch, loadAddress: loadAddress)
            guest = try ImageLoader.guest(from: image, name: "fuzz", mode: mode, entry: entry)
        } catch {
            return error.message.isEmpty ? "an empty error message" : nil
        }
        let ramEnd = guest.memoryBase &+ guest.memorySize
        func inside(_ a: UInt64, _ n: Int) -> Bool {
            a >= guest.memoryBase && a <= ramEnd && UInt64(n) <= ramEnd - a
        }
        if guest.memoryBase > ramEnd { return "RAM \(hex(guest.memoryBase))+\(hex(guest.memorySize)) wraps" }
        if guest.memorySize > ImageLoader.maxMemory + 0x1_0000 { return "RAM of \(hex(guest.memorySize)) bytes exceeds 1 GiB" }
        if !inside(guest.loadAddress, guest.image.count) { return "image \(hex(guest.loadAddress))+\(guest.image.count) outside RAM" }
        for d in guest.data where !inside(d.address, d.bytes.count) { return "segment \(hex(d.address))+\(d.bytes.count) outside RAM" }
        if !inside(guest.entry, 1) { return "entry \(hex(guest.entry)) outside RAM" }
        do throws(DebugError) { try guest.validate() } catch { return "the loaded guest fails validate: \(error.message)" }
        if guest.arch == .x86_64 && guest.mode == .long {
            let tables = X86Boot.tablesBase(for: guest)
            for d in [GuestData(address: guest.loadAddress, bytes: guest.image)] + guest.data
            where d.address < tables + X86Boot.reservedTop && d.address + UInt64(d.bytes.count) > tables {
                return "segment \(hex(d.address)) overlaps the boot page tables at \(hex(tables))"
            }
        }
        return nil
    }

    /// A refused ELF file: the loader must refuse it too, with a message.
    private static func checkError(_ bytes: [UInt8], _ arch: Arch?, _ loadAddress: UInt64?) -> String? {
        do throws(DebugError) {
            _ = try ImageLoader.load(bytes: bytes, arch: arch, loadAddress: loadAddress)
            return "ELFFile refuses the file but ImageLoader.load accepts it"
        } catch {
            return error.message.isEmpty ? "an empty error message" : nil
        }
    }
}
