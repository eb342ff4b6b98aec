/// The pieces of an ELF64 core file (System V gABI "ELF Header", "Program Header", "Note
/// Section"; the Linux core layout of linux/elfcore.h and glibc's sys/procfs.h): the header,
/// program headers, `NT_PRSTATUS` notes in the architecture's Linux layout, and kvmdbg's own
/// page-walk note. Bytes only: `CoreDump` streams them into a file.
public enum ELFCore {
    /// e_type ET_CORE.
    static let etCore: UInt16 = 4
    /// p_type PT_LOAD, PT_NOTE.
    package static let ptLoad: UInt32 = 1, ptNote: UInt32 = 4
    /// n_type NT_PRSTATUS (name "CORE").
    public static let ntPRStatus: UInt32 = 1
    /// n_type of kvmdbg's page-walk note (name "KVMDBG"): see `pageWalkNote`. "KVMD" in ASCII, not
    /// a small number: BFD reads notes of owners it does not know with the generic core note
    /// types (1 would be taken for another NT_PRSTATUS).
    public static let ntKVMDBGPaging: UInt32 = 0x4B56_4D44
    /// sizeof(struct elf_prstatus): x86_64 336, aarch64 392 (a 112-byte common part, pr_reg, pr_fpvalid + padding).
    static func prstatusSize(_ arch: Arch) -> Int { arch == .x86_64 ? 336 : 392 }
    /// Offsets in elf_prstatus: pr_cursig (after the 12-byte elf_siginfo), pr_pid, pr_reg.
    static let cursigOffset = 12, pidOffset = 32, regOffset = 112

    /// e_machine: EM_X86_64 (62), EM_AARCH64 (183).
    static func machine(_ arch: Arch) -> UInt16 { arch == .x86_64 ? 62 : 183 }

    /// The 64-byte ELF64 header of a core with `phnum` program headers right after it.
    package static func header(_ arch: Arch, phnum: Int) -> [UInt8] {
        var h: [UInt8] = [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1, 0]  // ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ELFOSABI_NONE (as Linux cores)
        h += [UInt8](repeating: 0, count: 8)
        h += le(etCore, 2) + le(machine(arch), 2) + le(1, 4)        // e_type, e_machine, e_version
        h += le(0, 8) + le(64, 8) + le(0, 8)                        // e_entry, e_phoff, e_shoff
        h += le(0, 4) + le(64, 2) + le(56, 2) + le(UInt64(phnum), 2) // e_flags, e_ehsize, e_phentsize, e_phnum
        h += le(0, 2) + le(0, 2) + le(0, 2)                         // e_shentsize, e_shnum, e_shstrndx
        return h
    }

    /// One 56-byte Elf64_Phdr.
    package static func programHeader(type: UInt32, offset: UInt64, virtual: UInt64, physical: UInt64,
                              fileSize: UInt64, memorySize: UInt64, align: UInt64) -> [UInt8] {
        let flags: UInt32 = type == ptLoad ? 7 : 4  // PF_R|PF_W|PF_X for RAM, PF_R for notes
        return le(type, 4) + le(flags, 4) + le(offset, 8) + le(virtual, 8) + le(physical, 8)
            + le(fileSize, 8) + le(memorySize, 8) + le(align, 8)
    }

    /// One note: namesz, descsz, type, the name NUL-terminated and padded to 4, the desc padded to 4.
    package static func note(name: String, type: UInt32, desc: [UInt8]) -> [UInt8] {
        let n = Array(name.utf8) + [0]
        var out = le(UInt64(n.count), 4) + le(UInt64(desc.count), 4) + le(type, 4)
        out += n + [UInt8](repeating: 0, count: (4 - n.count % 4) % 4)
        out += desc + [UInt8](repeating: 0, count: (4 - desc.count % 4) % 4)
        return out
    }

    /// `struct elf_prstatus` for one vCPU: pr_cursig = `signal`, pr_pid = `pid` (gdb's LWP, the
    /// vCPU index + 1 as in the GDB server's thread ids), pr_reg = the registers in
    /// `user_regs_struct` order (x86_64: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi
    /// orig_rax rip cs eflags rsp ss fs_base gs_base ds es fs gs) or `user_pt_regs` (aarch64:
    /// x0-x30 sp pc pstate). Everything else (times, signal masks, pr_fpvalid) is 0.
    public static func prstatus(_ regs: RegisterFile, pid: Int32, signal: UInt16) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: prstatusSize(regs.arch))
        func put(_ v: UInt64, _ size: Int, at: Int) { for k in 0..<size { out[at + k] = UInt8(truncatingIfNeeded: v >> UInt64(8 * k)) } }
        put(UInt64(signal), 2, at: cursigOffset)
        put(UInt64(UInt32(bitPattern: pid)), 4, at: pidOffset)
        let words: [UInt64]
        switch regs {
        case .x86_64(let r):
            words = [r.r15, r.r14, r.r13, r.r12, r.rbp, r.rbx, r.r11, r.r10, r.r9, r.r8, r.rax, r.rcx, r.rdx,
                     r.rsi, r.rdi, ~0, r.rip, UInt64(r.cs.selector), r.rflags, r.rsp, UInt64(r.ss.selector),
                     r.fsBase, r.gsBase, UInt64(r.ds.selector), UInt64(r.es.selector), UInt64(r.fs.selector), UInt64(r.gs.selector)]
        case .arm64(let r):
            words = r.x + [r.currentSP, r.pc, r.pstate]
        }
        for (i, w) in words.enumerated() { put(w, 8, at: regOffset + 8 * i) }
        return out
    }

    /// kvmdbg's note (name "KVMDBG", type `ntKVMDBGPaging`), one per vCPU: what a page walk of the dump needs.
    /// Little-endian: u32 version (1), u32 vCPU index, u32 e_machine, u32 count, then `count` u64
    /// values: x86_64 CR0 CR2 CR3 CR4 EFER; aarch64 TTBR0_EL1 TTBR1_EL1 TCR_EL1 SCTLR_EL1
    /// ESR_EL1 FAR_EL1 VBAR_EL1 ELR_EL1 SPSR_EL1.
    public static func pageWalkNote(_ regs: RegisterFile, vcpu: Int) -> [UInt8] {
        let values: [UInt64]
        switch regs {
        case .x86_64(let r): values = [r.cr0, r.cr2, r.cr3, r.cr4, r.efer]
        case .arm64(let r): values = [r.ttbr0EL1, r.ttbr1EL1, r.tcrEL1, r.sctlrEL1, r.esrEL1, r.farEL1, r.vbarEL1, r.elrEL1, r.spsrEL1]
        }
        var desc = le(1, 4) + le(UInt64(vcpu), 4) + le(machine(regs.arch), 4) + le(UInt64(values.count), 4)
        for v in values { desc += le(v, 8) }
        return note(name: "KVMDBG", type: ntKVMDBGPaging, desc: desc)
    }

    /// `v` as `size` little-endian bytes.
    static func le<T: BinaryInteger>(_ v: T, _ size: Int) -> [UInt8] { littleEndianBytes(UInt64(truncatingIfNeeded: v), count: size) }
}
