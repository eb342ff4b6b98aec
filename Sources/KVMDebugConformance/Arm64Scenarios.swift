import KVMDebugCore

extension DebugScenarios {
    /// Every arm64 scenario: the host-side list (`arm64Basic`), slots up to the highest
    /// reported, byte-BAS watchpoints of every size at every offset, MASK ranges and
    /// split ranges, stepping over branches, breakpoints and watchpoints, software
    /// breakpoints, the guest's own BRK handed back, per-vCPU tables on 2 vCPUs, the
    /// capability probe, the guest's own state surviving being debugged, and watches by memory
    /// protection.
    public static var arm64: [DebugScenario] {
        var out = arm64Basic
        out += arm64Slots
        out += arm64ByteWatchpoints
        out += arm64Ranges
        out += arm64Stepping
        out += arm64Software
        out += arm64SMP
        out += arm64Probe
        out += arm64Survival
        out += arm64Protection
        // Every one ends on its stop count, in about 10 ms on KVM inside QEMU: the
        // deadline is only a ceiling for a backend that stops nothing.
        return out.map { s in
            var s = s
            s.timeout = 30
            return s
        }
    }

    /// Every stop kind on the built-in `counter` guest, continuing past each: the
    /// arm64 scenarios the host-side tests run through `GuestRunner` too.
    public static var arm64Basic: [DebugScenario] {
        [
            DebugScenario(name: "arm64/break-loop-continue", points: [.hw("loop")], maxStops: 5, needs: [.executeBreakpoint]),
            DebugScenario(name: "arm64/break-four", points: [.hw("loop"), .hw("store"), .hw("load"), .hw("jump")], maxStops: 8,
                          needs: [.executeBreakpoint]),
            DebugScenario(name: "arm64/step-from-entry", steps: 9, maxStops: 20, needs: [.singleStep]),
            DebugScenario(name: "arm64/break-then-step", points: [.hw("store")], steps: 5, maxStops: 20,
                          needs: [.executeBreakpoint, .singleStep]),
            DebugScenario(name: "arm64/sw-break-continue", points: [.sw("load")], maxStops: 4, needs: [.softwareBreakpoint]),
            DebugScenario(name: "arm64/write-watch", points: [.watch("counter", length: 8, .write)], maxStops: 4,
                          needs: [.writeWatchpoint]),
            DebugScenario(name: "arm64/read-watch", points: [.watch("data", length: 8, .read)], maxStops: 4,
                          needs: [.readWatchpoint]),
            DebugScenario(name: "arm64/access-watch", points: [.watch("counter", length: 4, .access), .watch("data", 4, length: 4, .access)],
                          maxStops: 6, needs: [.accessWatchpoint]),
            DebugScenario(name: "arm64/watch-and-break", points: [.hw("loop"), .watch("counter", 2, length: 2, .write)], maxStops: 6,
                          needs: [.executeBreakpoint, .writeWatchpoint]),
            DebugScenario(name: "arm64/step-with-watch", points: [.watch("counter", length: 8, .write)], steps: 8, maxStops: 20,
                          needs: [.singleStep, .writeWatchpoint]),
        ]
    }

    /// Every breakpoint slot, the highest one alone, the highest watchpoint slot, all four watch slots.
    static var arm64Slots: [DebugScenario] {
        [
            // Slots 0-5, each on an instruction that runs (the three entry ones once).
            DebugScenario(name: "slots/break-six",
                          points: [.hw("entry", 4), .hw("entry", 8), .hw("loop"), .hw("store"), .hw("load"), .hw("jump")], maxStops: 8),
            DebugScenario(name: "slots/break-highest", points: [.hw("load")], fillBreakpointSlots: true, maxStops: 3),
            DebugScenario(name: "slots/watch-highest", points: [.watch("counter", length: 8, .write)], fillWatchpointSlots: true, maxStops: 3),
            // Slots 0-3; the store overlaps slots 0 and 1 (one exception, one FAR).
            DebugScenario(name: "slots/watch-four-overlap",
                          points: [.watch("counter", length: 4, .write), .watch("counter", 4, length: 4, .write),
                                   .watch("data", length: 4, .read), .watch("data", 4, length: 4, .read)],
                          maxStops: 5),
        ]
    }

