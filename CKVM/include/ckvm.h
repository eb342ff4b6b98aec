// CKVM: what Swift cannot import from <linux/kvm.h> by itself.
//
// The KVM_* ioctl request numbers are function-like macros (_IOW, _IOR, ...)
// that Swift does not import, and errno is a thread-local macro. Each wrapper
// below is one line around one syscall or ioctl, save ckvm_set_signal_mask, which lays
// out struct kvm_signal_mask (a length and a flexible sigset array Swift cannot build)
// around the set its caller chose. No choices live in C (flags, signals and retries are
// decided in Swift, Sources/KVMDebugKVM/Syscalls.swift). Names are prefixed ckvm_ so a
// search finds every kernel entry point.
#ifndef CKVM_H
#define CKVM_H

#include <stdint.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/kvm.h>

// ---- libc: errno, fds, mappings, threads ----------------------------------

/// errno is a macro over a thread-local; Swift cannot read it directly.
static inline int ckvm_errno(void) { return errno; }
/// open(2): a variadic C function, which Swift cannot call.
static inline int ckvm_open(const char *path, int flags) { return open(path, flags); }
/// close(2).
static inline int ckvm_close(int fd) { return close(fd); }
/// mmap(2).
static inline void *ckvm_mmap(void *addr, size_t len, int prot, int flags, int fd, long off) {
    return mmap(addr, len, prot, flags, fd, off);
}
/// MAP_FAILED is a cast macro.
static inline int ckvm_mmap_failed(void *p) { return p == MAP_FAILED; }
/// munmap(2).
static inline int ckvm_munmap(void *p, size_t len) { return munmap(p, len); }
/// pthread_self(3), as an integer (pthread_t is opaque to Swift's importer on some libcs).
static inline unsigned long ckvm_thread_self(void) { return (unsigned long)pthread_self(); }
/// pthread_kill(3) (returns an error number, not -1).
static inline int ckvm_thread_kill(unsigned long thread, int sig) { return pthread_kill((pthread_t)thread, sig); }

// ---- /dev/kvm (system fd) -------------------------------------------------

/// KVM_GET_API_VERSION: 12 on every kernel since 2.6.22.
static inline int ckvm_get_api_version(int kvm) { return ioctl(kvm, KVM_GET_API_VERSION, 0); }
/// KVM_CHECK_EXTENSION on the system fd or, where the kernel supports it, a VM fd.
static inline int ckvm_check_extension(int fd, long cap) { return ioctl(fd, KVM_CHECK_EXTENSION, cap); }
/// KVM_CREATE_VM: returns a new VM fd.
static inline int ckvm_create_vm(int kvm, unsigned long type) { return ioctl(kvm, KVM_CREATE_VM, type); }
/// KVM_GET_VCPU_MMAP_SIZE: size of the kvm_run mapping of each vCPU fd.
static inline int ckvm_get_vcpu_mmap_size(int kvm) { return ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0); }

// ---- VM fd -----------------------------------------------------------------

/// KVM_SET_USER_MEMORY_REGION.
static inline int ckvm_set_user_memory_region(int vm, const struct kvm_userspace_memory_region *r) {
    return ioctl(vm, KVM_SET_USER_MEMORY_REGION, r);
}
/// KVM_ENABLE_CAP on a VM fd with no flags and no arguments (e.g. KVM_CAP_ARM_NISV_TO_USER).
static inline int ckvm_enable_cap(int vm, unsigned int cap) {
    struct kvm_enable_cap c = { .cap = cap };
    return ioctl(vm, KVM_ENABLE_CAP, &c);
}
/// KVM_CREATE_VCPU: returns a new vCPU fd.
static inline int ckvm_create_vcpu(int vm, unsigned long id) { return ioctl(vm, KVM_CREATE_VCPU, id); }

// ---- vCPU fd ---------------------------------------------------------------

/// kvm_run.immediate_exit: read by KVM at entry, written by a kicking thread, so atomic.
static inline void ckvm_set_immediate_exit(struct kvm_run *run, uint8_t v) {
    __atomic_store_n(&run->immediate_exit, v, __ATOMIC_SEQ_CST);
}
/// __builtin___clear_cache: makes code patched through the host mapping visible to
/// the guest's instruction fetch (needed on arm64; a no-op on x86).
static inline void ckvm_clear_cache(void *start, void *end) { __builtin___clear_cache((char *)start, (char *)end); }
/// KVM_RUN.
static inline int ckvm_run(int vcpu) { return ioctl(vcpu, KVM_RUN, 0); }
/// KVM_SET_SIGNAL_MASK: the signal mask in force *while inside KVM_RUN*. `blocked` is a
/// kernel sigset (bit n-1 = signal n); the kernel's sigset is 8 bytes on x86_64 and arm64.
static inline int ckvm_set_signal_mask(int vcpu, uint64_t blocked) {
    union { struct kvm_signal_mask m; uint8_t bytes[sizeof(struct kvm_signal_mask) + 8]; } a;
    a.m.len = 8;
    __builtin_memcpy(a.m.sigset, &blocked, 8);
    return ioctl(vcpu, KVM_SET_SIGNAL_MASK, &a.m);
}
/// KVM_SET_GUEST_DEBUG: replaces the vCPU's whole debug state.
static inline int ckvm_set_guest_debug(int vcpu, const struct kvm_guest_debug *d) {
    return ioctl(vcpu, KVM_SET_GUEST_DEBUG, d);
}

