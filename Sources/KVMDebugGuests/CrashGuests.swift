import KVMDebugModel

/// Built-in guests that crash on purpose, for the post-mortem paths (fatal stops, `monitor why`,
/// core files): each ends in an exit a debugger must stop on, not lose.
extension BuiltinGuests {
    /// The crash guests' names.
    public static let crashNames = ["triple-fault", "page-fault", "panic", "data-abort", "system-off"]

    /// Every crash guest (all run on KVM and on the fake backend).
    public static var crash: [Guest] { [tripleFaultX86(), pageFaultX86(), panicX86(), dataAbortArm64(), systemOffArm64()] }

    /// The code `panic`'s caller passes (RDI), stored in `panic_code`.
    public static let panicCode: UInt64 = 42

    /// Where `data-abort` puts its vector table (VBAR_EL1) and the unaligned address it loads from.
    public static let dataAbortVBAR: UInt64 = 0x11000, dataAbortAddress: UInt64 = 0x11801

    /// The unmapped address `page-fault` loads from: 1 GiB, just past kvmdbg's identity map.
    public static let pageFaultAddress: UInt64 = 0x4000_0000

    /// The value `triple-fault` leaves in RAX before it crashes: registers read at the fatal stop
    /// show it when the KVM flavour keeps the guest's state.
    public static let tripleFaultMarker: UInt64 = 0x7472_6970_6C65_FA17

    /// The crash guest named `name` for `arch`/`mode`; nil when `name` is no crash guest.
    static func crashGuest(named name: String, arch: Arch, mode: CPUMode?) throws(DebugError) -> Guest? {
        guard crashNames.contains(name) else { return nil }
        if name == "data-abort" || name == "system-off" {
            guard arch == .arm64, mode == nil || mode == .el1 else { throw .unsupported(reason: "\(name) is an arm64 EL1 guest") }
            return name == "data-abort" ? dataAbortArm64() : systemOffArm64()
        }
        guard arch == .x86_64, mode == nil || mode == .long else {
            throw .unsupported(reason: "\(name) is an x86_64 long-mode guest")
        }
        switch name {
        case "page-fault": return pageFaultX86()
        case "panic": return panicX86()
        default: return tripleFaultX86()
        }
    }

    /// x86_64 long mode, like a kernel that dies in its panic function: loads an empty IDT, `main`
    /// calls `panic(42)`, which sets up a frame (push rbp; mov rbp, rsp), stores its argument in
    /// `panic_code` and executes ud2: a triple fault inside `panic`, with the return address into
    /// `main` at [RSP + 8] and the saved RBP at [RSP], where a debugger finds the caller.
    public static func panicX86() -> Guest {
        let code: [UInt8] = [
            0x0F, 0x01, 0x1C, 0x25, 0x00, 0x20, 0x00, 0x00,  // 1000 entry: lidt [0x2000] (empty IDT)
            0xBF, 0x2A, 0x00, 0x00, 0x00,                    // 1008 main:  mov edi, 42
            0xE8, 0x01, 0x00, 0x00, 0x00,                    // 100d        call panic
            0xF4,                                            // 1012 after: hlt (never reached)
            0x55,                                            // 1013 panic: push rbp
            0x48, 0x89, 0xE5,                                // 1014        mov rbp, rsp
            0x48, 0x89, 0x3C, 0x25, 0x10, 0x20, 0x00, 0x00,  // 1017        mov [0x2010], rdi (panic_code)
            0x0F, 0x0B,                                      // 101f        ud2
        ]
        let symbols = [
            GuestSymbol(name: "entry", address: 0x1000, size: 8),
            GuestSymbol(name: "main", address: 0x1008, size: 11),
            GuestSymbol(name: "panic", address: 0x1013, size: 14),
            GuestSymbol(name: "idt_descriptor", address: 0x2000, size: 10),
            GuestSymbol(name: "panic_code", address: 0x2010, size: 8),
        ]
        return x86Guest("panic", code: code, data: [GuestData(address: 0x2000, bytes: [UInt8](repeating: 0, count: 18))], symbols: symbols,
                        summary: "main calls panic(42), which stores the code and executes ud2 with an empty IDT: a triple fault inside panic (64-bit long mode)")
    }

