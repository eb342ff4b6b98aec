import KVMDebugCore

/// The GDB remote protocol engine: bytes in, actions (bytes out, resume, detach, kill) out.
///
/// Transport-agnostic and single-threaded: the driver feeds `receive` from one thread and
/// calls `finish` when the round a `.resume` started is over. Each packet family is served
/// by an extension in its own file. The engine keeps no point tables: the target (the
/// session) does; the engine only remembers which `Z` inserted which point.
public final class GDBEngine<Target: GDBTarget> {
    /// The largest packet accepted and the PacketSize advertised (qSupported gives it in hex).
    public static var packetSize: Int { 4096 }

    let target: Target
    let options: GDBEngineOptions
    var decoder = PacketDecoder(limit: GDBEngine.packetSize)
    /// Acknowledgements on until `QStartNoAckMode`; on again only for a new client (`reset`, or a
    /// `qSupported` after a stray `+`): lldb asks for no-ack mode before `qSupported`.
    var ackMode = true
    /// In no-ack mode: the one `+` the client still sends for `QStartNoAckMode`'s OK is due.
    var ackOfNoAckOKDue = false
    /// In no-ack mode a `+` arrived that was not that one: the peer acknowledges, so a `qSupported`
    /// now is a new client in ack mode (gdb sends `+` when it connects; a serial line shows no hang-up).
    var strayAck = false
    /// Between a `.resume` and `finish`.
    var running = false
    /// The last packet framed, for a `-` from the client.
    var lastSent: [UInt8] = []
    /// The vCPU `g`/`G`/`p`/`P`/`m`/`M`/`X` act on (`Hg`; the vCPU that stopped last).
    var generalThread = 0
    /// `Hc`: nil = all threads.
    var continueThread: Int? = nil
    /// What `?` answers.
    var lastStopReply: [UInt8]
    /// The vCPU `lastStopReply` is about (`qThreadStopInfo` answers it for that thread).
    var lastStopVCPU = 0
    /// LLDB's `QListThreadsInStopReply`: stop replies list every thread and its pc.
    var threadsInStopReply = false
    /// LLDB's `QEnableErrorStrings`: errors go as `Exx;HEXTEXT`, not GDB's `E.text`.
    var errorStrings = false
    /// Points inserted through `Z` or `monitor`, each with its `monitor points` ID.
    var points: [PointRecord] = []
    var nextPointID = 1
    /// A `Z` (true) or `z` (false) changed the points since the loop last took it (`takePointChange`).
    var pointChange: Bool? = nil
    /// The event `lastStopReply` reports (nil after a ^C): `monitor why` describes it, and a
    /// fatal exit there refuses every resume. Kept across a new client: the guest stays stopped.
    var lastEvent: VCPUEvent? = nil
    /// `monitor catch exception`'s breakpoints on the guest's handlers, and the last exception caught.
    var exceptionCatch: ExceptionCatch? = nil
    var lastCaught: CaughtException? = nil
    /// Debug stops of other vCPUs from the last round, reported on the next continue instead of
    /// running (GDB's all-stop sees one event per round; the others would be lost).
    var pendingStops: [Stop] = []
    /// Which vCPU the last `.resume` stepped, so its stop is the one reported.
    var steppedVCPU: Int? = nil
    /// Packets that arrived while running, handled after the stop reply.
    var deferred: [WireEvent] = []
    /// `target.xml` for the target's arch, built at its first `qXfer` (each attach reads it in
    /// five parts; rebuilding it per part was a third of the engine's time for an attach).
    var targetXML: [UInt8]? = nil
    /// Console lines for the client, sent before the next resume's stop reply: the only time gdb
    /// reads `O` packets besides `monitor` (one in reply to a `Z` would be taken as its answer).
    var notices: [String] = []
    /// The slot hint (int3 does not trap here) went to this client.
    var slotHintGiven = false
    /// The client has shown it is gdb (`vMustReplyEmpty`) or lldb (`qHostInfo`), which print `O`
    /// packets that precede a stop reply. Others may not: gdbstub-mcp's RSP client took one for
    /// its stop reply and lost step with every later reply. Notices go only to the first two.
    var readsConsoleAtResume = false
    /// The memory map of the `qXfer:memory-map:read` in progress (built at its offset 0).
    var memoryMap: [UInt8]? = nil
    /// What the map gdb holds was built from, checked at every stop (`warnIfMemoryMapIsStale`).
    var memoryMapBasis: MemoryMapBasis? = nil
    /// Actions being built by the current call.
    var out: [GDBAction] = []

    public init(target: Target, options: GDBEngineOptions = GDBEngineOptions()) {
        self.target = target
        self.options = options
        lastStopReply = Array("T05thread:1;".utf8)
    }

