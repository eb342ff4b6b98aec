import Testing
import Foundation
import KVMDebugCore
@testable import KVMDebugGDB

/// gdb-multiarch itself judges kvmdbg's SVE target description: it accepts the
/// `org.gnu.gdb.aarch64.sve` feature (its aarch64 code validates every register it numbers),
/// takes the vector length from z0's size, and makes v0-v31 (pseudo-registers) from z0-z31.
@Suite struct SVEDescriptionTests {
    static let gdb = "/usr/bin/gdb-multiarch"

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: gdb), "\(gdb) is not installed"), arguments: [1, 4, 16])
    func gdbMultiarchAcceptsTheDescription(vq: Int) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-sve-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("target.xml")
        try TargetDescription.xml(for: .arm64, sve: vq).write(to: file, atomically: true, encoding: .utf8)
        let (text, hung) = try runBounded(Self.gdb, ["-nx", "-batch", "-ex", "set architecture aarch64",
                                                    "-ex", "set tdesc filename \(file.path)", "-ex", "maint print registers"], timeout: 60)
        #expect(!hung, "gdb-multiarch hung: \(text)")
        let rows = text.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        func row(_ name: String) -> [String]? { rows.first { $0.first == name } }
        // Name, number, relative number, offset, size, type.
        #expect(row("z0")?[1] == "34" && row("z0")?[4] == "\(16 * vq)" && row("z0")?[5] == "svev", "z0: \(text)")
        #expect(row("p15")?[1] == "83" && row("p15")?[4] == "\(2 * vq)", "p15: \(text)")
        #expect(row("ffr")?[1] == "84" && row("vg")?[1] == "85" && row("vg")?[4] == "8", "ffr, vg: \(text)")
        #expect(row("fpsr")?[1] == "66" && row("fpcr")?[1] == "67", "fpsr, fpcr: \(text)")
        // gdb's own v0-v31 (and q/d/s/h/b views) over z0-z31: 16-byte pseudo-registers.
        for v in ["v0", "v31", "q0", "d31"] { #expect(row(v) != nil && Int(row(v)![1])! > 150, "\(v) pseudo-register: \(text)") }
        #expect(row("v0")?[4] == "16")
        #expect(!text.contains("warning") && !text.contains("rror"), "\(text)")
    }
}
