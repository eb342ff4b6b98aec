import Foundation
import Testing
import KVMDebugCLI
import KVMDebugCore
import KVMTestSupport

// MARK: - Running the built executables

/// The executables `swift build` puts next to the test bundle (`kvmdbg`, `host-vmm`).
///
/// The test target cannot depend on an executable target, so the binaries are found in
/// the build products directory that holds `kvmdbgPackageTests.xctest`. `swift build`
/// (or `swift build --build-tests`) must have run first; `swift test` alone may not
/// build them.
enum BuiltTool {
    /// Directories that may hold the products: the running test binary's, then argv[0]'s.
    static var productDirectories: [URL] {
        var out: [URL] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            out.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
        }
        if let a0 = CommandLine.arguments.first, !a0.isEmpty {
            let u = URL(fileURLWithPath: a0).standardizedFileURL.resolvingSymlinksInPath()
            out.append(u.deletingLastPathComponent())
            // argv[0] may be inside a bundle directory (…/kvmdbgPackageTests.xctest/Contents/MacOS/…).
            var p = u
            while p.path != "/" {
                p = p.deletingLastPathComponent()
                if p.pathExtension == "xctest" { out.append(p.deletingLastPathComponent()) }
            }
        }
        return out
    }

    /// The path of a built executable, or nil.
    static func path(_ name: String) -> String? {
        for d in productDirectories {
            let p = d.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Why `name` is missing, as a test failure message.
    static func missing(_ name: String) -> Comment {
        Comment(rawValue: "the built `\(name)` executable is not next to the test bundle (looked in \(productDirectories.map(\.path).joined(separator: ", "))): run `swift build` (it builds every product) before running the tests")
    }
}

/// The outcome of one subprocess run.
struct ToolResult: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var timedOut: Bool

    var lines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
    var errorLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }

    var description: String { "exit \(status)\(timedOut ? " (killed: timeout)" : "")\nstdout:\n\(stdout)stderr:\n\(stderr)" }

    /// Every stdout line parsed as a JSON object (records an issue for a line that is not
    /// one), without `run`'s leading `{"event":"start",...}` line.
    func json(sourceLocation: SourceLocation = #_sourceLocation) -> [[String: Any]] {
        allJSON(sourceLocation: sourceLocation).filter { $0["event"] as? String != "start" }
    }

    func allJSON(sourceLocation: SourceLocation = #_sourceLocation) -> [[String: Any]] {
        lines.compactMap { line in
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                Issue.record("stdout line is not a JSON object: \(line)", sourceLocation: sourceLocation)
                return nil
            }
            return o
        }
    }
}

/// Runs a built executable with a wall-clock limit (see `runProcess`).
func runTool(_ name: String, _ arguments: [String], timeout: Double = 20,
             sourceLocation: SourceLocation = #_sourceLocation) throws -> ToolResult {
    let path = try #require(BuiltTool.path(name), BuiltTool.missing(name), sourceLocation: sourceLocation)
    return try runProcess(path, arguments, timeout: timeout, sourceLocation: sourceLocation)
}

/// Runs `path` with a wall-clock limit; output goes through temporary files (no pipe can
/// fill up and block the child). `environment` entries are added to this process's.
func runProcess(_ path: String, _ arguments: [String], environment: [String: String] = [:], timeout: Double = 20,
                sourceLocation: SourceLocation = #_sourceLocation) throws -> ToolResult {
    let dir = FileManager.default.temporaryDirectory
    let tag = UUID().uuidString
    let outURL = dir.appendingPathComponent("kvmdbg-test-\(tag).out")
    let errURL = dir.appendingPathComponent("kvmdbg-test-\(tag).err")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }
    let out = try FileHandle(forWritingTo: outURL)
    let err = try FileHandle(forWritingTo: errURL)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    if !environment.isEmpty {
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    p.standardInput = FileHandle.nullDevice
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let timedOut = !waitUntil(seconds: timeout) { !p.isRunning }
    if timedOut { p.terminate() }
    p.waitUntilExit()
    try? out.close()
    try? err.close()
    let r = ToolResult(status: p.terminationStatus,
                       stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                       stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "",
                       timedOut: timedOut)
    let name = URL(fileURLWithPath: path).lastPathComponent
    if timedOut { Issue.record("\(name) \(arguments.joined(separator: " ")) ran over \(timeout) s: \(r)", sourceLocation: sourceLocation) }
    return r
}

