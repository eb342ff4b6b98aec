import Foundation
import Testing
import KVMDebugCLI
import KVMDebugCore
import KVMDebugFake
import KVMTestSupport

/// ELF64 core files of a stopped guest: the layout (checked by our own reader and by readelf),
/// atomic writing, and the round trip through gdb (`gdb -c core prog.elf`) on the fake and KVM.
@Suite struct CoreDumpTests {
    /// A fresh directory for one test's files.
    private func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-core-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The few ELF fields the tests check.
    struct Core {
        var bytes: [UInt8]
        func u(_ at: Int, _ n: Int) -> UInt64 { littleEndianValue(Array(bytes[at..<at + n])) }
        var machine: UInt64 { u(18, 2) }
        var type: UInt64 { u(16, 2) }
        var phnum: Int { Int(u(56, 2)) }
        /// (type, offset, vaddr, paddr, filesz) per program header.
        var segments: [(type: UInt64, offset: UInt64, vaddr: UInt64, paddr: UInt64, size: UInt64)] {
            (0..<phnum).map { i in
                let p = 64 + 56 * i
                return (u(p, 4), u(p + 8, 8), u(p + 16, 8), u(p + 24, 8), u(p + 32, 8))
            }
        }
        /// (name, type, desc) per note.
        var notes: [(name: String, type: UInt64, desc: [UInt8])] {
            guard let n = segments.first(where: { $0.type == 4 }) else { return [] }
            var out: [(String, UInt64, [UInt8])] = []
            var at = Int(n.offset)
            let end = at + Int(n.size)
            while at < end {
                let nameSize = Int(u(at, 4)), descSize = Int(u(at + 4, 4)), type = u(at + 8, 4)
                let name = String(decoding: bytes[(at + 12)..<(at + 12 + nameSize - 1)], as: UTF8.self)
                let d = at + 12 + (nameSize + 3) / 4 * 4
                out.append((name, type, Array(bytes[d..<d + descSize])))
                at = d + (descSize + 3) / 4 * 4
            }
            return out
        }
        /// The bytes gdb would read at virtual `va` (first segment holding it).
        func read(_ va: UInt64, _ n: Int) -> [UInt8]? {
            guard let s = segments.first(where: { $0.type == 1 && va >= $0.vaddr && va + UInt64(n) <= $0.vaddr + $0.size }) else { return nil }
            let o = Int(s.offset + (va - s.vaddr))
            return Array(bytes[o..<o + n])
        }
    }

    @Test func layoutOnePRStatusPerVCPURegistersAndRAM() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let g = BuiltinGuests.smpCounterX86(.long)
        let s = DebugSession(backend: try FakeBackend(guest: g, vcpus: 2))
        defer { s.close() }
        let loop = try #require(g.symbol("store")).address
        try s.insert(.hardware(address: loop))
        let stop = try #require(try s.resumeAll().stops.first)
        let path = dir.appendingPathComponent("core").path
        let summary = try s.writeCore(to: path, current: stop.vcpu, signal: 5)
        let core = Core(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        #expect(summary.bytes == UInt64(core.bytes.count) && summary.vcpus == 2 && summary.physicalSegments == 1)
        #expect(core.type == 4 && core.machine == 62)
        let prstatus = core.notes.filter { $0.name == "CORE" && $0.type == 1 }
        #expect(prstatus.count == 2 && prstatus.allSatisfy { $0.desc.count == 336 })
        // The stopped vCPU first, with the signal; pr_pid = vCPU + 1; pr_reg in user_regs_struct order.
        let first = prstatus[0].desc
        #expect(littleEndianValue(Array(first[12..<14])) == 5 && littleEndianValue(Array(first[32..<36])) == UInt64(stop.vcpu + 1))
        guard case .x86_64(let r) = try s.registers(vcpu: stop.vcpu) else { Issue.record("x86"); return }
        func reg(_ i: Int) -> UInt64 { littleEndianValue(Array(first[(112 + 8 * i)..<(120 + 8 * i)])) }
        #expect(reg(16) == r.rip && reg(16) == loop, "rip")
        #expect(reg(10) == r.rax && reg(19) == r.rsp && reg(14) == r.rdi && reg(17) == 8 && reg(18) == r.rflags)
        let kvmdbg = core.notes.filter { $0.name == "KVMDBG" }
        #expect(kvmdbg.count == 2 && kvmdbg.allSatisfy { $0.type == 0x4B56_4D44 })
        let walk = kvmdbg[0].desc
        #expect(littleEndianValue(Array(walk[16 + 16..<16 + 24])) == r.cr3, "CR3 is the third value")
        // RAM by physical address, as the guest sees it.
        let load = try #require(core.segments.first { $0.type == 1 })
        #expect(load.paddr == 0 && load.size == g.memorySize)
        #expect(core.read(0x1000, 24) == Array(g.image.prefix(24)))
        #expect(core.read(0x2008, 8) == littleEndianBytes(BuiltinGuests.dataPattern))
    }

