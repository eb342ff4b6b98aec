// The arm64 GDB lane's entry point (scripts/arm64-gdb-lane), compiled with Embedded Swift for
// aarch64 as its own module against the package's modules (each built as itself:
// scripts/lane-lib's embedded_modules), and called by lanes/arm64/main.c running as /init inside QEMU:
// kvmdbg's GDB server on real arm64 KVM, reached by gdb-multiarch on the host through a
// PCI 16550 (ttyS0) that QEMU exposes as a loopback TCP socket.
#if arch(arm64)
import CPosix
import KVMDebugCore
import KVMDebugGDB
import KVMDebugGDBPoll

/// The serial line to the host's gdb: the PCI 16550 (`-device pci-serial`); ttyAMA0 is the console.
let laneGDBLine = "/dev/ttyS0"

/// Serves each guest of `/gdb-plan` in turn until its client kills it. A plan line is
/// `NAME VCPUS` (a built-in guest) or `NAME VCPUS FILE LOAD ENTRY` (a raw image loaded at LOAD,
/// hex). Returns the number of guests that could not be served to the end.
@_cdecl("kvmdbg_lane_main")
public func kvmdbgLaneMain() -> Int32 {
    guard let plan = readWholeFile("/gdb-plan") else {
        print("lane-gdb: error: no /gdb-plan in the initramfs (scripts/arm64-gdb-lane writes it)")
        return 1
    }
    let fd: Int32
    do throws(DebugError) { fd = try SerialLine.open(laneGDBLine) } catch {
        print("lane-gdb: error: \(error.message) (is -device pci-serial on the QEMU command line, and 8250_pci built in?)")
        return 1
    }
    var failures: Int32 = 0
    for line in String(decoding: plan, as: UTF8.self).split(separator: "\n") {
        let words = line.split(separator: " ").map { String($0) }
        guard words.count >= 2, let vcpus = Int(words[1]) else { continue }
        do throws(DebugError) {
            let g = try laneGuest(words)
            let end = try serveGuest(g, vcpus: vcpus, fd: fd)
            print("lane-gdb: \(g.name) ended: \(end == .killed ? "killed" : "line hung up")")
            if end != .killed { failures += 1 }
        } catch {
            print("lane-gdb: error: \(words[0]): \(error.message)")
            failures += 1
        }
    }
    // The UART's own view of the line (type, bytes moved, overrun oe: / framing fe: / parity pe:
    // errors): bytes lost between QEMU and the server would show there.
    if let table = readWholeFile("/proc/tty/driver/serial") {
        for row in String(decoding: table, as: UTF8.self).split(separator: "\n") where row.hasPrefix("0:") {
            print("lane-serial: ttyS\(row)")
        }
    }
    return failures
}

/// A built-in guest, or a raw image in the RAM kvmdbg's image loader gives it (`Arm64GuestRAM`),
/// so the host's `gdbserver --image FILE --load-addr LOAD` serves the same guest.
func laneGuest(_ words: [String]) throws(DebugError) -> Guest {
    if words.count < 5 { return try BuiltinGuests.guest(named: words[0], arch: .arm64) }
    guard let bytes = readWholeFile("/" + words[2]) else { throw .badImage(reason: "cannot read /\(words[2])") }
    guard let load = UInt64(words[3].dropFirst(2), radix: 16), let entry = UInt64(words[4].dropFirst(2), radix: 16) else {
        throw .badImage(reason: "bad load or entry address in the plan line (0x... expected)")
    }
    let ram = Arm64GuestRAM.layout(lowest: load, highestEnd: load + UInt64(bytes.count))
    let g = Guest(name: words[0], arch: .arm64, mode: .el1, memoryBase: ram.base,
                  memorySize: ram.size, loadAddress: load, image: bytes,
                  entry: entry, symbols: [], summary: "raw arm64 image \(words[2])")
    try g.validate()
    return g
}

/// One guest under GDB on KVM until `k`: the CLI's assembly (`serve(session:options:driver:)`)
/// with the poll driver, minus the feature probe (BRK and the debug registers trap on this KVM:
/// shared arm64-lane NOTES).
func serveGuest(_ g: Guest, vcpus: Int, fd: Int32) throws(DebugError) -> GDBServeEnd {
    var engine = GDBEngineOptions()
    engine.backendDescription = "backend chosen: kvm (arm64 lane: /dev/kvm inside QEMU's emulated EL2)"
    engine.logPackets = false
    let session = DebugSession(backend: try KVMBackend(guest: g, vcpus: vcpus))
    // The line stays open (and raw) from guest to guest: what the previous client sent after its
    // `kill` must not reach this one's server. Then the ready line the host's gdb waits for.
    if tcflush(fd, TCIFLUSH) != 0 { throw .system(call: "tcflush(\(laneGDBLine))", errno: cposix_errno()) }
    print("lane-gdb: serving \(g.name) (\(vcpus) vCPU\(vcpus == 1 ? "" : "s")) on \(laneGDBLine)")
    return try serve(session: session, options: GDBServeOptions(engine: engine, say: { print("lane-gdb: \($0)") })) { loop throws(DebugError) in
        try GDBPollDriver(loop: loop, fd: fd).run()
    }
}

/// A whole file's bytes, or nil.
func readWholeFile(_ path: String) -> [UInt8]? {
    let fd = path.withCString { cposix_open_mode($0, O_RDONLY | O_CLOEXEC, 0) }
    guard fd >= 0 else { return nil }
    defer { _ = close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &chunk, chunk.count)
        if n < 0 { return nil }
        if n == 0 { return out }
        out += chunk[0..<n]
    }
}
#endif
