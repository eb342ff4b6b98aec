import Foundation
import Glibc
import Testing
import KVMTestSupport

/// `nameCurrentThread`, which `threadIsBlocked` finds threads by (SerialLineTests' old reader):
/// a thread that names itself first thing carries the name at once. Foundation's `Thread.name`
/// setter drops it when the thread runs before `start()` has stored its pthread handle, which
/// made the reopen test miss its blocked reader about 1 run in 3 beside other suites.
@Suite struct ThreadNamingTests {
    @Test func aThreadNamedFirstThingCarriesItsNameAtOnce() {
        let rounds = 1000
        let names = Names()
        let done = DispatchSemaphore(value: 0)
        for i in 0..<rounds {
            Thread {
                let name = "named-\(i)"
                nameCurrentThread(name)
                let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "<unreadable>"
                names.add(comm == name + "\n" ? nil : "\(name): comm \(comm.debugDescription)")
                done.signal()
            }.start()
        }
        for _ in 0..<rounds { #expect(done.wait(timeout: .now() + 60) == .success) }
        #expect(names.wrong.isEmpty, "\(names.wrong.count) of \(rounds) threads kept another name: \(names.wrong.prefix(3))")
    }
}

/// The threads whose comm was not the name they set.
private final class Names: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func add(_ s: String?) { if let s { lock.withLock { list.append(s) } } }
    var wrong: [String] { lock.withLock { list } }
}
