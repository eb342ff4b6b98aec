import Foundation

/// Bytes a reader thread collects from a pipe, readable from the test thread at any time.
public final class PipeCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var closed = false
    public let pipe = Pipe()

    public init() {}

    /// Starts the reader thread (after the child got the write end).
    public func start() {
        let handle = pipe.fileHandleForReading
        let t = Thread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                lock.withLock { data.append(chunk) }
            }
            lock.withLock { closed = true }
        }
        t.start()
    }

    public var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }

    /// The raw bytes so far (DAP frames are byte-counted).
    public var bytes: Data { lock.withLock { data } }

    /// The lines ended by a newline so far (a line still being written is left out).
    public var completeLines: [String] {
        let t = text
        guard let last = t.lastIndex(of: "\n") else { return [] }
        return t[..<last].split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    public var isClosed: Bool { lock.withLock { closed } }

    /// Waits (bounded by `timeout`) until `predicate` holds for the text, or the pipe closed;
    /// returns the text when it holds, else nil.
    public func wait(timeout: Double, until predicate: (String) -> Bool) -> String? {
        waitUntil(seconds: timeout) { predicate(text) || isClosed }
        let t = text
        return predicate(t) ? t : nil
    }
}
