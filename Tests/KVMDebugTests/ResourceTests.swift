import Foundation
import Synchronization
import Testing
import KVMDebugCLI
import KVMDebugCore
import KVMTestSupport

// MARK: - What this process holds

/// The KVM-related resources of this process: fds whose target names kvm
/// (`/dev/kvm`, `anon_inode:kvm-vm`, `anon_inode:kvm-vcpu:N`), kvm_run mappings
/// (`anon_inode:kvm-vcpu` in /proc/self/maps) and shared anonymous mappings (guest RAM,
/// shown as `/dev/zero (deleted)`).
struct ResourceSnapshot: Equatable, CustomStringConvertible {
    var kvmFDs: [String]
    var vcpuMappings: Int
    var sharedAnonymousMappings: Int
    var fdsOnPath: [String: Int]

    static func take(paths: [String] = []) -> ResourceSnapshot {
        var targets: [String] = []
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for e in entries {
            if let t = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + e) { targets.append(t) }
        }
        let maps = readProcFile("/proc/self/maps")
        let lines = maps.split(separator: "\n")
        var onPath: [String: Int] = [:]
        for p in paths { onPath[p] = targets.filter { $0 == p }.count }
        return ResourceSnapshot(
            kvmFDs: targets.filter { $0.contains("kvm") }.sorted(),
            vcpuMappings: lines.filter { $0.contains("kvm-vcpu") }.count,
            sharedAnonymousMappings: lines.filter { $0.contains("/dev/zero (deleted)") }.count,
            fdsOnPath: onPath)
    }

    /// True when nothing here grew since `before` (a neighbour test's VM may have closed meanwhile).
    func noGrowth(since before: ResourceSnapshot) -> Bool {
        kvmFDs.count <= before.kvmFDs.count && vcpuMappings <= before.vcpuMappings
            && sharedAnonymousMappings <= before.sharedAnonymousMappings
            && fdsOnPath.allSatisfy { $0.value <= before.fdsOnPath[$0.key] ?? 0 }
    }

    var description: String {
        "kvm fds \(kvmFDs), kvm_run mappings \(vcpuMappings), shared anonymous mappings \(sharedAnonymousMappings), fds on paths \(fdsOnPath)"
    }
}

