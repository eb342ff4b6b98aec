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

#if defined(__aarch64__)
/* arm64 (link-arm64.ld): kvmdbg starts EL1 with the MMU off and no stack, so _start points SP at
 * the linker script's __stack_top first; CFI marks it the outermost frame (x30 undefined). */
__asm__(
    ".section .text.start, \"ax\"\n"
    ".globl _start\n"
    ".type _start, %function\n"
    "_start:\n"
    ".cfi_startproc\n"
    ".cfi_undefined x30\n"
    "    adrp x0, __stack_top\n"
    "    add x0, x0, :lo12:__stack_top\n"
    "    mov sp, x0\n"
    "    mov x29, #0\n"
    "    bl kmain\n"
    "1:  b 1b\n"
    ".cfi_endproc\n"
    ".size _start, . - _start\n"
    ".text\n");
#else
/* The entry point: a stack is already set up by kvmdbg; CFI marks it the outermost frame. */
__asm__(
    ".section .text.start, \"ax\"\n"
    ".globl _start\n"
    ".type _start, @function\n"
    "_start:\n"
    ".cfi_startproc\n"
    ".cfi_undefined rip\n"
    "    xorl %ebp, %ebp\n"
    "    call kmain\n"
    "1:  jmp 1b\n"
    ".cfi_endproc\n"
    ".size _start, . - _start\n"
    ".text\n");
#endif
