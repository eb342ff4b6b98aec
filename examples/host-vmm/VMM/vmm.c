#include "vmm.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

int vmm_create(struct vmm *v, const char **what) {
    memset(v, 0, sizeof *v);
    v->kvm = v->vm = v->vcpu = -1;
    v->memory_size = 0x10000;
    if ((v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)) < 0) { *what = "open /dev/kvm"; return -1; }
    if ((v->vm = ioctl(v->kvm, KVM_CREATE_VM, 0)) < 0) { *what = "KVM_CREATE_VM"; return -1; }
    v->memory = mmap(NULL, v->memory_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (v->memory == MAP_FAILED) { v->memory = NULL; *what = "mmap"; return -1; }
#if defined(__x86_64__)
    static const unsigned char code[] = {0x40, 0xA3, 0x00, 0x20, 0xEB, 0xFA};
    memcpy((char *)v->memory + 0x1000, code, sizeof code);
    struct kvm_userspace_memory_region r = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = v->memory_size,
        .userspace_addr = (unsigned long)v->memory,
    };
    if (ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &r) < 0) { *what = "KVM_SET_USER_MEMORY_REGION"; return -1; }
    if ((v->vcpu = ioctl(v->vm, KVM_CREATE_VCPU, 0)) < 0) { *what = "KVM_CREATE_VCPU"; return -1; }
    struct kvm_sregs s;
    if (ioctl(v->vcpu, KVM_GET_SREGS, &s) < 0) { *what = "KVM_GET_SREGS"; return -1; }
    s.cs.base = 0; s.cs.selector = 0;
    s.ds.base = 0; s.ds.selector = 0;
    if (ioctl(v->vcpu, KVM_SET_SREGS, &s) < 0) { *what = "KVM_SET_SREGS"; return -1; }
    struct kvm_regs regs;
    memset(&regs, 0, sizeof regs);
    regs.rip = 0x1000;
    regs.rflags = 0x2;
    if (ioctl(v->vcpu, KVM_SET_REGS, &regs) < 0) { *what = "KVM_SET_REGS"; return -1; }
    return 0;
#else
    *what = "this example's guest is x86 real-mode code";
    errno = ENOSYS;
    return -1;
#endif
}

int vmm_slots_intact(struct vmm *v) {
    struct kvm_userspace_memory_region r = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = v->memory_size,
        .userspace_addr = (unsigned long)v->memory,
    };
    if (ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &r) < 0) return -1;
    struct kvm_userspace_memory_region probe = {
        .slot = 1, .guest_phys_addr = 0x2000, .memory_size = 0x1000,
        .userspace_addr = (unsigned long)v->memory + 0x2000,
    };
    if (ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &probe) == 0) {
        probe.memory_size = 0;
        ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &probe);
        return -1;
    }
    return errno == EEXIST ? 0 : -1;
}

void vmm_destroy(struct vmm *v) {
    if (v->vcpu >= 0) close(v->vcpu);
    if (v->vm >= 0) close(v->vm);
    if (v->kvm >= 0) close(v->kvm);
    if (v->memory) munmap(v->memory, v->memory_size);
}
