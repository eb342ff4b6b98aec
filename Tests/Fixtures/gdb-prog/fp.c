/* A freestanding program that keeps live data in FP/SIMD registers, for the register tests
 * (Tests/KVMDebugTests/FPRegisterClientTests.swift). Built by the same recipe as prog.c
 * (`build x86_64|arm64 OUT fp`), without -mgeneral-regs-only: `double` arithmetic is SSE2 on
 * x86_64 and FP/SIMD on arm64. The tests find lines by the @markers; keep one per line. */

double d;                 /* the running result gdb prints at source level */
unsigned long seen[2];    /* xmm1 / v1 as the guest last read them */
long rounds;              /* counts the first loop */
volatile long go;         /* set by the debugger to leave the first loop */

double scale(double x, long n)
{
    double r = x * 1.5 + (double)n;  /* @scale-body */
    return r;
}

void kmain(void)
{
    long i;
    /* First the guest copies what the debugger wrote into xmm1 / v1 to memory, until told to go
     * on (a store that x86 KVM's instruction emulator handles too: kvm_pvm emulates CPL0 code). */
    while (!go) {
#if defined(__aarch64__)
        __asm__ volatile("str q1, %0" : "=m"(seen));
#else
        __asm__ volatile("movdqu %%xmm1, %0" : "=m"(seen));
#endif
        rounds++;                    /* @fp-spin */
    }
    d = 0.25;
    for (i = 1; i <= 3; i++) {
        d = scale(d, i);             /* @fp-call */
    }
    /* d is now ((0.25 * 1.5 + 1) * 1.5 + 2) * 1.5 + 3 = 9.09375, exactly. */
    for (;;) {
        rounds++;                    /* @fp-done */
    }
}

/* FP/SIMD must be enabled first. arm64: CPACR_EL1.FPEN = 0b11 (EL1 and EL0 do not trap).
 * x86_64: kvmdbg's long mode sets CR4 = PAE only, so SSE would #UD: CR4 = PAE | OSFXSR | OSXMMEXCPT. */
#if defined(__aarch64__)
#define START_SETUP "    mov x0, #(3 << 20)\n    msr cpacr_el1, x0\n    isb\n"
#else
#define START_SETUP "    movq $0x620, %rax\n    movq %rax, %cr4\n"
#endif
#include "start.h"
