/// The scenario lists of the conformance lanes.
public enum ConformanceScenarios {
    /// Every arm64 scenario: the host-side list (`Scenario.arm64` in KVMDebug, same names),
    /// slots up to the highest reported, byte-BAS watchpoints of every size at every
    /// offset, MASK ranges and split ranges, stepping over branches, breakpoints and
    /// watchpoints, software breakpoints, the guest's own BRK handed back, per-vCPU
    /// tables on 2 vCPUs, and the capability probe.
    public static var arm64: [ConformanceScenario] {
        var out = arm64Basic
        out += arm64Slots
        out += arm64ByteWatchpoints
        out += arm64Ranges
        out += arm64Stepping
        out += arm64Software
        out += arm64SMP
        out += arm64Probe
        return out
    }

    // Built-in counter: 10000 entry (movz x0; movz x1; movk x1), 1000c loop: add,
    // 10010 store: str x0, [x1], 10014 load: ldr x2, [x1, #8], 10018 b loop;
    // counter 0x11000, data 0x11008.
    static let entry: UInt64 = 0x10000
    static let loop: UInt64 = 0x1000C
    static let store: UInt64 = 0x10010
    static let load: UInt64 = 0x10014
    static let jump: UInt64 = 0x10018
    static let counter: UInt64 = 0x11000
    static let data: UInt64 = 0x11008

    static func hw(_ a: UInt64, _ t: VCPUTarget = .all) -> (DebugPoint, VCPUTarget) { (.hardware(address: a), t) }
    static func sw(_ a: UInt64, _ t: VCPUTarget = .all) -> (DebugPoint, VCPUTarget) { (.software(address: a), t) }
    static func watch(_ a: UInt64, _ l: UInt64, _ k: WatchKind, _ t: VCPUTarget = .all) -> (DebugPoint, VCPUTarget) {
        (.watch(address: a, length: l, kind: k), t)
    }

    /// The host-side `Scenario.arm64` list, point for point.
    static var arm64Basic: [ConformanceScenario] {
        let g = BuiltinGuests.counterArm64()
        return [
            ConformanceScenario(name: "arm64/break-loop-continue", guest: g, points: [hw(loop)], maxStops: 5),
            ConformanceScenario(name: "arm64/break-four", guest: g, points: [hw(loop), hw(store), hw(load), hw(jump)], maxStops: 8),
            ConformanceScenario(name: "arm64/step-from-entry", guest: g, steps: 9, maxStops: 20),
            ConformanceScenario(name: "arm64/break-then-step", guest: g, points: [hw(store)], steps: 5, maxStops: 20),
            ConformanceScenario(name: "arm64/sw-break-continue", guest: g, points: [sw(load)], maxStops: 4),
            ConformanceScenario(name: "arm64/write-watch", guest: g, points: [watch(counter, 8, .write)], maxStops: 4),
            ConformanceScenario(name: "arm64/read-watch", guest: g, points: [watch(data, 8, .read)], maxStops: 4),
            ConformanceScenario(name: "arm64/access-watch", guest: g, points: [watch(counter, 4, .access), watch(data + 4, 4, .access)], maxStops: 6),
            ConformanceScenario(name: "arm64/watch-and-break", guest: g, points: [hw(loop), watch(counter + 2, 2, .write)], maxStops: 6),
            ConformanceScenario(name: "arm64/step-with-watch", guest: g, points: [watch(counter, 8, .write)], steps: 8, maxStops: 20),
        ]
    }

    /// Every breakpoint slot, the highest one alone, the highest watchpoint slot, all four watch slots.
    static var arm64Slots: [ConformanceScenario] {
        let g = BuiltinGuests.counterArm64()
        return [
            // Slots 0-5, each on an instruction that runs (the three entry ones once).
            ConformanceScenario(name: "slots/break-six", guest: g,
                                points: [hw(entry + 4), hw(entry + 8), hw(loop), hw(store), hw(load), hw(jump)], maxStops: 8),
            ConformanceScenario(name: "slots/break-highest", guest: g, points: [hw(load)], fillBreakpointSlots: true, maxStops: 3),
            ConformanceScenario(name: "slots/watch-highest", guest: g, points: [watch(counter, 8, .write)], fillWatchpointSlots: true, maxStops: 3),
            // Slots 0-3; the store overlaps slots 0 and 1 (one exception, one FAR).
            ConformanceScenario(name: "slots/watch-four-overlap", guest: g,
                                points: [watch(counter, 4, .write), watch(counter + 4, 4, .write), watch(data, 4, .read), watch(data + 4, 4, .read)],
                                maxStops: 5),
        ]
    }

