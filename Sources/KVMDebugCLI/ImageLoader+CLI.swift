import Foundation
import KVMDebugCore

/// The loader's command-line side (Foundation): image files from disk, `--entry` and addresses
/// as text. The parser it feeds, in KVMDebugGuests, takes bytes.
extension ImageLoader {
    /// Reads and parses the image file at `path` (see `load(bytes:arch:loadAddress:)`).
    public static func load(path: String, arch: Arch?, loadAddress: UInt64?) throws(DebugError) -> LoadedImage {
        try load(bytes: try readFile(path), arch: arch, loadAddress: loadAddress)
    }

    /// Reads a whole file; failures become `badImage("cannot read FILE: ...")`.
    static func readFile(_ path: String) throws(DebugError) -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .badImage(reason: "cannot read \(path): no such file")
        }
        guard !isDirectory.boolValue else {
            throw .badImage(reason: "cannot read \(path): it is a directory")
        }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            return [UInt8](data)
        } catch {
            throw .badImage(reason: "cannot read \(path): \(error.localizedDescription)")
        }
    }

    /// Parses an address: `0x`-prefixed hex or decimal.
    public static func parseAddress(_ text: String) -> UInt64? {
        let t = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")
        if t.hasPrefix("0x") || t.hasPrefix("0X") {
            return UInt64(t.dropFirst(2), radix: 16)
        }
        if !t.isEmpty && t.allSatisfy({ $0.isASCII && $0.isNumber }) {
            return UInt64(t, radix: 10)
        }
        return nil
    }

    /// Resolves `--entry ADDR|SYMBOL` against an image.
    public static func resolveEntry(_ text: String, in image: LoadedImage) throws(DebugError) -> UInt64 {
        if let a = parseAddress(text) { return a }
        if let s = image.symbol(text) { return s.address }
        let names = image.symbols.prefix(12).map(\.name).joined(separator: ", ")
        let more = image.symbols.count > 12 ? ", ..." : ""
        throw .badImage(reason: "--entry '\(text)' is neither an address (0x...) nor a symbol of the image" +
                        (image.symbols.isEmpty ? " (it has no symbols)" : "; symbols: \(names)\(more)"))
    }

    /// Reads `path`, parses it and builds the guest: `entry` is an address or symbol name;
    /// the guest is named after the file's base name.
    public static func guest(path: String, arch: Arch?, mode: CPUMode?, loadAddress: UInt64?,
                             entry: String?) throws(DebugError) -> Guest {
        let image = try load(path: path, arch: arch, loadAddress: loadAddress)
        var start: UInt64? = nil
        if let entry { start = try resolveEntry(entry, in: image) }
        return try guest(from: image, name: baseName(of: path), mode: mode, entry: start)
    }
}
