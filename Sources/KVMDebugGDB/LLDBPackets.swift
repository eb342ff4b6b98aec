/// LLDB's extensions: `qHostInfo`, `qProcessInfo`, `QThreadSuffixSupported`, `QListThreadsInStopReply`, `QEnableErrorStrings`, `qThreadStopInfo`, `qWatchpointSupportInfo`, `qMemoryRegionInfo`; refuses `qVAttachOrWaitSupported`; routes `qRegisterInfo`.
import KVMDebugCore

extension GDBEngine {
    /// Answers the LLDB packet `p` and returns true, or returns false when `p` is not one of LLDB's
    /// (the caller then answers it). The packets are `qHostInfo`, `qProcessInfo`, `qRegisterInfo`,
    /// `QThreadSuffixSupported`, `QListThreadsInStopReply`, `QEnableErrorStrings`,
    /// `qVAttachOrWaitSupported`, `qThreadStopInfo`, `qWatchpointSupportInfo`, `qMemoryRegionInfo`.
    func handleLLDBQuery(_ p: ArraySlice<UInt8>) -> Bool {
        if p.elementsEqual(Array("qHostInfo".utf8)) {
            send(machineInfo() + "watchpoint_exceptions_received:\(target.arch == .x86_64 ? "after" : "before");")
        } else if p.elementsEqual(Array("qProcessInfo".utf8)) {
            // The guest is "process 1"; there is no host process behind it to name.
            send("pid:1;" + machineInfo())
        } else if hasPrefix(p, "qRegisterInfo") {
            registerInfo(p.dropFirst(13))
        } else if p.elementsEqual(Array("QThreadSuffixSupported".utf8)) {
            // g/G/p/P then carry `;thread:N;` (RegisterPackets.swift reads it), saving an Hg each.
            sendOK()
        } else if p.elementsEqual(Array("QListThreadsInStopReply".utf8)) {
            threadsInStopReply = true
            sendOK()
        } else if p.elementsEqual(Array("QEnableErrorStrings".utf8)) {
            // LLDB does not parse GDB's `E.text`; with this it gets `Exx;HEXTEXT` instead.
            errorStrings = true
            sendOK()
        } else if p.elementsEqual(Array("qVAttachOrWaitSupported".utf8)) {
            // The guest is attached already; there is nothing to wait for. Empty = unsupported.
            sendEmpty()
        } else if hasPrefix(p, "qThreadStopInfo") {
            threadStopInfo(p.dropFirst(15))
        } else if p.elementsEqual(Array("qWatchpointSupportInfo:".utf8)) || p.elementsEqual(Array("qWatchpointSupportInfo".utf8)) {
            send("num:\(target.capabilities.slots.watchpoints);")
        } else if hasPrefix(p, "qMemoryRegionInfo:") {
            memoryRegionInfo(p.dropFirst(18))
        } else {
            return false
        }
        return true
    }

    /// `triple:HEX;endian:little;ptrsize:8;`: a bare-metal guest, no OS for LLDB to assume.
    private func machineInfo() -> String {
        let triple = target.arch == .x86_64 ? "x86_64-unknown-none" : "aarch64-unknown-none"
        return "triple:" + String(decoding: GDBHex.encode(Array(triple.utf8)), as: UTF8.self) + ";endian:little;ptrsize:8;"
    }

    /// The last stop reply for the thread that stopped, `T00` (no signal) with its registers for the others.
    private func threadStopInfo(_ id: ArraySlice<UInt8>) {
        guard let t = parseThread(id), case .vcpu(let v) = t else { sendErrno(1); return }
        if v == lastStopVCPU { sendPacket(lastStopReply); return }
        sendPacket(Array("T00thread:\(threadID(v));".utf8) + expedited(v) + threadList())
    }

    /// The run of pages around ADDR that are all readable (`rwx`: guest RAM) or all unreadable
    /// (no permissions: unmapped, where LLDB may place expression memory). Extents are found by
    /// probing one byte per page, doubling then bisecting, so a reply costs ~2 log2(size) reads;
    /// a hole or island narrower than the doubling step can be missed. The packet is `qMemoryRegionInfo`.
    private func memoryRegionInfo(_ address: ArraySlice<UInt8>) {
        guard let a = GDBHex.number(address) else { sendErrno(1); return }
        let page: UInt64 = 0x1000
        let start = a & ~(page - 1)
        func readable(_ at: UInt64) -> Bool { (try? target.readMemory(at, count: 1, vcpu: generalThread)) != nil }
        let kind = readable(start)
        // [start, start + alike) is known alike; start + differs is not. Double, then bisect.
        let limit: UInt64 = 1 << 48
        var alike = page
        var differs: UInt64? = nil
        if start >= limit { differs = page }  // above the canonical half: one page at a time
        while differs == nil, alike < limit - start {
            if readable(start + alike) == kind { alike *= 2 } else { differs = alike }
        }
        var end = limit
        if var hi = differs {
            var lo = hi == page ? page : hi / 2
            while hi - lo > page {
                let mid = lo + ((hi - lo) / 2) & ~(page - 1)
                if readable(start + mid) == kind { lo = mid } else { hi = mid }
            }
            end = start + hi
        }
        send("start:\(GDBHex.string(start));size:\(GDBHex.string(end - start));" + (kind ? "permissions:rwx;" : ""))
    }

    /// `threads:1,2;thread-pcs:PC1,PC2;` once LLDB asked for it (`QListThreadsInStopReply`), else nothing.
    func threadList() -> [UInt8] {
        guard threadsInStopReply else { return [] }
        var ids = "threads:", pcs = "thread-pcs:"
        for v in 0..<target.vcpuCount {
            let pc = (try? target.registers(vcpu: v))?.pc ?? 0
            ids += (v == 0 ? "" : ",") + threadID(v)
            pcs += (v == 0 ? "" : ",") + GDBHex.string(pc)
        }
        return Array((ids + ";" + pcs + ";").utf8)
    }
}
