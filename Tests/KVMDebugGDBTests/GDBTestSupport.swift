import Foundation
import KVMDebugCore
import KVMDebugFake
import KVMTestSupport
@testable import KVMDebugGDB

typealias FakeSession = DebugSession<FakeBackend>

/// Why this host cannot run x86_64 guests on /dev/kvm (nil: it can).
let kvmX86Unavailable: String? = {
    #if arch(x86_64)
    let fd = open("/dev/kvm", O_RDWR)
    if fd < 0 { return "no usable /dev/kvm (errno \(errno))" }
    close(fd)
    return nil
    #else
    return "x86_64 guests need an x86_64 host (arm64 runs in scripts/arm64-lane)"
    #endif
}()

/// Frames a payload as GDB sends it.
func wire(_ payload: String) -> [UInt8] { framePacket(Array(payload.utf8)) }

/// Everything the engine sent in some actions, split into acks and (checksum-verified, unescaped) packets.
struct Sent {
    var acks: [UInt8] = []
    var packets: [String] = []
    var rawPackets: [[UInt8]] = []
    var badFrames = 0

    init(_ bytes: [UInt8]) {
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "+") || b == UInt8(ascii: "-") { acks.append(b); i += 1; continue }
            guard b == UInt8(ascii: "$"), let hash = bytes[i...].firstIndex(of: UInt8(ascii: "#")), hash + 2 < bytes.count else {
                badFrames += 1
                break
            }
            let body = Array(bytes[(i + 1)..<hash])
            let sum = body.reduce(UInt8(0)) { $0 &+ $1 }
            let given = UInt8(String(decoding: bytes[(hash + 1)...(hash + 2)], as: UTF8.self), radix: 16)
            if given != sum { badFrames += 1 }
            let raw = unescape(body)
            rawPackets.append(raw)
            packets.append(String(decoding: raw, as: UTF8.self))
            i = hash + 3
        }
    }
}

/// The engine over a real DebugSession on the fake backend, driven synchronously: a `.resume`
/// runs its round to the end and feeds it back, as the driver does.
final class Harness {
    let backend: FakeBackend
    let session: FakeSession
    let engine: GDBEngine<FakeSession>
    var resumes: [[ResumeMode?]] = []
    var detached = false
    var killed = false

    convenience init(guest: Guest = BuiltinGuests.counterX86(.long), vcpus: Int = 1, options: GDBEngineOptions = GDBEngineOptions()) throws {
        try self.init(backend: FakeBackend(guest: guest, vcpus: vcpus), options: options)
    }

    /// Over a backend the test prepared (capabilities changed before the session reads them).
    init(backend: FakeBackend, options: GDBEngineOptions = GDBEngineOptions()) {
        self.backend = backend
        session = DebugSession(backend: backend)
        engine = GDBEngine(target: session, options: options)
    }

    deinit { session.close() }

    /// Feeds raw bytes; returns everything sent back.
    func feed(_ bytes: [UInt8]) throws -> Sent {
        Sent(try perform(engine.receive(bytes)))
    }

    /// Sends one packet; returns the reply packets (acks dropped).
    @discardableResult
    func ask(_ payload: String) throws -> [String] { try feed(wire(payload)).packets }

    /// The single reply to one packet.
    func reply(_ payload: String) throws -> String {
        let r = try ask(payload)
        guard r.count == 1 else { return "<\(r.count) replies: \(r)>" }
        return r[0]
    }

    private func perform(_ actions: [GDBAction]) throws -> [UInt8] {
        var out: [UInt8] = []
        for a in actions {
            switch a {
            case .send(let b): out += b
            case .resume(let modes):
                resumes.append(modes)
                let round = try session.resume(modes)
                out += try perform(engine.finish(round))
            case .detach: detached = true
            case .kill: killed = true
            case .log: break
            }
        }
        return out
    }
}

/// Little-endian hex of a 64-bit value, as `g` carries it.
func leHex(_ v: UInt64, bytes: Int = 8) -> String {
    String(decoding: GDBHex.encode(GDBHex.littleEndian(v, count: bytes)), as: UTF8.self)
}

/// Runs `path` with `arguments`, stdout and stderr together, killed (SIGKILL: a child of a test
/// worker thread inherits SIGTERM blocked) when it has not ended within `timeout` seconds.
func runBounded(_ path: String, _ arguments: [String], timeout: Double) throws -> (text: String, hung: Bool) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let hung = !waitUntil(seconds: timeout) { !p.isRunning }
    if hung { kill(p.processIdentifier, SIGKILL) }
    p.waitUntilExit()
    return (String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), hung)
}