/// A stop line reduced to what a differential comparison looks at.
private struct StopLine: Hashable, CustomStringConvertible {
    var vcpu: Int
    var reason: String
    var pc: String
    var description: String { "(\(vcpu), \(reason), \(pc))" }
}

private func stopLines(_ objects: [[String: Any]]) -> [StopLine] {
    objects.filter { $0["event"] as? String == "stop" }.map {
        StopLine(vcpu: $0["vcpu"] as? Int ?? -1, reason: $0["reason"] as? String ?? "?", pc: $0["pc"] as? String ?? "?")
    }
}

private let hostArchName = Arch.host?.name ?? "unknown"

// MARK: - Fake backend

@Suite struct CLITests {
    @Test func theBinaryIsBuilt() throws {
        let p = try #require(BuiltTool.path("kvmdbg"), BuiltTool.missing("kvmdbg"))
        #expect(FileManager.default.isExecutableFile(atPath: p))
    }

    @Test func capsOnTheFakeBackend() throws {
        let r = try runTool("kvmdbg", ["caps", "--backend", "fake", "--json"])
        #expect(r.status == 0, "\(r)")
        let objects = r.json()
        #expect(objects.count == 1, "one JSON line: \(r)")
        let o = try #require(objects.first)
        #expect(o["event"] as? String == "caps")
        #expect(o["backend"] as? String == "fake")
        #expect(o["arch"] as? String == hostArchName)
        #expect(o["setGuestDebug"] as? Bool == true)
        #expect(o["maxVCPUs"] as? Int ?? 0 >= 1)
        if hostArchName == "x86_64" {
            #expect(o["setGuestDebug2"] as? String == "0x1f0003")
            let flags = try #require(o["setGuestDebug2Flags"] as? [String])
            #expect(flags == ["ENABLE", "SINGLESTEP", "USE_SW_BP", "USE_HW_BP", "INJECT_DB", "INJECT_BP", "BLOCKIRQ"])
            #expect(o["breakpointSlots"] as? Int == 4 && o["watchpointSlots"] as? Int == 4 && o["slotsShared"] as? Bool == true)
            #expect(o["pvm"] as? Bool == false, "the fake is never PVM")
        }
    }

    @Test(arguments: [["x86_64", "0x1f0003"], ["arm64", "0x30003"], ["aarch64", "0x30003"], ["amd64", "0x1f0003"]])
    func capsForEachArchOnTheFake(_ pair: [String]) throws {
        let r = try runTool("kvmdbg", ["caps", "--backend", "fake", "--json", "--arch", pair[0]])
        #expect(r.status == 0, "\(r)")
        let o = try #require(r.json().first)
        let arm = pair[1] == "0x30003"
        #expect(o["arch"] as? String == (arm ? "arm64" : "x86_64"))
        #expect(o["setGuestDebug2"] as? String == pair[1])
        let flags = try #require(o["setGuestDebug2Flags"] as? [String])
        #expect(flags.contains("BLOCKIRQ") == !arm, "BLOCKIRQ is x86 only: \(flags)")
        if arm {
            #expect(flags == ["ENABLE", "SINGLESTEP", "USE_SW_BP", "USE_HW"])
            #expect(o["hwBreakpoints"] as? Int == 6 && o["hwWatchpoints"] as? Int == 4)
            #expect(o["breakpointSlots"] as? Int == 6 && o["watchpointSlots"] as? Int == 4)
            #expect(o["slotsShared"] as? Bool == false)
        }
    }

    @Test func capsTextNamesTheFlags() throws {
        let r = try runTool("kvmdbg", ["caps", "--backend", "fake", "--arch", "x86_64"])
        #expect(r.status == 0 && r.errorLines.isEmpty, "\(r)")
        #expect(r.stdout.contains("SET_GUEST_DEBUG2:   0x1f0003 = ENABLE | SINGLESTEP | USE_SW_BP | USE_HW_BP | INJECT_DB | INJECT_BP | BLOCKIRQ"), "\(r)")
    }

