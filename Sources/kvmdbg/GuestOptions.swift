import ArgumentParser
import Foundation
import KVMDebugCLI
import KVMDebugCore
import KVMDebugFake

/// The guest options of every guest-running command (`run`, `gdbserver`): `--guest | --image`,
/// `--load-addr`, `--entry`, `--arch`, `--mode`, `--vcpus`, `--backend`; and the guest and
/// backend they choose.
struct GuestOptions: ParsableArguments {
    @Option(help: "A built-in guest (see `kvmdbg guests`).")
    var guest: String?

    @Option(help: "Your own code: a raw flat binary or an ELF file.")
    var image: String?

    @Option(name: .customLong("load-addr"), help: "Where a raw --image is loaded (default x86_64 0x1000, arm64 0x10000).")
    var loadAddress: String?

    @Option(help: "Entry point of --image: an address or an ELF symbol.")
    var entry: String?

    @Option(name: .customLong("arch"), help: ArgumentHelp("Guest architecture: x86_64 or arm64 (default: the host's).", valueName: "arch"))
    var arch: Arch?

    @Option(name: .customLong("mode"), help: ArgumentHelp("x86_64 CPU mode: real or long (default long).", valueName: "mode"))
    var mode: CPUMode?

    @Option(help: "Number of vCPUs, each on its own thread (all-stop: one stop halts them all). Up to KVM_CAP_MAX_VCPUS.")
    var vcpus: Int = 1

    @Option(help: "kvm, fake or auto (KVM when usable and the guest's arch matches the host).")
    var backend: BackendKind = .auto

    func validate() throws {
        if (guest == nil) == (image == nil) { throw ValidationError("give exactly one of --guest NAME or --image FILE") }
        if vcpus < 1 { throw ValidationError("--vcpus must be at least 1") }
        if let l = loadAddress, parseNumber(l) == nil { throw ValidationError("bad --load-addr '\(l)': use 0x... or decimal") }
    }

    /// The guest the options name: a built-in one, or the image loaded.
    func buildGuest() throws(DebugError) -> Guest {
        if let name = guest { return try BuiltinGuests.guest(named: name, arch: arch ?? Arch.host ?? .x86_64, mode: mode) }
        let img = try ImageLoader.load(path: image!, arch: arch, loadAddress: loadAddress.flatMap(parseNumber))
        let e = try entry.map { (t) throws(DebugError) in try resolveAddress(t, symbols: img.symbols) }
        return try ImageLoader.guest(from: img, name: URL(fileURLWithPath: image!).lastPathComponent, mode: mode, entry: e)
    }

    /// `/dev/kvm` probed once (not at all for `--backend fake`): the probe, the backend and
    /// the feature probes all use that fd.
    func kvmAvailability() -> KVMAvailability {
        backend == .fake ? KVMAvailability.notProbed : KVMAvailability.probe()
    }

    /// The two lines every guest-running command starts with (`backend:` and `guest:`).
    func banner(_ g: Guest, _ decision: BackendDecision) -> [String] {
        ["backend: \(decision.kind == .kvm ? "kvm" : "fake") (\(decision.why))",
         "guest:   \(g.name) \(g.arch.name) mode \(g.mode.name), entry \(hex(g.entry)), \(vcpus) vCPU\(vcpus == 1 ? "" : "s")"]
    }
}