    /// Bytes from the client (any split: half packets are buffered). A 0x03 seen while NOT running
    /// is answered with a stop reply; while running the driver should call target.interrupt() as
    /// soon as it reads one, and a 0x03 that reaches the engine while running interrupts too.
    public func receive(_ bytes: [UInt8]) -> [GDBAction] {
        out = []
        for e in decoder.feed(bytes) {
            if running {
                switch e {
                case .interrupt:
                    // Read before the driver knew the round ran (`c` and ^C in one read, or
                    // queued behind it): the session keeps it even for a round not started yet.
                    target.interrupt()
                case .ack: continue  // acks need nothing
                default: deferred.append(e)
                }
            } else {
                handle(e)
            }
        }
        return take()
    }

    /// The round the last .resume started is over: the stop reply (T05 thread:..;hwbreak:; ... / W / X) to send.
    public func finish(_ round: StopRound) -> [GDBAction] {
        out = []
        running = false
        warnIfMemoryMapIsStale()
        reportCaughtExceptions(round)
        sendPacket(stopReply(for: round))
        let later = deferred
        deferred = []
        for (i, e) in later.enumerated() {
            // A resume among them starts a new round: the rest waits for its end.
            if running { deferred += later[i...]; break }
            handle(e)
        }
        return take()
    }

    /// Packets arrived while the round ran: `finish` will handle them (and may start a round).
    public var hasDeferredPackets: Bool { !deferred.isEmpty }

    /// Whether a `Z` (true) or `z` (false) changed the points since the last call; clears it.
    public func takePointChange() -> Bool? {
        defer { pointChange = nil }
        return pointChange
    }

    /// A new client connected while the guest ran free (after a detach): engine state reset (ack mode on).
    public func reset() {
        decoder.reset()
        ackMode = true
        ackOfNoAckOKDue = false
        strayAck = false
        running = false
        lastSent = []
        generalThread = 0
        continueThread = nil
        points = []
        pendingStops = []
        exceptionCatch = nil  // the driver removed every point with the old client
        lastCaught = nil
        steppedVCPU = nil
        deferred = []
        if !(lastEvent.map(isFatal) ?? false) {
            lastStopReply = Array("T05thread:1;".utf8)
            lastStopVCPU = 0
        }
        threadsInStopReply = false
        errorStrings = false
        notices = []
        slotHintGiven = false
        readsConsoleAtResume = false
        memoryMapBasis = nil
    }

    // MARK: - Plumbing shared by the packet families

    private func take() -> [GDBAction] {
        let o = out
        out = []
        return o
    }

    private func handle(_ e: WireEvent) {
        switch e {
        case .packet(let p):
            if !ackMode && strayAck && hasPrefix(p[...], "qSupported") { ackMode = true }
            if p.elementsEqual(Array("vMustReplyEmpty".utf8)) || p.elementsEqual(Array("qHostInfo".utf8)) {
                readsConsoleAtResume = true
            }
            strayAck = false
            ackOfNoAckOKDue = false
            if ackMode { out.append(.send([UInt8(ascii: "+")])) }
            if options.logPackets { out.append(.log("<- " + printable(p[...]))) }
            dispatch(p[...])
        case .badChecksum:
            out.append(.log("<- (bad checksum)"))
            if ackMode { out.append(.send([UInt8(ascii: "-")])) }
        case .oversize(let n):
            out.append(.log("<- (packet of \(n) bytes refused)"))
            if ackMode { out.append(.send([UInt8(ascii: "+")])) }
            sendError("packet of \(n) bytes exceeds PacketSize \(GDBEngine.packetSize)")
        case .nak:
            if !lastSent.isEmpty { out.append(.send(lastSent)) }
        case .ack:
            if !ackMode {
                if ackOfNoAckOKDue { ackOfNoAckOKDue = false } else { strayAck = true }
            }
        case .interrupt:
            // ^C while stopped: nothing to interrupt, but GDB waits for a stop reply.
            sendPacket(Array("T02thread:\(threadID(generalThread));".utf8))
        }
    }

    /// One packet, by its first letter to its family's file.
    private func dispatch(_ p: ArraySlice<UInt8>) {
        guard let first = p.first else { sendEmpty(); return }
        switch first {
        case UInt8(ascii: "?"): sendPacket(lastStopReply)
        case UInt8(ascii: "g"), UInt8(ascii: "G"), UInt8(ascii: "p"), UInt8(ascii: "P"): handleRegisters(p)
        case UInt8(ascii: "m"), UInt8(ascii: "M"), UInt8(ascii: "X"): handleMemory(p)
        case UInt8(ascii: "Z"), UInt8(ascii: "z"): handleBreakpoints(p)
        case UInt8(ascii: "c"), UInt8(ascii: "C"), UInt8(ascii: "s"), UInt8(ascii: "S"): handleResume(p)
        case UInt8(ascii: "v"): handleVPacket(p)
        case UInt8(ascii: "H"), UInt8(ascii: "T"): handleThreads(p)
        case UInt8(ascii: "q"), UInt8(ascii: "Q"): handleQuery(p)
        case UInt8(ascii: "D"), UInt8(ascii: "k"): handleSession(p)
        default: sendEmpty()
        }
    }

