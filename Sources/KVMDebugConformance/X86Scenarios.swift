import KVMDebugCore

extension DebugScenarios {
    /// The x86_64 scenarios for one CPU mode on the `counter` guest: every stop kind,
    /// continuing past each (the differential tests run both modes on this host's KVM).
    public static func x86(mode: CPUMode) -> [DebugScenario] {
        func s(_ name: String, points: [ScenarioPoint] = [], steps: Int = 0, maxStops: Int, needs: [ProbedFeature]) -> DebugScenario {
            DebugScenario(name: "\(mode.name)/\(name)", arch: .x86_64, mode: mode, points: points, steps: steps,
                          maxStops: maxStops, needs: needs)
        }
        return [
            s("break-loop-continue", points: [.hw("loop")], maxStops: 5, needs: [.executeBreakpoint]),
            s("break-all-four-slots", points: [.hw("loop"), .hw("store"), .hw("load"), .hw("jump")], maxStops: 8,
              needs: [.executeBreakpoint]),
            s("step-from-entry", steps: 9, maxStops: 20, needs: [.singleStep]),
            s("break-then-step", points: [.hw("store")], steps: 5, maxStops: 20, needs: [.executeBreakpoint, .singleStep]),
            s("step-onto-breakpoint", points: [.hw("load")], steps: 6, maxStops: 20, needs: [.executeBreakpoint, .singleStep]),
            s("sw-break-continue", points: [.sw("load")], maxStops: 4, needs: [.softwareBreakpoint]),
            s("write-watch", points: [.watch("counter", length: 8, .write)], maxStops: 4, needs: [.writeWatchpoint]),
            s("access-watch-load", points: [.watch("data", length: 8, .access)], maxStops: 4, needs: [.accessWatchpoint]),
            s("read-watch-emulated", points: [.watch("data", length: 2, .read), .watch("counter", length: 2, .read)], maxStops: 4,
              needs: [.accessWatchpoint]),
            s("watch-and-break", points: [.hw("loop"), .watch("counter", length: 2, .write)], maxStops: 6,
              needs: [.executeBreakpoint, .writeWatchpoint]),
            s("step-with-watch", points: [.watch("counter", length: 2, .write)], steps: 8, maxStops: 20,
              needs: [.singleStep, .writeWatchpoint]),
            // Memory protection alone (no debug register): runs wherever the kernel has read-only slots.
            protected(s("protection-write-watch", points: [.watch("counter", length: 2, .write)], maxStops: 4, needs: [])),
            protected(s("protection-access-both", points: [.watch("counter", length: 2, .access), .watch("data", length: 2, .access)],
                        maxStops: 6, needs: [])),
            protected(s("protection-step-with-watch", points: [.watch("counter", length: 2, .write)], steps: 8, maxStops: 20,
                        needs: [.singleStep])),
            protected(s("protection-step-with-read-watch", points: [.watch("data", length: 2, .access)], steps: 8, maxStops: 20,
                        needs: [.singleStep])),
        ]
    }

    /// `s` with its watchpoints served by memory protection alone.
    static func protected(_ s: DebugScenario) -> DebugScenario {
        var p = s
        p.watches = .protection
        return p
    }

    /// The x86 lane (`kvmdbg scenarios`): `x86(mode: .long)` without software breakpoints
    /// (QEMU's SVM emulation does not intercept int3), `x86LaneAdditions`, a few bounded
    /// real-mode ones (real mode is slow under TCG, so nothing there runs freely for long),
    /// and `x86LaneSMP`.
    public static var x86Lane: [DebugScenario] {
        let base = x86(mode: .long).filter { !$0.needs.contains(.softwareBreakpoint) }
        let realKept = ["real/break-all-four-slots", "real/step-from-entry", "real/break-then-step", "real/write-watch"]
        let real = x86(mode: .real).filter { realKept.contains($0.name) }
        return base + x86LaneAdditions + real + x86LaneSMP + x86Survival
    }

    /// The value the x86 survival scenarios write into xmm15 (and the guest's `expect`).
    public static let x86SurvivalWrite = FPWrite(register: SurvivalGuest.x86HostRegister,
                                                 value: 0x0F1E_2D3C_4B5A_6978_8796_A5B4_C3D2_E1F0)

    /// The state-survival runs on the x86 `survive` guest: its own DR0-3/DR7 and x87/SSE state
    /// must read back as written after breakpoints, watches, steps, detaches and vCPU thread
    /// moves; the host's xmm15 write must be what it stores. The watch by memory protection
    /// (works where DR7 data watchpoints do not, e.g. PVM) and by a debug register; x87 and
    /// MXCSR too where CPL0 runs natively (`survive-x87`).
    public static var x86Survival: [DebugScenario] {
        var protectionWatch = DebugScenario(name: "long/survive", arch: .x86_64, mode: .long, kind: .survive, guest: .survive,
                                            needs: [.executeBreakpoint, .singleStep])
        protectionWatch.watches = .protection
        protectionWatch.survival = DebugScenario.Survival(hostWrite: x86SurvivalWrite)
        var hardwareWatch = DebugScenario(name: "long/survive-dr-watch", arch: .x86_64, mode: .long, kind: .survive,
                                          guest: .survive, needs: [.executeBreakpoint, .singleStep, .writeWatchpoint])
        hardwareWatch.watches = .hardware
        hardwareWatch.survival = DebugScenario.Survival(hostWrite: x86SurvivalWrite)
        var x87 = protectionWatch
        x87.name = "long/survive-x87"
        x87.guest = .surviveX87
        x87.needsNativeCPL0 = true
        return [protectionWatch, hardwareWatch, x87]
    }

