import ArgumentParser
import Foundation
import KVMDebugCLI
import KVMDebugCore
import KVMDebugFake
import KVMDebugGDB
import KVMDebugGDBServer

/// `kvmdbg gdbserver`: serves the guest to gdb, gdb-multiarch or lldb over the GDB remote protocol.
struct GDBServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gdbserver",
        abstract: "Serve a guest to GDB over the remote serial protocol (threads = vCPUs).",
        discussion: """
        The guest starts halted at its entry. --listen HOST:PORT (port 0 picks one), unix:PATH or a \
        serial device path. After 'detach' the guest runs on and the next client finds it stopped; \
        'kill' ends the guest and the server. 'monitor help' in GDB lists kvmdbg's own commands.
        """)

    @OptionGroup var guestOptions: GuestOptions

    @Option(help: "HOST:PORT (default 127.0.0.1:1234), unix:PATH, or a serial device such as /dev/ttyS1.")
    var listen: String?

    @Option(name: .customLong("watch-mechanism"), help: "What serves watchpoints: auto (hardware while slots last and data watchpoints trap here, memory protection otherwise), hardware, or protection.")
    var watchMechanism: String = "auto"

    @Option(name: .customLong("log-packets"), help: "Write every packet in (<-) and out (->) to FILE, one per line.")
    var logPackets: String?

    @Option(name: .customLong("poll-us"), help: "After a reply, poll the client's socket for up to N microseconds before sleeping in read(2) (adapted per client, as KVM's halt_poll_ns; 0 = never poll). Spares a wake-up per packet while gdb answers fast, at up to N µs of CPU per reply: faster on an idle host, slower when other work keeps both CPUs busy (docs/benchmarks.md).")
    var pollMicroseconds: Int = 0

    @Flag(name: .customLong("memory-map"), help: "Give gdb a memory map (qXfer:memory-map:read): guest RAM with paging off, the mapped ranges with paging on. gdb reads it once per connection and refuses addresses outside it, so use it only while the guest's mappings stay as they are.")
    var memoryMap = false

    @Option(name: .customLong("core-dir"), help: "Write 'monitor dump-guest-memory FILE' cores only into DIR, FILE a plain file name there. Without it FILE is any path this server's user may write, as in QEMU's monitor: give it when the server listens where others can connect.")
    var coreDir: String?

    func run() throws {
        if let dir = coreDir {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw CLIError("--core-dir \(dir) is not a directory: create it first")
            }
        }
        guard let mechanism = WatchMechanismChoice(name: watchMechanism) else {
            throw CLIError("--watch-mechanism must be auto, hardware or protection, not '\(watchMechanism)'")
        }
        var watchesTrap: @Sendable () -> Bool = { true }
        let g: Guest
        let decision: BackendDecision
        // /dev/kvm is opened once: the probe, the backend and the caps all use that fd.
        let kvm = guestOptions.kvmAvailability()
        do {
            g = try guestOptions.buildGuest()
            decision = try decideBackend(guestOptions.backend, guestArch: g.arch, kvm: kvm)
        } catch { throw CLIError(error.message) }

        let listener = try makeListener()
        for line in guestOptions.banner(g, decision) { emitLine(line) }

        var options = GDBEngineOptions()
        options.backendDescription = "backend chosen: \(decision.kind == .kvm ? "kvm" : "fake") (\(decision.why))"
        options.logPackets = logPackets != nil
        options.advertiseMemoryMap = memoryMap
        options.coreDirectory = coreDir
        if decision.kind == .kvm {
            // Capabilities lie under PVM: ask what really traps. The probe (about 0.9 s: a feature
            // that does not trap is known by its timeout) runs beside the server, so a client is
            // served at once; a Z0 or `monitor probe` that needs its answer waits for it.
            let probe = BackgroundProbe { FeatureProbe.run(backend: .kvm, arch: g.arch, timeout: 0.3, system: kvm.system) }
            options.decideSoftwareBreakpointsTrap { probe.results.first { $0.feature == .softwareBreakpoint }?.works ?? true }
            watchesTrap = { FeatureProbe.hardwareWatchpointsTrap(probe.results) }
            options.probe = {
                probe.results.map { "\($0.feature.rawValue): \($0.works ? "traps" : "does NOT trap") (\($0.detail))" }
            }
        } else {
            options.probe = { ["fake backend: every feature is interpreted and traps"] }
        }

        // TCP HOST:PORT, a unix socket path or a serial device: `target remote` takes each as is.
        let attach = "target remote \(listener.address)"
        let gdb = g.arch == .arm64 ? "gdb-multiarch -ex 'set architecture aarch64' -ex '\(attach)'" : "gdb -ex '\(attach)'"
        emitLine("listening on \(listener.address); attach with: \(gdb)")

        let logger = logPackets.map { PacketLog(path: $0) }
        if let l = logger, !l.isOpen { throw CLIError("cannot open --log-packets file \(logPackets ?? "")") }
        do throws(DebugError) {
            func watching<B>(_ s: DebugSession<B>) -> DebugSession<B> {
                // Watchpoints the hardware cannot serve here are served by memory protection.
                s.debugger.watchMechanism = mechanism
                s.debugger.decideHardwareWatchpointsTrap(by: watchesTrap)
                return s
            }
            if decision.kind == .kvm {
                try serveGuest(watching(DebugSession(backend: KVMBackend(guest: g, vcpus: guestOptions.vcpus, system: kvm.system))), listener, options, logger)
            } else {
                try serveGuest(watching(DebugSession(backend: FakeBackend(guest: g, vcpus: guestOptions.vcpus))), listener, options, logger)
            }
        } catch { throw CLIError(error.message) }
    }

    private func makeListener() throws(CLIError) -> GDBListener {
        let spec = listen ?? "127.0.0.1:1234"
        guard (0...100_000).contains(pollMicroseconds) else {
            throw CLIError("--poll-us must be 0 (never poll) to 100000 microseconds, not \(pollMicroseconds)")
        }
        do {
            if spec.hasPrefix("unix:") { return try SocketListener(unix: String(spec.dropFirst(5)), pollMicroseconds: pollMicroseconds) }
            if spec.hasPrefix("/") { return try SerialListener(device: spec) }
            let l = try SocketListener(tcp: spec, allowNonLoopback: listen != nil, pollMicroseconds: pollMicroseconds)
            if !l.address.hasPrefix("127.") {
                warn("listening on non-loopback \(l.address): anyone who can reach it controls the guest")
            }
            return l
        } catch { throw CLIError(error.message) }
    }

    private func serveGuest<B: DebugBackend>(_ session: DebugSession<B>, _ listener: GDBListener,
                                        _ engine: GDBEngineOptions, _ logger: PacketLog?) throws(DebugError) {
        var options = GDBServeOptions(engine: engine, say: { line in emitLine(line) })
        if let l = logger { options.log = { line in l.write(line) } }
        // SIGINT/SIGTERM: close() ends the round (vCPUs kicked and joined, so no step-over can
        // re-plant an int3 afterwards), unpatches memory and disables every vCPU's debug state;
        // then a clean exit (a sigwait thread, not a Dispatch source: libdispatch traps near the
        // fd limit).
        _ = SignalWatcher([SIGINT, SIGTERM]) { _ in
            session.close()
            // Said before the listener closes: that ends the driver and main may exit first.
            emitLine("server stopped (signal)")
            listener.close()
            Foundation.exit(0)
        }
        let end = try serve(session: session, options: options) { loop in
            let driver = GDBThreadedDriver(loop: loop, listener: listener)
            // The benchmark's baseline: every continue on the vCPU threads, as before lone continues
            // ran on a reader (scripts/bench runs both in one run).
            if ProcessInfo.processInfo.environment["KVMDBG_CONTINUE_ON_VCPU_THREAD"] == "1" { driver.continuesOnReader = false }
            // The benchmark's A/B of the debug state installed after a Z/z reply rather than by the resume.
            if ProcessInfo.processInfo.environment["KVMDBG_PREINSTALL_DEBUG_STATE"] == "0" { loop.preinstallsDebugState = false }
            return driver.run()
        }
        if case .listenerFailed(let e) = end { throw e }
    }
}

