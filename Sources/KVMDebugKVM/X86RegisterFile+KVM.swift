import CKVM
import KVMDebugModel

#if arch(x86_64)
/// `X86RegisterFile` to and from `struct kvm_regs` / `struct kvm_sregs`.
extension X86RegisterFile {
    /// The register file of `KVM_GET_REGS` + `KVM_GET_SREGS` results.
    init(kvm r: kvm_regs, _ s: kvm_sregs) {
        self.init()
        rax = r.rax; rbx = r.rbx; rcx = r.rcx; rdx = r.rdx
        rsi = r.rsi; rdi = r.rdi; rbp = r.rbp; rsp = r.rsp
        r8 = r.r8; r9 = r.r9; r10 = r.r10; r11 = r.r11
        r12 = r.r12; r13 = r.r13; r14 = r.r14; r15 = r.r15
        rip = r.rip
        rflags = r.rflags
        cs = X86Segment(s.cs); ss = X86Segment(s.ss); ds = X86Segment(s.ds)
        es = X86Segment(s.es); fs = X86Segment(s.fs); gs = X86Segment(s.gs)
        cr0 = s.cr0; cr2 = s.cr2; cr3 = s.cr3; cr4 = s.cr4; cr8 = s.cr8
        efer = s.efer
        idtBase = s.idt.base; idtLimit = s.idt.limit
    }

    /// Stores the `kvm_regs` part.
    func store(into r: inout kvm_regs) {
        r.rax = rax; r.rbx = rbx; r.rcx = rcx; r.rdx = rdx
        r.rsi = rsi; r.rdi = rdi; r.rbp = rbp; r.rsp = rsp
        r.r8 = r8; r.r9 = r9; r.r10 = r10; r.r11 = r11
        r.r12 = r12; r.r13 = r13; r.r14 = r14; r.r15 = r15
        r.rip = rip
        r.rflags = rflags
    }

    /// Stores the `kvm_sregs` part; descriptor attributes stay as the vCPU has them.
    func store(into s: inout kvm_sregs) {
        cs.store(into: &s.cs); ss.store(into: &s.ss); ds.store(into: &s.ds)
        es.store(into: &s.es); fs.store(into: &s.fs); gs.store(into: &s.gs)
        s.cr0 = cr0; s.cr2 = cr2; s.cr3 = cr3; s.cr4 = cr4; s.cr8 = cr8
        s.efer = efer
        s.idt.base = idtBase; s.idt.limit = idtLimit
    }
}

extension X86Segment {
    init(_ k: kvm_segment) { self.init(selector: k.selector, base: k.base, limit: k.limit) }

    func store(into k: inout kvm_segment) {
        k.selector = selector
        k.base = base
        k.limit = limit
    }
}
#endif
