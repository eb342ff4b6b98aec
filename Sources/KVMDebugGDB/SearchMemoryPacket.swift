/// `qSearch:memory:ADDR;LEN;PATTERN`: gdb's `find` (and pwndbg's `search`) done in the server.
import KVMDebugCore

extension GDBEngine {
    /// The most bytes one `qSearch:memory` covers: the engine cannot be interrupted while it
    /// searches, so a search of the whole address space is refused instead of hanging.
    static var searchLimit: UInt64 { 1 << 30 }
    /// Bytes read per step of a search.
    static var searchChunk: Int { 64 * 1024 }

    /// Finds the first occurrence of PATTERN (binary, `}`-escaped as gdb sends it) in
    /// `[ADDR, ADDR+LEN)` as the general thread sees memory: `1,ADDR` found, `0` not found.
    /// Memory is read in 64 KiB chunks that overlap by the pattern's length less one, so a
    /// match across chunks is found; a range that stops being readable ends the search, at the
    /// first unreadable page, with an error naming the address, as gdb's own search does. Instead of gdb reading every byte
    /// through `m` packets (2 KiB each), one packet. The packet is `qSearch:memory`.
    func searchMemory(_ s: ArraySlice<UInt8>) {
        guard let (a, rest) = splitOnce(s, UInt8(ascii: ";")), let (l, raw) = splitOnce(rest, UInt8(ascii: ";")),
              let address = GDBHex.number(a), let length = GDBHex.number(l) else { sendErrno(1); return }
        let pattern = unescape(raw)
        guard !pattern.isEmpty else { sendErrno(1); return }
        if length > Self.searchLimit {
            sendError("a search of \(length) bytes exceeds kvmdbg's \(Self.searchLimit >> 20) MiB per request; search a smaller range")
            return
        }
        if UInt64(pattern.count) > length { send("0"); return }
        let end = address &+ length  // may wrap to 0 at the top of the address space
        var at = address
        var carry: [UInt8] = []  // the last pattern.count - 1 bytes of the previous chunk
        // After a chunk fails, pages one at a time: a match before the unreadable page still counts.
        var pageAtATime = false
        while at != end {
            let left = end &- at
            let toPage = 0x1000 - (at & 0xFFF)
            let n = Int(min(pageAtATime ? toPage : UInt64(Self.searchChunk), left))
            let bytes: [UInt8]
            do throws(DebugError) {
                bytes = try target.readMemory(at, count: n, vcpu: generalThread)
            } catch {
                if !pageAtATime && UInt64(n) > toPage { pageAtATime = true; continue }
                sendError("cannot read memory at \(hex(at)) (searched \(hex(address))..\(hex(at))): \(error.message)")
                return
            }
            let window = carry + bytes
            if let i = Self.firstIndex(of: pattern, in: window) {
                send("1," + GDBHex.string(at &- UInt64(carry.count) &+ UInt64(i)))
                return
            }
            carry = Array(window.suffix(pattern.count - 1))
            at &+= UInt64(n)
        }
        send("0")
    }

    /// The first index of `pattern` in `data`.
    static func firstIndex(of pattern: [UInt8], in data: [UInt8]) -> Int? {
        guard data.count >= pattern.count, let first = pattern.first else { return nil }
        var i = 0
        let last = data.count - pattern.count
        while i <= last {
            if data[i] == first {
                var j = 1
                while j < pattern.count && data[i + j] == pattern[j] { j += 1 }
                if j == pattern.count { return i }
            }
            i += 1
        }
        return nil
    }
}
