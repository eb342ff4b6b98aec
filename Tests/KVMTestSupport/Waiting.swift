// The one way a test waits: for an event, polled, under a ceiling no loaded host reaches.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Polls `condition` every millisecond until it holds or `seconds` pass; returns whether it
/// held (checked once more at the deadline, so a late event still counts).
@discardableResult
public func waitUntil(seconds: Double = 60, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(1_000)
    }
    return try condition()
}

/// Names the calling thread (at most 15 bytes: the kernel's comm) for `threadIsBlocked`, by
/// writing its /proc comm (pthread_setname_np is not imported without _GNU_SOURCE). Not
/// Foundation's `Thread.name`: on Linux its setter does nothing while the `Thread` has no
/// pthread handle yet, which is so when the new thread runs before `start()` has stored what
/// pthread_create returned, and the thread keeps its creator's name.
public func nameCurrentThread(_ name: String) {
    precondition(!name.isEmpty && name.utf8.count <= 15, "a thread name has 1 to 15 bytes: \(name.debugDescription)")
    let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
    precondition(fd >= 0, "open /proc/thread-self/comm: errno \(errno)")
    defer { close(fd) }
    let n = name.withCString { write(fd, $0, name.utf8.count) }
    precondition(n == name.utf8.count, "naming the thread \(name.debugDescription): errno \(errno)")
}

/// True when a thread of this process named `name` (`nameCurrentThread`) sleeps in the
/// kernel (state S in /proc/self/task/TID/stat): e.g. a reader has reached its blocking read.
public func threadIsBlocked(named name: String) -> Bool {
    guard let tids = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return false }
    for tid in tids {
        let dir = "/proc/self/task/\(tid)"
        guard (try? String(contentsOfFile: "\(dir)/comm", encoding: .utf8))?.trimmingCharacters(in: .newlines) == name,
              let stat = try? String(contentsOfFile: "\(dir)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        // The state follows the command name, which is in parentheses and may hold spaces.
        return stat[stat.index(after: close)...].split(separator: " ").first == "S"
    }
    return false
}
