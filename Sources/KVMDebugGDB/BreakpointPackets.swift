/// Breakpoint packets: `Z0`-`Z4` insert, `z0`-`z4` remove (software, hardware, write, read, access).
import KVMDebugCore

extension GDBEngine {
    /// Inserts or removes one point on every vCPU. The packets are `Z0`-`Z4`, `z0`-`z4`.
    ///
    /// Per-vCPU points come from `monitor break/watch ... vcpu N`; `Z` is GDB's global view.
    func handleBreakpoints(_ p: ArraySlice<UInt8>) {
        let inserting = p.first == UInt8(ascii: "Z")
        // Z type,addr,kind[;cond...]: conditions are GDB's business, we evaluate none.
        var body = p.dropFirst()
        if let (b, _) = splitOnce(body, UInt8(ascii: ";")) { body = b }
        let fields = body.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
        guard fields.count == 3, fields[0].count == 1, let t = GDBHex.nibble(fields[0].first!), t <= 4,
              let address = GDBHex.number(fields[1]), let kind = GDBHex.number(fields[2]) else {
            sendErrno(1)
            return
        }
        let key = ZKey(type: t, address: address, kind: kind)
        if inserting { insertZ(key) } else { removeZ(key) }
    }

    /// The breakpoint kind GDB gives with Z0/Z1: the instruction length it would patch.
    var breakpointKind: UInt64 { target.arch == .x86_64 ? 1 : 4 }

    private func insertZ(_ key: ZKey) {
        if let i = points.firstIndex(where: { $0.z == key }) {
            points[i].count += 1
            sendOK()
            return
        }
        let point: DebugPoint
        switch key.type {
        case 0, 1:
            guard key.kind == breakpointKind else {
                sendError("breakpoint kind \(key.kind) is not \(breakpointKind) (the \(target.arch.name) breakpoint size)")
                return
            }
            // Where int3/brk does not trap (PVM), a software breakpoint takes a hardware slot;
            // with none free the E reply keeps GDB from patching int3 itself (which would hang).
            point = key.type == 0 && options.softwareBreakpointsTrap
                ? .software(address: key.address) : .hardware(address: key.address)
        default:
            guard key.kind > 0 else { sendError("watch length 0"); return }
            let kind: WatchKind = key.type == 2 ? .write : key.type == 3 ? .read : .access
            point = .watch(address: key.address, length: key.kind, kind: kind)
        }
        do throws(DebugError) {
            try target.insert(point, on: .all)
        } catch {
            let message = key.type == 0 && !options.softwareBreakpointsTrap
                ? "software breakpoints do not trap on this host and no hardware slot is free: " + error.message
                : error.message
            // lldb shows the E reply's text; gdb 13 shows only "Cannot insert breakpoint N", so the
            // reason also goes out as console text before the next resume's stop reply.
            if case .noFreeSlot = error { notices.append("kvmdbg: \(describe(point)) not inserted: " + message) }
            sendError(message)
            return
        }
        points.append(PointRecord(id: nextPointID, point: point, target: .all, z: key, count: 1))
        nextPointID += 1
        pointChange = true
        sendOK()
    }

    private func removeZ(_ key: ZKey) {
        guard let i = points.firstIndex(where: { $0.z == key }) else {
            sendError("no such point inserted by Z\(key.type) at \(hex(key.address))")
            return
        }
        if points[i].count > 1 {
            points[i].count -= 1
            sendOK()
            return
        }
        do throws(DebugError) {
            try target.remove(points[i].point, from: points[i].target)
        } catch {
            sendError(error)
            return
        }
        points.remove(at: i)
        pointChange = false
        sendOK()
    }
}
