import Testing
import Foundation

/// The real `gdb` against `kvmdbg gdbserver --guest paged-counter --backend kvm`: breakpoints,
/// `x` and `bt` by virtual address (0xffffffff80000000, the guest's own page tables),
/// "Cannot access memory" for an unmapped page, `monitor translate`, `monitor phys`.
@Suite(.serialized) struct PagedGuestGDBTests {
    static let gdb = "/usr/bin/gdb"

    /// Nil when the test can run here, else why not.
    static let unavailable: String? = {
        if GDBServerCLITests.binary == nil { return "build kvmdbg first" }
        if !FileManager.default.isExecutableFile(atPath: gdb) { return "\(gdb) is not installed" }
        return kvmX86Unavailable
    }()

    /// Runs gdb in batch mode against a fresh server with `commands`; its stdout and stderr.
    func runGDB(_ commands: [String]) throws -> String {
        let s = try GDBServerCLITests.Server(["--guest", "paged-counter", "--backend", "kvm", "--listen", "127.0.0.1:0"])
        defer { s.stop() }
        _ = s.line(); _ = s.line()
        let listening = try #require(s.line())
        let port = try #require(listening.split(separator: ";").first.flatMap { UInt16($0.split(separator: ":").last!) })
        // gdb must finish within 30 s; a hang is killed and fails the test.
        let (text, hung) = try runBounded(Self.gdb, ["-nx", "-batch", "-ex", "set confirm off", "-ex", "target remote 127.0.0.1:\(port)"]
            + commands.flatMap { ["-ex", $0] } + ["-ex", "kill"], timeout: 30)
        #expect(!hung, "gdb hung:\n\(text)")
        return text
    }

    @Test(.enabled(if: unavailable == nil, Comment(rawValue: unavailable ?? "")))
    func breakpointsMemoryBacktraceAndTranslateByVirtualAddress() throws {
        let text = try runGDB([
            "hbreak *0xffffffff8000004d",
            "continue",
            "x/4xw 0xffffffff80001000",
            "bt",
            "x/2xg 0xffffffff80003000",
            "monitor translate 0xffffffff80001008",
            "delete",
            "break *0xffffffff80000054",
            "continue",
            "info registers rip",
            "monitor phys on",
            "x/2xg 0x3000",
            "monitor phys off",
            "x/2xg 0xffffffffc0003000",
        ])
        let lines = text.split(separator: "\n").map { String($0) }
        #expect(lines.contains("Breakpoint 1, 0xffffffff8000004d in ?? ()"), "\(text)")
        // counter (0 before the first increment), then data = 0x1122334455667788.
        #expect(lines.contains("0xffffffff80001000:\t0x00000000\t0x00000000\t0x55667788\t0x11223344"), "\(text)")
        #expect(lines.contains("#0  0xffffffff8000004d in ?? ()"), "\(text)")
        #expect(lines.contains("#1  0xffffffff8000004c in ?? ()"), "return into outer: \(text)")
        #expect(lines.contains("#2  0xffffffff80000045 in ?? ()"), "return into main: \(text)")
        #expect(lines.contains("0xffffffff80003000:\tCannot access memory at address 0xffffffff80003000"), "\(text)")
        #expect(lines.contains("  PML4E[511] at 0x10ff8 = 0x13027 (table)") || lines.contains("  PML4E[511] at 0x10ff8 = 0x13007 (table)"), "\(text)")
        #expect(lines.contains("  PTE[1] at 0x15008 = 0x3003 (4 KiB page, supervisor)")
                || lines.contains("  PTE[1] at 0x15008 = 0x3023 (4 KiB page, supervisor)"), "\(text)")
        #expect(lines.contains("  -> physical 0x3008 (4 KiB page)"), "\(text)")
        #expect(lines.contains("Breakpoint 2, 0xffffffff80000054 in ?? ()"), "\(text)")
        #expect(lines.contains { $0.hasPrefix("rip            0xffffffff80000054") }, "\(text)")
        // The counter was incremented once by the time `load` runs; physical and the 2 MiB alias agree.
        #expect(lines.contains("0x3000:\t0x0000000000000001\t0x1122334455667788"), "\(text)")
        #expect(lines.contains("0xffffffffc0003000:\t0x0000000000000001\t0x1122334455667788"), "\(text)")
    }
}
