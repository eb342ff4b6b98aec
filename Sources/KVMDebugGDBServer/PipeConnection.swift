import Foundation

/// An in-memory byte pipe between a test (the "client") and the driver: no sockets needed.
public final class PipeConnection: GDBConnection, @unchecked Sendable {
    private let inbox: ByteQueue
    private let outbox: ByteQueue

    private init(inbox: ByteQueue, outbox: ByteQueue) {
        self.inbox = inbox
        self.outbox = outbox
    }

    /// Two connected ends: what one writes the other reads.
    public static func pair() -> (client: PipeConnection, server: PipeConnection) {
        let a = ByteQueue(), b = ByteQueue()
        return (PipeConnection(inbox: a, outbox: b), PipeConnection(inbox: b, outbox: a))
    }

    public func read() -> [UInt8]? { inbox.take() }
    @discardableResult public func write(_ bytes: [UInt8]) -> Bool { outbox.put(bytes) }
    public func close() { inbox.close(); outbox.close() }

    /// Reads until `predicate` holds on everything read so far, or `timeout` passes; returns what was read.
    public func read(until predicate: ([UInt8]) -> Bool, timeout: Double = 5) -> [UInt8] {
        var got: [UInt8] = []
        let deadline = Date().addingTimeInterval(timeout)
        while !predicate(got) {
            guard let b = inbox.take(deadline: deadline) else { break }
            got += b
        }
        return got
    }
}

/// A listener tests hand connections to.
public final class PipeListener: GDBListener, @unchecked Sendable {
    public let address = "pipe"
    private let cond = NSCondition()
    private var queue: [PipeConnection] = []
    private var closed = false

    public init() {}

    /// A new client: returns its end; the server end is handed to the next `accept`.
    public func connect() -> PipeConnection {
        let (client, server) = PipeConnection.pair()
        cond.lock()
        queue.append(server)
        cond.signal()
        cond.unlock()
        return client
    }

    public func accept() -> GDBConnection? {
        cond.lock()
        defer { cond.unlock() }
        while queue.isEmpty && !closed { cond.wait() }
        if queue.isEmpty { return nil }
        return queue.removeFirst()
    }

    public func close() {
        cond.lock()
        closed = true
        cond.broadcast()
        cond.unlock()
    }
}

/// A blocking queue of byte chunks with end-of-stream.
final class ByteQueue: @unchecked Sendable {
    private let cond = NSCondition()
    private var chunks: [[UInt8]] = []
    private var closed = false

    func put(_ b: [UInt8]) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        if closed { return false }
        chunks.append(b)
        cond.signal()
        return true
    }

    /// The next chunk; nil at end of stream or at `deadline` (nil: wait for ever).
    func take(deadline: Date? = nil) -> [UInt8]? {
        cond.lock()
        defer { cond.unlock() }
        while chunks.isEmpty && !closed {
            // NSCondition.wait(until: .distantFuture) traps on Linux: wait unbounded instead.
            if let d = deadline { if !cond.wait(until: d) { return nil } } else { cond.wait() }
        }
        if chunks.isEmpty { return nil }
        return chunks.removeFirst()
    }

    func close() {
        cond.lock()
        closed = true
        cond.broadcast()
        cond.unlock()
    }
}
