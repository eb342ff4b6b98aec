/* A freestanding program for the gdb source-level tests (Tests/KVMDebugTests/GDBClientTests.swift).
 * kvmdbg loads it with `--image prog.elf` in x86_64 long mode (arm64: see the _start block at the end): the first GiB is identity mapped and
 * RSP starts at the long-mode tables' base (top of RAM), so _start only clears RBP and calls kmain.
 * The tests find lines by the @markers below; keep one marker per line. No libc, no red zone. */

long total;       /* a global the loop adds to */
long iterations;  /* a global the loop counts in */

long square(long x)
{
    long r = x * x;          /* @square-body */
    return r;                /* @square-return */
}

void kmain(void)
{
    long i;
    for (i = 1; i <= 5; i++) {
        total += square(i);  /* @call */
        iterations = i;      /* @after-call */
    }
    for (;;) {               /* the guest stays here: no hlt, the session keeps running */
        iterations++;        /* @spin */
    }
}

#include "start.h"
