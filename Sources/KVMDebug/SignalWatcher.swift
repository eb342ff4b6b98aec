import Foundation

/// Delivers SIGINT/SIGTERM (or any signals) to a handler on a thread of its own, by
/// `sigwait(3)`: no Dispatch source (libdispatch traps when it cannot get its epoll fd,
/// and a debugger near the fd limit must still end with a message, not a crash).
///
/// Create it before any other thread of the command starts, so every thread inherits
/// the blocked mask and the signals reach only the watcher.
public final class SignalWatcher: @unchecked Sendable {
    private let thread: Thread

    /// Blocks `signals` in the calling thread and starts the watcher; `handler` runs on
    /// the watcher thread once per signal received.
    public init(_ signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let watched = set
        thread = Thread {
            var wait = watched
            while true {
                var sig: Int32 = 0
                if sigwait(&wait, &sig) == 0 { handler(sig) }
            }
        }
        thread.name = "kvmdbg-signals"
        thread.stackSize = 1 << 18
        thread.start()
    }
}
