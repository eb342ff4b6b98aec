// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "kvmdbg",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "KVMDebugCore", targets: ["KVMDebugCore"]),
        .library(name: "KVMDebugFake", targets: ["KVMDebugFake"]),
        .library(name: "KVMDebug", targets: ["KVMDebug"]),
        .library(name: "KVMDebugGDB", targets: ["KVMDebugGDB"]),
        .executable(name: "kvmdbg", targets: ["kvmdbg"]),
        .executable(name: "host-vmm", targets: ["host-vmm"]),
        .executable(name: "kvmdbg-bench", targets: ["kvmdbg-bench"]),
        .executable(name: "kvmdbg-conformance", targets: ["kvmdbg-conformance"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // The only C in the project: one thin wrapper per ioctl over <linux/kvm.h>.
        .target(name: "CKVM", path: "CKVM"),
        // Embedded-Swift-clean core: model, per-vCPU tables, encoders, decoders,
        // backend protocol, debugger loop, KVM backend, built-in guests.
        .target(
            name: "KVMDebugCore",
            dependencies: ["CKVM"],
            swiftSettings: [.enableExperimentalFeature("StrictMemorySafety")]
        ),
        // Pure-Swift fake backend: KVM's ABI checks plus a tiny interpreter per arch.
        .target(name: "KVMDebugFake", dependencies: ["KVMDebugCore"]),
        // The scenario lists (one DebugScenario type), the conformance guests and runner:
        // not shipped in the core, Embedded-Swift-clean for the arm64 lane.
        .target(name: "KVMDebugConformance", dependencies: ["KVMDebugCore"]),
        // Full-Swift conveniences: ELF, JSON, probe, run orchestration.
        .target(name: "KVMDebug", dependencies: ["KVMDebugCore", "KVMDebugFake", "KVMDebugConformance"]),
        // The GDB remote protocol engine (bytes in, bytes out), the serve loop both drivers
        // share and `serve(session:options:driver:)`; Foundation-free (Embedded).
        .target(name: "KVMDebugGDB", dependencies: ["KVMDebugCore"]),
        // The threaded GDB driver and its transports (sockets, serial, in-memory pipes).
        .target(name: "KVMDebugGDBServer", dependencies: ["KVMDebugGDB", "KVMDebugCore", "KVMDebugGDBPoll"]),
        // A single-threaded poll(2) GDB driver over one fd (serial line) and the serial opener:
        // no Foundation, builds with Embedded Swift (the arm64 lane serves GDB from inside its
        // guest with it).
        .target(name: "KVMDebugGDBPoll", dependencies: ["KVMDebugGDB", "KVMDebugCore", "CPoll"]),
        // poll(2), termios and errno for KVMDebugGDBPoll where Glibc cannot be imported (Embedded).
        .systemLibrary(name: "CPoll", path: "Sources/CPoll"),
        .executableTarget(
            name: "kvmdbg",
            dependencies: [
                "KVMDebug",
                "KVMDebugConformance",
                "KVMDebugGDB",
                "KVMDebugGDBServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The benchmark's baseline: the same ioctls in a plain C loop (not used by kvmdbg).
        .target(name: "KVMRawLoop"),
        .executableTarget(name: "kvmdbg-bench", dependencies: ["KVMDebugCore", "KVMDebugFake", "KVMDebugGDB", "KVMRawLoop"]),
        // The arm64 lane's prediction: DebugScenarios.arm64 on the fake backend.
        .executableTarget(name: "kvmdbg-conformance", dependencies: ["KVMDebugCore", "KVMDebugFake", "KVMDebugConformance"]),
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
        .target(name: "KVMDebugFuzz", dependencies: ["KVMDebugGDB", "KVMDebugCore", "KVMDebugFake", "KVMDebug"]),
        // Helpers the three test targets share (thrownError, raw KVM flags, a bounded fake).
        .target(name: "KVMTestSupport", dependencies: ["KVMDebugCore", "KVMDebugFake", "KVMDebugGDB"], path: "Tests/KVMTestSupport"),
        .testTarget(name: "KVMDebugCoreTests", dependencies: ["KVMDebugCore", "KVMTestSupport"]),
        .testTarget(name: "KVMDebugFakeTests", dependencies: ["KVMDebugCore", "KVMDebugFake", "KVMDebugConformance", "KVMTestSupport"]),
        .testTarget(name: "KVMDebugGDBTests", dependencies: ["KVMDebugGDB", "KVMDebugGDBServer", "KVMDebugGDBPoll", "KVMDebugCore", "KVMDebugFake", "KVMDebugFuzz", "KVMTestSupport"]),
        .testTarget(name: "KVMDebugTests", dependencies: ["KVMDebug", "KVMDebugCore", "KVMDebugFake", "KVMDebugConformance", "CKVM", "KVMTestSupport"]),
    ]
)

// The libFuzzer executable (its main hands over to libFuzzer's driver, which links only with
// -sanitize=fuzzer): scripts/fuzz-smoke sets KVMDBG_FUZZ=1 to add it. Only the code under
// test (core, GDB engine, loader) gets libFuzzer's coverage instrumentation: the fake backend's
// interpreter (two thirds of an input's time) and the harness run uninstrumented and add no
// noise to the coverage.
if Context.environment["KVMDBG_FUZZ"] == "1" {
    let fuzzer: [SwiftSetting] = [.unsafeFlags(["-sanitize=fuzzer"])]
    for t in package.targets where ["KVMDebugCore", "KVMDebugGDB", "KVMDebug"].contains(t.name) {
        t.swiftSettings = (t.swiftSettings ?? []) + fuzzer
    }
    package.targets.append(.target(name: "KVMDebugFuzzMain", path: "Sources/kvmdbg-fuzz/Main"))
    package.targets.append(.executableTarget(name: "kvmdbg-fuzz", dependencies: ["KVMDebugFuzz", "KVMDebugFuzzMain"], exclude: ["Main"],
                                             swiftSettings: fuzzer + [.unsafeFlags(["-parse-as-library"])],
                                             linkerSettings: [.unsafeFlags(["-sanitize=fuzzer"])]))
    package.products.append(.executable(name: "kvmdbg-fuzz", targets: ["kvmdbg-fuzz"]))
}