/// A /proc file read with read(2) to the end (procfs reports size 0, so helpers that
/// trust st_size read nothing).
func readProcFile(_ path: String) -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        out += buffer[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

/// Runs `body` and checks that nothing KVM-related was left open or mapped.
///
/// Other tests in this process may create VMs concurrently, so growth is retried (a real
/// leak grows on every attempt; a neighbour's VM does not stay open for long).
func expectNoLeak(_ what: String, paths: [String] = [], attempts: Int = 8,
                  sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) rethrows {
    var last = ""
    for attempt in 1...attempts {
        let before = ResourceSnapshot.take(paths: paths)
        try body()
        let after = ResourceSnapshot.take(paths: paths)
        if after.noGrowth(since: before) { return }
        last = "before: \(before)\nafter:  \(after)"
        // Pacing between attempts, not a wait: each attempt's verdict is its own before/after.
        if attempt < attempts { usleep(100_000) }
    }
    Issue.record("\(what) leaked on each of \(attempts) attempts:\n\(last)", sourceLocation: sourceLocation)
}

// MARK: - Opening /dev/kvm (no KVM needed)

@Suite struct KVMSystemOpenTests {
    @Test func missingDeviceIsDeviceMissing() {
        expectNoLeak("KVMSystem(path: /nonexistent)") {
            #expect(thrownError { () throws(DebugError) in try KVMSystem(path: "/nonexistent") } == .deviceMissing(path: "/nonexistent"))
            #expect(thrownError { () throws(DebugError) in try KVMSystem(path: "/nonexistent/kvm") } == .deviceMissing(path: "/nonexistent/kvm"))
        }
        let m = DebugError.deviceMissing(path: "/nonexistent").message
        #expect(m.contains("/nonexistent") && m.contains("--backend fake"))
    }

    @Test func aDirectoryIsASystemErrorNamingOpen() {
        expectNoLeak("KVMSystem(path: /)") {
            let e = thrownError { () throws(DebugError) in try KVMSystem(path: "/") }
            #expect(e == .system(call: "open(/)", errno: EISDIR), "\(String(describing: e))")
        }
    }

    @Test func kvmBackendOnAMissingDeviceFails() {
        guard Arch.host != nil else { return }
        let g = Arch.host == .arm64 ? BuiltinGuests.counterArm64() : BuiltinGuests.counterX86(.long)
        expectNoLeak("KVMBackend(path: /nonexistent)") {
            #expect(thrownError { () throws(DebugError) in try KVMBackend(guest: g, path: "/nonexistent") } == .deviceMissing(path: "/nonexistent"))
            #expect(thrownError { () throws(DebugError) in try KVMBackend.capabilities(path: "/nonexistent") } == .deviceMissing(path: "/nonexistent"))
        }
    }

    @Test(.enabled(if: getuid() != 0, "running as root: root opens any file whatever its mode, so EACCES cannot be provoked"))
    func unreadableDeviceIsPermissionDenied() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-test-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: url.path, contents: Data(), attributes: [.posixPermissions: 0o000])
        defer { try? FileManager.default.removeItem(at: url) }
        expectNoLeak("KVMSystem(path: mode 000 file)") {
            #expect(thrownError { () throws(DebugError) in try KVMSystem(path: url.path) } == .permissionDenied(path: url.path))
        }
        #expect(DebugError.permissionDenied(path: "/dev/kvm").message.contains("kvm"))
    }

    /// A file that is not /dev/kvm: KVM_GET_API_VERSION fails, the fd must be closed once.
    /// Runs the `WrongDeviceChild` suite of this test binary in a child process (a double
    /// close in this process could close another running test's fd) under
    /// `strace -ff -e trace=close`: a successful close(N) followed, on the same thread, by
    /// close(N) = EBADF is a double close, which in a threaded program closes whatever
    /// another thread opened as N in between.
    @Test(.enabled(if: straceUsable, "needs a working strace (ptrace) to see close(2) calls"))
    func wrongDeviceClosesItsFDOnce() throws {
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kvmdbg-strace-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try runProcess(straceExecutable, ["-ff", "-e", "trace=close", "-o", dir.appendingPathComponent("t").path,
                                                  exe, "--testing-library", "swift-testing", "--filter", "WrongDeviceChild"],
                               environment: [wrongDeviceChildVariable: "1", "KVMDBG_TEST_WRONG_DEVICE_ITERATIONS": "10"],
                               timeout: 60)
        #expect(r.lines.contains { $0.hasPrefix("wrong-device-child:") }, "the child did not run its test: \(r)")
        var doubles: [String] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path) {
            let lines = readProcFile(dir.appendingPathComponent(file).path).split(separator: "\n")
            var lastOK: Substring? = nil
            for line in lines {
                guard line.hasPrefix("close(") else { continue }
                let call = line.prefix { $0 != ")" }
                if line.contains("= 0") { lastOK = call; continue }
                if line.contains("EBADF"), call == lastOK { doubles.append("\(file): \(call))") }
                lastOK = nil
            }
        }
        #expect(doubles.count == 0, "KVMSystem(path: \"/dev/null\") closed its fd twice \(doubles.count) times in 10+1 attempts (explicit close before throwing, then deinit), e.g. \(doubles.prefix(2))")
    }

    /// The child alone: typed error, no fd left open on /dev/null, and a watcher thread
    /// that never sees its own fd closed under it (a weak, timing-dependent check).
    @Test func wrongDeviceFailsCleanlyInAChildProcess() throws {
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let r = try runProcess(exe, ["--testing-library", "swift-testing", "--filter", "WrongDeviceChild"],
                               environment: [wrongDeviceChildVariable: "1"], timeout: 60)
        let marker = r.lines.first { $0.hasPrefix("wrong-device-child:") }
        #expect(marker != nil, "the child did not run its test: \(r)")
        #expect(r.status == 0, "the child reported a problem: \(marker ?? "")\n\(r)")
    }
}