    /// Byte-select (BAS) watchpoints: 1, 2, 4, 8 bytes at every offset of a doubleword
    /// that fits, as write, read and access watches, on the `bytes` guest (stores then
    /// loads of every aligned size and offset). Each runs once round its loop and one more stop.
    static var arm64ByteWatchpoints: [DebugScenario] {
        let accesses = ConformanceGuests.byteAccesses
        var out: [DebugScenario] = []
        for kind in [WatchKind.write, .read, .access] {
            for length: UInt64 in [1, 2, 4, 8] {
                var offset: UInt64 = 0
                while offset + length <= 8 {
                    let a = ConformanceGuests.word + offset
                    var hits = 0
                    for x in accesses where x.address < a + length && a < x.address + x.size {
                        if kind == .access || (kind == .write) == x.isWrite { hits += 1 }
                    }
                    out.append(DebugScenario(name: "bas/\(kind.shortName)/len\(length)@\(offset)", guest: .bytes,
                                             points: [.watch("word", offset, length: length, kind)], maxStops: hits + 1))
                    offset += 1
                }
            }
        }
        return out
    }

    /// MASK ranges (aligned powers of two over 8 bytes) and ranges split over two slots,
    /// on the `stride` guest (stores to page0 + 0, 8, 0x10, 0x800, 0xff8 and page1 + 0, 8;
    /// loads of page0 + 0x800 and page1 + 8; page0 = 0x11000, page1 = 0x12000).
    static var arm64Ranges: [DebugScenario] {
        [
            DebugScenario(name: "mask/4k-write", guest: .stride, points: [.watch("page0", length: 0x1000, .write)], maxStops: 6),
            DebugScenario(name: "mask/2k-access", guest: .stride, points: [.watch("page0", 0x800, length: 0x800, .access)], maxStops: 4),
            DebugScenario(name: "mask/16-read", guest: .stride, points: [.watch("page1", length: 16, .read)], maxStops: 2),
            DebugScenario(name: "mask/16-write-edge", guest: .stride, points: [.watch("page0", length: 16, .write)], maxStops: 3),
            // page0+0xffc, 8 bytes: BAS pieces (0x11ffc, 4) and (0x12000, 4) in slots 0 and 1.
            DebugScenario(name: "split/bas-bas", guest: .stride, points: [.watch("page0", 0xFFC, length: 8, .write)], maxStops: 3),
            // page0+4, 8 bytes: (0x11004, 4) and (0x11008, 4); the store to 0x11000 overlaps the first.
            DebugScenario(name: "split/bas-bas-inner", guest: .stride, points: [.watch("page0", 4, length: 8, .write)], maxStops: 3),
            // page0+0xff8, 0x18 bytes: BAS piece (0x11ff8, 8) and MASK piece (0x12000, 16).
            DebugScenario(name: "split/bas-mask", guest: .stride, points: [.watch("page0", 0xFF8, length: 0x18, .write)], maxStops: 4),
            // page0, 0x1008 bytes: MASK piece (0x11000, 4 KiB) and BAS piece (0x12000, 8).
            DebugScenario(name: "split/mask-bas", guest: .stride, points: [.watch("page0", length: 0x1008, .access)], maxStops: 9),
        ]
    }

    /// Single-step over branches taken and not taken, over a breakpoint, onto a
    /// breakpoint, over a watchpoint.
    static var arm64Stepping: [DebugScenario] {
        [
            DebugScenario(name: "step/branches-from-entry", guest: .branch, steps: 14, maxStops: 20),
            DebugScenario(name: "step/over-break-on-branch", guest: .branch, points: [.hw("bne")], steps: 8, maxStops: 20),
            DebugScenario(name: "step/onto-breakpoint", points: [.hw("load")], steps: 6, maxStops: 20),
            DebugScenario(name: "step/over-watchpoint-read", points: [.watch("data", length: 8, .read)], steps: 3, maxStops: 20),
            DebugScenario(name: "step/break-and-watch", points: [.hw("store"), .watch("counter", length: 8, .write)], steps: 4, maxStops: 20),
        ]
    }

