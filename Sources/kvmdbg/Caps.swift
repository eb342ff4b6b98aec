import ArgumentParser
import KVMDebugCLI
import KVMDebugCore
import KVMDebugFake

/// `kvmdbg caps`: what the kernel claims, and with `--probe` what really traps.
struct Caps: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show guest-debug capabilities (flags decoded by name) and which backend answered.")

    @Option(help: "kvm, fake or auto (KVM when usable).")
    var backend: BackendKind = .auto

    @Option(help: "Architecture for the fake backend (default: the host's).")
    var arch: Arch?

    @Flag(help: "Also run a bounded functional self-test of each feature and report which really trap.")
    var probe = false

    @OptionGroup var output: OutputOptions

    func run() throws {
        let kvm = KVMAvailability.probe()
        let targetArch = arch ?? Arch.host ?? .x86_64
        let decision: BackendDecision
        do { decision = try decideBackend(backend, guestArch: targetArch, kvm: kvm) } catch { throw CLIError(error.message) }
        let caps: Capabilities
        do {
            if decision.kind == .kvm {
                caps = try KVMBackend.capabilities(system: kvm.system)
            } else {
                caps = try FakeBackend(guest: BuiltinGuests.guest(named: "counter", arch: targetArch)).capabilities
            }
        } catch { throw CLIError(error.message) }
        let results = probe ? FeatureProbe.run(backend: decision.kind, arch: caps.arch, system: kvm.system) : []

        if output.json {
            var o = JSONObject()
            o["event"] = .string("caps")
            o["backend"] = .string(caps.backend)
            o["why"] = .string(decision.why)
            o["arch"] = .string(caps.arch.name)
            o["pvm"] = .bool(decision.kind == .kvm && kvm.isPVM)
            o["setGuestDebug"] = .bool(caps.setGuestDebug)
            if let c = caps.supportedControl {
                o["setGuestDebug2"] = .hex(UInt64(c.rawValue))
                o["setGuestDebug2Flags"] = .array(c.names(for: caps.arch).map { .string($0) })
            } else {
                o["setGuestDebug2"] = .null
            }
            o["hwBreakpoints"] = .int(caps.reportedHardwareBreakpoints)
            o["hwWatchpoints"] = .int(caps.reportedHardwareWatchpoints)
            o["breakpointSlots"] = .int(caps.slots.breakpoints)
            o["watchpointSlots"] = .int(caps.slots.watchpoints)
            o["slotsShared"] = .bool(caps.arch == .x86_64)
            o["maxVCPUs"] = .int(caps.maxVCPUs)
            if probe {
                var p = JSONObject()
                for r in results {
                    var x = JSONObject()
                    x["works"] = .bool(r.works)
                    x["detail"] = .string(r.detail)
                    p[r.feature.rawValue] = .object(x)
                }
                o["probe"] = .object(p)
            }
            emitLine(o.serialized)
            return
        }
        emitLine("backend:            \(caps.backend) (\(decision.why))")
        emitLine("arch:               \(caps.arch.name)")
        emitLine("SET_GUEST_DEBUG:    \(caps.setGuestDebug ? "yes" : "no")")
        if let c = caps.supportedControl {
            emitLine("SET_GUEST_DEBUG2:   \(hex(UInt64(c.rawValue))) = \(c.names(for: caps.arch).joined(separator: " | "))")
        } else {
            emitLine("SET_GUEST_DEBUG2:   not reported")
        }
        if caps.arch == .x86_64 {
            emitLine("hardware slots:     \(caps.slots.breakpoints) debug registers (DR0-DR3), shared by breakpoints and watchpoints")
            emitLine("GUEST_DEBUG_HW_BPS/WPS: \(caps.reportedHardwareBreakpoints)/\(caps.reportedHardwareWatchpoints) (arm64-only capabilities)")
        } else {
            emitLine("hardware slots:     \(caps.slots.breakpoints) breakpoints (HW_BPS), \(caps.slots.watchpoints) watchpoints (HW_WPS)")
        }
        emitLine("max vCPUs:          \(caps.maxVCPUs)")
        if decision.kind == .kvm && kvm.isPVM {
            emitLine("note:               kvm_pvm (software virtualization): run `kvmdbg caps --probe` to see what really traps")
        }
        for r in results {
            emitLine("probe \(r.feature.rawValue.padding(toLength: 18, withPad: " ", startingAt: 0)) \(r.works ? "works" : "BROKEN"): \(r.detail)")
        }
    }
}
