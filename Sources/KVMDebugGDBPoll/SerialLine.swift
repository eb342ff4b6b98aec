import CKVM
import KVMDebugCore

/// Opens a serial device for the GDB remote protocol: raw mode (no echo, no line editing, 8-bit
/// bytes) and CLOCAL, so every packet byte passes as it is. The speed is left alone: an emulated UART
/// (QEMU's 16550 behind a host socket) does not pace its bytes by it.
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
            if tcsetattr(fd, TCSANOW, &t) != 0 { throw .system(call: "tcsetattr(\(path))", errno: ckvm_errno()) }
        }
        return fd
    }
}
