/// `monitor info mem|registers|tlb`: QEMU's monitor commands of those names, in QEMU's formats,
/// because the GDB plugins used for kernel and firmware debugging (GEF, pwndbg) parse them.
import KVMDebugCore

extension GDBEngine {
    /// Routes `info SUBCOMMAND` (QEMU's HMP `info`), for the general thread's vCPU.
    func monitorInfo(_ w: [String], _ lines: inout [String]) -> MonitorResult {
        switch w.count == 2 ? w[1] : "" {
        case "mem": return monitorInfoMem(&lines)
        case "tlb": return monitorInfoTLB(&lines)
        case "registers": return monitorInfoRegisters(&lines)
        default: return .error("usage: monitor info mem|registers|tlb")
        }
    }
}

/// `v` as `width` lower-case hex digits, zero-padded (C's `%0*" PRIx64`, QEMU's HWADDR_FMT_plx at 16).
func paddedHex(_ v: UInt64, _ width: Int = 16) -> String {
    let s = String(v, radix: 16)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}
