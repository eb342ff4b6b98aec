/// Built-in guests that crash on purpose, for the post-mortem paths (fatal stops, `monitor why`,
/// core files): each ends in an exit a debugger must stop on, not lose.
extension BuiltinGuests {
    /// The crash guests' names.
    public static let crashNames = ["triple-fault", "page-fault"]

    /// Every crash guest (all run on KVM and on the fake backend).
    public static var crash: [Guest] { [tripleFaultX86(), pageFaultX86()] }

    /// The unmapped address `page-fault` loads from: 1 GiB, just past kvmdbg's identity map.
    public static let pageFaultAddress: UInt64 = 0x4000_0000

    /// The value `triple-fault` leaves in RAX before it crashes: registers read at the fatal stop
    /// show it when the KVM flavour keeps the guest's state.
    public static let tripleFaultMarker: UInt64 = 0x7472_6970_6C65_FA17

    /// The crash guest named `name` for `arch`/`mode`; nil when `name` is no crash guest.
    static func crashGuest(named name: String, arch: Arch, mode: CPUMode?) throws(DebugError) -> Guest? {
        guard crashNames.contains(name) else { return nil }
        guard arch == .x86_64, mode == nil || mode == .long else {
            throw .unsupported(reason: "\(name) is an x86_64 long-mode guest")
        }
        return name == "page-fault" ? pageFaultX86() : tripleFaultX86()
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
        return Guest(name: "page-fault", arch: .x86_64, mode: .long, memoryBase: 0, memorySize: 0x20_0000,
                     loadAddress: 0x1000, image: code,
                     data: [GuestData(address: 0x2000, bytes: littleEndianBytes(32 * 16 - 1, count: 2) + littleEndianBytes(0x3000)),
                            GuestData(address: 0x3000 + 14 * 16, bytes: littleEndianBytes(low) + littleEndianBytes(handler >> 32, count: 8))],
                     entry: 0x1000, symbols: symbols,
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
        return Guest(name: "triple-fault", arch: .x86_64, mode: .long, memoryBase: 0, memorySize: 0x20_0000,
                     loadAddress: 0x1000, image: code,
                     data: [GuestData(address: 0x2000, bytes: [UInt8](repeating: 0, count: 10))],  // limit 0, base 0
                     entry: 0x1000, symbols: symbols,
                     summary: "loads an empty IDT and executes ud2: #UD, #GP, #DF, triple fault (64-bit long mode)")
    }
}
