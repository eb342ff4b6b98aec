/// `monitor gva2gpa ADDR`: one virtual address translated, in QEMU's words.
import KVMDebugCore

extension GDBEngine {
    /// `gpa: 0x...` as QEMU's `gva2gpa` prints it (C's `%#lx`: `0` for zero), through the general
    /// thread's page tables (always virtual: translating is the point). An address that does not
    /// translate is QEMU's `Unmapped`, with the walk's reason; `monitor translate` shows every level.
    /// The packet is `qRcmd`.
    func monitorGva2gpa(_ w: [String], _ lines: inout [String]) -> MonitorResult {
        guard w.count == 2, let a = parseAddress(w[1]) else { return .error("usage: monitor gva2gpa ADDR") }
        let wasPhysical = target.physicalMode
        target.physicalMode = false
        defer { target.physicalMode = wasPhysical }
        let walk: PageWalk
        do throws(DebugError) { walk = try target.walk(a, vcpu: generalThread) } catch { return .error(error.message) }
        if let pa = walk.physicalAddress {
            lines.append("gpa: " + (pa == 0 ? "0" : "0x" + String(pa, radix: 16)))
        } else {
            lines.append("Unmapped (" + (walk.fault ?? "no translation") + ")")
        }
        return .ok
    }
}
