/// `monitor why`: the exit behind the last stop, with every field KVM gave for it.
import KVMDebugCore

extension GDBEngine {
    /// Prints the last stop's exit: its `KVM_EXIT_*` name, what it means, the signal it was
    /// reported with, the pc the vCPU's registers hold, and the `kvm_run` fields (suberror and
    /// data words, hardware entry failure reason, system event type and data, an access's address,
    /// size and direction; a debug exit's DR6/DR7 or ESR/FAR). The packet is `qRcmd`.
    func monitorWhy(_ w: [String], _ lines: inout [String]) -> MonitorResult {
        guard w.count == 1 else { return .error("usage: monitor why") }
        guard let e = lastEvent else {
            lines.append("no stop to explain: the last stop was an interrupt (^C) or the guest has not run yet")
            return .ok
        }
        let pc = try? target.registers(vcpu: e.vcpu).pc
        switch e.event {
        case .stop(let s):
            var head = "vCPU \(e.vcpu): KVM_EXIT_DEBUG (\(s.reason.name)), pc \(hex(s.pc))"
            if let a = s.dataAddress { head += ", data address \(hex(a))" }
            lines.append(head)
            switch s.trap {
            case .x86(let exception, let dr6, let dr7):
                lines.append("  exitReason=4 exception=\(exception) dr6=\(hex(dr6)) dr7=\(hex(dr7))" + (exception == 3 ? " (dr6/dr7 are stale on #BP)" : ""))
            case .arm64(let esr, let ec, let far):
                lines.append("  exitReason=4 esr=\(hex(esr)) ec=\(hex(UInt64(ec))) far=\(hex(far))")
            case .protection(let address, let isWrite, let length):
                // A protection watchpoint: KVM_EXIT_MMIO on a page kvmdbg protected, completed by kvmdbg;
                // length 0: arm64 KVM_EXIT_ARM_NISV (an access without a valid syndrome, size unknown).
                if length == 0 {
                    lines.append("  exitReason=28 (KVM_EXIT_ARM_NISV on a protected page) fault_ipa=\(hex(address)) wnr=\(isWrite ? 1 : 0)")
                } else {
                    lines.append("  exitReason=6 (KVM_EXIT_MMIO on a protected page) phys_addr=\(hex(address)) len=\(length) is_write=\(isWrite ? 1 : 0)")
                }
            }
            if let c = lastCaught, c.vcpu == e.vcpu, c.handler == s.pc {
                lines.append(c.line)
                lines.append("  " + c.fields.map { $0.text }.joined(separator: " "))
            }
        case .exit(let x):
            lines += ExitReport(vcpu: e.vcpu, exit: x, pc: pc).lines
        case .kicked:
            break  // never reported (`StopRound.events`)
        }
        // A fatal exit another vCPU holds from an earlier round (reported then, still in force).
        for v in 0..<target.vcpuCount where v != e.vcpu {
            if let x = target.fatalExit(of: v) {
                lines += ExitReport(vcpu: v, exit: x, pc: try? target.registers(vcpu: v).pc).lines
            }
        }
        return .ok
    }
}
