/// Query packets: `qSupported`, `QStartNoAckMode`, `qXfer:features:read`, `qfThreadInfo`, `qsThreadInfo`, `qC`, `qAttached`, `qThreadExtraInfo`, `Qqemu.PhyMemMode`; routes `qRcmd` and LLDB's queries (LLDBPackets.swift).
import KVMDebugCore

extension GDBEngine {
    /// Answers the general queries and settings GDB sends while connecting. The packets are
    /// `qSupported`, `QStartNoAckMode`, `qXfer`, `qfThreadInfo`, `qsThreadInfo`, `qC`, `qAttached`,
    /// `qThreadExtraInfo`, `Qqemu.PhyMemMode`, `qRcmd`, and LLDB's (LLDBPackets.swift).
    func handleQuery(_ p: ArraySlice<UInt8>) {
        if handleLLDBQuery(p) { return }
        if handleQEMUQuery(p) { return }
        if hasPrefix(p, "qSupported") {
            // Acks stay as negotiated: lldb sends QStartNoAckMode first, and a `+` on every later
            // reply hung lldb-13. A new client on a serial line is seen in `handle` (a stray `+`).
            send("PacketSize=\(GDBHex.string(UInt64(GDBEngine.packetSize)));qXfer:features:read+;"
                 + (options.advertiseMemoryMap ? "qXfer:memory-map:read+;" : "") + "swbreak+;hwbreak+;"
                 + "vContSupported+;QStartNoAckMode+")
        } else if p.elementsEqual(Array("QStartNoAckMode".utf8)) {
            // The OK itself is still acknowledged; acks stop after it.
            sendOK()
            ackMode = false
            ackOfNoAckOKDue = true
        } else if hasPrefix(p, "qXfer:features:read:") {
            readFeatures(p.dropFirst(20))
        } else if hasPrefix(p, "qXfer:memory-map:read::") {
            readMemoryMap(p.dropFirst(23))
        } else if hasPrefix(p, "qSearch:memory:") {
            searchMemory(p.dropFirst(15))
        } else if p.elementsEqual(Array("qfThreadInfo".utf8)) {
            var s = "m"
            for v in 0..<target.vcpuCount { s += (v == 0 ? "" : ",") + threadID(v) }
            send(s)
        } else if p.elementsEqual(Array("qsThreadInfo".utf8)) {
            send("l")  // every thread fits in the first reply
        } else if p.elementsEqual(Array("qC".utf8)) {
            send("QC" + threadID(generalThread))
        } else if hasPrefix(p, "qAttached") {
            send("1")  // attached to an existing guest: quitting GDB detaches, it does not kill
        } else if hasPrefix(p, "qThreadExtraInfo,") {
            guard let t = parseThread(p.dropFirst(17)), case .vcpu(let v) = t else { sendErrno(1); return }
            sendPacket(GDBHex.encode(Array("vCPU \(v)".utf8)))
        } else if hasPrefix(p, "Qqemu.PhyMemMode:") {
            // QEMU's gdbstub extension (pwndbg sends it): 1 = memory packets take physical addresses.
            let v = p.dropFirst(17)
            if v.elementsEqual(Array("1".utf8)) { target.physicalMode = true; sendOK() }
            else if v.elementsEqual(Array("0".utf8)) { target.physicalMode = false; sendOK() }
            else { sendErrno(1) }
        } else if p.elementsEqual(Array("qqemu.PhyMemMode".utf8)) {
            send(target.physicalMode ? "1" : "0")
        } else if hasPrefix(p, "qRcmd,") {
            monitor(p.dropFirst(6))
        } else {
            sendEmpty()
        }
    }

    /// `target.xml:OFFSET,LENGTH` -> `m` + part (more follows) or `l` + last part, binary-escaped.
    private func readFeatures(_ s: ArraySlice<UInt8>) {
        guard let (annex, range) = splitOnce(s, UInt8(ascii: ":")) else { sendErrno(0); return }
        guard annex.elementsEqual(Array("target.xml".utf8)) else { sendErrno(0); return }
        guard let (o, l) = splitOnce(range, UInt8(ascii: ",")),
              let offset = GDBHex.number(o), let length = GDBHex.number(l) else { sendErrno(0); return }
        let xml = targetXML ?? Array(TargetDescription.xml(for: target.arch, avx: target.capabilities.x86AVX, sve: target.capabilities.arm64SVEQuadwords).utf8)
        targetXML = xml
        let start = Int(min(offset, UInt64(xml.count)))
        // Escapes can double a byte: keep the part well inside the packet size.
        let count = Int(min(length, UInt64(GDBEngine.packetSize / 2 - 8)))
        let end = min(xml.count, start + count)
        let last = end == xml.count
        sendPacket([last ? UInt8(ascii: "l") : UInt8(ascii: "m")] + Array(xml[start..<end]))
    }
}
