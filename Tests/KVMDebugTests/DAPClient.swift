import Foundation
import Testing
import KVMTestSupport

// A minimal Debug Adapter Protocol client for DAPClientTests: lldb-dap-19 as a child process,
// Content-Length framed JSON on its stdin/stdout (Foundation's JSONSerialization), every wait bounded.

/// One DAP message (response or event) as a JSON object.
typealias DAPMessage = [String: Any]

enum DAPError: Error, CustomStringConvertible {
    case timeout(String)
    case failed(String)
    var description: String {
        switch self {
        case .timeout(let s): return "timed out waiting for \(s)"
        case .failed(let s): return s
        }
    }
}

/// lldb-dap-19 driven over stdin/stdout; ended (SIGTERM, then SIGKILL) by `close` or deinit.
final class DAPClient {
    let process = Process()
    private let input = Pipe()
    private let output = PipeCollector()
    private let errors = PipeCollector()
    private var seq = 0
    /// Bytes of stdout already parsed into `messages`.
    private var consumed = 0
    /// Messages received and not yet returned by `wait` (or passed over by it).
    private var messages: [DAPMessage] = []
    /// Every message received, in order: the transcript a failure shows.
    private(set) var all: [DAPMessage] = []
    private var closed = false

    init(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let path = try GDBClient.lldbDAP.require(sourceLocation: sourceLocation)
        process.executableURL = URL(fileURLWithPath: path)
        process.standardInput = input
        process.standardOutput = output.pipe
        process.standardError = errors.pipe
        try runUnblocked(process)
        output.start()
        errors.start()
    }

    /// Sends a request; returns its seq.
    @discardableResult
    func send(_ command: String, _ arguments: [String: Any] = [:]) throws -> Int {
        seq += 1
        let body = try JSONSerialization.data(withJSONObject: ["seq": seq, "type": "request", "command": command, "arguments": arguments])
        input.fileHandleForWriting.write(Data("Content-Length: \(body.count)\r\n\r\n".utf8) + body)
        return seq
    }

    /// Waits (bounded) for the first message after the ones already returned that satisfies `predicate`.
    func wait(_ what: String, timeout: Double = 20, _ predicate: (DAPMessage) -> Bool) throws -> DAPMessage {
        var checked = 0
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            parse()
            while checked < messages.count {
                let m = messages[checked]
                checked += 1
                if predicate(m) { messages.removeFirst(checked); return m }
            }
            if Date() > deadline || output.isClosed && checked == messages.count && !hasUnparsed { break }
            usleep(10_000)
        }
        throw DAPError.timeout("\(what) (\(timeout) s)\n\(transcript)")
    }

    /// The response to request `seq`; a `success: false` response throws with its message.
    func response(to seq: Int, timeout: Double = 20) throws -> DAPMessage {
        let r = try wait("the response to request \(seq)", timeout: timeout) { $0["type"] as? String == "response" && $0["request_seq"] as? Int == seq }
        guard r["success"] as? Bool == true else { throw DAPError.failed("request \(seq) failed: \(Self.summary(r))") }
        return r
    }

    /// Sends a request and returns its response's body.
    func request(_ command: String, _ arguments: [String: Any] = [:], timeout: Double = 20) throws -> [String: Any] {
        let s = try send(command, arguments)
        return (try response(to: s, timeout: timeout)["body"] as? [String: Any]) ?? [:]
    }

    /// The first event named `event` (bounded).
    func event(_ event: String, timeout: Double = 20) throws -> DAPMessage {
        try wait("a `\(event)` event", timeout: timeout) { $0["type"] as? String == "event" && $0["event"] as? String == event }
    }

    /// Every message so far, one line each, and lldb-dap's stderr: for failure reports.
    var transcript: String {
        parse()
        return "lldb-dap-19 sent:\n" + all.map(Self.summary).joined(separator: "\n") + "\nstderr:\n" + errors.text
    }

    static func summary(_ m: DAPMessage) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: m, options: [.sortedKeys])) ?? Data()
        return String(decoding: data.prefix(400), as: UTF8.self)
    }

    private var hasUnparsed: Bool { output.bytes.count > consumed }

    /// Splits newly read stdout into messages: `Content-Length: N\r\n\r\n` + N bytes of JSON.
    private func parse() {
        let data = output.bytes
        while true {
            let rest = data.suffix(from: data.startIndex + consumed)
            guard let headerEnd = rest.range(of: Data("\r\n\r\n".utf8)) else { return }
            let header = String(decoding: rest[rest.startIndex..<headerEnd.lowerBound], as: UTF8.self)
            guard let lengthLine = header.split(separator: "\r\n").first(where: { $0.hasPrefix("Content-Length:") }),
                  let length = Int(lengthLine.dropFirst("Content-Length:".count).trimmingCharacters(in: .whitespaces)) else { return }
            let bodyStart = headerEnd.upperBound
            guard data.endIndex - bodyStart >= length else { return }
            let body = data[bodyStart..<(bodyStart + length)]
            if let m = (try? JSONSerialization.jsonObject(with: body)) as? DAPMessage { messages.append(m); all.append(m) }
            consumed = bodyStart + length - data.startIndex
        }
    }

    /// Ends lldb-dap. Idempotent.
    func close() {
        guard !closed else { return }
        closed = true
        try? input.fileHandleForWriting.close()
        endProcess(process, grace: 3)
    }

    deinit { close() }
}
