// Size and offset pins: the Swift side reads these structs field by field, so a
// header that changes them must fail the build here, not corrupt a debug state.
#include "ckvm.h"

_Static_assert(offsetof(struct kvm_guest_debug, arch) == 8, "kvm_guest_debug.arch offset");
#if defined(__x86_64__)
_Static_assert(sizeof(struct kvm_guest_debug) == 72, "x86 kvm_guest_debug is 72 bytes");
_Static_assert(sizeof(struct kvm_debug_exit_arch) >= 32, "x86 kvm_debug_exit_arch");
_Static_assert(sizeof(struct kvm_xsave) >= 4096, "KVM_GET_XSAVE fills 4096 bytes");
_Static_assert(offsetof(struct kvm_fpu, fcw) == 128 && offsetof(struct kvm_fpu, last_ip) == 136
               && offsetof(struct kvm_fpu, xmm) == 152 && offsetof(struct kvm_fpu, mxcsr) == 408, "kvm_fpu layout");
_Static_assert(sizeof(struct kvm_cpuid2) == 8 && sizeof(struct kvm_cpuid_entry2) == 40, "kvm_cpuid2: nent, padding, 40-byte entries");
_Static_assert(sizeof(struct kvm_debugregs) == 128, "kvm_debugregs: db[4], dr6, dr7, flags, reserved[9]");
#elif defined(__aarch64__)
_Static_assert(sizeof(struct kvm_guest_debug) == 520, "arm64 kvm_guest_debug is 520 bytes");
_Static_assert(sizeof(struct kvm_debug_exit_arch) == 16, "arm64 kvm_debug_exit_arch");
#endif
_Static_assert(offsetof(struct kvm_run, exit_reason) == 8, "kvm_run.exit_reason");
_Static_assert(offsetof(struct kvm_run, debug) == 32, "kvm_run exit union at 32");

// Fatal exits (api.rst "struct kvm_run"): the words KVMVCPU.runOnce copies out.
_Static_assert(offsetof(struct kvm_run, internal.ndata) == 36 && offsetof(struct kvm_run, internal.data) == 40, "kvm_run.internal");
_Static_assert(offsetof(struct kvm_run, system_event.ndata) == 36 && offsetof(struct kvm_run, system_event.data) == 40, "kvm_run.system_event");
_Static_assert(offsetof(struct kvm_run, fail_entry.cpu) == 40, "kvm_run.fail_entry.cpu");
