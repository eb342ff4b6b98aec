// The benchmark's baseline: the same ioctls kvmdbg issues, in a plain C loop with no
// library logic, so `kvmdbg-bench` can print library rate / raw rate from one process.
// Benchmark code only; kvmdbg itself never calls this.
#ifndef KVM_RAW_LOOP_H
#define KVM_RAW_LOOP_H
#include <stddef.h>
#include <stdint.h>

/// Maps the vCPU's kvm_run; NULL on failure.
void *kvm_raw_map(int vcpu_fd, size_t mmap_size);
/// Unmaps what kvm_raw_map returned.
void kvm_raw_unmap(void *run, size_t mmap_size);
/// KVM_SET_GUEST_DEBUG with SINGLESTEP once, then `n` KVM_RUNs, each of which must end
/// in KVM_EXIT_DEBUG. 0 on success, -1 on the first failure.
int kvm_raw_step_loop(int vcpu_fd, void *run, long n);
/// `n` breakpoint cycles: KVM_RUN to the execute breakpoint at `addr` (DR0), then
/// disarm + single-step + re-arm, the continue-past-a-breakpoint kvmdbg does.
int kvm_raw_break_loop(int vcpu_fd, void *run, uint64_t addr, long n);
#endif
