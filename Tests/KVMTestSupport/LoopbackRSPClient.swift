import Foundation
import KVMDebugGDB

/// A blocking client of a GDB server on 127.0.0.1:PORT speaking raw packets (5 s read timeout):
/// what the server tests use when a real debugger would hide the bytes.
public final class LoopbackRSPClient {
    public let fd: Int32

    /// Connects, or nil when nothing accepts on `port`.
    public init?(port: UInt16) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if r != 0 { return nil }  // deinit closes fd: it runs for a failed init too
    }

    deinit { close(fd) }

    /// Sends `$payload#checksum`.
    public func send(_ payload: String) {
        let b = framePacket(Array(payload.utf8))
        _ = b.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// Reads until a whole packet arrived; returns everything read (acks included), or what
    /// came before the read timeout or hang-up.
    public func readPacket() -> String {
        var got: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            if let h = got.firstIndex(of: UInt8(ascii: "#")), got.count >= h + 3 { break }
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            got += buf[0..<n]
        }
        return String(decoding: got, as: UTF8.self)
    }
}
