import CKVM
import KVMDebugModel

#if arch(x86_64)
/// `X86FPRegisterFile` to and from `struct kvm_fpu` (KVM_GET_FPU / KVM_SET_FPU), used only
/// where the kernel has no KVM_CAP_XSAVE: then there is no AVX state to show either.
extension X86FPRegisterFile {
    /// The registers of a `KVM_GET_FPU` result (`ftwx` is the abridged FXSAVE tag).
    init(kvm f: kvm_fpu) {
        self.init()
        fcw = f.fcw
        fsw = f.fsw
        abridgedTag = f.ftwx
        fop = f.last_opcode & 0x7FF
        fip = f.last_ip
        fdp = f.last_dp
        mxcsr = f.mxcsr
        var fpr = f.fpr, x = f.xmm
        // SAFETY: fpr is __u8[8][16] and xmm __u8[16][16], imported as homogeneous tuples.
        let stBytes = unsafe withUnsafeBytes(of: &fpr) { Array($0) }
        let xmmBytes = unsafe withUnsafeBytes(of: &x) { Array($0) }
        for i in 0..<8 { st[i] = Self.load(stBytes, 16 * i, 10) }
        for i in 0..<16 { xmm[i] = Self.load(xmmBytes, 16 * i, 16) }
    }

    /// Stores the fields into a `kvm_fpu` read from the same vCPU.
    func store(into f: inout kvm_fpu) {
        f.fcw = fcw
        f.fsw = fsw
        f.ftwx = abridgedTag
        f.last_opcode = fop & 0x7FF
        f.last_ip = fip
        f.last_dp = fdp
        f.mxcsr = mxcsr
        var stBytes = [UInt8](repeating: 0, count: 128), xmmBytes = [UInt8](repeating: 0, count: 256)
        for i in 0..<8 { Self.put(&stBytes, 16 * i, 10, st[i]) }
        for i in 0..<16 { Self.put(&xmmBytes, 16 * i, 16, xmm[i]) }
        // SAFETY: the byte counts match the C arrays' sizes exactly (128 and 256).
        unsafe withUnsafeMutableBytes(of: &f.fpr) { unsafe $0.copyBytes(from: stBytes) }
        unsafe withUnsafeMutableBytes(of: &f.xmm) { unsafe $0.copyBytes(from: xmmBytes) }
    }
}
#endif
