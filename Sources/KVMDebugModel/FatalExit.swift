/// What a fatal exit means to a debugger: the signal it is reported with, whether the vCPU can
/// run on, and every field KVM gave, named as `kvm_run` names them (api.rst "struct kvm_run").
///
/// Fatal exits are stops, not the end of a session: the vCPU's registers and the guest's memory
/// stay readable (as KVM then holds them: see the README's failure modes for what each KVM
/// flavour keeps), a core file can be written, and only resuming is refused.

/// The signal a fatal stop is reported with, in GDB's remote numbering (gdb/signals.def, the
/// same numbers as Linux for these three).
///
/// SIGSEGV for a triple fault and for an access nothing handles: like a process's segfault,
/// the guest's own code touched what it could not (its exception path, or an address no memory
/// or device backs). SIGABRT where KVM or the hardware gave up (internal error, failed VM entry,
/// a guest crash event, an exit kvmdbg does not decode): the guest did not fault, its run was
/// aborted. SIGQUIT for a guest that asked to be shut down or reset (PSCI SYSTEM_OFF/RESET):
/// QEMU's gdbstub reports its shutdown run state with it too (qemu/qemu gdbstub.c).
public enum GuestSignal: UInt8, Sendable, Hashable {
    case quit = 3
    case abort = 6
    case segv = 11

    /// `SIGQUIT`, `SIGABRT`, `SIGSEGV`.
    public var name: String {
        switch self {
        case .quit: return "SIGQUIT"
        case .abort: return "SIGABRT"
        case .segv: return "SIGSEGV"
        }
    }
}

/// One field of an exit, as `monitor why` prints it and the JSON end event carries it.
public struct ExitField: Sendable, Hashable {
    public enum Value: Sendable, Hashable {
        case int(Int)
        case hex(UInt64)
        case text(String)
        case hexList([UInt64])
    }
    /// The JSON key (camelCase of the `kvm_run` field).
    public var name: String
    public var value: Value

    public init(_ name: String, _ value: Value) {
        self.name = name
        self.value = value
    }

    /// `name=value` for text output.
    public var text: String {
        switch value {
        case .int(let v): return "\(name)=\(v)"
        case .hex(let v): return "\(name)=\(hex(v))"
        case .text(let s): return "\(name)=\(s)"
        case .hexList(let l): return "\(name)=[" + l.map { hex($0) }.joined(separator: " ") + "]"
        }
    }
}

extension VCPUExit {
    /// The `KVM_EXIT_*` name of the exit (`KVM_EXIT_INTR` for a kick).
    public var kvmName: String {
        switch self {
        case .debug: return "KVM_EXIT_DEBUG"
        case .halt: return "KVM_EXIT_HLT"
        case .io: return "KVM_EXIT_IO"
        case .mmio: return "KVM_EXIT_MMIO"
        case .armNISV: return "KVM_EXIT_ARM_NISV"
        case .interrupted: return "KVM_EXIT_INTR"
        case .shutdown: return "KVM_EXIT_SHUTDOWN"
        case .systemEvent: return "KVM_EXIT_SYSTEM_EVENT"
        case .failEntry: return "KVM_EXIT_FAIL_ENTRY"
        case .internalError: return "KVM_EXIT_INTERNAL_ERROR"
        case .unknown(let r): return "exit reason \(r)"
        }
    }

    /// The `exit_reason` number (linux/kvm.h).
    public var kvmReason: UInt32 {
        switch self {
        case .debug: return 4
        case .halt: return 5
        case .io: return 2
        case .mmio: return 6
        case .armNISV: return 28
        case .interrupted: return 10
        case .shutdown: return 8
        case .systemEvent: return 24
        case .failEntry: return 9
        case .internalError: return 17
        case .unknown(let r): return r
        }
    }

    /// True when the vCPU cannot sensibly re-enter the guest: a triple fault, an internal error,
    /// a failed entry, a system event (the guest asked its VMM to act) or an exit kvmdbg does not
    /// decode. `Debugger.resume` refuses such a vCPU. I/O and MMIO exits are not here: a host VMM
    /// embedding kvmdbg completes them and runs on (`isFatalStop` covers kvmdbg's own guests).
    public var endsVCPU: Bool {
        switch self {
        case .shutdown, .systemEvent, .failEntry, .internalError, .unknown: return true
        case .debug, .halt, .io, .mmio, .armNISV, .interrupted: return false
        }
    }