    /// arm64 EL1, MMU off: sets VBAR_EL1 to its own table at `dataAbortVBAR`, then loads 8 bytes
    /// from the unaligned `dataAbortAddress` at `fault`. Data accesses with the MMU off are Device
    /// memory, so that is an alignment fault, taken by the guest itself (a stage-1 fault: KVM is not
    /// involved) at VBAR_EL1 + 0x200 (`sync_handler`: ESR_EL1 EC 0x25, DFSC 0x21; FAR_EL1 the
    /// address; ELR_EL1 `fault`), which waits in `wfi`.
    public static func dataAbortArm64() -> Guest {
        let words: [UInt32] = [
            0xD282_0001, // 10000 entry: movz x1, #0x1000
            0xF2A0_0021, // 10004        movk x1, #0x1, lsl #16      (x1 = 0x11000)
            0xD518_C001, // 10008        msr vbar_el1, x1
            0xD503_3FDF, // 1000c        isb
            0xD283_0022, // 10010        movz x2, #0x1801
            0xF2A0_0022, // 10014        movk x2, #0x1, lsl #16      (x2 = 0x11801)
            0xF940_0043, // 10018 fault: ldr x3, [x2]                (unaligned: alignment fault)
            0x1400_0000, // 1001c        b .                          (never reached)
        ]
        var code = a64(words)
        code += [UInt8](repeating: 0, count: Int(dataAbortVBAR + 0x200 - 0x10000) - code.count)
        code += a64([0xD503_207F, 0x17FF_FFFF])  // 11200 sync_handler: wfi; b sync_handler
        let symbols = [
            GuestSymbol(name: "entry", address: 0x10000, size: 0x18),
            GuestSymbol(name: "fault", address: 0x10018, size: 4),
            GuestSymbol(name: "vectors", address: dataAbortVBAR, size: 0x800),
            GuestSymbol(name: "sync_handler", address: dataAbortVBAR + 0x200, size: 8),
        ]
        return Guest(name: "data-abort", arch: .arm64, mode: .el1, memoryBase: 0x10000, memorySize: 0x20000,
                     loadAddress: 0x10000, image: code, data: [], entry: 0x10000, symbols: symbols,
                     summary: "own vector table; an unaligned load with the MMU off: a data abort into sync_handler (EL1, MMU off)")
    }

    /// arm64 EL1: calls PSCI SYSTEM_OFF (`hvc #0` with x0 = 0x84000008) at `off`: KVM exits
    /// KVM_EXIT_SYSTEM_EVENT type SHUTDOWN, PC past the HVC, x0 preloaded with PSCI's
    /// INTERNAL_FAILURE (-6) for a guest resumed anyway, the other registers intact.
    public static func systemOffArm64() -> Guest {
        let words: [UInt32] = [
            0xD280_0100, // 10000 entry: movz x0, #0x8
            0xF2B0_8000, // 10004        movk x0, #0x8400, lsl #16    (x0 = 0x84000008)
            0xD400_0002, // 10008 off:   hvc #0
            0x1400_0000, // 1000c        b .
        ]
        return Guest(name: "system-off", arch: .arm64, mode: .el1, memoryBase: 0x10000, memorySize: 0x20000,
                     loadAddress: 0x10000, image: a64(words), data: [], entry: 0x10000,
                     symbols: [GuestSymbol(name: "entry", address: 0x10000, size: 8), GuestSymbol(name: "off", address: 0x10008, size: 4)],
                     summary: "PSCI SYSTEM_OFF through hvc #0: KVM_EXIT_SYSTEM_EVENT shutdown (EL1, MMU off)")
    }