    @Test func guestsListsEveryBuiltInGuestWithItsSymbols() throws {
        let r = try runTool("kvmdbg", ["guests", "--json"])
        #expect(r.status == 0, "\(r)")
        let objects = r.json()
        #expect(objects.count == BuiltinGuests.all.count + BuiltinGuests.paged.count + 1 + BuiltinGuests.crash.count, "\(r)")
        let paged = try #require(objects.last(where: { $0["name"] as? String == "paged-counter" }), "\(r)")
        #expect(paged["name"] as? String == "paged-counter" && paged["entry"] as? String == "0x1000", "\(paged)")
        #expect((paged["symbols"] as? [String: String])?["inner"] == "0xffffffff8000004d", "\(paged)")
        let counters = objects.filter { $0["name"] as? String == "counter" }
        #expect(counters.count == 3, "\(r)")
        let kinds = counters.map { "\($0["arch"] as? String ?? "?") \($0["mode"] as? String ?? "?")" }
        #expect(kinds == ["x86_64 long", "x86_64 real", "arm64 el1"])
        // The paged guests (arm64's among them) have main/outer/inner instead of the loop's symbols.
        for o in objects where o["name"] as? String != "paged-counter" && !BuiltinGuests.crashNames.contains(o["name"] as? String ?? "") {
            #expect(o["event"] as? String == "guest")
            let syms = try #require(o["symbols"] as? [String: String], "symbols object in \(o)")
            #expect(Set(["entry", "loop", "store", "load", "counter", "data"]).isSubset(of: syms.keys), "\(o)")
            #expect(syms["entry"] == o["entry"] as? String)
        }
        let long = try #require(counters.first?["symbols"] as? [String: String])
        #expect(long["loop"] == "0x1003" && long["store"] == "0x1006" && long["load"] == "0x100e")
        #expect(long["counter"] == "0x2000" && long["data"] == "0x2008")
        let real = try #require(counters.dropFirst().first?["symbols"] as? [String: String])
        #expect(real["loop"] == "0x1002" && real["store"] == "0x1003")
        let arm = try #require(counters.last?["symbols"] as? [String: String])
        #expect(arm["loop"] == "0x1000c" && arm["counter"] == "0x11000" && arm["data"] == "0x11008")
    }

    @Test func breakOnLoopGivesFiveStopsThenAnEnd() throws {
        let r = try runTool("kvmdbg", ["run", "--guest", "counter", "--arch", "x86_64", "--backend", "fake",
                                       "--break", "loop", "--max-stops", "5", "--timeout", "2", "--json"])
        #expect(r.status == 0, "\(r)")
        let objects = r.json()
        #expect(objects.count == 6, "\(r)")
        for o in objects.prefix(5) {
            #expect(o["event"] as? String == "stop")
            #expect(o["vcpu"] as? Int == 0)
            #expect(o["reason"] as? String == "hw-breakpoint")
            #expect(o["pc"] as? String == "0x1003")
            #expect(o["symbol"] as? String == "loop")
            #expect(o["slot"] as? Int == 0)
            #expect(o["exception"] as? Int == 1)
            #expect(o["dr6"] is String && o["dr7"] is String)
            // B0 set in DR6.
            let dr6 = try #require((o["dr6"] as? String).flatMap { UInt64($0.dropFirst(2), radix: 16) })
            #expect(dr6 & 0xF == 0x1)
        }
        let end = try #require(objects.last)
        #expect(end["event"] as? String == "end")
        #expect(end["stops"] as? Int == 5)
        #expect(end["reason"] as? String == "max-stops")
        #expect(end["backend"] as? String == "fake")
        #expect(end["setGuestDebugCalls"] as? Int == 9, "1 + 2 per continue past the breakpoint")
        // With --json stdout is pure JSON; the backend choice is a note on stderr.
        #expect(r.errorLines.allSatisfy { $0.hasPrefix("kvmdbg: backend fake") }, "\(r)")
    }

    @Test func arm64WriteWatchOnTheFake() throws {
        let r = try runTool("kvmdbg", ["run", "--guest", "counter", "--arch", "arm64", "--backend", "fake",
                                       "--watch", "counter:8:w", "--max-stops", "2", "--timeout", "2", "--json"])
        #expect(r.status == 0, "\(r)")
        let objects = r.json()
        #expect(objects.count == 3, "\(r)")
        for o in objects.prefix(2) {
            #expect(o["reason"] as? String == "watchpoint")
            #expect(o["pc"] as? String == "0x10010", "taken before the str")
            #expect(o["address"] as? String == "0x11000")
            #expect(o["far"] as? String == "0x11000")
            #expect(o["ec"] as? String == "0x34")
            #expect(o["access"] as? String == "write")
            let esr = try #require((o["esr"] as? String).flatMap { UInt64($0.dropFirst(2), radix: 16) })
            #expect((esr >> 26) & 0x3F == 0x34 && esr & (1 << 6) != 0, "EC WATCHPT_LOW, WnR set")
        }
        #expect(objects.last?["reason"] as? String == "max-stops")
    }

