import Testing
import Foundation
import KVMDebugCore
import KVMDebugFake
import KVMDebugGDB
import KVMDebugGDBServer
import KVMDebugGDBPoll
import KVMTestSupport

/// `serve(session:options:driver:)`, the one assembly of a GDB server (kvmdbg gdbserver,
/// examples/host-vmm, the arm64 GDB lane): what it sets on the session, and how it ends.
@Suite(.serialized) struct ServeTests {
    /// Serves the x86 counter (a guest int3 at `store`) through the threaded driver on a thread.
    final class Served: @unchecked Sendable {
        let backend: FakeBackend
        let session: DebugSession<FakeBackend>
        let listener = PipeListener()
        let said = DriverTests.Lines()
        private let lock = NSLock()
        private var _end: Result<GDBServeEnd, DebugError>?
        var end: Result<GDBServeEnd, DebugError>? { lock.withLock { _end } }

        /// `throughServe` false: the driver built by hand, as host-vmm did before it used `serve`.
        init(throughServe: Bool) throws {
            backend = try FakeBackend(guest: BuiltinGuests.counterX86(.long), vcpus: 1)
            session = DebugSession(backend: backend)
            try backend.writeMemory(0x1006, [0xCC])  // the guest's own int3 at `store`
            let (session, listener, said) = (session, listener, said)
            Thread { [self] in
                let r: Result<GDBServeEnd, DebugError>
                if throughServe {
                    r = Result { () throws(DebugError) in
                        try serve(session: session, options: GDBServeOptions(say: { said.add($0) })) { loop in
                            GDBThreadedDriver(loop: loop, listener: listener).run()
                        }
                    }
                } else {
                    let loop = GDBServeLoop(engine: GDBEngine(target: session), target: session, say: { said.add($0) })
                    r = .success(GDBThreadedDriver(loop: loop, listener: listener).run())
                }
                lock.withLock { _end = r }
            }.start()
        }

        func waitForEnd() -> Result<GDBServeEnd, DebugError>? {
            waitUntil { end != nil }
            return end
        }
    }

    /// A guest's own int3: reported once as SIGTRAP, then handed to the guest on continue
    /// (INJECT_BP), because `serve` sets `.handBackToGuest`. Built by hand (host-vmm's old
    /// assembly), the second continue re-runs the int3 and reports the same stop again.
    @Test(arguments: [true, false]) func aGuestsOwnInt3IsHandedBackOnlyThroughServe(throughServe: Bool) throws {
        let s = try Served(throughServe: throughServe)
        defer {
            s.listener.close()
            _ = s.waitForEnd()
            s.session.close()
        }
        let c = Connection.pipe(s.listener.connect())
        #expect(c.ask("Z0,1016,1") == "OK")  // ours, elsewhere, so #BP is intercepted
        #expect(c.ask("c").hasPrefix("T05thread:1;swbreak:;reason:signal;10:\(leHex(0x1006));"))
        let again = c.ask("c")
        let injected = s.backend.trace.contains {
            if case .setGuestDebug(_, let st) = $0 { return st.control.contains(.x86InjectBreakpoint) }
            return false
        }
        #expect(s.session.debugger.foreignBreakpointPolicy == (throughServe ? .handBackToGuest : .report))
        if throughServe {
            // The fake has no IDT: the injected #BP fails that round, which is reported.
            #expect(again.hasPrefix("T02thread:1;"), "\(again)")
            #expect(injected)
        } else {
            #expect(again.hasPrefix("T05thread:1;swbreak:;reason:signal;10:\(leHex(0x1006));"), "\(again)")
            #expect(!injected)
        }
    }

    /// `k` ends `serve` with `.killed` and the session closed (a later round is refused).
    @Test func killEndsServeAndClosesTheSession() throws {
        let s = try Served(throughServe: true)
        defer { s.listener.close() }
        let c = Connection.pipe(s.listener.connect())
        #expect(c.ask("qAttached") == "1")
        c.send(wire("k"))
        let end = try #require(s.waitForEnd())
        #expect(try end.get() == .killed)
        let refused = thrownError { () throws(DebugError) in try s.session.start([.continue]) }
        #expect(refused?.message.contains("closed") == true, "\(String(describing: refused))")
    }

    /// The poll driver through `serve`: a hang-up ends it with `.hangUp(errno: 0)`, the guest's
    /// points removed and the session closed.
    @Test func thePollDriverThroughServeEndsOnHangUp() throws {
        var sv: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &sv) == 0)
        let session = DebugSession(backend: try FakeBackend(guest: BuiltinGuests.counterX86(.long), vcpus: 1))
        let said = DriverTests.Lines()
        let box = PollDriverTests.Box()
        let serverFD = sv[1]
        Thread {
            let end = try? serve(session: session, options: GDBServeOptions(say: { said.add($0) })) { loop throws(DebugError) in
                try GDBPollDriver(loop: loop, fd: serverFD).run()
            }
            box.set(end ?? .killed)
            Glibc.close(serverFD)
        }.start()
        let line = PollDriverTests.Line(fd: sv[0])
        line.send(wire("Z1,1006,1"))
        #expect(line.read(until: "#").contains("$OK#"))
        Glibc.close(sv[0])
        #expect(box.wait() == .hangUp(errno: 0))
        #expect(said.lines.contains("client hung up"))
        #expect(session.tables.points(on: 0).isEmpty, "the hang-up removed the client's breakpoint")
    }
}