    /// True for a stop a client cannot continue from where nothing emulates devices (the GDB server,
    /// `kvmdbg run`): `endsVCPU` plus I/O and MMIO exits, which there are accesses nothing handles.
    /// (Protection watchpoints' MMIO exits are handled below the session and never arrive here.)
    public var isFatalStop: Bool {
        switch self {
        case .io, .mmio, .armNISV: return true
        default: return endsVCPU
        }
    }

    /// The signal a fatal stop is reported with (see `GuestSignal`); nil for other exits.
    public var signal: GuestSignal? {
        switch self {
        case .shutdown, .io, .mmio, .armNISV: return .segv
        case .internalError, .failEntry, .unknown: return .abort
        case .systemEvent(let type, _):
            // SHUTDOWN, RESET: asked for. CRASH, SEV_TERM, TDX_FATAL and anything newer: a failure.
            return type == 1 || type == 2 ? .quit : .abort
        case .debug, .halt, .interrupted: return nil
        }
    }

    /// A few words on what the exit means.
    public var meaning: String {
        switch self {
        case .debug: return "debug exception"
        case .halt: return "the guest executed hlt"
        case .interrupted: return "kicked out of KVM_RUN"
        case .shutdown: return "triple fault: an exception while delivering a double fault (x86 shutdown)"
        case .io(_, let w, _, _): return "port \(w ? "output" : "input") nothing handles"
        case .mmio(_, let w, _, _): return "\(w ? "write to" : "read from") guest-physical memory nothing backs (no memslot, or a read-only one)"
        case .armNISV(_, let iss, _):
            return "\(iss & 0x40 != 0 ? "write to" : "read from") guest-physical memory nothing writable backs, by an instruction without a valid syndrome (ldp/stp, writeback, SIMD)"
        case .failEntry(let r, _): return "the hardware refused VM entry" + (Self.entryFailure(r).map { ": \($0)" } ?? "")
        case .internalError(let s, _): return Self.suberrorName(s).map { "KVM gave up: \($0)" } ?? "KVM gave up (suberror \(s))"
        case .systemEvent(let t, _): return "the guest asked its VMM for " + (Self.systemEventName(t).map { "\($0)" } ?? "system event \(t)")
        case .unknown(let r): return "an exit kvmdbg does not decode (exit_reason \(r))"
        }
    }