    /// What the x86 lane adds in long mode: watch widths, access watches on loads and
    /// stores, read watches emulated through access plus a value filter, and a data trap
    /// and an execute breakpoint together.
    static var x86LaneAdditions: [DebugScenario] {
        func s(_ name: String, _ points: [ScenarioPoint], steps: Int = 0, maxStops: Int = 4, needs: [ProbedFeature]) -> DebugScenario {
            DebugScenario(name: "long/\(name)", arch: .x86_64, mode: .long, points: points, steps: steps,
                          maxStops: maxStops, needs: needs)
        }
        return [
            // Write watchpoints of every DR7 LEN, on the 8-byte store to `counter`.
            s("write-watch-1", [.watch("counter", length: 1, .write)], needs: [.writeWatchpoint]),
            s("write-watch-2", [.watch("counter", 2, length: 2, .write)], needs: [.writeWatchpoint]),
            s("write-watch-4", [.watch("counter", 4, length: 4, .write)], needs: [.writeWatchpoint]),
            s("write-watch-8", [.watch("counter", length: 8, .write)], needs: [.writeWatchpoint]),
            // A write watch on a word only ever loaded: never fires.
            s("write-watch-on-load-only", [.watch("data", length: 8, .write)], needs: [.writeWatchpoint]),
            // Access watches: RW=11 fires on loads and on stores.
            s("access-watch-store", [.watch("counter", length: 8, .access)], needs: [.accessWatchpoint]),
            s("access-watch-load-4", [.watch("data", 4, length: 4, .access)], needs: [.accessWatchpoint]),
            s("access-watch-both", [.watch("counter", length: 4, .access), .watch("data", length: 4, .access)], maxStops: 6,
              needs: [.accessWatchpoint]),
            // Read watches (x86 has none): access watch plus a value filter.
            s("read-watch-load", [.watch("data", length: 8, .read)], needs: [.accessWatchpoint]),
            s("read-watch-store-only", [.watch("counter", length: 8, .read)], needs: [.accessWatchpoint]),
            // Single-step with a write watch: the store's step carries BS|B<n> in one exit.
            s("step-with-watch-8", [.watch("counter", length: 8, .write)], steps: 10, maxStops: 20,
              needs: [.singleStep, .writeWatchpoint]),
            // All four DR slots: two execute breakpoints, a write and an access watch.
            s("four-slots-mixed", [.hw("loop"), .hw("store"), .watch("counter", length: 8, .write), .watch("data", length: 8, .access)],
              maxStops: 8, needs: [.executeBreakpoint, .writeWatchpoint, .accessWatchpoint]),
            // A data trap whose next instruction has an execute breakpoint (see lane allow-list).
            s("watch-then-break-next", [.hw("load"), .watch("counter", length: 8, .write)], maxStops: 6,
              needs: [.executeBreakpoint, .writeWatchpoint]),
            // Six watches: four debug registers, memory protection for the fifth and sixth (the
            // store to `counter` exits as MMIO once its page is protected, and is matched there).
            s("six-watches", [.watch("data", length: 1, .access), .watch("data", 1, length: 1, .access),
                              .watch("data", 2, length: 1, .access), .watch("data", 3, length: 1, .access),
                              .watch("counter", length: 8, .write), .watch("data", 4, length: 4, .access)],
              maxStops: 8, needs: [.writeWatchpoint, .accessWatchpoint]),
        ]
    }

    /// Per-vCPU and all-stop runs of the x86 lane on the `smp-counter` guest.
    static var x86LaneSMP: [DebugScenario] {
        func s(_ name: String, vcpus: Int, _ points: [ScenarioPoint], maxStops: Int, needs: [ProbedFeature],
               comparison: DebugScenario.Comparison = .exact) -> DebugScenario {
            DebugScenario(name: "long/\(name)", arch: .x86_64, mode: .long, guest: .smpCounter, vcpus: vcpus, points: points,
                          maxStops: maxStops, needs: needs, comparison: comparison)
        }
        return [
            // Per-vCPU: a breakpoint on vCPU 1 only; every stop is vCPU 1 at `store`.
            s("smp2-break-vcpu1", vcpus: 2, [.hw("store", on: .vcpu(1))], maxStops: 4, needs: [.executeBreakpoint]),
            // Per-vCPU watch on vCPU 1's own word.
            s("smp2-watch-vcpu1", vcpus: 2, [.watch("counters", 8, length: 8, .write, on: .vcpu(1))], maxStops: 4,
              needs: [.writeWatchpoint]),
            // All-stop: a global breakpoint, 4 vCPUs; whoever hits first, all are held.
            s("smp4-all-stop", vcpus: 4, [.hw("loop")], maxStops: 6, needs: [.executeBreakpoint], comparison: .anyVCPU),
        ]
    }
}
