// CPosix: the libc the session layer uses (pthreads, CLOCK_MONOTONIC, and the open/write/
// fsync/rename/unlink that write a core file), the GDB poll driver uses (poll(2) on its line
// and wake-up pipe, raw-mode termios for a serial device) and the GDB engine's packet decoder
// uses (memchr), as one header Swift can import in
// the full and the Embedded build alike (Embedded Swift has no Glibc module). Nothing here talks to KVM:
// that is CKVM's. Wrappers only for what Swift cannot import by itself (a macro, a variadic
// call, raw syscalls whose libc wrappers need _GNU_SOURCE, which the libc module was not built
// with); no logic beyond a CPU bitmask.
#ifndef CPOSIX_H
#define CPOSIX_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/// errno is a macro over a thread-local; Swift cannot read it directly.
static inline int cposix_errno(void) { return errno; }
/// open(2) with a mode (O_CREAT): variadic in C, which Swift cannot call.
static inline int cposix_open_mode(const char *path, int flags, unsigned mode) { return open(path, flags, mode); }

/// CPU masks of up to 1024 CPUs (glibc's CPU_SETSIZE), as the affinity syscalls take them.
#define CPOSIX_CPU_WORDS (1024 / (8 * sizeof(unsigned long)))

/// sched_setaffinity(0, ...): restricts the calling thread to host CPU `cpu`. 0 or an errno.
static inline int cposix_pin_self(int cpu) {
    unsigned long mask[CPOSIX_CPU_WORDS] = {0};
    if (cpu < 0 || cpu >= 1024) return EINVAL;
    mask[cpu / (8 * sizeof(unsigned long))] = 1UL << (cpu % (8 * sizeof(unsigned long)));
    return syscall(SYS_sched_setaffinity, 0, sizeof mask, mask) == 0 ? 0 : errno;
}
/// sched_getaffinity(0, ...): writes the CPUs the calling thread may run on to `out` (at most
/// `capacity`, ascending) with one syscall; returns how many, or -1 on error.
static inline int cposix_allowed_cpus(int *out, int capacity) {
    unsigned long mask[CPOSIX_CPU_WORDS] = {0};
    const int bits = 8 * (int)sizeof(unsigned long);
    int n = 0;
    if (syscall(SYS_sched_getaffinity, 0, sizeof mask, mask) < 0) return -1;
    for (int cpu = 0; cpu < 1024 && n < capacity; cpu++)
        if ((mask[cpu / bits] >> (cpu % bits)) & 1) out[n++] = cpu;
    return n;
}
/// prctl(PR_SET_NAME): names the calling thread (15 bytes kept), as ps/top/gdb show it. 0 or an errno.
static inline int cposix_name_self(const char *name) { return prctl(PR_SET_NAME, name, 0, 0, 0) == 0 ? 0 : errno; }
/// getcpu(2): the host CPU the calling thread runs on now, or -1.
static inline int cposix_current_cpu(void) {
    unsigned cpu = 0;
    return syscall(SYS_getcpu, &cpu, (void *)0, (void *)0) == 0 ? (int)cpu : -1;
}

#endif
