// host-vmm: plays a host VMM that owns its VM, memory and vCPU (its own code, in C:
// ../VMM/vmm.c), then hands the vCPU fd to kvmdbg, which drives it through the same
// `DebugSession` as `kvmdbg run`: a breakpoint, three all-stop rounds, the stops read.
//
// The VMM says how kvmdbg may kick its vCPU thread out of KVM_RUN: it keeps SIGUSR1 for
// itself here, so kvmdbg gets SIGUSR2 (KVMKick.signal). kvmdbg only borrows the fds and
// the mapping: it never closes or unmaps them.
//
// Exit status: 0 = the stops matched, 1 = mismatch or error, 77 = skipped (no usable /dev/kvm).
import Glibc
import HostVMM
import KVMDebugCore

#if !arch(x86_64)
print("host-vmm: skip: this example's VMM boots an x86 real-mode guest; host is not x86_64")
exit(77)
#else
var machine = vmm()
var what: UnsafePointer<CChar>? = nil
if vmm_create(&machine, &what) != 0 {
    let step = what.map { String(cString: $0) } ?? "?"
    let e = errno
    vmm_destroy(&machine)
    if step == "open /dev/kvm" {
        print("host-vmm: skip: cannot open /dev/kvm (errno \(e)): no usable KVM on this host")
        exit(77)
    }
    print("host-vmm: FAIL: \(step) (errno \(e))")
    exit(1)
}
guard let mem = machine.memory else { exit(1) }

// --- Hand over: kvmdbg adopts the VMM's vCPU fd and memory ---------------------
let store: UInt64 = 0x1001
var status: Int32 = 0
do {
    let backend = try KVMBackend(
        adopting: [machine.vcpu],
        memory: [GuestMemoryRegion(guestAddress: 0, size: UInt64(machine.memory_size), host: mem)],
        vmFD: machine.vm, kick: .signal(SIGUSR2))
    let session = DebugSession(backend: backend)
    try session.insert(.hardware(address: store), on: .vcpu(0))
    var previous: UInt16? = nil
    for hit in 1...3 {
        let round = try session.resumeAll()
        guard let s = round.stops.first, s.reason == .hardwareBreakpoint, s.pc == store else {
            print("host-vmm: FAIL: expected a hw-breakpoint at \(hex(store)), got \(round.events.map(\.event))")
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
    // The session's own view of the registers matches the stop.
    let pc = try session.registers(vcpu: 0).pc
    if pc != store {
        print("host-vmm: FAIL: registers say pc \(hex(pc)), the stop said \(hex(store))")
        exit(1)
    }
    // Interrupt a free-running guest: the kick reaches the vCPU thread inside KVM_RUN as SIGUSR2.
    try session.remove(.hardware(address: store), from: .vcpu(0))
    try session.start([.continue])
    usleep(20_000)
    session.interrupt()
    let stopped = try session.wait()
    let at = try session.registers(vcpu: 0).pc
    guard stopped.interrupted, stopped.events.isEmpty, (0x1000..<0x1006).contains(at) else {
        print("host-vmm: FAIL: interrupt: \(stopped.interrupted) \(stopped.events.map(\.event)) pc \(hex(at))")
        exit(1)
    }
    print("host-vmm: interrupted the running guest through SIGUSR2 at pc \(hex(at))")
    session.close()
    print("host-vmm: OK: 3 breakpoint stops on the VMM's own vCPU fd (kick: SIGUSR2), \(session.stats.setGuestDebugCalls) KVM_SET_GUEST_DEBUG calls")
} catch {
    print("host-vmm: FAIL: \(error.message)")
    status = 1
}
// The fds and mapping are still the VMM's; it releases them itself.
vmm_destroy(&machine)
exit(status)
#endif