    /// Byte-select (BAS) watchpoints: 1, 2, 4, 8 bytes at every offset of a doubleword
    /// that fits, as write, read and access watches, on the `bytes` guest (stores then
    /// loads of every aligned size and offset). Each runs once round its loop and one more stop.
    static var arm64ByteWatchpoints: [ConformanceScenario] {
        let g = ConformanceGuests.bytes()
        let accesses = ConformanceGuests.byteAccesses
        var out: [ConformanceScenario] = []
        for kind in [WatchKind.write, .read, .access] {
            for length: UInt64 in [1, 2, 4, 8] {
                var offset: UInt64 = 0
                while offset + length <= 8 {
                    let a = ConformanceGuests.word + offset
                    var hits = 0
                    for x in accesses where x.address < a + length && a < x.address + x.size {
                        if kind == .access || (kind == .write) == x.isWrite { hits += 1 }
                    }
                    out.append(ConformanceScenario(name: "bas/\(kind.shortName)/len\(length)@\(offset)", guest: g,
                                                   points: [watch(a, length, kind)], maxStops: hits + 1))
                    offset += 1
                }
            }
        }
        return out
    }

    /// MASK ranges (aligned powers of two over 8 bytes) and ranges split over two slots,
    /// on the `stride` guest (stores to 0x11000, 0x11008, 0x11010, 0x11800, 0x11ff8,
    /// 0x12000, 0x12008; loads of 0x11800, 0x12008).
    static var arm64Ranges: [ConformanceScenario] {
        let g = ConformanceGuests.stride()
        return [
            ConformanceScenario(name: "mask/4k-write", guest: g, points: [watch(0x11000, 0x1000, .write)], maxStops: 6),
            ConformanceScenario(name: "mask/2k-access", guest: g, points: [watch(0x11800, 0x800, .access)], maxStops: 4),
            ConformanceScenario(name: "mask/16-read", guest: g, points: [watch(0x12000, 16, .read)], maxStops: 2),
            ConformanceScenario(name: "mask/16-write-edge", guest: g, points: [watch(0x11000, 16, .write)], maxStops: 3),
            // 0x11ffc+8: BAS pieces (0x11ffc, 4) and (0x12000, 4) in slots 0 and 1.
            ConformanceScenario(name: "split/bas-bas", guest: g, points: [watch(0x11FFC, 8, .write)], maxStops: 3),
            // 0x11004+8: (0x11004, 4) and (0x11008, 4); the store to 0x11000 overlaps the first.
            ConformanceScenario(name: "split/bas-bas-inner", guest: g, points: [watch(0x11004, 8, .write)], maxStops: 3),
            // 0x11ff8+0x18: BAS piece (0x11ff8, 8) and MASK piece (0x12000, 16).
            ConformanceScenario(name: "split/bas-mask", guest: g, points: [watch(0x11FF8, 0x18, .write)], maxStops: 4),
            // 0x11000+0x1008: MASK piece (0x11000, 4 KiB) and BAS piece (0x12000, 8).
            ConformanceScenario(name: "split/mask-bas", guest: g, points: [watch(0x11000, 0x1008, .access)], maxStops: 9),
        ]
    }

    /// Single-step over branches taken and not taken, over a breakpoint, onto a
    /// breakpoint, over a watchpoint.
    static var arm64Stepping: [ConformanceScenario] {
        let cg = BuiltinGuests.counterArm64()
        let b = ConformanceGuests.branch()
        return [
            ConformanceScenario(name: "step/branches-from-entry", guest: b, steps: 14, maxStops: 20),
            ConformanceScenario(name: "step/over-break-on-branch", guest: b, points: [hw(0x1000C)], steps: 8, maxStops: 20),
            ConformanceScenario(name: "step/onto-breakpoint", guest: cg, points: [hw(load)], steps: 6, maxStops: 20),
            ConformanceScenario(name: "step/over-watchpoint-read", guest: cg, points: [watch(data, 8, .read)], steps: 3, maxStops: 20),
            ConformanceScenario(name: "step/break-and-watch", guest: cg, points: [hw(store), watch(counter, 8, .write)], steps: 4, maxStops: 20),
        ]
    }