/// strace, if it is installed and may trace here.
let straceExecutable = ["/usr/bin/strace", "/bin/strace", "/usr/local/bin/strace"].first {
    FileManager.default.isExecutableFile(atPath: $0)
} ?? "strace"
let straceUsable: Bool = {
    guard FileManager.default.isExecutableFile(atPath: straceExecutable) else { return false }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: straceExecutable)
    p.arguments = ["-o", "/dev/null", "-e", "trace=none", "/bin/true"]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return false }
    p.waitUntilExit()
    return p.terminationStatus == 0
}()

/// The environment variable that enables `WrongDeviceChild` in the child process.
let wrongDeviceChildVariable = "KVMDBG_TEST_WRONG_DEVICE_CHILD"

/// Only runs as the child of `KVMSystemOpenTests.wrongDeviceFailsCleanlyInAChildProcess`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment[wrongDeviceChildVariable] == "1",
                "helper: runs only in the child process that KVMSystemOpenTests.wrongDeviceFailsCleanlyInAChildProcess starts"))
struct WrongDeviceChild {
    /// Shared with the watcher thread.
    final class Shared: Sendable {
        let stop = Mutex(false)
        let stolen = Mutex(0)
        let opened = Mutex(0)
    }

    @Test func wrongDeviceClosesItsFDExactlyOnce() throws {
        // No fd left behind.
        expectNoLeak("KVMSystem(path: /dev/null)", paths: ["/dev/null"]) {
            let e = thrownError { () throws(DebugError) in try KVMSystem(path: "/dev/null") }
            guard case .capabilityMissing(let cap, let detail)? = e else {
                Issue.record("expected capabilityMissing for /dev/null, got \(String(describing: e))")
                return
            }
            #expect(cap.contains("API version 12") && detail.contains("/dev/null"))
        }
        // Closed exactly once: a watcher thread keeps opening /dev/zero and checks that
        // its fd stays its own. If KVMSystem closes the number again after giving it up,
        // the watcher sees its fd vanish (or turn into /dev/null) under it.
        var zero = stat()
        #expect(stat("/dev/zero", &zero) == 0)
        let zeroDevice = zero.st_rdev
        let shared = Shared()
        let watcher = Thread {
            while !shared.stop.withLock({ $0 }) {
                let fd = open("/dev/zero", O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { continue }
                shared.opened.withLock { $0 += 1 }
                var mine = true
                for _ in 0..<20 {
                    var st = stat()
                    if fstat(fd, &st) != 0 || st.st_rdev != zeroDevice {
                        mine = false
                        break
                    }
                }
                if mine { close(fd) } else { shared.stolen.withLock { $0 += 1 } }
            }
        }
        watcher.start()
        let iterations = Int(ProcessInfo.processInfo.environment["KVMDBG_TEST_WRONG_DEVICE_ITERATIONS"] ?? "") ?? 5000
        var wrongErrors = 0
        for _ in 0..<iterations {
            if case .capabilityMissing? = thrownError({ () throws(DebugError) in try KVMSystem(path: "/dev/null") }) {} else { wrongErrors += 1 }
        }
        shared.stop.withLock { $0 = true }
        #expect(waitUntil(seconds: 60) { watcher.isFinished }, "the watcher ended")
        let stolen = shared.stolen.withLock { $0 }
        print("wrong-device-child: iterations=\(iterations) watcherOpens=\(shared.opened.withLock { $0 }) stolen=\(stolen)")
        #expect(wrongErrors == 0)
        #expect(stolen == 0, "KVMSystem(path:) closed an fd number it had already given up \(stolen) times (double close: explicit close before throwing, then deinit)")
    }
}

// MARK: - KVM backends (real KVM)

@Suite(KVMHost.required, .serialized) struct ResourceTests {
    let guest = BuiltinGuests.counterX86(.long)

