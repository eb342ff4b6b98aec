// host-vmm: plays a host VMM that owns its VM, memory and vCPU, then hands the
// vCPU fd to kvmdbg to set a breakpoint and catch the stop.
//
// Everything up to "hand over" is the VMM's own code, written against raw ioctls
// through CKVM, as a VMM written in any language would. kvmdbg only borrows the fd
// and the memory mapping: it never closes or unmaps them.
//
// Exit status: 0 = the stops matched, 1 = mismatch or error, 77 = skipped (no usable /dev/kvm).
import CKVM
import Glibc
import KVMDebugCore

func die(_ what: String) -> Never {
    print("host-vmm: FAIL: \(what) (errno \(ckvm_errno()))")
    exit(1)
}

#if !arch(x86_64)
print("host-vmm: skip: this example's VMM boots an x86 real-mode guest; host is not x86_64")
exit(77)
#else
// --- The VMM's own set-up -----------------------------------------------------
let kvm = ckvm_open("/dev/kvm", O_RDWR)
if kvm < 0 {
    print("host-vmm: skip: cannot open /dev/kvm (errno \(ckvm_errno())): no usable KVM on this host")
    exit(77)
}
let vm = ckvm_create_vm(kvm, 0)
if vm < 0 { die("KVM_CREATE_VM") }
let memSize = 0x10000
guard let mem = ckvm_mmap(nil, memSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0), ckvm_mmap_failed(mem) == 0 else { die("mmap") }
// 16-bit real mode: inc ax; mov [0x2000], ax; jmp back.
let code: [UInt8] = [0x40, 0xA3, 0x00, 0x20, 0xEB, 0xFA]
for (i, b) in code.enumerated() { mem.storeBytes(of: b, toByteOffset: 0x1000 + i, as: UInt8.self) }
var region = kvm_userspace_memory_region(slot: 0, flags: 0, guest_phys_addr: 0, memory_size: UInt64(memSize),
                                         userspace_addr: UInt64(UInt(bitPattern: mem)))
if ckvm_set_user_memory_region(vm, &region) < 0 { die("KVM_SET_USER_MEMORY_REGION") }
let vcpu = ckvm_create_vcpu(vm, 0)
if vcpu < 0 { die("KVM_CREATE_VCPU") }
var sregs = kvm_sregs()
if ckvm_get_sregs(vcpu, &sregs) < 0 { die("KVM_GET_SREGS") }
sregs.cs.base = 0
sregs.cs.selector = 0
sregs.ds.base = 0
sregs.ds.selector = 0
if ckvm_set_sregs(vcpu, &sregs) < 0 { die("KVM_SET_SREGS") }
var regs = kvm_regs()
regs.rip = 0x1000
regs.rflags = 0x2
if ckvm_set_regs(vcpu, &regs) < 0 { die("KVM_SET_REGS") }

// --- Hand over: kvmdbg adopts the VMM's vCPU fd and memory ---------------------
let store: UInt64 = 0x1001
do {
    let backend = try KVMBackend(
        adopting: [vcpu],
        memory: [GuestMemoryRegion(guestAddress: 0, size: UInt64(memSize), host: mem)],
        vmFD: vm)
    let debugger = Debugger(backend: backend)
    try debugger.insert(.hardware(address: store), on: .vcpu(0))
    var previous: UInt16? = nil
    for hit in 1...3 {
        let event = try debugger.resume(vcpu: 0, mode: .continue)
        guard case .stop(let s) = event, s.reason == .hardwareBreakpoint, s.pc == store else {
            print("host-vmm: FAIL: expected a hw-breakpoint at \(hex(store)), got \(event)")
            exit(1)
        }
        // The VMM reads the guest's counter through its own mapping.
        let counter = mem.load(fromByteOffset: 0x2000, as: UInt16.self)
        print("host-vmm: hit \(hit): vCPU \(s.vcpu) \(s.reason.name) at \(hex(s.pc)) slot \(s.primary.slot ?? -1), counter in guest memory = \(counter)")
        if let p = previous, counter != p &+ 1 {
            print("host-vmm: FAIL: counter went \(p) -> \(counter), expected one store per loop iteration")
            exit(1)
        }
        previous = counter
    }
    print("host-vmm: OK: 3 breakpoint stops on the VMM's own vCPU fd, \(debugger.totalSetGuestDebugCalls) KVM_SET_GUEST_DEBUG calls")
} catch {
    print("host-vmm: FAIL: \(error.message)")
    exit(1)
}
// The fds and mapping are still the VMM's; it closes them itself.
_ = ckvm_close(vcpu)
_ = ckvm_close(vm)
_ = ckvm_close(kvm)
_ = ckvm_munmap(mem, memSize)
exit(0)
#endif
