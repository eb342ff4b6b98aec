// host-vmm: plays a host VMM that owns its VM, memory and vCPU (its own code, in C:
// ../VMM/vmm.c), then hands the vCPU fd to kvmdbg, which drives it through the same
// `DebugSession` as `kvmdbg run`: a breakpoint, three all-stop rounds, the stops read.
//
// The VMM says how kvmdbg may kick its vCPU thread out of KVM_RUN: it keeps SIGUSR1 for
// itself here, so kvmdbg gets SIGUSR2 (KVMKick.signal). kvmdbg only borrows the fds and
// the mapping: it never closes or unmaps them.
//
// It also hands over its memory slot table: a watchpoint served by memory protection splits
// the VMM's slot (each change asked of the VMM through a closure) and the slots are put
// back exactly when the watch goes, which the VMM then checks with its own ioctls.
//
// `host-vmm --gdb HOST:PORT` instead serves the VMM's vCPU to gdb through kvmdbg's GDB
// server (KVMDebugGDB's engine over a DebugSession on the adopted fd), until gdb kills it.
//
// Exit status: 0 = the stops matched, 1 = mismatch or error, 77 = skipped (no usable /dev/kvm).
import Glibc
import HostVMM
import KVMDebugCore
import KVMDebugGDB
import KVMDebugGDBServer

/// One line straight to fd 1 with write(2): unbuffered, so a test reading a pipe sees it at once.
@Sendable func say(_ text: String) {
    let line = Array((text + "\n").utf8)
    _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
}

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
        vmFD: machine.vm, kick: .signal(SIGUSR2),
        memorySlots: [KVMMemorySlot(id: 0, guestAddress: 0, size: UInt64(machine.memory_size), hostAddress: UInt64(UInt(bitPattern: mem)))],
        slotConsent: { change in
            say("host-vmm: kvmdbg asks to hold page \(hex(change.page)) of slot \(change.slot.id) \(change.protection.name): yes")
            return true
        })
    let session = DebugSession(backend: backend)
    if let i = CommandLine.arguments.firstIndex(of: "--gdb"), i + 1 < CommandLine.arguments.count {
        // Serve GDB on the VMM's own vCPU fd: the same engine `kvmdbg gdbserver` uses.
        let listener = try SocketListener(tcp: CommandLine.arguments[i + 1], allowNonLoopback: false)
        say("host-vmm: gdb server on \(listener.address)")
        // The assembly `kvmdbg gdbserver` uses (the guest's own int3 handed back on continue);
        // it closes the session when the client kills the guest.
        let end = try serve(session: session, options: GDBServeOptions(say: { say("host-vmm: \($0)") })) { loop in
            GDBThreadedDriver(loop: loop, listener: listener).run()
        }
        say("host-vmm: gdb server ended (\(end)); guest's own breakpoints: \(session.debugger.foreignBreakpointPolicy)")
        vmm_destroy(&machine)
        exit(0)
    }
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
    // A write watch by memory protection: stops after each store, with the values.
    let slotsBefore = backend.memorySlots
    session.debugger.watchMechanism = .protection
    let watch = DebugPoint.watch(address: 0x2000, length: 2, kind: .write)
    try session.insert(watch, on: .vcpu(0))
    // The VMM's own check sees the split (so it can fail): slot 0 no longer covers all RAM.
    if vmm_slots_intact(&machine) == 0 {
        print("host-vmm: FAIL: the VMM's slot check passed while page 0x2000 was split off")
        exit(1)
    }
    for _ in 1...2 {
        let round = try session.resumeAll()
        guard let s = round.stops.first, s.reason == .watchpoint, s.pc == store + 3,
              let old = s.primary.oldValue, let new = s.primary.newValue,
              littleEndianValue(new) == littleEndianValue(old) &+ 1 else {
            print("host-vmm: FAIL: expected a protection watch stop after the store, got \(round.events.map(\.event))")
            exit(1)
        }
        print("host-vmm: watch: \(s.reason.name) at \(hex(s.pc)), counter \(littleEndianValue(old)) -> \(littleEndianValue(new))")
    }
    try session.remove(watch, from: .vcpu(0))
    guard backend.memorySlots == slotsBefore, vmm_slots_intact(&machine) == 0 else {
        print("host-vmm: FAIL: memory slots not as the VMM made them: \(backend.memorySlots)")
        exit(1)
    }
    print("host-vmm: protection OK: the VMM's slot table is as it made it")
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