    @Test func pagedGuestGetsVirtualSegments() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let g = BuiltinGuests.pagedCounterX86()
        let s = DebugSession(backend: try FakeBackend(guest: g))
        defer { s.close() }
        let inner = try #require(g.symbol("inner")).address
        try s.insert(.hardware(address: inner))
        _ = try s.resumeAll()
        let path = dir.appendingPathComponent("core").path
        let summary = try s.writeCore(to: path, current: 0, signal: 5)
        #expect(summary.virtualSegments > 0, "\(summary)")
        let core = Core(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        // counter and data at pagedBase+0x1000 are physical 0x3000: read through the virtual segment.
        let data = try #require(g.symbol("data")).address
        #expect(core.read(data, 8) == littleEndianBytes(BuiltinGuests.dataPattern))
        #expect(core.read(inner, 4) == (try s.readMemory(inner, count: 4, vcpu: 0)))
        let v = try #require(core.segments.first { $0.type == 1 && $0.vaddr == BuiltinGuests.pagedBase + 0x1000 })
        #expect(v.paddr == 0x3000)
    }

    @Test func anErrorLeavesNoFileAndTheOldOneIntact() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let s = DebugSession(backend: try FakeBackend(guest: BuiltinGuests.counterX86(.long)))
        defer { s.close() }
        let missing = dir.appendingPathComponent("no-such-dir/core").path
        #expect(throws: DebugError.self) { _ = try s.writeCore(to: missing, current: 0, signal: 5) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        // A vCPU that does not exist: refused before any file is touched.
        let path = dir.appendingPathComponent("core").path
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: DebugError.noSuchVCPU(index: 3, count: 1)) { _ = try s.writeCore(to: path, current: 3, signal: 5) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("old".utf8))
        // Replacing it works and leaves no temporary behind.
        _ = try s.writeCore(to: path, current: 0, signal: 5)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["core"])
    }

    @Test func readelfListsOnePRStatusPerVCPU() throws {
        let readelf = try #require(["/usr/bin/readelf"].first { FileManager.default.isExecutableFile(atPath: $0) }, "readelf (binutils) is not installed")
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("core").path
        let r = try runTool("kvmdbg", ["run", "--guest", "smp-counter", "--vcpus", "3", "--backend", "fake", "--break", "store",
                                       "--max-stops", "1", "--dump-on-stop", path, "--json"])
        let events = r.json()
        let core = try #require(events.first { $0["event"] as? String == "core" }, "\(r)")
        #expect(core["vcpus"] as? Int == 3 && core["path"] as? String == path, "\(r)")
        let n = try runProcess(readelf, ["-n", path])
        #expect(n.stdout.components(separatedBy: "NT_PRSTATUS (prstatus structure)").count - 1 == 3, "\(n)")
        #expect(n.lines.filter { $0.contains("CORE") && $0.contains("NT_PRSTATUS") }.count == 3, "\(n)")
        #expect(n.lines.filter { $0.contains("KVMDBG") }.count == 3, "\(n)")
    }

    /// prog.elf under `kvmdbg gdbserver --backend BACKEND` in gdb, stopped in square(3): what gdb
    /// showed (bt, total, rip/rsp/rbp, the 4 words at rsp), then `monitor dump-guest-memory` to
    /// `dir`/prog.core.
    private func dumpInSquare(_ backend: String, dir: URL) throws -> (elf: String, core: String, live: GDBRun) {
        let elf = try GDBProgram.build(into: dir)
        let core = dir.appendingPathComponent("prog.core").path
        let server = try GDBServerProcess(["--image", elf, "--backend", backend])
        defer { server.stop() }
        let live = try runGDB(.gdb, file: elf, preamble: ["target remote \(server.address)"], commands: [
            "break square", "continue", "continue", "continue", "bt", "print total", "info registers rip rsp rbp",
            "x/4xg $rsp", "monitor dump-guest-memory \(core)",
        ])
        #expect(live.output.contains("core written: \(core) (1 vCPU"), "\(live)")
        return (elf, core, live)
    }

    /// The live session's backtrace and `total`, then the same from `gdb -c core prog.elf`.
    @Test(arguments: ["fake", "kvm"]) func gdbReadsTheCoreAsTheLiveSessionShowedIt(_ backend: String) throws {
        try #require(backend == "fake" || KVMHost.usable, Comment(rawValue: KVMHost.skipReason))
        _ = try GDBClient.gdb.require()
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (elf, core, live) = try dumpInSquare(backend, dir: dir)
        let dead = try runGDB(.gdb, file: elf, preamble: [], commands: ["core-file \(core)", "bt", "print total", "info registers rip rsp rbp"])
        // The frames `bt` printed (loading a core prints frame #0 once more before it).
        func bt(_ r: GDBRun) -> [String] { Array(r.stdout.split(separator: "\n").filter { $0.hasPrefix("#") }.map(String.init).suffix(3)) }
        func regs(_ r: GDBRun) -> [String] { r.stdout.split(separator: "\n").filter { $0.hasPrefix("rip ") || $0.hasPrefix("rsp ") || $0.hasPrefix("rbp ") }.map(String.init) }
        #expect(bt(live).count == 3 && bt(live).first?.contains("square (x=3)") == true, "\(live)")
        #expect(bt(dead) == bt(live), "live:\n\(live)\ncore:\n\(dead)")
        #expect(live.captures(#"(?m)^\$1 = (\d+)$"#) == ["5"] && dead.captures(#"(?m)^\$1 = (\d+)$"#) == ["5"], "total = 1 + 4 before square(3): \(dead)")
        #expect(regs(dead).count == 3 && regs(dead) == regs(live), "\(dead)")
        #expect(dead.stdout.contains("Program terminated with signal SIGTRAP"), "\(dead)")
        // gdb -batch -c core prog.elf -ex bt -ex 'print total', as the issue writes it.
        let direct = try runProcess(try GDBClient.gdb.require(), ["-nx", "-batch", "-c", core, elf, "-ex", "bt", "-ex", "print total"], timeout: 60)
        #expect(direct.stdout.contains("#0  square (x=3)") && direct.stdout.contains("$1 = 5"), "\(direct)")
    }

    /// The same round trip with lldb (`lldb -c core prog.elf`, batch): the registers, the stack
    /// words, the frames and `total` the live gdb session showed. lldb places no module in a
    /// core without an auxv, so the user loads the ELF at its link address first
    /// (`target modules load --file prog.elf --slide 0`); it refuses a core whose OS it cannot
    /// tell ("Unsupported OS"), hence ELFOSABI_GNU in the header.
    @Test(arguments: ["fake", "kvm"]) func lldbReadsTheCoreAsTheLiveSessionShowedIt(_ backend: String) throws {
        try #require(backend == "fake" || KVMHost.usable, Comment(rawValue: KVMHost.skipReason))
        _ = try GDBClient.gdb.require()
        _ = try GDBClient.lldb.require()
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (elf, core, live) = try dumpInSquare(backend, dir: dir)
        func regs(_ lines: [Substring], _ pattern: String) -> [String: UInt64] {
            var out: [String: UInt64] = [:]
            for l in lines {
                guard let m = try? Regex(pattern).firstMatch(in: l), let name = m.output[1].substring,
                      let v = m.output[2].substring, let n = UInt64(v, radix: 16) else { continue }
                out[String(name)] = n
            }
            return out
        }
        let gdbRegs = regs(live.stdout.split(separator: "\n"), #"^(rip|rsp|rbp)\s+0x([0-9a-f]+)"#)
        let rsp = try #require(gdbRegs["rsp"], "\(live)")
        // x/4xg: "0x1fbfb8:\t0x...\t0x..." twice.
        let gdbWords = live.stdout.split(separator: "\n").filter { $0.hasPrefix(hex(rsp) + ":") || $0.hasPrefix(hex(rsp + 16) + ":") }
            .flatMap { $0.split(separator: "\t").dropFirst() }.compactMap { UInt64($0.dropFirst(2), radix: 16) }
        let dead = try runLLDB([
            "target create \(elf) --core \(core)", "target modules load --file \(elf) --slide 0", "bt",
            "register read rip rsp rbp", "memory read -s8 -fx -c4 \(hex(rsp))", "p total",
        ], timeout: 60)
        #expect(dead.status == 0, "\(dead)")
        let lldbRegs = regs(dead.stdout.split(separator: "\n"), #"^\s+(rip|rsp|rbp) = 0x([0-9a-f]+)"#)
        #expect(gdbRegs.count == 3 && lldbRegs == gdbRegs, "gdb \(gdbRegs) lldb \(lldbRegs)\n\(dead)")
        let lldbWords = dead.stdout.split(separator: "\n").filter { $0.hasPrefix("0x") && $0.contains(": 0x") }
            .flatMap { $0.split(separator: " ").dropFirst() }.compactMap { UInt64($0.dropFirst(2), radix: 16) }
        #expect(gdbWords.count == 4 && lldbWords == gdbWords, "gdb \(gdbWords) lldb \(lldbWords)\n\(dead)")
        // Frames by function, innermost first: gdb's `#0  square (x=3)`, lldb's `prog.elf`square(x=3)`.
        let gdbFrames = live.stdout.split(separator: "\n").filter { $0.hasPrefix("#") }.suffix(3)
            .compactMap { try? Regex(#"(?:in )?([a-z_]+) \("#).firstMatch(in: $0)?.output[1].substring }.map(String.init)
        let lldbFrames = dead.stdout.split(separator: "\n").filter { $0.contains("frame #") }
            .compactMap { try? Regex(#"prog\.elf`([a-z_]+)"#).firstMatch(in: $0)?.output[1].substring }.map(String.init)
        #expect(gdbFrames == ["square", "kmain", "_start"] && lldbFrames == gdbFrames, "gdb \(gdbFrames) lldb \(lldbFrames)\n\(dead)")
        #expect(dead.stdout.contains("square(x=3)") && dead.stdout.contains("(long) 5"), "total = 5, as gdb printed: \(dead)")
        #expect(dead.stdout.contains("stop reason = signal SIGTRAP"), "\(dead)")
    }

    @Test func monitorDumpAfterATripleFaultCarriesSIGSEGV() throws {
        _ = try GDBClient.gdb.require()
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let core = dir.appendingPathComponent("tf.core").path
        let (_, live) = try gdbSession(GDBGuest.x86("fake"), guest: "triple-fault", commands: ["continue", "monitor dump-guest-memory -p \(core)"])
        #expect(live.output.contains("core written: \(core)"), "\(live)")
        let dead = try runGDB(.gdb, commands: ["core-file \(core)", "p/x $pc", "p/x $rax"])
        #expect(dead.stdout.contains("Program terminated with signal SIGSEGV"), "\(dead)")
        #expect(dead.printedHex == [0x1012, BuiltinGuests.tripleFaultMarker], "\(dead)")
    }
}
