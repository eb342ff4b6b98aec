import CKVM
import KVMDebugModel

/// x86 vCPU start-up on KVM: the registers and, in long mode, the tables `X86Boot` lays out.
extension X86Boot {
    #if arch(x86_64)
    static func setUp(_ v: KVMVCPU, index: Int, guest: Guest, memory: GuestMemory) throws(DebugError) {
        var s = try v.specialRegisters()
        switch guest.mode {
        case .real:
            for seg in [\kvm_sregs.cs, \kvm_sregs.ds, \kvm_sregs.es, \kvm_sregs.fs, \kvm_sregs.gs, \kvm_sregs.ss] {
                s[keyPath: seg].base = 0
                s[keyPath: seg].selector = 0
            }
        case .long:
            let base = tablesBase(for: guest)
            if guest.loadAddress &+ UInt64(guest.image.count) > base {
                throw .badImage(reason: "a long-mode image must end below \(hex(base)) (page tables and GDT live at the top of RAM)")
            }
            if index == 0 {
                for d in longModeTables(for: guest) { try memory.write(d.address, d.bytes) }
            }
            s.gdt.base = base + 0x3000
            s.gdt.limit = UInt16(gdt.count * 8 - 1)
            s.cr3 = base
            s.cr4 = 0x20                 // PAE
            s.cr0 = 0x8005_0033          // PG|WP|NE|ET|MP|PE
            s.efer = 0x500               // LME|LMA
            var code = kvm_segment()
            code.base = 0
            code.limit = 0xFFFF_FFFF
            code.selector = 8
            code.type = 11
            code.present = 1
            code.s = 1
            code.l = 1
            code.g = 1
            s.cs = code
            var data = code
            data.selector = 16
            data.type = 3
            data.l = 0
            data.db = 1
            s.ds = data
            s.es = data
            s.fs = data
            s.gs = data
            s.ss = data
        case .el1:
            throw .unsupported(reason: "mode el1 is arm64 only")
        }
        try v.setSpecialRegisters(s)
        var r = kvm_regs()
        r.rip = guest.entry
        r.rflags = 0x2
        r.rdi = UInt64(index)  // boot convention: RDI = vCPU index
        r.rsp = initialStackPointer(for: guest)
        try v.setRegisters(r)
    }
    #endif
}
