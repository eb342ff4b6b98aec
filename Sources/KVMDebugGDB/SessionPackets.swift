/// Session packets: `D` (detach), `k` (kill), `vKill`.
import KVMDebugCore

extension GDBEngine {
    /// Detaches (points removed, guest runs free) or kills. The packets are `D`, `k`.
    func handleSession(_ p: ArraySlice<UInt8>) {
        if p.first == UInt8(ascii: "D") {
            detach()
        } else {
            // `k` has no reply: GDB closes the connection.
            out.append(.kill)
        }
    }

    /// Removes every point so the guest runs undisturbed, says OK, and asks the driver to let it run.
    func detach() {
        target.removeAllPoints()
        points = []
        exceptionCatch = nil  // its breakpoints went with every other point
        pendingStops = []
        sendOK()
        out.append(.detach)
    }

    /// `vKill;pid`: like `k`, but GDB waits for an OK first.
    func kill() {
        sendOK()
        out.append(.kill)
    }
}
