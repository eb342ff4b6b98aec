// The example VMM's own code, in C as a VMM written in any language would be: it opens
// /dev/kvm, creates a VM with 64 KiB of RAM, loads a tiny 16-bit real-mode guest
// (inc ax; mov [0x2000], ax; jmp back) at 0x1000 and one vCPU at its entry. kvmdbg
// knows nothing of this code; it is only handed the fds and the memory.
#ifndef HOST_VMM_H
#define HOST_VMM_H
#include <stddef.h>

struct vmm {
    int kvm, vm, vcpu;
    void *memory;
    size_t memory_size;
};

/// Builds the VM. 0 on success; -1 with errno set and `*what` naming the failed step.
int vmm_create(struct vmm *v, const char **what);
/// 0 when the VM's memory slots are exactly as vmm_create made them (slot 0 over all RAM): slot 0
/// re-set with the same fields is a no-op, and a new slot over 0x2000 overlaps it (EEXIST).
int vmm_slots_intact(struct vmm *v);
/// Closes the fds and unmaps the memory (the VMM's, not kvmdbg's, to release).
void vmm_destroy(struct vmm *v);
#endif