/// The --log-packets file: one line per packet, written as it goes.
final class PacketLog: @unchecked Sendable {
    private let handle: FileHandle?
    private let lock = NSLock()

    init(path: String) {
        FileManager.default.createFile(atPath: path, contents: nil)
        handle = FileHandle(forWritingAtPath: path)
    }

    var isOpen: Bool { handle != nil }

    func write(_ line: String) {
        lock.withLock { handle?.write((line + "\n").data(using: .utf8)!) }
    }
}

/// A feature probe on a thread of its own; `results` waits for it.
final class BackgroundProbe: @unchecked Sendable {
    private let done = NSCondition()
    private var finished: [ProbeResult]? = nil

    init(_ run: @escaping @Sendable () -> [ProbeResult]) {
        Thread { [self] in
            // Started before serve's SignalWatcher blocks SIGINT/SIGTERM: unblocked here, a
            // SIGTERM in the probe's first second ran the watcher's no-op handler on this thread
            // and was lost (the server ignored it).
            var signals = sigset_t()
            sigemptyset(&signals)
            sigaddset(&signals, SIGINT)
            sigaddset(&signals, SIGTERM)
            pthread_sigmask(SIG_BLOCK, &signals, nil)
            let r = run()
            done.lock()
            finished = r
            done.broadcast()
            done.unlock()
        }.start()
    }

    /// The probe's results, once it is done.
    var results: [ProbeResult] {
        done.lock()
        defer { done.unlock() }
        while finished == nil { done.wait() }
        return finished ?? []
    }
}