    /// x86_64 long mode with an IDT whose #PF gate (vector 14) leads to `pf_handler`: loads the
    /// IDT, then reads `pageFaultAddress` at `fault` (not mapped: #PF, error code 0, CR2 the
    /// address). The handler halts in a loop (`hlt; jmp`), so a run ends with the guest halted
    /// there; `monitor catch exception 14` stops at the handler's first instruction instead.
    public static func pageFaultX86() -> Guest {
        var code: [UInt8] = [0x0F, 0x01, 0x1C, 0x25, 0x00, 0x20, 0x00, 0x00,  // 1000 entry: lidt [0x2000]
                             0x48, 0xB9]                                      // 1008        movabs rcx, address
        code += littleEndianBytes(pageFaultAddress)
        code += [0x48, 0x8B, 0x19,                                            // 1012 fault: mov rbx, [rcx]
                 0xF4]                                                        // 1015        hlt (never reached)
        code += [UInt8](repeating: 0x90, count: 0x100 - code.count)
        code += [0xF4, 0xEB, 0xFD]                                            // 1100 pf_handler: hlt; jmp pf_handler
        let handler: UInt64 = 0x1100
        // A 64-bit interrupt gate: offset 15:0, selector 8, P=1 DPL=0 type 0xE, offset 31:16; offset 63:32.
        let low = (handler & 0xFFFF) | (8 << 16) | (0x8E << 40) | ((handler >> 16) & 0xFFFF) << 48
        let symbols = [
            GuestSymbol(name: "entry", address: 0x1000, size: 8),
            GuestSymbol(name: "fault", address: 0x1012, size: 3),
            GuestSymbol(name: "pf_handler", address: handler, size: 3),
            GuestSymbol(name: "idt_descriptor", address: 0x2000, size: 10),
            GuestSymbol(name: "idt", address: 0x3000, size: 32 * 16),
        ]
        let data = [GuestData(address: 0x2000, bytes: littleEndianBytes(32 * 16 - 1, count: 2) + littleEndianBytes(0x3000)),
                    GuestData(address: 0x3000 + 14 * 16, bytes: littleEndianBytes(low) + littleEndianBytes(handler >> 32, count: 8))]
        return x86Guest("page-fault", code: code, data: data, symbols: symbols,
                        summary: "IDT with a #PF handler; reads an unmapped page: #PF into pf_handler, which halts (64-bit long mode)")
    }

    /// x86_64 long mode: loads an empty IDT (limit 0) and executes ud2 at `crash`. #UD finds no
    /// gate (beyond the limit: #GP), #GP none either (#DF), #DF none (triple fault): KVM exits
    /// KVM_EXIT_SHUTDOWN (Intel SDM vol. 3 6.15, interrupt 8). RAX holds `tripleFaultMarker`.
    public static func tripleFaultX86() -> Guest {
        var code: [UInt8] = [0x48, 0xB8]                              // 1000 entry: movabs rax, marker
        code += littleEndianBytes(tripleFaultMarker)
        code += [0x0F, 0x01, 0x1C, 0x25, 0x00, 0x20, 0x00, 0x00,      // 100a load_idt: lidt [0x2000]
                 0x0F, 0x0B,                                          // 1012 crash: ud2
                 0xF4]                                                // 1014        hlt (never reached)
        let symbols = [
            GuestSymbol(name: "entry", address: 0x1000, size: 10),
            GuestSymbol(name: "load_idt", address: 0x100A, size: 8),
            GuestSymbol(name: "crash", address: 0x1012, size: 2),
            GuestSymbol(name: "idt_descriptor", address: 0x2000, size: 10),
        ]
        // The IDT descriptor: limit 0, base 0.
        return x86Guest("triple-fault", code: code, data: [GuestData(address: 0x2000, bytes: [UInt8](repeating: 0, count: 10))], symbols: symbols,
                        summary: "loads an empty IDT and executes ud2: #UD, #GP, #DF, triple fault (64-bit long mode)")
    }

    /// An x86_64 long-mode guest in kvmdbg's usual layout: 2 MiB of RAM from 0, code loaded and
    /// entered at 0x1000.
    private static func x86Guest(_ name: String, code: [UInt8], data: [GuestData], symbols: [GuestSymbol], summary: String) -> Guest {
        Guest(name: name, arch: .x86_64, mode: .long, memoryBase: 0, memorySize: 0x20_0000, loadAddress: 0x1000,
              image: code, data: data, entry: 0x1000, symbols: symbols, summary: summary)
    }
}
