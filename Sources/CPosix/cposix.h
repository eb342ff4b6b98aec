// CPosix: the libc the session layer uses (pthreads, CLOCK_MONOTONIC, and the open/write/
// fsync/rename/unlink that write a core file) and the GDB poll driver uses (poll(2) on its line
// and wake-up pipe, raw-mode termios for a serial device), as one header Swift can import in
// the full and the Embedded build alike (Embedded Swift has no Glibc module). Nothing here talks to KVM:
// that is CKVM's. Two wrappers, for what Swift cannot import by itself; no logic.
#ifndef CPOSIX_H
#define CPOSIX_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/// errno is a macro over a thread-local; Swift cannot read it directly.
static inline int cposix_errno(void) { return errno; }
/// open(2) with a mode (O_CREAT): variadic in C, which Swift cannot call.
static inline int cposix_open_mode(const char *path, int flags, unsigned mode) { return open(path, flags, mode); }

#endif
