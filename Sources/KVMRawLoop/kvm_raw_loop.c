#include "kvm_raw_loop.h"
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <string.h>

void *kvm_raw_map(int vcpu_fd, size_t mmap_size) {
    void *p = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
    return p == MAP_FAILED ? NULL : p;
}

void kvm_raw_unmap(void *run, size_t mmap_size) { munmap(run, mmap_size); }

static int set_debug(int fd, uint32_t control, uint64_t dr0, uint64_t dr7) {
    struct kvm_guest_debug d;
    memset(&d, 0, sizeof d);
    d.control = control;
#if defined(__x86_64__)
    d.arch.debugreg[0] = dr0;
    d.arch.debugreg[7] = dr7;
#else
    (void)dr0; (void)dr7;
#endif
    return ioctl(fd, KVM_SET_GUEST_DEBUG, &d);
}

static int run_debug_exit(int fd, struct kvm_run *run) {
    return ioctl(fd, KVM_RUN, 0) == 0 && run->exit_reason == KVM_EXIT_DEBUG ? 0 : -1;
}

int kvm_raw_step_loop(int fd, void *run, long n) {
    if (set_debug(fd, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP | KVM_GUESTDBG_USE_HW_BP, 0, 0x400) != 0) return -1;
    for (long i = 0; i < n; i++)
        if (run_debug_exit(fd, run) != 0) return -1;
    return 0;
}

int kvm_raw_break_loop(int fd, void *run, uint64_t addr, long n) {
    const uint32_t on = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
    const uint64_t armed = 0x401; /* DR7: L0, bit 10 */
    if (set_debug(fd, on, addr, armed) != 0) return -1;
    for (long i = 0; i < n; i++) {
        if (run_debug_exit(fd, run) != 0) return -1;   /* the breakpoint */
        if (set_debug(fd, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP | KVM_GUESTDBG_USE_HW_BP, 0, 0x400) != 0) return -1;
        if (run_debug_exit(fd, run) != 0) return -1;   /* one step past it */
        if (set_debug(fd, on, addr, armed) != 0) return -1; /* re-armed */
    }
    return 0;
}
