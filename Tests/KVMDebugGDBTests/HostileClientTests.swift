import Testing
import Foundation
import KVMDebugCore
import KVMDebugFake
import KVMDebugGDB
import KVMDebugGDBServer
import KVMTestSupport

/// Issue 12 parts 3 and 5 through the real driver: floods and half packets never wedge the
/// server, and whatever way a client leaves, the guest is left unpatched and resumable.
@Suite(.serialized) struct HostileClientTests {
    /// A driver on its own thread over a fake session; `end` is set when `run` returns.
    final class Server: @unchecked Sendable {
        let backend: FakeBackend
        let session: DebugSession<FakeBackend>
        let listener: GDBListener
        let said = DriverTests.Lines()
        private let lock = NSLock()
        private var _end: GDBServeEnd?
        var end: GDBServeEnd? { lock.withLock { _end } }

        init(listener: GDBListener, guest: Guest = BuiltinGuests.counterX86(.long), vcpus: Int = 1,
             configure: (GDBServeLoop<DebugSession<FakeBackend>>) -> Void = { _ in }) throws {
            backend = try FakeBackend(guest: guest, vcpus: vcpus)
            session = DebugSession(backend: backend)
            self.listener = listener
            let loop = GDBServeLoop(engine: GDBEngine(target: session), target: session, say: { [said] in said.add($0) })
            configure(loop)
            let driver = GDBThreadedDriver(loop: loop, listener: listener)
            Thread { [self] in
                let e = driver.run()
                lock.withLock { _end = e }
            }.start()
        }

        func stop() {
            listener.close()
            waitUntil { end != nil }
            session.close()
        }

        /// Guest RAM below the page tables (the guest itself changes only `counter`, masked).
        func code() throws -> [UInt8] {
            let g = backend.guest
            var ram = try backend.readMemory(g.memoryBase, count: Int(X86Boot.tablesBase(for: g) - g.memoryBase))
            let c = Int(g.symbol("counter")!.address)
            for i in c..<(c + 8) { ram[i] = 0 }
            return ram
        }
    }