    /// KVM leaves `debug.arch.far` stale on every exit but a watchpoint's: a breakpoint stop after
    /// a watchpoint hit must not show the watchpoint's address as its `far`.
    @Test func arm64FarOnlyOnWatchpointStops() throws {
        let r = try runTool("kvmdbg", ["run", "--guest", "counter", "--arch", "arm64", "--backend", "fake",
                                       "--watch", "counter:8:w", "--break", "store", "--max-stops", "3",
                                       "--timeout", "2", "--json"])
        #expect(r.status == 0, "\(r)")
        let stops = r.json().filter { $0["event"] as? String == "stop" }
        #expect(stops.contains { $0["reason"] as? String == "watchpoint" }, "\(r)")
        #expect(stops.contains { $0["reason"] as? String == "hw-breakpoint" }, "\(r)")
        for o in stops {
            let isWatch = o["reason"] as? String == "watchpoint"
            #expect((o["far"] != nil) == isWatch, "far on \(o["reason"] ?? "?") stop: \(o)")
        }
    }

    @Test(arguments: ["x86_64", "arm64"])
    func stepThreeFromEntry(arch: String) throws {
        let r = try runTool("kvmdbg", ["run", "--guest", "counter", "--arch", arch, "--backend", "fake",
                                       "--step", "3", "--timeout", "2", "--json"])
        #expect(r.status == 0, "\(r)")
        let objects = r.json()
        #expect(objects.count == 4, "\(r)")
        let pcs = objects.prefix(3).map { $0["pc"] as? String ?? "?" }
        #expect(objects.prefix(3).allSatisfy { $0["reason"] as? String == "single-step" })
        #expect(pcs == (arch == "arm64" ? ["0x10004", "0x10008", "0x1000c"] : ["0x1003", "0x1006", "0x100e"]))
        let end = try #require(objects.last)
        #expect(end["event"] as? String == "end" && end["reason"] as? String == "steps-done" && end["stops"] as? Int == 3)
        #expect(end["setGuestDebugCalls"] as? Int == 1, "one SINGLESTEP state serves every step")
    }

