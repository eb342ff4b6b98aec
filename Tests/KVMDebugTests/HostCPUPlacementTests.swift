import Foundation
import Testing
import KVMDebugCLI
import KVMDebugCore
import KVMDebugFake

/// `allowedHostCPUs` (one sched_getaffinity) against the kernel's own account in
/// /proc/self/status, and `moveVCPUThread` refusing a CPU outside the mask with the list.
@Suite struct HostCPUPlacementTests {
    /// "0-1,4" -> [0, 1, 4]
    static func parse(_ list: String) -> [Int] {
        list.split(separator: ",").flatMap { part -> [Int] in
            let ends = part.split(separator: "-").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            return ends.count == 2 ? Array(ends[0]...ends[1]) : ends
        }
    }

    @Test func theAllowedCPUsAreTheKernels() throws {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") })
        let kernel = Self.parse(String(line.dropFirst("Cpus_allowed_list:".count)))
        #expect(allowedHostCPUs() == kernel)
    }

    @Test func aCPUOutsideTheMaskIsRefusedWithTheList() throws {
        let allowed = allowedHostCPUs()
        let outside = try #require((0..<1024).first { !allowed.contains($0) }, "every CPU allowed: nothing to refuse")
        let s = DebugSession(backend: try FakeBackend(guest: BuiltinGuests.counterX86(.long)))
        defer { s.close() }
        #expect(throws: DebugError.unsupported(reason: "host CPU \(outside) is not in this process's affinity mask (allowed: \(allowed))")) {
            try s.moveVCPUThread(0, toCPU: outside)
        }
        #expect(s.lastHostCPU(of: 0) == nil, "a refused move changes nothing")
        try s.moveVCPUThread(0, toCPU: allowed[0])
    }
}