    func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }
    /// Looks at the last 256 bytes only: a flood's megabytes of replies are not re-decoded per chunk.
    func until(_ s: String) -> ([UInt8]) -> Bool { { String(decoding: $0.suffix(256), as: UTF8.self).contains(s) } }

    @Test func aFloodOfInterruptBytesThenAPacketGetsItsReply() throws {
        let listener = PipeListener()
        let s = try Server(listener: listener)
        defer { s.stop() }
        let c = listener.connect()
        c.write([UInt8](repeating: 0x03, count: 10_000))
        c.write(wire("qC"))
        let got = text(c.read(until: until("$QC1#"), timeout: 20))
        #expect(got.components(separatedBy: "$T02thread:1;").count - 1 == 10_000, "one stop reply per ^C while stopped")
        #expect(got.hasSuffix("+$QC1#c5"), "\(got.suffix(80))")
        // While running, a flood is one interrupt: the round ends and the next packet is served.
        c.write(wire("c"))
        c.write([UInt8](repeating: 0x03, count: 5_000))
        #expect(text(c.read(until: until("$T02thread:"))).contains("$T02thread:1;"))
        c.write(wire("qAttached"))
        #expect(text(c.read(until: until("$1#31"))).hasSuffix("$1#31"))
    }

    /// `c` and ^C in one read: the reader cannot know the round runs yet, so the 0x03 reaches
    /// the engine behind the `c`; it must still interrupt (it was once dropped there).
    @Test func aControlCInTheSameReadAsItsContinueIsNotLost() throws {
        let listener = PipeListener()
        let s = try Server(listener: listener)
        defer { s.stop() }
        let c = listener.connect()
        for _ in 0..<20 {
            c.write(wire("c") + [0x03])
            let got = text(c.read(until: until("$T02thread:")))
            #expect(got.contains("$T02thread:1;"), "\(got.suffix(80))")
        }
    }

    @Test func halfPacketsGarbageAndOversizeNeverWedgeTheServer() throws {
        let listener = PipeListener()
        let s = try Server(listener: listener)
        defer { s.stop() }
        let c = listener.connect()
        // A packet that never ends (200 kB, no '#'): counted, not kept, then a bad checksum.
        c.write(Array("$m1000,4".utf8))
        for _ in 0..<50 { c.write([UInt8](repeating: UInt8(ascii: "a"), count: 4000)) }
        c.write(Array("#zz".utf8))
        #expect(text(c.read(until: until("-"))) == "-")
        // Line noise and half packets, each restarted by the next '$'.
        c.write(Array("\u{0}\u{ff}hello$qSupp$qC#".utf8))
        c.write(Array("b4".utf8))
        #expect(text(c.read(until: until("$QC1#"))) == "+$QC1#c5")
        // Over PacketSize (4096) with a good checksum: refused with an E reply.
        let big = "M1000,900:" + String(repeating: "00", count: 0x900)
        c.write(wire(big))
        let refused = text(c.read(until: until("#")))
        #expect(refused.hasPrefix("+$E.packet of \(big.utf8.count) bytes exceeds PacketSize 4096#"), "\(refused)")
        // Memory untouched by the refused write; the server still answers.
        c.write(wire("m1000,3"))
        #expect(text(c.read(until: until("#"))).hasPrefix("+$4831c0#"))
    }

    /// The first client stops at its breakpoints and hangs up without `D`; the next one finds
    /// the guest stopped and clean, continues it, and none of the first client's points fire.
    @Test(arguments: ["pipe", "tcp"])
    func aClientThatHangsUpMidStopLeavesTheGuestResumable(_ transport: String) throws {
        let listener: GDBListener = transport == "pipe" ? PipeListener() : try SocketListener(tcp: "127.0.0.1:0", allowNonLoopback: false)
        let s = try Server(listener: listener)
        defer { s.stop() }
        let before = try s.code()
        func connect() -> Connection {
            if let p = listener as? PipeListener { return .pipe(p.connect()) }
            let port = UInt16(listener.address.split(separator: ":").last!)!
            return .tcp(GDBServerCLITests.Client(port: port)!)
        }
        let first = connect()
        #expect(first.ask("Z0,1003,1") == "OK")  // software: int3 in memory on the fake
        #expect(first.ask("Z1,1006,1") == "OK")
        #expect(first.ask("c").hasPrefix("T05thread:1;swbreak:;"))
        #expect(try s.code() != before, "the int3 is planted while the client is attached")
        first.hangUp()
        #expect(s.said.wait(for: "client disconnected"))
        #expect(try s.code() == before, "an int3 left in memory after the client left")
        #expect(s.session.tables.points(on: 0).isEmpty)

        let next = connect()
        #expect(next.ask("?").hasPrefix("T05thread:1;"))
        #expect(next.ask("g").count > 1000)
        next.send(wire("c"))
        #expect(waitFor { s.session.isRunning }, "the continue started")
        next.send([0x03])
        // Interrupted, not stopped by the first client's breakpoints.
        #expect(next.read().hasPrefix("T02thread:1;"))
        #expect(next.ask("D") == "OK")
        #expect(s.said.wait(for: "client detached; guest running"))
        // Detached: the guest runs with debugging off.
        #expect(waitFor { s.backend.installedState(vcpu: 0) == .disabled(.x86_64) })
        #expect(try s.code() == before)
    }

    @Test func killThenCloseLeavesTheGuestUndebugged() throws {
        let listener = PipeListener()
        let s = try Server(listener: listener, guest: BuiltinGuests.counterX86(.long), vcpus: 2)
        let before = try s.code()
        let c = Connection.pipe(listener.connect())
        #expect(c.ask("Z0,1003,1") == "OK")
        #expect(c.ask("Z2,2000,8") == "OK")
        #expect(c.ask("c").hasPrefix("T05thread:"))
        c.send(wire("k"))
        #expect(waitFor { s.end == .killed })
        s.session.close()  // what `kvmdbg gdbserver` does when the driver returns
        #expect(try s.code() == before)
        for v in 0..<2 { #expect(s.backend.installedState(vcpu: v) == .disabled(.x86_64), "vCPU \(v)") }
    }

    @Test func aGuestsOwnInt3IsReportedAsSIGTRAPAndHandedBack() throws {
        let listener = PipeListener()
        let s = try Server(listener: listener)
        defer { s.stop() }
        s.session.debugger.foreignBreakpointPolicy = .handBackToGuest  // as `kvmdbg gdbserver` sets it
        try s.backend.writeMemory(0x1006, [0xCC])  // the guest's own int3 at `store`
        let c = Connection.pipe(listener.connect())
        #expect(c.ask("Z0,1016,1") == "OK")  // ours, elsewhere, so #BP is intercepted
        #expect(c.ask("c").hasPrefix("T05thread:1;swbreak:;reason:signal;10:\(leHex(0x1006));"))
        // Continuing hands the #BP to the guest (INJECT_BP); the fake, which has no IDT, fails
        // that round, and the server reports it instead of re-running the int3 forever.
        let again = c.ask("c")
        #expect(again.hasPrefix("T02thread:1;"), "\(again)")
        #expect(s.backend.trace.contains {
            if case .setGuestDebug(_, let st) = $0 { return st.control.contains(.x86InjectBreakpoint) }
            return false
        })
    }

    // MARK: Listening

    @Test func nonLoopbackNeedsAnExplicitListen() throws {
        let e = thrownError { () throws(DebugError) in try SocketListener(tcp: "0.0.0.0:0", allowNonLoopback: false) }
        #expect(e?.message.contains("refusing to listen on non-loopback 0.0.0.0") == true, "\(String(describing: e))")
        let l = try SocketListener(tcp: "0.0.0.0:0", allowNonLoopback: true)
        defer { l.close() }
        #expect(l.address.hasPrefix("0.0.0.0:"))
        let local = try SocketListener(tcp: "localhost:0", allowNonLoopback: false)
        defer { local.close() }
        #expect(local.address.hasPrefix("127.0.0.1:"))
    }

    @Test func theCLIWarnsWhenListeningBeyondLoopback() throws {
        let s = try GDBServerProcess(kvmdbg: try #require(GDBServerCLITests.binary, "build kvmdbg first"),
                                     arguments: ["--guest", "counter", "--backend", "fake", "--listen", "0.0.0.0:0"])
        defer { s.stop() }
        #expect(waitUntil { s.stderr.text.contains("listening on non-loopback 0.0.0.0:") }, "\(s.description)")
    }
}

