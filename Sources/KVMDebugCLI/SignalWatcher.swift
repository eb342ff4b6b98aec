import CPosix
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
    ///
    /// A signal inherited as ignored (a shell's background job, some test runners) is
    /// discarded when sent, so sigwait would never see it: each gets a no-op handler first.
    public init(_ signals: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        for s in signals {
            sigaddset(&set, s)
            var sa = sigaction()
            sa.__sigaction_handler.sa_handler = { _ in }
            sigemptyset(&sa.sa_mask)
            sigaction(s, &sa, nil)
        }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let watched = set
        thread = Thread {
            // Named from inside: Foundation drops a name set before start() on Linux.
            _ = cposix_name_self("kvmdbg-signals")
            var wait = watched
            while true {
                var sig: Int32 = 0
                if sigwait(&wait, &sig) == 0 { handler(sig) }
            }
        }
        thread.stackSize = 1 << 18
        thread.start()
    }
}

/// Holds a signal that arrived before there was anything to interrupt, and passes it on
/// once there is: a command installs its `SignalWatcher` first thing, so the window in
/// which a Ctrl-C is lost is as short as it can be.
public final class InterruptLatch: @unchecked Sendable {
    private let lock = NSLock()
    private var fired = false
    private var action: (@Sendable () -> Void)?

    public init() {}

    /// A signal arrived: run the action, or remember it until there is one.
    public func fire() {
        let a: (@Sendable () -> Void)? = lock.withLock {
            fired = true
            return action
        }
        a?()
    }

    /// What a signal does from now on; runs it at once if one already arrived.
    public func attach(_ a: @escaping @Sendable () -> Void) {
        let already: Bool = lock.withLock {
            action = a
            return fired
        }
        if already { a() }
    }
}
