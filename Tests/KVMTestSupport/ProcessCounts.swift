#if canImport(Glibc)
import Glibc
#endif

/// How much this process holds: open fds, threads, memory mappings (/proc/self/{fd,task,maps}).
public struct ProcessCounts: Equatable, CustomStringConvertible, Sendable {
    public var fds: Int
    public var threads: Int
    public var mappings: Int

    /// Counts them now.
    public static func take() -> ProcessCounts {
        ProcessCounts(fds: entries("/proc/self/fd"), threads: entries("/proc/self/task"), mappings: mapsLines())
    }

    /// True when no count grew by more than `slack` since `before` (tests in other suites run
    /// meanwhile and hold a few; a per-cycle leak over hundreds of cycles grows far more).
    public func grewAtMost(_ slack: Int, since before: ProcessCounts) -> Bool {
        fds - before.fds <= slack && threads - before.threads <= slack && mappings - before.mappings <= slack
    }

    /// The counts once they have grown at most `slack` since `before`, or after `seconds` if
    /// they never do: joined threads and closed sockets leave /proc a moment after the join or
    /// close returns, so a check waits for that instead of sleeping a fixed time.
    public static func settled(within slack: Int, since before: ProcessCounts, seconds: Double = 10) -> ProcessCounts {
        var now = take()
        waitUntil(seconds: seconds) { now = take(); return now.grewAtMost(slack, since: before) }
        return now
    }

    public var description: String { "fds \(fds), threads \(threads), mappings \(mappings)" }

    private static func entries(_ dir: String) -> Int {
        guard let d = opendir(dir) else { return -1 }
        defer { closedir(d) }
        var n = 0
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { n += 1 }
        }
        return n - (dir.hasSuffix("/fd") ? 1 : 0)  // the directory's own fd
    }

    private static func mapsLines() -> Int {
        let fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return -1 }
        defer { close(fd) }
        var lines = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            for b in buffer[0..<n] where b == 0x0A { lines += 1 }
        }
        return lines
    }
}