/// Polls `condition` for up to 10 s.
func waitFor(_ condition: () -> Bool) -> Bool { waitUntil(seconds: 60, condition) }

/// One client over either transport, in ack mode: `ask` returns the reply packet's payload.
enum Connection {
    case pipe(PipeConnection)
    case tcp(GDBServerCLITests.Client)

    func send(_ bytes: [UInt8]) {
        switch self {
        case .pipe(let p): p.write(bytes)
        case .tcp(let c): _ = bytes.withUnsafeBytes { write(c.fd, $0.baseAddress, $0.count) }
        }
    }

    /// The next reply packet's payload (acks dropped, checksum not checked: Sent does that).
    func read() -> String {
        let raw: String
        switch self {
        case .pipe(let p):
            raw = String(decoding: p.read(until: { b in
                guard let d = b.firstIndex(of: UInt8(ascii: "$")), let h = b[d...].firstIndex(of: UInt8(ascii: "#")) else { return false }
                return b.count >= h + 3
            }), as: UTF8.self)
        case .tcp(let c):
            raw = c.readPacket()
        }
        let sent = Sent(Array(raw.utf8))
        return sent.packets.first ?? "<no packet in \(raw.prefix(80))>"
    }

    func ask(_ payload: String) -> String {
        send(wire(payload))
        return read()
    }

    /// Closes without `D`.
    func hangUp() {
        switch self {
        case .pipe(let p): p.close()
        case .tcp(let c): shutdown(c.fd, Int32(SHUT_RDWR))
        }
    }
}
