/// Every input surface the fuzzer covers, by the name `KVMDBG_FUZZ_TARGET` and
/// `scripts/fuzz-smoke` use; each runs one input and returns the property it broke, if any.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// The GDB engine fed raw wire bytes (`GDBFuzzHarness`).
    case gdb
    /// The GDB engine fed packet bodies the harness frames (`PacketFuzzHarness`).
    case packets
    /// The monitor-command parser (`MonitorFuzzHarness`).
    case monitor
    /// The `--image` loader (`LoaderFuzzHarness`).
    case loader
    /// The page walkers over arbitrary page tables (`PageWalkFuzzHarness`).
    case walk
    /// The `--break`/`--watch`/`--sw-break` parser (`PointSpecFuzzHarness`).
    case pointspec

    /// Runs one input; nil when every property held.
    public func run(_ input: [UInt8]) -> String? {
        switch self {
        case .gdb: return GDBFuzzHarness.run(input).violation
        case .packets: return PacketFuzzHarness.run(input).violation
        case .monitor: return MonitorFuzzHarness.run(input).violation
        case .loader: return LoaderFuzzHarness.run(input)
        case .walk: return PageWalkFuzzHarness.run(input)
        case .pointspec: return PointSpecFuzzHarness.run(input)
        }
    }
}
