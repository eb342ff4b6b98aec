/// QEMU's single-step packets: `qqemu.sstepbits`, `qqemu.sstep`, `qqemu.sstep=HEX` (each also
/// with `Q`, and `Qqemu.sstep:HEX`), and `qqemu.Supported`.
import KVMDebugCore

extension GDBEngine {
    /// QEMU's SSTEP_ENABLE (include/exec/gdbstub.h): `s` steps.
    static var sstepEnable: UInt64 { 1 }
    /// QEMU's SSTEP_NOIRQ: no interrupts while stepping; kvmdbg's KVM_GUESTDBG_BLOCKIRQ.
    static var sstepNoIRQ: UInt64 { 2 }
    /// QEMU's SSTEP_NOTIMER: timers held while stepping. KVM cannot (the guest's clocks run on
    /// the host's), so it is never offered, as QEMU does not offer it under KVM either.
    static var sstepNoTimer: UInt64 { 4 }

    /// The flags this target can honour: ENABLE, plus NOIRQ where the kernel offers BLOCKIRQ.
    var supportedStepFlags: UInt64 { Self.sstepEnable | (target.canBlockInterruptsWhileStepping ? Self.sstepNoIRQ : 0) }

    /// Answers QEMU's step-flag packets as QEMU's gdbstub does (gdbstub.c: the query and set
    /// tables both hold `qemu.sstepbits`, `qemu.sstep`, `qemu.sstep=`): `ENABLE=1[,NOIRQ=2]`
    /// lists the supported flags (GEF and pwndbg detect QEMU by `ENABLE=` in it), `0x3` the
    /// current ones; setting flags this target cannot honour is refused with the reason (QEMU
    /// answers `E22`), and so is clearing ENABLE (`s` always steps here). False when `p` is
    /// none of these.
    func handleQEMUQuery(_ p: ArraySlice<UInt8>) -> Bool {
        guard let kind = p.first, kind == UInt8(ascii: "q") || kind == UInt8(ascii: "Q") else { return false }
        let body = String(decoding: p.dropFirst(), as: UTF8.self)
        switch body {
        case "qemu.sstepbits":
            send("ENABLE=1" + (supportedStepFlags & Self.sstepNoIRQ != 0 ? ",NOIRQ=2" : ""))
        case "qemu.sstep":
            let flags = Self.sstepEnable | (target.blockInterruptsWhileStepping ? Self.sstepNoIRQ : 0)
            send("0x" + String(flags, radix: 16))
        case "qemu.Supported":
            send("sstepbits;sstep;PhyMemMode")
        default:
            guard body.hasPrefix("qemu.sstep=") || (kind == UInt8(ascii: "Q") && body.hasPrefix("qemu.sstep:")) else { return false }
            setStepFlags(String(body.dropFirst(11)))
        }
        return true
    }

    private func setStepFlags(_ text: String) {
        guard let flags = UInt64(text.hasPrefix("0x") ? String(text.dropFirst(2)) : text, radix: 16) else {
            sendError("qemu.sstep wants hex flags: ENABLE=1, NOIRQ=2, NOTIMER=4"); return
        }
        if flags & Self.sstepEnable == 0 {
            sendError("kvmdbg cannot turn single-stepping off (ENABLE=1 is required): 's' always steps one instruction"); return
        }
        if flags & Self.sstepNoTimer != 0 {
            sendError("NOTIMER (4) cannot be honoured: under KVM the guest's timers run on the host's clock while it steps"); return
        }
        if flags & ~(Self.sstepEnable | Self.sstepNoIRQ | Self.sstepNoTimer) != 0 {
            sendError("unknown step flags \(hex(flags)); QEMU defines ENABLE=1, NOIRQ=2, NOTIMER=4"); return
        }
        do throws(DebugError) {
            try target.setBlockInterruptsWhileStepping(flags & Self.sstepNoIRQ != 0)
        } catch {
            sendError(error); return
        }
        sendOK()
    }
}
