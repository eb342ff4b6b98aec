/// Memory packets: `m`, `M`, `X` (binary, `}`-escaped), through the general thread's translation.
import KVMDebugCore

extension GDBEngine {
    /// Reads or writes guest memory as the general thread sees it. The packets are `m`, `M`, `X`.
    func handleMemory(_ p: ArraySlice<UInt8>) {
        let kind = p.first
        let body = p.dropFirst()
        let header: ArraySlice<UInt8>
        var data: ArraySlice<UInt8> = []
        if kind == UInt8(ascii: "m") {
            header = body
        } else {
            guard let (h, d) = splitOnce(body, UInt8(ascii: ":")) else { sendErrno(1); return }
            header = h
            data = d
        }
        guard let (a, l) = splitOnce(header, UInt8(ascii: ",")),
              let address = GDBHex.number(a), let length = GDBHex.number(l) else { sendErrno(1); return }
        do throws(DebugError) {
            switch kind {
            case UInt8(ascii: "m"):
                // The reply must fit the packet size GDB was given: two hex digits per byte.
                let count = Int(min(length, UInt64(GDBEngine.packetSize / 2)))
                sendPacket(GDBHex.encode(try target.readMemory(address, count: count, vcpu: generalThread)))
            case UInt8(ascii: "M"):
                // Compared as UInt64: a length past Int.max (fuzzed) is a mismatch, not a trap.
                guard let bytes = GDBHex.decode(data), UInt64(bytes.count) == length else { sendErrno(1); return }
                try target.writeMemory(address, bytes, vcpu: generalThread)
                sendOK()
            default:
                let bytes = unescape(data)
                guard UInt64(bytes.count) == length else { sendErrno(1); return }
                // X with length 0 is GDB probing whether binary writes work.
                if !bytes.isEmpty { try target.writeMemory(address, bytes, vcpu: generalThread) }
                sendOK()
            }
        } catch {
            sendErrno(0x0E)  // EFAULT, as gdbserver answers an unreadable address
        }
    }
}
