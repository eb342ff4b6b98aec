import KVMDebugModel

/// What one core file holds.
public struct CoreDumpSummary: Sendable, Hashable {
    public var path: String
    public var vcpus: Int
    /// PT_LOAD segments of guest RAM at their guest-physical addresses.
    public var physicalSegments: Int
    /// PT_LOAD segments at the virtual addresses the current vCPU's page tables map.
    public var virtualSegments: Int
    /// The file's size in bytes.
    public var bytes: UInt64
    /// What the file lacks, said plainly (no virtual segments for this paging mode, too many mappings).
    public var notes: [String]

    /// `core written: PATH (N vCPUs, M bytes; P physical and V virtual segments)` plus the notes.
    public var lines: [String] {
        ["core written: \(path) (\(vcpus) vCPU\(vcpus == 1 ? "" : "s"), \(bytes) bytes; \(physicalSegments) physical and \(virtualSegments) virtual segment\(virtualSegments == 1 ? "" : "s"))"]
            + notes.map { "note: \($0)" }
    }
}

extension DebugSession {
    /// Writes an ELF64 core of the stopped guest to `path`: one `NT_PRSTATUS` per vCPU (the
    /// `current` vCPU first, with `signal` as pr_cursig; gdb takes the first as the crashing
    /// thread), one kvmdbg page-walk note per vCPU (`ELFCore.pageWalkNote`), then PT_LOAD segments:
    /// for an x86_64 guest with 4-level paging on, the virtual ranges its page tables map onto RAM
    /// (the current vCPU's CR3; contiguous pages merged) first, then every RAM range at its
    /// guest-physical address (p_paddr, and p_vaddr = p_paddr: gdb reads an address through the
    /// first segment holding it, so the virtual view wins where the tables map it). The virtual
    /// segments point into the physical ones' bytes: RAM is in the file once.
    ///
    /// Memory is what the guest sees (software breakpoints hidden), streamed in 1 MiB pieces, never
    /// held whole. The file appears atomically: written to a temporary name in the same directory,
    /// fsynced, renamed; on any error the temporary file is removed and `path` is untouched.
    /// Only between rounds (every vCPU stopped).
    public func writeCore(to path: String, current: Int, signal: UInt8) throws(DebugError) -> CoreDumpSummary {
        if isRunning { throw .unsupported(reason: "the guest is running; a core file is written while every vCPU is stopped") }
        if current < 0 || current >= vcpuCount { throw .noSuchVCPU(index: current, count: vcpuCount) }
        if path.isEmpty { throw .unsupported(reason: "a core file needs a path") }
        let order = [current] + (0..<vcpuCount).filter { $0 != current }
        var notes: [UInt8] = []
        var registers: [Int: RegisterFile] = [:]
        for v in order {
            let r = try self.registers(vcpu: v)
            registers[v] = r
            notes += ELFCore.note(name: "CORE", type: ELFCore.ntPRStatus,
                                  desc: ELFCore.prstatus(r, pid: Int32(v + 1), signal: v == current ? UInt16(signal) : 0))
        }
        for v in order { notes += ELFCore.pageWalkNote(registers[v]!, vcpu: v) }

        let ram = backend.ramRegions ?? []
        var remarks: [String] = []
        if ram.isEmpty { remarks.append("the backend reports no RAM ranges: registers only") }
        var mappings: [X86PageMappings.Mapping] = []
        switch registers[current]! {
        case .x86_64(let r):
            let d = debugger
            if let m = try X86PageMappings.enumerate(r, ram: ram, readPage: { (pa) throws(DebugError) in try d.backend.readMemory(pa, count: 4096) }) {
                // Identity ranges add nothing: the physical segments already sit at those addresses.
                mappings = m.mappings.filter { $0.virtual != $0.physical }
                if m.truncated { remarks.append("more than \(mappings.count) separate virtual ranges: the rest are left out (read them through the physical segments)") }
            } else if r.pagingEnabled {
                remarks.append("no virtual segments: only 4-level x86_64 paging is enumerated (this vCPU uses \(r.cr4 & X86PageWalk.cr4LA57 != 0 ? "5-level" : "32-bit or PAE") paging)")
            }
        case .arm64(let r):
            if r.sctlrEL1 & 1 != 0 { remarks.append("no virtual segments: arm64 page tables are not enumerated yet (TTBR0/TTBR1/TCR are in the KVMDBG note)") }
        }

        // Layout: header, program headers, notes, then RAM from a page-aligned offset.
        let phnum = 1 + mappings.count + ram.count
        let notesOffset = UInt64(64 + 56 * phnum)
        var dataOffset = (notesOffset + UInt64(notes.count) + 0xFFF) & ~0xFFF
        var ramOffsets: [UInt64] = []
        for r in ram { ramOffsets.append(dataOffset); dataOffset += r.size }
        var head = ELFCore.header(arch, phnum: phnum)
        head += ELFCore.programHeader(type: ELFCore.ptNote, offset: notesOffset, virtual: 0, physical: 0,
                                      fileSize: UInt64(notes.count), memorySize: 0, align: 4)
        for m in mappings {
            guard let i = ram.firstIndex(where: { m.physical >= $0.base && m.physical &+ m.size <= $0.base &+ $0.size }) else { continue }
            head += ELFCore.programHeader(type: ELFCore.ptLoad, offset: ramOffsets[i] + (m.physical - ram[i].base),
                                          virtual: m.virtual, physical: m.physical, fileSize: m.size, memorySize: m.size, align: 0x1000)
        }
        for (i, r) in ram.enumerated() {
            head += ELFCore.programHeader(type: ELFCore.ptLoad, offset: ramOffsets[i], virtual: r.base, physical: r.base,
                                          fileSize: r.size, memorySize: r.size, align: 0x1000)
        }
        head += notes
        if let first = ramOffsets.first { head += [UInt8](repeating: 0, count: Int(first) - head.count) }
        let total = ramOffsets.isEmpty ? UInt64(head.count) : dataOffset

        let file = try AtomicFile(path)
        do throws(DebugError) {
            try file.write(head)
            let chunk: UInt64 = 1 << 20
            for r in ram {
                var at = r.base
                while at < r.base &+ r.size {
                    let n = Int(min(chunk, r.base &+ r.size &- at))
                    try file.write(try debugger.readMemory(at, count: n))
                    at &+= UInt64(n)
                }
            }
            try file.commit()
        } catch {
            file.abandon()
            throw error
        }
        return CoreDumpSummary(path: path, vcpus: vcpuCount, physicalSegments: ram.count, virtualSegments: mappings.count,
                               bytes: total, notes: remarks)
    }
}
