import Testing
import KVMDebugCore

/// x86 stops read their registers from `kvm_run.s.regs` (KVM_CAP_SYNC_REGS) instead of
/// KVM_GET_REGS/KVM_GET_SREGS: the copy must be what those ioctls say after every kind of exit,
/// and a write must never be answered from a copy it made stale.
@Suite(.serialized) struct SyncedRegistersTests {
    /// The same vCPU fd borrowed: a borrowed vCPU never syncs, so it reads with the ioctls.
    private func ioctlView(_ b: KVMBackend) throws -> KVMVCPU {
        try KVMVCPU(borrowing: b.vcpus[0].fd, mmapSize: try #require(b.system).vcpuMmapSize())
    }

    private func bytes<T>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v) { Array($0) } }

    private func state(_ control: GuestDebugControl, breakAt: UInt64? = nil) -> GuestDebugState {
        var r = X86DebugRegisters()
        if let a = breakAt { r.address[0] = a; r.dr7 |= 1 }  // L0: DR0 an execute breakpoint
        return GuestDebugState(control: GuestDebugControl([.enable, .x86UseHardwareBreakpoints]).union(control), registers: .x86(r))
    }

    @Test(KVMHost.required) func kvmdbgVCPUsSyncWhereKVMOffersIt() throws {
        let b = try KVMBackend(guest: BuiltinGuests.counterX86(.real))
        let offered = (try #require(b.vm).check(.syncRegs) ?? 0) & 3 == 3
        #expect(b.vcpus[0].syncsRegisters == offered, "KVM_CAP_SYNC_REGS offers REGS|SREGS: \(offered)")
        #expect(try !ioctlView(b).syncsRegisters, "an adopted fd never syncs")
    }

    @Test(KVMHost.required) func everyExitsCopyIsWhatTheIoctlsSay() throws {
        let g = BuiltinGuests.counterX86(.real)
        let b = try KVMBackend(guest: g)
        let v = b.vcpus[0]
        try #require(v.syncsRegisters, "KVM_CAP_SYNC_REGS without REGS|SREGS here")
        let view = try ioctlView(b)
        let loop = try #require(g.symbol("loop")).address
        var kinds: Set<String> = []
        for i in 0..<60 {
            // Steps, breakpoint hits and kicked runs (immediate_exit: EINTR before entering).
            if i % 3 == 0 {
                try b.setGuestDebug(state([], breakAt: loop), vcpu: 0)
            } else {
                try b.setGuestDebug(state(.singleStep), vcpu: 0)
            }
            if i % 5 == 4 { v.kick() }
            let exit = try b.run(vcpu: 0)
            if case .interrupted = exit { kinds.insert("interrupted") } else { kinds.insert("debug") }
            #expect(bytes(try v.registers()) == bytes(try view.registers()), "regs after exit \(i) (\(exit))")
            #expect(bytes(try v.specialRegisters()) == bytes(try view.specialRegisters()), "sregs after exit \(i)")
        }
        #expect(kinds == ["interrupted", "debug"], "both kinds of exit were seen: \(kinds)")
    }

    @Test(KVMHost.required) func aWriteIsReadBackAndRunsNotTheStaleCopy() throws {
        let g = BuiltinGuests.counterX86(.real)
        let b = try KVMBackend(guest: g)
        try #require(b.vcpus[0].syncsRegisters, "KVM_CAP_SYNC_REGS without REGS|SREGS here")
        let loop = try #require(g.symbol("loop")).address
        try b.setGuestDebug(state([], breakAt: loop), vcpu: 0)
        _ = try b.run(vcpu: 0)  // at `loop: inc ax`
        guard case .x86_64(var r) = try b.registers(vcpu: 0) else { Issue.record("not x86"); return }
        #expect(r.rip == loop)
        r.rax = 0x1234
        r.rbx = 0x77
        try b.setRegisters(.x86_64(r), vcpu: 0)
        guard case .x86_64(let back) = try b.registers(vcpu: 0) else { return }
        #expect(back.rax == 0x1234 && back.rbx == 0x77, "read back \(hex(back.rax)), \(hex(back.rbx))")
        // The guest runs on from the written value: one step of `inc ax`.
        try b.setGuestDebug(state(.singleStep), vcpu: 0)
        _ = try b.run(vcpu: 0)
        guard case .x86_64(let after) = try b.registers(vcpu: 0) else { return }
        #expect(after.rax == 0x1235 && after.rip == loop + 1, "after the step: ax \(hex(after.rax)), rip \(hex(after.rip))")
    }
}
