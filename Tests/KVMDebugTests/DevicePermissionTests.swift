import Foundation
import Testing
import KVMDebugCLI
import KVMDebugCore

/// `/dev/kvm` that cannot be used: unreadable (the CLI run as an unprivileged user), or
/// present but failing `KVM_CREATE_VM` / `KVM_CREATE_VCPU` (the fd limit exhausted). One
/// clear line and exit 1 for `--backend kvm`; `auto` falls back to the fake and says so;
/// never a crash, whatever the limit.
@Suite(.serialized) struct DevicePermissionTests {
    static let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let prlimit = ["/usr/bin/prlimit", "/bin/prlimit"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Whether the unprivileged user `nobody` (65534) is denied /dev/kvm here.
    static var nobodyIsDenied: Bool {
        guard getuid() == 0, setpriv != nil, FileManager.default.fileExists(atPath: "/dev/kvm") else { return false }
        var st = stat()
        guard stat("/dev/kvm", &st) == 0 else { return false }
        return st.st_mode & 0o006 == 0   // no access for "other"
    }

    static var denyReason: String {
        if getuid() != 0 { return "needs root to switch to an unprivileged user (setpriv)" }
        if setpriv == nil { return "setpriv (util-linux) is not installed" }
        return "/dev/kvm is missing or readable by everyone here, so an unprivileged user is not denied"
    }

    func asNobody(_ args: [String]) throws -> ToolResult {
        let kvmdbg = try #require(BuiltTool.path("kvmdbg"), BuiltTool.missing("kvmdbg"))
        return try runProcess(Self.setpriv!, ["--reuid=65534", "--regid=65534", "--clear-groups", kvmdbg] + args, timeout: 30)
    }

    @Test(.enabled(if: nobodyIsDenied, Comment(rawValue: denyReason)))
    func unreadableDeviceIsOneClearLine() throws {
        let r = try asNobody(["caps", "--backend", "kvm"])
        #expect(r.status == 1, "\(r)")
        #expect(r.stdout.isEmpty, "\(r)")
        #expect(r.errorLines == ["kvmdbg: error: permission denied opening /dev/kvm: add this user to the 'kvm' group or run as root, or use --backend fake"], "\(r)")
    }

    @Test(.enabled(if: nobodyIsDenied, Comment(rawValue: denyReason)))
    func autoFallsBackToTheFakeAndSaysWhy() throws {
        let r = try asNobody(["run", "--guest", "counter", "--break", "loop", "--max-stops", "2", "--timeout", "5"])
        #expect(r.status == 0, "\(r)")
        #expect(r.lines.first == "backend: fake (auto: KVM not usable (permission denied opening /dev/kvm: add this user to the 'kvm' group or run as root, or use --backend fake); using the fake backend)", "\(r)")
        #expect(r.lines.filter { $0.hasPrefix("vCPU 0 hw-breakpoint at 0x1003 <loop>") }.count == 2, "\(r)")
    }

    /// Every fd limit from "the runtime cannot start" upwards: kvmdbg either works or says
    /// which call failed and what to do, in one line; it never dies of a signal (libdispatch
    /// used to trap when its epoll fd could not be had).
    @Test(KVMHost.required, .enabled(if: prlimit != nil, "prlimit (util-linux) is not installed"))
    func theFDLimitNeverCrashesKvmdbg() throws {
        let kvmdbg = try #require(BuiltTool.path("kvmdbg"), BuiltTool.missing("kvmdbg"))
        var failedCalls: Set<String> = []
        var worked = false
        for limit in 4...16 {
            let r = try runProcess(Self.prlimit!, ["--nofile=\(limit):\(limit)", kvmdbg, "run", "--guest", "smp-counter", "--vcpus", "2",
                                                   "--backend", "kvm", "--break", "loop", "--max-stops", "2", "--timeout", "5"], timeout: 30)
            if r.stderr.contains("error while loading shared libraries") { continue }  // below what the runtime needs
            #expect(r.status == 0 || r.status == 1, "nofile=\(limit): exit \(r.status) \(r)")
            if r.status == 1 {
                let errors = r.errorLines.filter { $0.hasPrefix("kvmdbg: error: ") }
                #expect(errors.count == 1 && r.errorLines.last == errors.first, "nofile=\(limit): \(r)")
                if let e = errors.first, let call = e.split(separator: " ").dropFirst(2).first {
                    failedCalls.insert(String(call))
                    #expect(e.contains("EMFILE") && e.contains("ulimit -n"), "nofile=\(limit): says what to do: \(e)")
                }
            } else {
                worked = true
                #expect(r.lines.contains { $0.hasPrefix("end: max-stops after 2 stops") }, "nofile=\(limit): \(r)")
            }
        }
        #expect(worked, "some limit is enough to run")
        #expect(failedCalls.contains("KVM_CREATE_VM") || failedCalls.contains("KVM_CREATE_VCPU"),
                "a limit where /dev/kvm opens but KVM_CREATE_VM/VCPU fails: \(failedCalls)")
    }
}