    /// Software breakpoints (BRK #0 planted by kvmdbg) and the guest's own BRK.
    static var arm64Software: [ConformanceScenario] {
        let cg = BuiltinGuests.counterArm64()
        let own = ConformanceGuests.ownBRKGuest()
        let regs: [Arm64Register] = [.x(0), .x(5), .x(6), .esrEL1, .elrEL1, .spsrEL1, .vbarEL1, .pstate]
        return [
            ConformanceScenario(name: "sw/break-then-step", guest: cg, points: [sw(store)], steps: 4, maxStops: 20),
            ConformanceScenario(name: "sw/two-and-hw", guest: cg, points: [sw(store), sw(jump), hw(loop)], maxStops: 7),
            // Debugging on (a breakpoint nothing reaches), default policy: the guest's
            // BRK exits (TDE) and stays reported.
            ConformanceScenario(name: "brk/guest-own-reported", guest: own, points: [hw(ConformanceGuests.unusedCode)],
                                maxStops: 2, report: [.x(0), .x(6)]),
            // Handed back: the guest's vector runs (breakpoint on it), returns past the BRK.
            ConformanceScenario(name: "brk/guest-own-handed-back", guest: own, points: [hw(ConformanceGuests.ownBRKHandler)],
                                maxStops: 5, foreignBreakpoints: .handBackToGuest, report: regs),
            // Stepping from the entry onto the guest's BRK, into its handler (handed back),
            // and over its ERET (SPSR_EL1.SS = 0: the step ends right at the return address).
            ConformanceScenario(name: "brk/step-through-guest-handler", guest: own, steps: 14, maxStops: 20,
                                foreignBreakpoints: .handBackToGuest, report: regs),
            // Handed back with no stop in the handler, next to a BRK kvmdbg planted.
            ConformanceScenario(name: "brk/guest-own-and-planted", guest: own, points: [sw(ConformanceGuests.ownBRK + 4)],
                                maxStops: 6, foreignBreakpoints: .handBackToGuest, report: regs),
        ]
    }

    /// Per-vCPU tables on 2 vCPUs of `smp-counter` (vCPU i stores to 0x12000 + 8 i),
    /// run one vCPU at a time, vCPU 1 first in each round.
    static var arm64SMP: [ConformanceScenario] {
        let g = BuiltinGuests.smpCounterArm64()
        return [
            ConformanceScenario(name: "smp/break-vcpu1-only", guest: g, vcpus: 2,
                                points: [hw(store, .vcpu(1)), hw(jump)], maxStops: 8),
            ConformanceScenario(name: "smp/watch-per-vcpu", guest: g, vcpus: 2,
                                points: [watch(0x12008, 8, .write, .vcpu(1)), watch(0x12000, 8, .write, .vcpu(0))], maxStops: 6),
            ConformanceScenario(name: "smp/sw-break-vcpu1-only", guest: g, vcpus: 2,
                                points: [sw(load, .vcpu(1)), hw(jump)], maxStops: 8),
            ConformanceScenario(name: "smp/highest-slot-vcpu1", guest: g, vcpus: 2,
                                points: [hw(load, .vcpu(1)), hw(jump, .vcpu(0))], fillBreakpointSlots: true, maxStops: 6),
        ]
    }

    /// The capability probe, then `caps --probe`'s six features (two stops each).
    static var arm64Probe: [ConformanceScenario] {
        let g = BuiltinGuests.counterArm64()
        return [
            ConformanceScenario(name: "probe/capabilities", kind: .capabilities, guest: g),
            ConformanceScenario(name: "probe/single-step", guest: g, steps: 2, maxStops: 2),
            ConformanceScenario(name: "probe/hw-breakpoint", guest: g, points: [hw(loop)], maxStops: 2),
            ConformanceScenario(name: "probe/sw-breakpoint", guest: g, points: [sw(load)], maxStops: 2),
            ConformanceScenario(name: "probe/write-watchpoint", guest: g, points: [watch(counter, 8, .write)], maxStops: 2),
            ConformanceScenario(name: "probe/access-watchpoint", guest: g, points: [watch(data, 8, .access)], maxStops: 2),
            ConformanceScenario(name: "probe/read-watchpoint", guest: g, points: [watch(data, 8, .read)], maxStops: 2),
        ]
    }
}
