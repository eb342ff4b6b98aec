// CPoll: the libc the GDB poll driver (Sources/KVMDebugGDBPoll) and the arm64 GDB lane need,
// for builds that cannot import Glibc (Embedded Swift for aarch64-none-none-elf): poll(2) on
// the line and a wake-up pipe, raw-mode termios for a serial device, read/write/close.
// Kept apart from CKVM, which holds only what talks to KVM. Names are prefixed cpoll_.
#ifndef CPOLL_H
#define CPOLL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

/// errno is a macro over a thread-local; Swift cannot read it directly.
static inline int cpoll_errno(void) { return errno; }
/// open(2): a variadic C function, which Swift cannot call.
static inline int cpoll_open(const char *path, int flags) { return open(path, flags); }

#endif
