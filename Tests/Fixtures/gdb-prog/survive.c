/* The state-survival guest (Tests/KVMDebugTests/StateSurvivalTests.swift): it fills its SSE
 * registers and programs its own debug registers, spins while the host debugs it (hardware
 * points, steps, continues, detaches, the vCPU thread moved between host CPUs), then reads
 * everything back and reports through `result`: 1 intact, 0x100 + n xmm<n> changed, 0x200 + n
 * dr<n> changed. Built by `build x86_64 OUT survive`; the C is general-register code
 * (-mgeneral-regs-only), so only the asm below touches xmm registers. */

/* xmm<n> = { 0x0101010101010101 * (n + 1), its complement }. */
#define P(n) { 0x0101010101010101UL * (n + 1), ~(0x0101010101010101UL * (n + 1)) }
unsigned long pattern[16][2] = { P(0), P(1), P(2), P(3), P(4), P(5), P(6), P(7),
                                 P(8), P(9), P(10), P(11), P(12), P(13), P(14), P(15) };
/* DR0-3: addresses the guest never executes; DR7: L0 | L1 execute breakpoints on them (bit 10 is fixed). */
unsigned long drs[4] = { 0x3F0000, 0x3F1000, 0x3F2000, 0x3F3000 };
unsigned long dr7 = 0x405;
unsigned long scratch[2];
volatile long check;       /* the host sets it when its rounds are over */
volatile long result;      /* what the guest found */
long rounds;

#define LOAD(n) __asm__ volatile("movdqu %0, %%xmm" #n : : "m"(pattern[n]))
#define SAME(n) __asm__ volatile("movdqu %%xmm" #n ", %0" : "=m"(scratch)); \
    if (scratch[0] != pattern[n][0] || scratch[1] != pattern[n][1]) return 0x100 + n
#define SETDR(n) __asm__ volatile("mov %0, %%dr" #n : : "r"(drs[n]))
#define SAMEDR(n) __asm__ volatile("mov %%dr" #n ", %0" : "=r"(v)); if (v != drs[n]) return 0x200 + n

static long verify(void)
{
    unsigned long v;
    SAME(0); SAME(1); SAME(2); SAME(3); SAME(4); SAME(5); SAME(6); SAME(7);
    SAME(8); SAME(9); SAME(10); SAME(11); SAME(12); SAME(13); SAME(14); SAME(15);
    SAMEDR(0); SAMEDR(1); SAMEDR(2); SAMEDR(3);
    __asm__ volatile("mov %%dr7, %0" : "=r"(v));
    if (v != dr7) return 0x207;
    return 1;
}

void kmain(void)
{
    LOAD(0); LOAD(1); LOAD(2); LOAD(3); LOAD(4); LOAD(5); LOAD(6); LOAD(7);
    LOAD(8); LOAD(9); LOAD(10); LOAD(11); LOAD(12); LOAD(13); LOAD(14); LOAD(15);
    SETDR(0); SETDR(1); SETDR(2); SETDR(3);
    __asm__ volatile("mov %0, %%dr7" : : "r"(dr7));
    while (!check) {
        __asm__ volatile(".globl survive_loop\nsurvive_loop:");
        rounds++;                    /* @survive-loop */
    }
    result = verify();
    for (;;) {
        __asm__ volatile(".globl survive_done\nsurvive_done:");
        rounds++;                    /* @survive-done */
    }
}

#define START_SETUP "    movq $0x620, %rax\n    movq %rax, %cr4\n"
#include "start.h"