#if defined(__x86_64__)
/// KVM_GET_REGS.
static inline int ckvm_get_regs(int vcpu, struct kvm_regs *r) { return ioctl(vcpu, KVM_GET_REGS, r); }
/// KVM_SET_REGS.
static inline int ckvm_set_regs(int vcpu, const struct kvm_regs *r) { return ioctl(vcpu, KVM_SET_REGS, r); }
/// KVM_GET_SREGS.
static inline int ckvm_get_sregs(int vcpu, struct kvm_sregs *s) { return ioctl(vcpu, KVM_GET_SREGS, s); }
/// KVM_SET_SREGS.
static inline int ckvm_set_sregs(int vcpu, const struct kvm_sregs *s) { return ioctl(vcpu, KVM_SET_SREGS, s); }
/// KVM_KVMCLOCK_CTRL: tells the guest its clock was paused (no soft-lockup reports).
static inline int ckvm_kvmclock_ctrl(int vcpu) { return ioctl(vcpu, KVM_KVMCLOCK_CTRL, 0); }
/// KVM_TRANSLATE: the kernel's walk of a guest linear address (x86 only in practice).
static inline int ckvm_translate(int vcpu, struct kvm_translation *t) { return ioctl(vcpu, KVM_TRANSLATE, t); }
/// KVM_GET_XSAVE: the 4096-byte XSAVE area (struct kvm_xsave) into `area`.
static inline int ckvm_get_xsave(int vcpu, void *area) { return ioctl(vcpu, KVM_GET_XSAVE, area); }
/// KVM_GET_XSAVE2: the XSAVE area, KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) bytes, into `area`.
static inline int ckvm_get_xsave2(int vcpu, void *area) { return ioctl(vcpu, KVM_GET_XSAVE2, area); }
/// KVM_SET_XSAVE: loads an area of the size KVM_GET_XSAVE or KVM_GET_XSAVE2 returned.
static inline int ckvm_set_xsave(int vcpu, const void *area) { return ioctl(vcpu, KVM_SET_XSAVE, area); }
/// KVM_GET_FPU: the x87/SSE state, for kernels without KVM_CAP_XSAVE.
static inline int ckvm_get_fpu(int vcpu, struct kvm_fpu *f) { return ioctl(vcpu, KVM_GET_FPU, f); }
/// KVM_SET_FPU.
static inline int ckvm_set_fpu(int vcpu, const struct kvm_fpu *f) { return ioctl(vcpu, KVM_SET_FPU, f); }
/// KVM_GET_CPUID2: the vCPU's CPUID entries into `cpuid` (a struct kvm_cpuid2 whose nent the
/// caller set to the room it allocated).
static inline int ckvm_get_cpuid2(int vcpu, void *cpuid) { return ioctl(vcpu, KVM_GET_CPUID2, cpuid); }
/// KVM_GET_DEBUGREGS: the guest's own DR0-DR3, DR6, DR7.
static inline int ckvm_get_debugregs(int vcpu, struct kvm_debugregs *d) { return ioctl(vcpu, KVM_GET_DEBUGREGS, d); }
/// KVM_SET_DEBUGREGS.
static inline int ckvm_set_debugregs(int vcpu, const struct kvm_debugregs *d) { return ioctl(vcpu, KVM_SET_DEBUGREGS, d); }
#endif

#if defined(__aarch64__)
/// KVM_ARM_PREFERRED_TARGET (VM fd).
static inline int ckvm_arm_preferred_target(int vm, struct kvm_vcpu_init *i) {
    return ioctl(vm, KVM_ARM_PREFERRED_TARGET, i);
}
/// KVM_ARM_VCPU_INIT.
static inline int ckvm_arm_vcpu_init(int vcpu, const struct kvm_vcpu_init *i) {
    return ioctl(vcpu, KVM_ARM_VCPU_INIT, i);
}
/// KVM_ARM_VCPU_FINALIZE: completes the configuration of `*feature` (KVM_ARM_VCPU_SVE) after
/// KVM_ARM_VCPU_INIT, before KVM_RUN.
static inline int ckvm_arm_vcpu_finalize(int vcpu, const int *feature) {
    return ioctl(vcpu, KVM_ARM_VCPU_FINALIZE, feature);
}
/// KVM_GET_ONE_REG.
static inline int ckvm_get_one_reg(int vcpu, const struct kvm_one_reg *r) { return ioctl(vcpu, KVM_GET_ONE_REG, r); }
/// KVM_SET_ONE_REG.
static inline int ckvm_set_one_reg(int vcpu, const struct kvm_one_reg *r) { return ioctl(vcpu, KVM_SET_ONE_REG, r); }
#endif

#endif