    @Test func twentyBackendsCreatedAndDroppedLeaveNothing() throws {
        try expectNoLeak("20 KVMBackend(guest:)") {
            for _ in 0..<20 {
                let b = try KVMBackend(guest: guest)
                #expect(b.vcpuCount == 1)
            }
        }
        try expectNoLeak("4 backends of 4 vCPUs") {
            for _ in 0..<4 { _ = try KVMBackend(guest: guest, vcpus: 4) }
        }
    }

    @Test func aBackendThatRanLeavesNothing() throws {
        try expectNoLeak("a debugged KVMBackend") {
            let b = try KVMBackend(guest: guest)
            let d = Debugger(backend: b)
            try d.insert(.hardware(address: 0x1003))
            for _ in 0..<3 {
                guard case .stop(let s) = try d.resume(vcpu: 0, mode: .step) else {
                    Issue.record("no step stop")
                    return
                }
                #expect(s.vcpu == 0)
            }
        }
    }

    @Test func liveBackendHoldsWhatItShould() throws {
        let before = ResourceSnapshot.take()
        let b = try KVMBackend(guest: guest, vcpus: 2)
        let during = ResourceSnapshot.take()
        // /dev/kvm, the VM and 2 vCPU fds; 2 kvm_run mappings; 1 guest RAM mapping.
        let added = during.kvmFDs.count - before.kvmFDs.count
        #expect(added >= 4, "\(before)\n\(during)")
        #expect(during.vcpuMappings - before.vcpuMappings >= 2)
        #expect(during.sharedAnonymousMappings - before.sharedAnonymousMappings >= 1)
        withExtendedLifetime(b) {}
    }

    @Test func failedConstructionsLeaveNothing() throws {
        // Too many vCPUs: fails after /dev/kvm and the VM are open.
        expectNoLeak("KVMBackend(vcpus: 100000)") {
            let e = thrownError { () throws(DebugError) in try KVMBackend(guest: guest, vcpus: 100_000) }
            guard case .unsupported(let reason)? = e else { Issue.record("got \(String(describing: e))"); return }
            #expect(reason.contains("100000"))
        }
        expectNoLeak("KVMBackend(vcpus: 0)") {
            #expect(thrownError { () throws(DebugError) in try KVMBackend(guest: guest, vcpus: 0) } != nil)
        }
        // Passes Guest.validate but runs into the page tables at the top of RAM: fails in
        // the vCPU boot, after memory and a vCPU exist.
        var overlap = guest
        overlap.loadAddress = 0x1F_B000
        overlap.entry = 0x1F_B000
        overlap.image = [UInt8](repeating: 0x90, count: 0x2000)
        overlap.data = []
        expectNoLeak("KVMBackend(image over the page tables)") {
            let e = thrownError { () throws(DebugError) in try KVMBackend(guest: overlap, vcpus: 3) }
            guard case .badImage(let reason)? = e else { Issue.record("got \(String(describing: e))"); return }
            #expect(reason.contains("below"))
        }
        // Does not fit guest RAM at all.
        var tooBig = guest
        tooBig.image = [UInt8](repeating: 0x90, count: Int(guest.memorySize))
        expectNoLeak("KVMBackend(image too big)") {
            guard case .badImage? = thrownError({ () throws(DebugError) in try KVMBackend(guest: tooBig) }) else {
                Issue.record("an image larger than RAM must be badImage")
                return
            }
        }
        // A guest of the other architecture.
        expectNoLeak("KVMBackend(arm64 guest)") {
            guard case .unsupported? = thrownError({ () throws(DebugError) in try KVMBackend(guest: BuiltinGuests.counterArm64()) }) else {
                Issue.record("an arm64 guest on an x86 host must be unsupported")
                return
            }
        }
    }

    @Test func capabilitiesProbeLeavesNothing() throws {
        try expectNoLeak("KVMBackend.capabilities() x10") {
            for _ in 0..<10 { _ = try KVMBackend.capabilities() }
        }
        expectNoLeak("KVMAvailability.probe() x10") {
            for _ in 0..<10 { #expect(KVMAvailability.probe().usable) }
        }
    }
}
