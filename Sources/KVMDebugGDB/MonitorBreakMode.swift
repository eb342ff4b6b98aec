/// `monitor break-mode [hardware|auto|hole]`: what serves execute breakpoints (GDB's `hbreak`,
/// and `break` where int3 does not trap). The packet is `qRcmd`.
import KVMDebugCore

extension GDBEngine {
    /// Shows or sets the mode. `hole` and `auto` (a hole once the slots are used) cost an exit,
    /// a step and four slot ioctls per instruction fetched from a page holding such a breakpoint.
    func monitorBreakMode(_ w: [String], _ lines: inout [String]) -> MonitorResult {
        let names: [(String, WatchMechanismChoice)] = [("hardware", .hardware), ("auto", .automatic), ("hole", .protection)]
        if w.count == 2 {
            guard let m = names.first(where: { $0.0 == w[1] })?.1 else {
                return .error("usage: monitor break-mode [hardware|auto|hole]")
            }
            target.breakMechanism = m
            if target.breakMechanism != m {
                return .error("this target serves breakpoints by hardware slots only (no memory protection)")
            }
        } else if w.count != 1 {
            return .error("usage: monitor break-mode [hardware|auto|hole]")
        }
        let now = names.first { $0.1 == target.breakMechanism }?.0 ?? "hardware"
        let what: String
        switch target.breakMechanism {
        case .hardware: what = "hardware slots only; a breakpoint beyond them is refused"
        case .automatic: what = "hardware slots, then a code-page hole (every instruction fetched from that page is stepped through: slow)"
        case .protection: what = "a code-page hole for every execute breakpoint (slow on hot pages)"
        }
        lines.append("break-mode \(now): \(what)")
        return .ok
    }
}
