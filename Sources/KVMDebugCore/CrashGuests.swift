/// Built-in guests that crash on purpose, for the post-mortem paths (fatal stops, `monitor why`,
/// core files): each ends in an exit a debugger must stop on, not lose.
extension BuiltinGuests {
    /// The crash guests' names.
    public static let crashNames = ["triple-fault"]

    /// Every crash guest (all run on KVM and on the fake backend).
    public static var crash: [Guest] { [tripleFaultX86()] }

    /// The value `triple-fault` leaves in RAX before it crashes: registers read at the fatal stop
    /// show it when the KVM flavour keeps the guest's state.
    public static let tripleFaultMarker: UInt64 = 0x7472_6970_6C65_FA17

    /// The crash guest named `name` for `arch`/`mode`; nil when `name` is no crash guest.
    static func crashGuest(named name: String, arch: Arch, mode: CPUMode?) throws(DebugError) -> Guest? {
        guard crashNames.contains(name) else { return nil }
        guard arch == .x86_64, mode == nil || mode == .long else {
            throw .unsupported(reason: "\(name) is an x86_64 long-mode guest")
        }
        return tripleFaultX86()
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
