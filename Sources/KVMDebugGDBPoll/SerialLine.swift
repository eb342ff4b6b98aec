import CPosix
import KVMDebugCore

/// Opens a serial device for the GDB remote protocol: raw mode (no echo, no line editing, 8-bit
/// bytes), CLOCAL, and 115200 baud, so every packet byte passes as it is; input received before
/// that is discarded. A server says it is ready only after this returns. The one opener of both
/// GDB drivers (the threaded driver's `SerialListener` and the poll driver).
public enum SerialLine {
    /// The open fd (O_RDWR | O_NOCTTY | O_CLOEXEC). Throws, with no fd left open, when the device
    /// does not open, is not a terminal, or refuses the settings.
    public static func open(_ path: String) throws(DebugError) -> Int32 {
        let fd = path.withCString { cposix_open_mode($0, O_RDWR | O_NOCTTY | O_CLOEXEC, 0) }
        if fd < 0 { throw .system(call: "open(\(path))", errno: cposix_errno()) }
        do throws(DebugError) {
            try configure(fd, path)
        } catch {
            _ = close(fd)
            throw error
        }
        return fd
    }

    private static func configure(_ fd: Int32, _ path: String) throws(DebugError) {
        var t = termios()
        if tcgetattr(fd, &t) != 0 {
            let e = cposix_errno()
            if e == ENOTTY {
                throw .unsupported(reason: "\(path) is not a serial line (not a terminal): give a tty such as /dev/ttyS1, or HOST:PORT or unix:PATH for a socket")
            }
            throw .system(call: "tcgetattr(\(path))", errno: e)
        }
        cfmakeraw(&t)
        // No modem control: an emulated UART's DCD must not decide whether bytes flow.
        t.c_cflag |= tcflag_t(CLOCAL)
        // gdb's default `set serial baud`; an emulated UART (QEMU's 16550 behind a host socket)
        // ignores it, a real line needs both ends to agree.
        if cfsetispeed(&t, speed_t(B115200)) != 0 || cfsetospeed(&t, speed_t(B115200)) != 0 {
            throw .system(call: "cfsetspeed(\(path), 115200)", errno: cposix_errno())
        }
        if tcsetattr(fd, TCSANOW, &t) != 0 { throw .system(call: "tcsetattr(\(path))", errno: cposix_errno()) }
        // Bytes that arrived before the line was raw went through the default line discipline
        // (echoed back, lines edited): drop them, the client resends what gets no `+`.
        if tcflush(fd, TCIFLUSH) != 0 { throw .system(call: "tcflush(\(path))", errno: cposix_errno()) }
    }
}
