/// `monitor dump-guest-memory [-p] FILE`: an ELF64 core of the stopped guest, which `gdb -c FILE` reads.
import KVMDebugCore

extension GDBEngine {
    /// Writes the core (`DebugSession.writeCore`): the vCPU of the last stop first, with that stop's
    /// signal (a fatal exit's, SIGTRAP for a debug stop, SIGINT after a ^C). `-p` is QEMU's flag for
    /// virtual segments, which kvmdbg writes whenever it can enumerate the guest's page tables, so it
    /// changes nothing. The packet is `qRcmd`.
    func monitorDumpGuestMemory(_ w: [String], _ lines: inout [String]) -> MonitorResult {
        var args = Array(w.dropFirst())
        if args.first == "-p" { args.removeFirst() }
        guard !args.isEmpty, !args[0].hasPrefix("-") else { return .error("usage: monitor dump-guest-memory [-p] FILE") }
        let file = args.joined(separator: " ")
        var path = file
        if let dir = options.coreDirectory {
            guard !file.contains("/"), file != ".", file != ".." else {
                return .error("no core written: this server writes cores only into its --core-dir \(dir); give a file name without '/' (got '\(file)')")
            }
            path = dir.hasSuffix("/") ? dir + file : dir + "/" + file
        }
        path = options.corePath(path)
        let vcpu = lastEvent?.vcpu ?? generalThread
        let signal: UInt8
        switch lastEvent?.event {
        case .exit(let x)?: signal = x.signal?.rawValue ?? 5
        case .stop?: signal = 5
        case .kicked?, nil: signal = 2  // an interrupt (^C); a kick is never a round's event
        }
        do throws(DebugError) {
            lines += try target.writeCore(to: path, current: vcpu, signal: signal).lines
        } catch {
            return .error("no core written: " + error.message)
        }
        return .ok
    }
}