    /// Frames and queues one reply packet.
    func sendPacket(_ payload: [UInt8]) {
        let framed = framePacket(payload)
        lastSent = framed
        // Logged before it is sent, so a log reader never sees a reply before its line.
        if options.logPackets { out.append(.log("-> " + printable(payload[...]))) }
        out.append(.send(framed))
    }

    func send(_ text: String) { sendPacket(Array(text.utf8)) }

    /// The empty reply: "not supported" (GDB then falls back or gives up on the feature).
    func sendEmpty() { sendPacket([]) }

    func sendOK() { send("OK") }

    /// One line of console output, `O` + hex: gdb and lldb print it as it is. Only where the client
    /// reads `O` packets: a `qRcmd`'s output, or while the guest runs (before a stop reply).
    func sendConsole(_ line: String) { sendPacket([UInt8(ascii: "O")] + GDBHex.encode(Array((line + "\n").utf8))) }

    /// `E.message`: GDB shows the text; used where GDB accepts it (Z, qRcmd, m, vCont). LLDB, which
    /// reads only `Exx`, asked for `E01;HEXTEXT` with `QEnableErrorStrings`.
    func sendError(_ message: String) {
        if errorStrings { send("E01;" + String(decoding: GDBHex.encode(Array(message.utf8)), as: UTF8.self)) }
        else { send("E." + message) }
    }

    func sendError(_ error: DebugError) { sendError(error.message) }

    /// `E01`-style error for packets whose GDB parser wants two hex digits.
    func sendErrno(_ code: UInt8) { sendPacket([UInt8(ascii: "E")] + GDBHex.encode([code])) }

    /// GDB's thread id of a vCPU: n + 1, in hex.
    func threadID(_ vcpu: Int) -> String { GDBHex.string(UInt64(vcpu + 1)) }

    /// Parses a thread id: .all for -1, .any for 0, else a vCPU; nil if not a thread of ours.
    func parseThread(_ s: ArraySlice<UInt8>) -> ThreadSelector? {
        if s.elementsEqual(Array("-1".utf8)) { return .all }
        guard let n = GDBHex.number(s) else { return nil }
        if n == 0 { return .any }
        if n > UInt64(target.vcpuCount) { return nil }
        return .vcpu(Int(n - 1))
    }

    /// A packet for the log: printable ASCII as is, other bytes as \xNN.
    func printable(_ p: ArraySlice<UInt8>) -> String {
        // Written into the string's own buffer (at most four bytes per byte): appending
        // scalars, or bytes, one by one cost more than the packet's own work. Most packets are
        // all printable: counted without a compare per byte, then taken whole.
        p.withUnsafeBufferPointer { src in
            let unprintable = unprintableBytes
            var others = 0
            for b in src { others &+= Int(unprintable[Int(b)]) }
            if others == 0 { return String(decoding: src, as: UTF8.self) }
            return String(unsafeUninitializedCapacity: 4 * src.count) { out in
                var o = 0
                for b in src {
                    if b >= 0x20 && b < 0x7F {
                        out[o] = b
                        o += 1
                    } else {
                        out[o] = UInt8(ascii: "\\")
                        out[o + 1] = UInt8(ascii: "x")
                        out[o + 2] = GDBHex.digits[Int(b >> 4)]
                        out[o + 3] = GDBHex.digits[Int(b & 0xF)]
                        o += 4
                    }
                }
                return o
            }
        }
    }
}

/// 1 for the bytes `GDBEngine.printable` writes as \xNN, else 0 (written once, never freed).
private nonisolated(unsafe) let unprintableBytes: UnsafePointer<UInt8> = {
    let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
    for b in 0..<256 { p[b] = b >= 0x20 && b < 0x7F ? 0 : 1 }
    return UnsafePointer(p)
}()

/// A thread as GDB names it in `H`, `T` and `vCont`.
enum ThreadSelector: Equatable {
    /// -1.
    case all
    /// 0: any thread, the stub picks.
    case any
    case vcpu(Int)

    func matches(_ v: Int) -> Bool {
        switch self {
        case .all, .any: return true
        case .vcpu(let n): return n == v
        }
    }
}

/// One point inserted by `Z` or `monitor`, with the ID `monitor points` and `monitor delete` use.
struct PointRecord {
    var id: Int
    /// What was inserted into the target (Z0 may be served by `.hardware`).
    var point: DebugPoint
    var target: VCPUTarget
    /// The `Z` packet (type, address, kind) that inserted it; nil for `monitor`.
    var z: ZKey?
    /// Z packets of the same key (GDB may insert one twice); removed at zero.
    var count: Int
}

struct ZKey: Equatable {
    var type: UInt8
    var address: UInt64
    var kind: UInt64
}

