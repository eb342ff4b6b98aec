import CKVM
import KVMDebugCore

/// Opens a serial device for the GDB remote protocol: raw mode (no echo, no line editing, 8-bit
/// bytes), CLOCAL, and 115200 baud, so every packet byte passes as it is. The one opener of both
/// GDB drivers (the threaded server's `SerialListener` and the poll driver).
public enum SerialLine {
    /// The open fd (O_RDWR | O_NOCTTY | O_CLOEXEC); a device that is not a tty is used as is.
    public static func open(_ path: String) throws(DebugError) -> Int32 {
        let fd = path.withCString { ckvm_open($0, O_RDWR | O_NOCTTY | O_CLOEXEC) }
        if fd < 0 { throw .system(call: "open(\(path))", errno: ckvm_errno()) }
        var t = termios()
        if tcgetattr(fd, &t) == 0 {
            cfmakeraw(&t)
            // No modem control: an emulated UART's DCD must not decide whether bytes flow.
            t.c_cflag |= tcflag_t(CLOCAL)
            // gdb's default `set serial baud`; an emulated UART (QEMU's 16550 behind a host socket)
            // ignores it, a real line needs both ends to agree.
            cfsetispeed(&t, speed_t(B115200))
            cfsetospeed(&t, speed_t(B115200))
            if tcsetattr(fd, TCSANOW, &t) != 0 { throw .system(call: "tcsetattr(\(path))", errno: ckvm_errno()) }
        }
        return fd
    }
}
