// swift-tools-version:6.0
// Needs Swift 6.2 or later (`unsafe` expressions under StrictMemorySafety; 6.0 cannot parse them).
// Built with Swift 6.3.1 on x86_64 and with Debian sid's swiftlang 6.2.3 for aarch64 (scripts/arm64-cli-lane).
import PackageDescription

/// Strict memory safety: every unsafe use is marked (and carries a SAFETY note).
let strict: [SwiftSetting] = [.enableExperimentalFeature("StrictMemorySafety")]

let package = Package(
    name: "kvmdbg",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "KVMDebugCore", targets: ["KVMDebugCore"]),
        .library(name: "KVMDebugFake", targets: ["KVMDebugFake"]),
        .library(name: "KVMDebugGDB", targets: ["KVMDebugGDB"]),
        .executable(name: "kvmdbg", targets: ["kvmdbg"]),
        .executable(name: "host-vmm", targets: ["host-vmm"]),
        .executable(name: "kvmdbg-bench", targets: ["kvmdbg-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // The KVM C shim: one thin wrapper per ioctl over <linux/kvm.h> (plus open, mmap and the
        // kick's pthread_kill and sigaction headers), for KVMDebugKVM.
        .target(name: "CKVM", path: "CKVM"),
        // The libc the session layer (pthreads, the monotonic clock, core-file writes) and the GDB
        // poll driver (poll(2), termios) use, as a header Embedded Swift can import too; nothing of KVM.
        .systemLibrary(name: "CPosix"),
        // The model: debug points, per-vCPU tables, register encoders and stop decoders, Stop,
        // errors, register files, page walks and the backend protocol; no C, no threads.
        .target(name: "KVMDebugModel", swiftSettings: strict),
        // The session: Debugger (per-vCPU state, lazy sync, stop decoding) and the all-stop
        // DebugSession with its vCPU threads, locks and core files, over any DebugBackend.
        .target(name: "KVMDebugSession", dependencies: ["KVMDebugModel", "CPosix"], swiftSettings: strict),
        // The KVM backend: /dev/kvm, VM and vCPU handles, guest memory; the only module issuing ioctls.
        .target(name: "KVMDebugKVM", dependencies: ["KVMDebugModel", "CKVM"], swiftSettings: strict),
        // The guests: built-in, paged, crash and conformance guests' machine code, ELF and image parsing.
        .target(name: "KVMDebugGuests", dependencies: ["KVMDebugModel"], swiftSettings: strict),
        // The library a VMM tool imports: one file re-exporting the four modules above.
        .target(name: "KVMDebugCore", dependencies: ["KVMDebugModel", "KVMDebugSession", "KVMDebugKVM", "KVMDebugGuests"]),
        // Pure-Swift fake backend: KVM's ABI checks plus a tiny interpreter per arch.
        .target(name: "KVMDebugFake", dependencies: ["KVMDebugModel", "KVMDebugSession"]),
        // The scenario lists (one DebugScenario type), a scenario run through GuestRunner and its
        // `scenario` line: Embedded-Swift-clean for the arm64 lane.
        .target(name: "KVMDebugConformance", dependencies: ["KVMDebugCore"]),
        // What only the kvmdbg CLI uses: backend choice, feature probes, point specs, JSON and
        // stop formatting, image files from disk, the signal watcher, scenarios on a chosen backend.
        .target(name: "KVMDebugCLI", dependencies: ["CPosix", "KVMDebugCore", "KVMDebugFake", "KVMDebugConformance"]),
        // The GDB remote protocol engine (bytes in, bytes out), the serve loop both drivers
        // share and `serve(session:options:driver:)`; Foundation-free, builds with Embedded Swift.
        .target(name: "KVMDebugGDB", dependencies: ["KVMDebugCore", "CPosix"]),
        // The threaded GDB driver and its transports (sockets, serial, in-memory pipes).
        .target(name: "KVMDebugGDBServer", dependencies: ["KVMDebugGDB", "KVMDebugCore", "KVMDebugGDBPoll"]),
        // A single-threaded poll(2) GDB driver over one fd (serial line) and the serial opener:
        // no Foundation, builds with Embedded Swift (the arm64 lane serves GDB from inside its
        // guest with it).
        .target(name: "KVMDebugGDBPoll", dependencies: ["KVMDebugGDB", "KVMDebugCore", "CPosix"]),
        .executableTarget(
            name: "kvmdbg",
            dependencies: [
                "KVMDebugCLI",
                "KVMDebugConformance",
                "KVMDebugGDB",
                "KVMDebugGDBServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The benchmark's baseline: the same ioctls in a plain C loop (not used by kvmdbg).
        .target(name: "KVMRawLoop"),
        .executableTarget(name: "kvmdbg-bench", dependencies: ["KVMDebugCore", "KVMDebugFake", "KVMDebugGDB", "KVMRawLoop"]),
        // examples/host-vmm: a VMM of its own (C) that hands its vCPU fd to kvmdbg.
        .target(name: "HostVMM", path: "examples/host-vmm/VMM"),
        .executableTarget(
            name: "host-vmm",
            dependencies: ["KVMDebugCore", "KVMDebugGDB", "KVMDebugGDBServer", "HostVMM"],
            path: "examples/host-vmm/App"
        ),
        // The fuzz targets: one input through the GDB engine over a reused fake VM, the monitor
        // parser, the image loader, the page walkers or the point-spec parser, with the
        // properties each must keep (the libFuzzer entry point and the corpus tests call them).
        .target(name: "KVMDebugFuzz", dependencies: ["KVMDebugGDB", "KVMDebugCore", "KVMDebugFake", "KVMDebugCLI"]),
        // Helpers the four test targets share (thrownError, raw KVM flags, a bounded fake, a raw RSP client).
        .target(name: "KVMTestSupport", dependencies: ["KVMDebugCore", "KVMDebugFake", "KVMDebugGDB"], path: "Tests/KVMTestSupport"),
        .testTarget(name: "KVMDebugCoreTests", dependencies: ["KVMDebugCore", "KVMDebugModel", "KVMDebugSession", "KVMTestSupport"]),
        .testTarget(name: "KVMDebugFakeTests", dependencies: ["KVMDebugCore", "KVMDebugFake", "KVMDebugConformance", "KVMTestSupport"]),
        .testTarget(name: "KVMDebugGDBTests", dependencies: ["KVMDebugGDB", "KVMDebugGDBServer", "KVMDebugGDBPoll", "KVMDebugCore", "KVMDebugFake", "KVMDebugFuzz", "KVMTestSupport"]),
        .testTarget(name: "KVMDebugTests", dependencies: ["KVMDebugCLI", "KVMDebugCore", "KVMDebugFake", "KVMDebugConformance", "CKVM", "KVMTestSupport"]),
    ]
)

// The libFuzzer executable (its main hands over to libFuzzer's driver, which links only with
// -sanitize=fuzzer): scripts/fuzz-smoke sets KVMDBG_FUZZ=1 to add it. Only the code under
// test (core, GDB engine, loader) gets libFuzzer's coverage instrumentation: the fake backend's
// interpreter (two thirds of an input's time) and the harness run uninstrumented and add no
// noise to the coverage.
if Context.environment["KVMDBG_FUZZ"] == "1" {
    let fuzzer: [SwiftSetting] = [.unsafeFlags(["-sanitize=fuzzer"])]
    for t in package.targets where ["KVMDebugModel", "KVMDebugSession", "KVMDebugKVM", "KVMDebugGuests", "KVMDebugGDB", "KVMDebugCLI"].contains(t.name) {
        t.swiftSettings = (t.swiftSettings ?? []) + fuzzer
    }
    package.targets.append(.target(name: "KVMDebugFuzzMain", path: "Sources/kvmdbg-fuzz/Main"))
    package.targets.append(.executableTarget(name: "kvmdbg-fuzz", dependencies: ["KVMDebugFuzz", "KVMDebugFuzzMain"], exclude: ["Main"],
                                             swiftSettings: fuzzer + [.unsafeFlags(["-parse-as-library"])],
                                             linkerSettings: [.unsafeFlags(["-sanitize=fuzzer"])]))
    package.products.append(.executable(name: "kvmdbg-fuzz", targets: ["kvmdbg-fuzz"]))
}