    /// Software breakpoints (BRK #0 planted by kvmdbg) and the guest's own BRK.
    static var arm64Software: [DebugScenario] {
        let regs: [Arm64Register] = [.x(0), .x(5), .x(6), .esrEL1, .elrEL1, .spsrEL1, .vbarEL1, .pstate]
        return [
            DebugScenario(name: "sw/break-then-step", points: [.sw("store")], steps: 4, maxStops: 20),
            DebugScenario(name: "sw/two-and-hw", points: [.sw("store"), .sw("jump"), .hw("loop")], maxStops: 7),
            // Debugging on (a breakpoint nothing reaches), default policy: the guest's
            // BRK exits (TDE) and stays reported.
            DebugScenario(name: "brk/guest-own-reported", guest: .ownBRK, points: [.hw("unused")],
                          maxStops: 2, report: [.x(0), .x(6)]),
            // Handed back: the guest's vector runs (breakpoint on it), returns past the BRK.
            DebugScenario(name: "brk/guest-own-handed-back", guest: .ownBRK, points: [.hw("handler")],
                          maxStops: 5, foreignBreakpoints: .handBackToGuest, report: regs),
            // Stepping from the entry onto the guest's BRK, into its handler (handed back),
            // and over its ERET (SPSR_EL1.SS = 0: the step ends right at the return address).
            DebugScenario(name: "brk/step-through-guest-handler", guest: .ownBRK, steps: 14, maxStops: 20,
                          foreignBreakpoints: .handBackToGuest, report: regs),
            // Handed back with no stop in the handler, next to a BRK kvmdbg planted.
            DebugScenario(name: "brk/guest-own-and-planted", guest: .ownBRK, points: [.sw("brk", 4)],
                          maxStops: 6, foreignBreakpoints: .handBackToGuest, report: regs),
        ]
    }

    /// Per-vCPU tables on 2 vCPUs of `smp-counter` (vCPU i stores to counters + 8 i),
    /// run one vCPU at a time, vCPU 1 first in each round.
    static var arm64SMP: [DebugScenario] {
        [
            DebugScenario(name: "smp/break-vcpu1-only", guest: .smpCounter, vcpus: 2,
                          points: [.hw("store", on: .vcpu(1)), .hw("jump")], maxStops: 8, order: [1, 0]),
            DebugScenario(name: "smp/watch-per-vcpu", guest: .smpCounter, vcpus: 2,
                          points: [.watch("counters", 8, length: 8, .write, on: .vcpu(1)),
                                   .watch("counters", length: 8, .write, on: .vcpu(0))], maxStops: 6, order: [1, 0]),
            DebugScenario(name: "smp/sw-break-vcpu1-only", guest: .smpCounter, vcpus: 2,
                          points: [.sw("load", on: .vcpu(1)), .hw("jump")], maxStops: 8, order: [1, 0]),
            DebugScenario(name: "smp/highest-slot-vcpu1", guest: .smpCounter, vcpus: 2,
                          points: [.hw("load", on: .vcpu(1)), .hw("jump", on: .vcpu(0))], fillBreakpointSlots: true, maxStops: 6, order: [1, 0]),
        ]
    }

    /// The value the arm64 survival scenario writes into v31 (and the guest's `expect`).
    public static let arm64SurvivalWrite = FPWrite(register: SurvivalGuest.arm64HostRegister,
                                                   value: 0x8877_6655_4433_2211_F0E1_D2C3_B4A5_9687)