    /// Every field KVM gave for the exit, in `kvm_run` order; the pc where the exit carries one.
    public var fields: [ExitField] {
        var f: [ExitField] = [ExitField("exitReason", .int(Int(kvmReason)))]
        switch self {
        case .debug(let d): f.append(ExitField("pc", .hex(d.pc)))
        case .halt(let pc): f.append(ExitField("pc", .hex(pc)))
        case .interrupted, .shutdown, .unknown: break
        case .io(let port, let w, let size, let pc):
            f += [ExitField("port", .hex(UInt64(port))), ExitField("size", .int(size)),
                  ExitField("direction", .text(w ? "out" : "in")), ExitField("pc", .hex(pc))]
        case .mmio(let a, let w, let l, let pc):
            f += [ExitField("address", .hex(a)), ExitField("size", .int(l)),
                  ExitField("direction", .text(w ? "write" : "read")), ExitField("pc", .hex(pc))]
        case .armNISV(let ipa, let iss, let pc):
            f += [ExitField("faultIPA", .hex(ipa)), ExitField("esrISS", .hex(iss)),
                  ExitField("direction", .text(iss & 0x40 != 0 ? "write" : "read")), ExitField("pc", .hex(pc))]
        case .failEntry(let r, let cpu):
            f.append(ExitField("hardwareEntryFailureReason", .hex(r)))
            if let cpu { f.append(ExitField("cpu", .int(Int(cpu)))) }
        case .internalError(let s, let data):
            f.append(ExitField("suberror", .int(Int(s))))
            if let n = Self.suberrorName(s) { f.append(ExitField("suberrorName", .text(n))) }
            f += [ExitField("ndata", .int(data.count)), ExitField("data", .hexList(data))]
            // KVM_INTERNAL_ERROR_EMULATION with flags bit 0: data[1...2] hold insn_size and insn_bytes[15].
            if s == 1, data.count >= 3, data[0] & 1 != 0 {
                var bytes: [UInt8] = []
                for w in data[1...2] { for k in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: w >> UInt64(8 * k))) } }
                let n = min(Int(bytes[0]), 15)
                f.append(ExitField("insnBytes", .text(bytes[1..<1 + n].map { hex2($0) }.joined(separator: " "))))
            }
        case .systemEvent(let t, let data):
            f.append(ExitField("systemEventType", .int(Int(t))))
            if let n = Self.systemEventName(t) { f.append(ExitField("systemEventTypeName", .text(n))) }
            f += [ExitField("ndata", .int(data.count)), ExitField("data", .hexList(data))]
        }
        return f
    }

    /// linux/kvm.h `KVM_INTERNAL_ERROR_*`.
    static func suberrorName(_ s: UInt32) -> String? {
        switch s {
        case 1: return "KVM_INTERNAL_ERROR_EMULATION"
        case 2: return "KVM_INTERNAL_ERROR_SIMUL_EX"
        case 3: return "KVM_INTERNAL_ERROR_DELIVERY_EV"
        case 4: return "KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON"
        default: return nil
        }
    }

    /// linux/kvm.h `KVM_SYSTEM_EVENT_*`.
    static func systemEventName(_ t: UInt32) -> String? {
        switch t {
        case 1: return "KVM_SYSTEM_EVENT_SHUTDOWN"
        case 2: return "KVM_SYSTEM_EVENT_RESET"
        case 3: return "KVM_SYSTEM_EVENT_CRASH"
        case 4: return "KVM_SYSTEM_EVENT_WAKEUP"
        case 5: return "KVM_SYSTEM_EVENT_SUSPEND"
        case 6: return "KVM_SYSTEM_EVENT_SEV_TERM"
        case 7: return "KVM_SYSTEM_EVENT_TDX_FATAL"
        default: return nil
        }
    }

    /// VMX: bit 31 marks a failed entry and bits 15:0 are the basic exit reason (Intel SDM vol. 3
    /// appendix C: 33 invalid guest state, 34 MSR loading, 41 machine check). SVM reports its
    /// exit code, VMEXIT_INVALID (-1) for an invalid VMCB (AMD APM vol. 2 15.6).
    static func entryFailure(_ r: UInt64) -> String? {
        if r == ~0 { return "SVM VMEXIT_INVALID (invalid guest state in the VMCB)" }
        guard r & (1 << 31) != 0 else { return nil }
        switch r & 0xFFFF {
        case 33: return "VMX invalid guest state"
        case 34: return "VMX MSR loading"
        case 41: return "VMX machine-check event"
        default: return "VMX basic exit reason \(r & 0xFFFF)"
        }
    }
}

/// A fatal exit of one vCPU with the pc its registers then held: what `monitor why`, `kvmdbg
/// run` and the JSON end event print.
public struct ExitReport: Sendable, Hashable {
    public var vcpu: Int
    public var exit: VCPUExit
    /// The pc from the registers read after the exit (nil when they could not be read).
    public var pc: UInt64?

    public init(vcpu: Int, exit: VCPUExit, pc: UInt64?) {
        self.vcpu = vcpu
        self.exit = exit
        self.pc = pc
    }

    /// `vCPU 0: KVM_EXIT_SHUTDOWN (triple fault: ...), SIGSEGV, pc 0x1010` then `  name=value ...`.
    public var lines: [String] {
        var head = "vCPU \(vcpu): \(exit.kvmName) (\(exit.meaning))"
        if let s = exit.signal { head += ", reported as \(s.name)" }
        if let pc { head += ", pc \(hex(pc))" }
        var out = [head, "  " + exit.fields.map { $0.text }.joined(separator: " ")]
        if exit.endsVCPU || exit.isFatalStop {
            out.append("  the vCPU cannot run on: inspect its registers and memory, write a core file (monitor dump-guest-memory FILE; kvmdbg run --dump-on-stop FILE), or kill the guest")
        }
        return out
    }
}