    @Test func rawImageFileRuns() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-test-\(UUID().uuidString).bin")
        try Data(BuiltinGuests.counterX86(.long).image).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let r = try runTool("kvmdbg", ["run", "--image", url.path, "--arch", "x86_64", "--break", "0x1003",
                                       "--max-stops", "2", "--backend", "fake", "--timeout", "2", "--json"])
        #expect(r.status == 0, "\(r)")
        let objects = r.json()
        #expect(stopLines(objects) == Array(repeating: StopLine(vcpu: 0, reason: "hw-breakpoint", pc: "0x1003"), count: 2))
        #expect(objects.last?["event"] as? String == "end" && objects.last?["reason"] as? String == "max-stops")
    }

    @Test func textOutputHasHeaderStopsAndEnd() throws {
        let r = try runTool("kvmdbg", ["run", "--guest", "counter", "--arch", "x86_64", "--backend", "fake",
                                       "--break", "loop", "--max-stops", "2", "--timeout", "2"])
        #expect(r.status == 0 && r.errorLines.isEmpty, "\(r)")
        let lines = r.lines
        #expect(lines.count == 5, "\(r)")
        #expect(lines.first?.hasPrefix("backend: fake") == true)
        #expect(lines.dropFirst().first?.hasPrefix("guest:") == true)
        #expect(lines.dropFirst(2).prefix(2).allSatisfy { $0.hasPrefix("vCPU 0 hw-breakpoint at 0x1003 <loop>") })
        #expect(lines.last?.hasPrefix("end: max-stops after 2 stops on fake backend") == true)
    }

    // MARK: Errors

    /// (arguments after `run --guest counter`, words the one error line must contain).
    static let errorCases: [([String], [String])] = [
        (["--backend", "fake", "--break", "nosuch"], ["unknown symbol 'nosuch'"]),
        (["--backend", "fake", "--arch", "arm64", "--break", "0x10002"], ["0x10002", "aligned"]),
        (["--backend", "fake", "--arch", "x86_64", "--break", "loop", "--break", "store", "--break", "load",
          "--break", "jump", "--break", "entry"], ["no free", "vCPU 0"]),
        // Hardware only: DR0-DR3 cannot cover it (auto serves it by memory protection).
        (["--backend", "fake", "--arch", "x86_64", "--watch-mechanism", "hardware", "--watch", "0x2001:30:w"], ["cannot watch 30 bytes at 0x2001"]),
        (["--backend", "fake", "--watch", "counter:8:x"], ["watch kind", "'x'"]),
        (["--backend", "fake", "--watch", "counter:0:w"], ["length"]),
        (["--backend", "fake", "--break", "loop@x"], ["vCPU"]),
        (["--backend", "fake", "--arch", "arm64", "--watch-mechanism", "hardware", "--watch", "0x11001:16:rw", "--watch", "0x11020:64:w",
          "--watch", "0x11080:8:r", "--watch", "0x11100:8:w"], ["no free", "watchpoint", "vCPU 0"]),
    ]

    @Test(arguments: errorCases)
    func errorsAreOneLineOnStderr(_ extra: [String], _ words: [String]) throws {
        for json in [false, true] {
            let r = try runTool("kvmdbg", ["run", "--guest", "counter", "--max-stops", "2", "--timeout", "2"] + extra + (json ? ["--json"] : []))
            #expect(r.status != 0, "\(r)")
            let errors = r.errorLines.filter { $0.hasPrefix("kvmdbg: error: ") }
            #expect(errors.count == 1, "exactly one error line: \(r)")
            #expect(r.errorLines.last == errors.first, "the error is the last thing said")
            for w in words { #expect(errors.first?.contains(w) == true, "'\(w)' in \(errors)") }
            if json {
                #expect(r.stdout.isEmpty, "no JSON on stdout for a failed run: \(r)")
                // Besides the error only the backend note may appear.
                #expect(r.errorLines.dropLast().allSatisfy { $0.hasPrefix("kvmdbg: backend ") }, "\(r)")
            } else {
                #expect(r.errorLines.count == 1, "\(r)")
                #expect(r.lines.allSatisfy { $0.hasPrefix("backend:") || $0.hasPrefix("guest:") }, "only the header on stdout: \(r)")
            }
        }
    }

    @Test func kvmBackendForAForeignArchIsAnError() throws {
        let foreign = Arch.host == .arm64 ? "x86_64" : "arm64"
        let r = try runTool("kvmdbg", ["run", "--guest", "counter", "--backend", "kvm", "--arch", foreign, "--timeout", "2"])
        #expect(r.status != 0, "\(r)")
        #expect(r.errorLines.count == 1 && r.errorLines.first?.hasPrefix("kvmdbg: error: ") == true, "\(r)")
        #expect(r.stdout.isEmpty, "\(r)")
        if KVMHost.availability.usable {
            #expect(r.stderr.contains("cannot run on KVM") && r.stderr.contains("--backend fake"), "\(r)")
        }
        let caps = try runTool("kvmdbg", ["caps", "--backend", "kvm", "--arch", foreign, "--json"])
        #expect(caps.status != 0 && caps.errorLines.count == 1 && caps.stdout.isEmpty, "\(caps)")
    }

    @Test(arguments: [["--image", "/nonexistent", "--arch", "x86_64"],
                      ["--image", "/", "--arch", "x86_64"],
                      ["--image", "/dev/null", "--arch", "x86_64"]])
    func unreadableImagesFailCleanly(_ args: [String]) throws {
        let r = try runTool("kvmdbg", ["run", "--backend", "fake", "--timeout", "2"] + args)
        #expect(r.status != 0, "\(r)")
        #expect(r.errorLines.count == 1 && r.errorLines.first?.hasPrefix("kvmdbg: error: bad guest image") == true, "\(r)")
        #expect(r.stdout.isEmpty, "\(r)")
    }

    @Test func rawImageWithoutArchSaysSo() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-test-\(UUID().uuidString).bin")
        try Data([0x90, 0xEB, 0xFE]).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        // No --arch: the host's is used for the guest; a raw image itself still needs --arch.
        let r = try runTool("kvmdbg", ["run", "--image", url.path, "--backend", "fake", "--timeout", "2"])
        #expect(r.status != 0 && r.errorLines.count == 1, "\(r)")
        #expect(r.stderr.contains("--arch"), "\(r)")
    }
}

// MARK: - Real KVM