    /// The state-survival run on the arm64 `survive` guest (SurvivalGuest.arm64): its V0-V31,
    /// FPCR, FPSR and its own DBGBVR/DBGBCR/DBGWVR/DBGWCR 0-1 and MDSCR_EL1 must read back as
    /// written after hardware breakpoints, watchpoints, steps, detaches and vCPU thread moves;
    /// the host's v31 write must be what it stores. `survive/stepped-setup` first single-steps
    /// the guest's whole setup (its MSRs of the debug registers and MDSCR_EL1 included) with no
    /// point armed: KVM then saves and restores the guest's MDSCR_EL1 around each step while
    /// debug register traps can be off (arch/arm64/kvm/debug.c), the lazy switch at its finest.
    public static var arm64Survival: [DebugScenario] {
        var s = DebugScenario(name: "survive/own-state", kind: .survive, guest: .survive,
                              needs: [.executeBreakpoint, .singleStep, .writeWatchpoint])
        s.survival = DebugScenario.Survival(hostWrite: arm64SurvivalWrite)
        var stepped = s
        stepped.name = "survive/stepped-setup"
        stepped.survival.entrySteps = SurvivalGuest.arm64SetupInstructions
        return [s, stepped]
    }

    /// Watches by memory protection (read-only slots for write watches, holes for read and
    /// access watches): single-register accesses exit KVM_EXIT_MMIO, stp/ldp KVM_EXIT_ARM_NISV
    /// (stepped with the slot back); eight watches at once, four by watchpoint registers.
    static var arm64Protection: [DebugScenario] {
        [
            protected(DebugScenario(name: "protection/write-watch", points: [.watch("counter", length: 8, .write)], maxStops: 4)),
            protected(DebugScenario(name: "protection/read-watch", points: [.watch("data", length: 8, .read)], maxStops: 4)),
            protected(DebugScenario(name: "protection/access-both", points: [.watch("counter", length: 4, .access), .watch("data", 4, length: 4, .access)],
                                    maxStops: 6)),
            protected(DebugScenario(name: "protection/step-with-watch", points: [.watch("counter", length: 8, .write)], steps: 8, maxStops: 20)),
            protected(DebugScenario(name: "protection/step-with-read-watch", points: [.watch("data", length: 8, .read)], steps: 8, maxStops: 20)),
            // 64 bytes over page0 + 0x7e0: the store to page0 + 0x800 lands in its middle.
            protected(DebugScenario(name: "protection/range-64-middle", guest: .stride, points: [.watch("page0", 0x7E0, length: 64, .write)],
                                    maxStops: 3)),
            protected(DebugScenario(name: "protection/pair-write", guest: .pair, points: [.watch("pair", 8, length: 8, .write)], maxStops: 3)),
            protected(DebugScenario(name: "protection/pair-access", guest: .pair, points: [.watch("pair", length: 0x18, .access)], maxStops: 7)),
            protected(DebugScenario(name: "protection/pair-step", guest: .pair, points: [.watch("pair", length: 0x18, .access)], steps: 7, maxStops: 20)),
            // Automatic: the four watchpoint registers, then protection for the other four bytes.
            DebugScenario(name: "protection/eight-watches", points: (0..<8).map { .watch("counter", UInt64($0), length: 1, .write) }, maxStops: 6),
        ]
    }

    /// The capability probe, then `caps --probe`'s six features (two stops each).
    static var arm64Probe: [DebugScenario] {
        [
            DebugScenario(name: "probe/capabilities", kind: .capabilities),
            DebugScenario(name: "probe/single-step", steps: 2, maxStops: 2),
            DebugScenario(name: "probe/hw-breakpoint", points: [.hw("loop")], maxStops: 2),
            DebugScenario(name: "probe/sw-breakpoint", points: [.sw("load")], maxStops: 2),
            DebugScenario(name: "probe/write-watchpoint", points: [.watch("counter", length: 8, .write)], maxStops: 2),
            DebugScenario(name: "probe/access-watchpoint", points: [.watch("data", length: 8, .access)], maxStops: 2),
            DebugScenario(name: "probe/read-watchpoint", points: [.watch("data", length: 8, .read)], maxStops: 2),
        ]
    }
}
