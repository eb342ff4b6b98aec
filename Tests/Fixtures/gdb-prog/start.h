/* The fixtures' entry point, included by prog.c and fp.c: _start sets up what kvmdbg does not,
 * runs START_SETUP (a string of instructions; empty unless the includer defines it), calls kmain
 * and spins if it returns. CFI marks _start the outermost frame. */
#ifndef START_SETUP
#define START_SETUP ""
#endif
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
    START_SETUP
    "    mov x29, #0\n"
    "    bl kmain\n"
    "1:  b 1b\n"
    ".cfi_endproc\n"
    ".size _start, . - _start\n"
    ".text\n");
#else
/* x86_64: kvmdbg already set up a stack. */
__asm__(
    ".section .text.start, \"ax\"\n"
    ".globl _start\n"
    ".type _start, @function\n"
    "_start:\n"
    ".cfi_startproc\n"
    ".cfi_undefined rip\n"
    START_SETUP
    "    xorl %ebp, %ebp\n"
    "    call kmain\n"
    "1:  jmp 1b\n"
    ".cfi_endproc\n"
    ".size _start, . - _start\n"
    ".text\n");
#endif