@Suite(KVMHost.required, .serialized) struct CLIKVMTests {
    @Test func capsOnKVM() throws {
        let r = try runTool("kvmdbg", ["caps", "--backend", "kvm", "--json"])
        #expect(r.status == 0, "\(r)")
        let objects = r.json()
        #expect(objects.count == 1, "\(r)")
        let o = try #require(objects.first)
        #expect(o["event"] as? String == "caps" && o["backend"] as? String == "kvm")
        #expect(o["arch"] as? String == "x86_64")
        #expect(o["setGuestDebug"] as? Bool == true)
        #expect(o["setGuestDebug2"] as? String == "0x1f0003", "measured on this project's hosts; a kernel with a different mask would show here")
        #expect((o["setGuestDebug2Flags"] as? [String])?.contains("BLOCKIRQ") == true)
        #expect(o["pvm"] as? Bool == KVMHost.availability.isPVM)
        #expect(o["maxVCPUs"] as? Int ?? 0 >= 1)
    }

    @Test func capsProbeOnKVM() throws {
        let r = try runTool("kvmdbg", ["caps", "--probe", "--json", "--backend", "kvm"], timeout: 30)
        #expect(r.status == 0, "\(r)")
        let o = try #require(r.json().first)
        let probe = try #require(o["probe"] as? [String: Any], "probe object in \(o)")
        #expect(Set(probe.keys) == Set(ProbedFeature.allCases.map(\.rawValue)))
        #expect(probe.count == 6)
        func works(_ f: ProbedFeature) -> Bool? { (probe[f.rawValue] as? [String: Any])?["works"] as? Bool }
        for f in ProbedFeature.allCases {
            let entry = probe[f.rawValue] as? [String: Any]
            #expect(entry?["works"] is Bool && (entry?["detail"] as? String)?.isEmpty == false, "\(f.rawValue): \(String(describing: entry))")
        }
        #expect(works(.singleStep) == true, "\(r)")
        #expect(works(.executeBreakpoint) == true, "\(r)")
        if o["pvm"] as? Bool == true {
            // The detected gap: PVM never fires DR7 data breakpoints.
            #expect(works(.writeWatchpoint) == false, "PVM fired a data watchpoint: update KVM-DEBUG-ABI.md and the fake's notes")
        }
    }

    /// The same run on both backends: same (vCPU, reason, pc) sequence and end.
    @Test(arguments: [
        ["--break", "loop", "--max-stops", "5"],
        ["--step", "3"],
        ["--break", "store", "--step", "4", "--max-stops", "10"],
        ["--mode", "real", "--break", "loop", "--break", "load", "--max-stops", "4"],
    ])
    func kvmAndFakeAgree(_ extra: [String]) throws {
        let base = ["run", "--guest", "counter", "--arch", "x86_64", "--timeout", "2", "--json"] + extra
        let fake = try runTool("kvmdbg", base + ["--backend", "fake"])
        let kvm = try runTool("kvmdbg", base + ["--backend", "kvm"])
        #expect(fake.status == 0, "\(fake)")
        #expect(kvm.status == 0, "\(kvm)")
        let f = fake.json(), k = kvm.json()
        #expect(!stopLines(f).isEmpty)
        #expect(stopLines(k) == stopLines(f), "kvm \(stopLines(k)) vs fake \(stopLines(f))")
        let fe = try #require(f.last), ke = try #require(k.last)
        #expect(ke["event"] as? String == "end" && ke["backend"] as? String == "kvm")
        #expect(ke["reason"] as? String == fe["reason"] as? String)
        #expect(ke["stops"] as? Int == fe["stops"] as? Int)
        #expect(ke["setGuestDebugCalls"] as? Int == fe["setGuestDebugCalls"] as? Int, "the same ioctl sequence on both backends")
    }

    @Test func breakOnLoopOnKVMHasTheRawFields() throws {
        let r = try runTool("kvmdbg", ["run", "--guest", "counter", "--backend", "kvm", "--break", "loop",
                                       "--max-stops", "5", "--timeout", "2", "--json"])
        #expect(r.status == 0, "\(r)")
        let objects = r.json()
        #expect(objects.count == 6, "\(r)")
        for o in objects.prefix(5) {
            #expect(o["vcpu"] as? Int == 0 && o["reason"] as? String == "hw-breakpoint" && o["pc"] as? String == "0x1003")
            #expect(o["slot"] as? Int == 0 && o["exception"] as? Int == 1)
            #expect(o["dr6"] is String && o["dr7"] is String)
        }
        let end = try #require(objects.last)
        #expect(end["event"] as? String == "end" && end["stops"] as? Int == 5 && end["reason"] as? String == "max-stops")
        #expect(end["setGuestDebugCalls"] as? Int == 9)
    }
}
